//! What the operator's shell exports cannot change the stack compose runs:
//! `COMPOSE_PROFILES` (compose would start the profiles it names whenever no
//! `--profile` is given) and `CORE_DATA_APPARMOR_<SERVICE>` (the AppArmor
//! profile compose.yaml applies) are removed from every compose command, so
//! only `.env`, through `--profile` and the CLI's own variables, decides.
//! `docker compose config` of a stack that is not started.

use core_data_tests::TestStack;

pub(crate) fn inherited_variables_are_ignored() {
    let t = TestStack::new("sec_environment", 234);
    let compose = t.stack.compose();
    let rendered = |args: &[&str]| {
        // duct applies the inner expression's environment after this outer one's: the
        // variables stand for what a shell exports around the CLI.
        let out = compose
            .expression(args)
            .env("COMPOSE_PROFILES", "pgbouncer")
            .env("CORE_DATA_APPARMOR_POSTGRES", "unconfined")
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .expect("run docker compose");
        assert!(
            out.status.success(),
            "`docker compose {args:?}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut services: Vec<String> = rendered(&["config", "--services"])
        .lines()
        .map(str::to_owned)
        .collect();
    services.sort();
    assert_eq!(services, ["logical_backup", "postgres"], "no profile is on");
    let config = rendered(&["config"]);
    let apparmor: Vec<&str> = config
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- apparmor="))
        .collect();
    assert_eq!(apparmor, ["docker-default", "docker-default"], "{config}");
}
