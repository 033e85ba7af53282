//! Confinement you can inspect. The checks of `security status` and the
//! `APPARMOR` setting need a running stack, so they run on the add-ons test's
//! stack, which has every service up (`tests/addons/main.rs` includes
//! `status.rs` and `apparmor.rs`); here, what needs no stack: every profile of
//! `apparmor/` compiles (`apparmor::profiles_compile`), the Docker engine
//! answers whether a profile is loaded (`apparmor::engine_probe`), and a
//! container that escapes through the host's network, the Docker socket or the
//! whole `secrets/` directory is named (`escapes`, the stack's configuration
//! only), and `doctor` fails on a missing `apparmor_parser` only where the
//! profiles are to be loaded (`doctor`), and what the shell exports cannot
//! change which services or AppArmor profiles compose gets (`environment`).

#[allow(dead_code)]
mod apparmor;
mod doctor;
mod environment;
mod escapes;

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

#[test]
fn security_status_names_escapes_the_capability_checks_miss() {
    if !core_data_tests::docker_available(
        "security_status_names_escapes_the_capability_checks_miss",
    ) {
        return;
    }
    escapes::escapes_are_named();
}

#[test]
fn doctor_needs_apparmor_parser_only_to_load_profiles() {
    if !core_data_tests::docker_available("doctor_needs_apparmor_parser_only_to_load_profiles") {
        return;
    }
    doctor::without_the_parser();
}

#[test]
fn inherited_compose_variables_are_ignored() {
    if !core_data_tests::docker_available("inherited_compose_variables_are_ignored") {
        return;
    }
    environment::inherited_variables_are_ignored();
}
