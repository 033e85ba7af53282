//! `snapshot-pgstat` and `diff-pgstat`.

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::{DiffPgstat, SnapshotPgstat};

pub(crate) fn snapshot(_ctx: &Ctx, _args: &SnapshotPgstat) -> CmdResult {
    crate::error::fail!("`snapshot-pgstat` is being built (issue 9)")
}

pub(crate) fn diff(_ctx: &Ctx, _args: &DiffPgstat) -> CmdResult {
    crate::error::fail!("`diff-pgstat` is being built (issue 9)")
}
