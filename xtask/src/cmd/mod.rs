//! One module per command; `run` dispatches. Commands parse nothing (their
//! arguments are in `flags`) and hold no domain logic: they call
//! `core_data_ops` and print, returning a `CliError` when they fail.

mod adopt;
mod audit;
mod backup;
mod bench;
mod bench_ha;
mod compact;
mod completions;
mod config;
mod cron;
mod daily;
mod dashboard;
mod db;
mod doctor;
mod extensions;
mod ha;
mod image;
mod init;
mod lifecycle;
mod logical;
mod memcached;
mod old_clusters;
mod output;
mod pgbouncer;
mod pgstat;
mod psql;
mod queue;
mod runbook;
mod schema;
mod security;
mod service_urls;
mod upgrade;
mod user;
mod valkey;

use std::process::ExitCode;

use core_data_ops::lock::StateLock;
use core_data_ops::paths::Paths;
use core_data_ops::progress;

use crate::error::CmdResult;
use crate::flags::{
    AsyncQueueCommand, BackupAction, BenchCommand, Command, ConfigCommand, CronCommand,
    DashboardCommand, HaCommand, ImageCommand, PartmanCommand, QaCommand, SecurityCommand,
    TestDatasetCommand, Xtask,
};

/// What every command gets: where things are and how loud to be.
pub(crate) struct Ctx {
    pub(crate) paths: Paths,
    pub(crate) verbose: bool,
}

impl Ctx {
    pub(crate) fn progress(&self) -> progress::Stderr {
        progress::Stderr {
            verbose: self.verbose,
        }
    }
}

