//! Major upgrades: `upgrade --check` (nothing changes), `upgrade --yes` (a
//! journaled `pg_upgrade --link` with a full backup first and a rollback on
//! any failure before the new server is healthy), and the recovery of an
//! interrupted one by `up`. The target is a major of `postgres/suites.txt`;
//! nothing here names a version.

mod adopt;
mod check;
mod extensions;
mod image;
mod journal;
mod rehearse;
mod rollback;
mod run;
mod workspace;

pub use adopt::{adopt, inspect as inspect_adoption, Inspection, Report as AdoptReport, Source};
pub use check::{CheckReport, ExtensionLine, Step as CheckStep};
pub use image::upgrade_image;
/// Where the upgrade's journal lives (`old_clusters` refuses to remove anything while it exists).
pub(crate) use journal::file as journal_file;
pub use journal::{refuse_if_pending, Journal, Step};
pub use rehearse::{rehearse, Rehearsal};
/// Where an upgrade rollback's journal lives.
pub(crate) use rollback::file as rollback_journal_file;
pub use rollback::{plan as rollback_plan, rollback, RollbackReport};
pub use run::{finish, recover_pending, upgrade, Report};
/// The pieces `bench upgrade` times by hand.
pub(crate) use run::{link_upgrade, prepare, revert_link, Dirs};
pub(crate) use workspace::{start as workspace, PGDATA, PGWAL};

use crate::progress::Progress;
use crate::stack::Stack;

/// `upgrade --check`: builds the images when due, then checks beside the
/// running server; changes nothing on the stack.
pub fn check(stack: &Stack, to: u32, progress: &dyn Progress) -> anyhow::Result<CheckReport> {
    let (target, upgrade_stack, upgrade_image) = run::prepare(stack, to, progress)?;
    progress.status(
        "Checking",
        &format!("the upgrade to PostgreSQL {to} beside the running server"),
    );
    check_prepared(stack, &target, &upgrade_stack, &upgrade_image)
}

/// The checks in a read-only workspace of the upgrade image, once `prepare` built it.
pub(crate) fn check_prepared(
    stack: &Stack,
    target: &crate::config::Config,
    upgrade_stack: &Stack,
    upgrade_image: &str,
) -> anyhow::Result<CheckReport> {
    let ws = workspace::start(upgrade_stack, false)?;
    check::run(
        stack,
        &ws,
        target.pg_major(),
        target.image(),
        upgrade_image,
        &crate::render::preload_libraries(target),
    )
}
