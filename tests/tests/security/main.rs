//! Confinement you can inspect. The checks of `security status` and the
//! `APPARMOR` setting need a running stack, so they run on the add-ons test's
//! stack, which has every service up (`tests/addons/main.rs` includes
//! `status.rs` and `apparmor.rs`); here, what needs no stack: every profile of
//! `apparmor/` compiles (`apparmor::profiles_compile`), and the Docker engine
//! answers whether a profile is loaded (`apparmor::engine_probe`).

#[allow(dead_code)]
mod apparmor;

#[test]
fn apparmor_profiles_compile() {
    apparmor::profiles_compile();
}

#[test]
fn the_engine_answers_whether_a_profile_is_loaded() {
    if !core_data_tests::docker_available("the_engine_answers_whether_a_profile_is_loaded") {
        return;
    }
    apparmor::engine_probe();
}
