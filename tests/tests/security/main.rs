//! Confinement you can inspect. The checks of `security status` and the
//! `APPARMOR` setting need a running stack, so they run on the add-ons test's
//! stack, which has every service up (`tests/addons/main.rs` includes
//! `status.rs` and `apparmor.rs`); here, what needs no stack: every profile of
//! `apparmor/` compiles (`apparmor::profiles_compile`).

#[allow(dead_code)]
mod apparmor;

#[test]
fn apparmor_profiles_compile() {
    apparmor::profiles_compile();
}
