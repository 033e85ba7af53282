//! `version-status`, `exercise-extensions` and `pgtap-smoke`.

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{ExerciseExtensions, PgtapSmoke, VersionStatus};

pub(crate) fn version_status(_ctx: &Ctx, _args: &VersionStatus) -> CmdResult {
    crate::error::fail!("`version-status` is being built (issue 9)")
}

pub(crate) fn exercise(_ctx: &Ctx, _args: &ExerciseExtensions) -> CmdResult {
    crate::error::fail!("`exercise-extensions` is being built (issue 9)")
}

pub(crate) fn pgtap_smoke(_ctx: &Ctx, _args: &PgtapSmoke) -> CmdResult {
    crate::error::fail!("`pgtap-smoke` is being built (issue 9)")
}