pub(crate) fn run(flags: Xtask) -> CmdResult {
    if matches!(flags.command, Command::Bench(_)) {
        if let Some(code) = bench::hand_to_release_build()? {
            return Ok(code);
        }
    }
    let ctx = Ctx {
        paths: Paths::from_repo(flags.state),
        verbose: flags.verbose,
    };
    // Held until the command returns; released (and its record cleared) on drop.
    let _lock = match locking_name(&flags.command) {
        Some(name) => Some(StateLock::acquire(
            &ctx.paths,
            name,
            !flags.no_wait,
            &ctx.progress(),
        )?),
        None => None,
    };
    match flags.command {
        Command::Doctor(args) => doctor::run(&ctx, &args),
        Command::Init(args) => {
            init::run(&ctx, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::BuildImage(args) => image::build(&ctx, &args),
        Command::Image(ImageCommand::Info(args)) => image::info(&ctx, &args),
        Command::Up(args) => lifecycle::up(&ctx, &args),
        Command::Down(args) => lifecycle::down(&ctx, &args),
        Command::Status(args) => lifecycle::status(&ctx, &args),
        Command::Logs(args) => lifecycle::logs(&ctx, &args),
        Command::Psql(args) => psql::run(&ctx, &args),
        Command::ServiceUrls(args) => service_urls::run(&ctx, &args),
        Command::CreateUser(args) => user::create(&ctx, &args),
        Command::DropUser(args) => user::drop(&ctx, &args),
        Command::CreateDb(args) => db::create(&ctx, &args),
        Command::DropDb(args) => db::drop(&ctx, &args),
        Command::Config(ConfigCommand::Apply) => config::apply(&ctx),
        Command::Config(ConfigCommand::Show(args)) => config::show(&ctx, &args),
        Command::Config(ConfigCommand::Check(args)) | Command::ConfigCheck(args) => {
            audit::config_check(&ctx, &args)
        }
        Command::Audit(command) => audit::run(&ctx, &command),
        Command::Compact(args) => compact::compact(&ctx, &args),
        Command::Partman(command) => compact::partman(&ctx, &command),
        Command::DailyMaintenance(args) => daily::run(&ctx, &args),
        Command::SnapshotPgstat(args) => pgstat::snapshot(&ctx, &args),
        Command::DiffPgstat(args) => pgstat::diff(&ctx, &args),
        Command::VersionStatus(args) => extensions::version_status(&ctx, &args),
        Command::ExerciseExtensions(args) => extensions::exercise(&ctx, &args),
        Command::PgtapSmoke(args) => extensions::pgtap_smoke(&ctx, &args),
        Command::Dump(args) => logical::dump(&ctx, &args),
        Command::DumpSql(args) => logical::dump_sql(&ctx, &args),
        Command::RestoreDump(args) => logical::restore_dump(&ctx, &args),
        Command::DumpStatus(args) => logical::sidecar_status(&ctx, &args),
        Command::Backup(args) => backup::backup(&ctx, &args),
        Command::Restore(args) => backup::restore(&ctx, &args),
        Command::OldClusters(args) => old_clusters::run(&ctx, &args),
        Command::Ha(HaCommand::Status(args)) => ha::status(&ctx, &args),
        Command::Ha(HaCommand::Switchover(args)) => ha::switchover(&ctx, &args),
        Command::Ha(HaCommand::Failover(args)) => ha::failover(&ctx, &args),
        Command::Ha(HaCommand::Reinit(args)) => ha::reinit(&ctx, &args),
        Command::Ha(HaCommand::Pause) => ha::pause(&ctx, true),
        Command::Ha(HaCommand::Resume) => ha::pause(&ctx, false),
        Command::Ha(HaCommand::Restart(args)) => ha::restart(&ctx, &args),
        Command::Ha(HaCommand::Config(command)) => ha::config(&ctx, &command),
        Command::Qa(args) => backup::qa(&ctx, &args),
        Command::ProvisionQa(args) => backup::qa(&ctx, &args.command()),
        Command::Runbooks(args) => runbook::list(&ctx, &args),
        Command::Run(args) => runbook::run(&ctx, &args),
        Command::Bench(BenchCommand::Runbook(args)) => runbook::bench(&ctx, &args),
        Command::Bench(BenchCommand::Up(args)) => bench::up(&ctx, &args),
        Command::Bench(BenchCommand::Backup(args)) => bench::backup(&ctx, &args),
        Command::Bench(BenchCommand::Restore(args)) => bench::restore(&ctx, &args),
        Command::Bench(BenchCommand::Upgrade(args)) => bench::upgrade(&ctx, &args),
        Command::Bench(BenchCommand::Tuning(args)) => bench::tuning(&ctx, &args),
        Command::Bench(BenchCommand::Audit(args)) => bench::audit(&ctx, &args),
        Command::Cron(CronCommand::List(args)) => cron::list(&ctx, &args),
        Command::TestDataset(TestDatasetCommand::Install(args)) => cron::test_dataset(&ctx, &args),
        Command::AsyncQueue(AsyncQueueCommand::Install(args)) => queue::install(&ctx, &args),
        Command::AsyncQueue(AsyncQueueCommand::Status(args)) => queue::status(&ctx, &args),
        Command::Bench(BenchCommand::Queue(args)) => bench::queue(&ctx, &args),
        Command::Pgbouncer(command) => pgbouncer::run(&ctx, &command),
        Command::Valkey(command) => valkey::run(&ctx, &command),
        Command::Memcached(command) => memcached::run(&ctx, &command),
        Command::Dashboard(command) => dashboard::run(&ctx, &command),
        Command::Upgrade(args) => upgrade::run(&ctx, &args),
        Command::Adopt(args) => adopt::run(&ctx, &args),
        Command::Bench(BenchCommand::Pgbouncer(args)) => bench::pgbouncer(&ctx, &args),
        Command::Bench(BenchCommand::Ha(args)) => bench_ha::run(&ctx, &args),
        Command::Security(SecurityCommand::Status(args)) => security::status(&ctx, &args),
        Command::Security(SecurityCommand::ApparmorLoad) => security::apparmor_load(&ctx),
        Command::Completions(args) => completions::run(&args),
    }
}

/// The one place that decides which commands change the stack and so take the
/// state directory's lock (one at a time; the others wait or, with `--no-wait`,
/// refuse). Returns the name recorded for the holder; `None` never waits.
fn locking_name(command: &Command) -> Option<&'static str> {
    match command {
        Command::Init(_) => Some("init"),
        Command::Up(_) => Some("up"),
        Command::Down(_) => Some("down"),
        Command::CreateUser(_) => Some("create-user"),
        Command::DropUser(_) => Some("drop-user"),
        Command::CreateDb(_) => Some("create-db"),
        Command::DropDb(_) => Some("drop-db"),
        Command::Config(ConfigCommand::Apply) => Some("config apply"),
        Command::Dump(_) => Some("dump"),
        Command::DumpSql(_) => Some("dump-sql"),
        Command::RestoreDump(_) => Some("restore-dump"),
        Command::Backup(args) => match args.action() {
            BackupAction::Take(_) | BackupAction::Verify(_) => Some("backup"),
            BackupAction::Check => Some("backup check"),
            BackupAction::Expire => Some("backup expire"),
            BackupAction::Info(_) => None,
        },
        Command::Restore(_) => Some("restore"),
        // One change to the cluster's leadership, nodes or configuration at a time.
        Command::Ha(HaCommand::Switchover(_)) => Some("ha switchover"),
        Command::Ha(HaCommand::Failover(_)) => Some("ha failover"),
        Command::Ha(HaCommand::Reinit(_)) => Some("ha reinit"),
        Command::Ha(HaCommand::Pause | HaCommand::Resume) => Some("ha pause"),
        Command::Ha(HaCommand::Restart(_)) => Some("ha restart"),
        Command::Ha(HaCommand::Config(_)) => Some("ha config apply"),
        Command::Upgrade(_) => Some("upgrade"),
        Command::Adopt(_) => Some("adopt"),
        // Listing only reads; `--remove` (with or without `--yes`) checks the journals under the lock.
        Command::OldClusters(args) => args.remove.as_ref().map(|_| "old-clusters --remove"),
        Command::Qa(qa) => qa_locking_name(qa),
        Command::ProvisionQa(args) => qa_locking_name(&args.command()),
        Command::Run(args) if args.writes() => Some("run"),
        Command::TestDataset(_) => Some("test-dataset"),
        // Read-modify-write of the users file.
        Command::Dashboard(DashboardCommand::AddUser(_) | DashboardCommand::RemoveUser(_)) => {
            Some("dashboard users")
        }
        Command::Dashboard(DashboardCommand::ListUsers | DashboardCommand::Url) => None,
        // It removes expired bundles; one run at a time.
        Command::DailyMaintenance(_) => Some("daily-maintenance"),
        // Level 1 only reads (its log file is a new file of its own).
        Command::Compact(args) if args.level > 1 => Some("compact"),
        Command::Partman(PartmanCommand::Maintenance(_)) => Some("partman maintenance"),
        Command::Partman(PartmanCommand::CreateParent(_)) => Some("partman create-parent"),
        Command::AsyncQueue(AsyncQueueCommand::Install(_)) => Some("async-queue install"),
        // Replaces kernel profiles a starting `up` may be about to name.
        Command::Security(SecurityCommand::ApparmorLoad) => Some("security apparmor-load"),
        // Read-only, interactive (`psql`), or on throw-away stacks of their own (`bench`).
        Command::Doctor(_)
        | Command::Ha(HaCommand::Status(_))
        | Command::BuildImage(_)
        | Command::Image(_)
        | Command::Status(_)
        | Command::Logs(_)
        | Command::Pgbouncer(_)
        | Command::Valkey(_)
        | Command::Memcached(_)
        | Command::Psql(_)
        | Command::ServiceUrls(_)
        | Command::Config(ConfigCommand::Show(_) | ConfigCommand::Check(_))
        | Command::ConfigCheck(_)
        | Command::Audit(_)
        | Command::Compact(_)
        | Command::Partman(PartmanCommand::Show(_))
        | Command::SnapshotPgstat(_)
        | Command::DiffPgstat(_)
        | Command::VersionStatus(_)
        | Command::ExerciseExtensions(_)
        | Command::PgtapSmoke(_)
        | Command::DumpStatus(_)
        | Command::Runbooks(_)
        | Command::Run(_)
        | Command::AsyncQueue(AsyncQueueCommand::Status(_))
        | Command::Security(SecurityCommand::Status(_))
        | Command::Bench(_)
        | Command::Cron(_)
        | Command::Completions(_) => None,
    }
}

fn qa_locking_name(command: &QaCommand) -> Option<&'static str> {
    match command {
        QaCommand::Create(_) => Some("qa create"),
        QaCommand::Drop(_) => Some("qa drop"),
        QaCommand::List => None,
    }
}
