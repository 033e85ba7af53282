//! `audit schema`: snapshots and their comparison.

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::SchemaArgs;
use core_data_ops::audit::Audit;

pub(crate) fn run(_ctx: &Ctx, _audit: &Audit<'_>, _args: &SchemaArgs) -> CmdResult {
    crate::error::fail!("`audit schema` is being built (issue 9)")
}
