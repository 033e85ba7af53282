//! Confinement you can inspect, on one real stack: `security status` passes on
//! the stack as compose starts it and fails, naming the container and the
//! property, on a container of the project started without `cap_drop`
//! (`status::walk`, which other stacks' tests call too); `APPARMOR=enabled`
//! reaches compose as each service's profile, and is refused before anything
//! changes where the host cannot apply it (`apparmor::setting`); every profile
//! of `apparmor/` compiles (`apparmor::profiles_compile`).

mod apparmor;
mod status;

use core_data_tests::{docker_available, TestStack};

#[test]
fn security_full_workflow() {
    if !docker_available("security_full_workflow") {
        return;
    }
    let mut t = TestStack::new("sec", 212);
    t.up();
    status::walk(&t);
    apparmor::setting(&mut t);
}

#[test]
fn apparmor_profiles_compile() {
    apparmor::profiles_compile();
}
