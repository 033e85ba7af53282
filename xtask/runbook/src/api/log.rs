//! `log::` — messages to stderr tagged with the script's file and line, and
//! cargo-style progress lines.

use std::sync::Arc;

use rhai::{Dynamic, Module, NativeCallContext};

use super::{function, location, Env};
use crate::engine::Stream;

pub(crate) fn register(module: &mut Module, env: &Arc<Env>) {
    for (name, doc) in [
        (
            "info",
            "Logs a message to stderr: `scripts.rhai:12: info: <message>`.",
        ),
        (
            "warn",
            "Logs a warning to stderr: `scripts.rhai:12: warn: <message>`.",
        ),
        (
            "error",
            "Logs an error to stderr (it does not stop the runbook; `throw` does).",
        ),
    ] {
        let e = env.clone();
        function(name, &["message: ?", "()"], doc).set_into_module(
            module,
            move |ctx: NativeCallContext<'_>, message: Dynamic| {
                let at = location(ctx.call_source(), ctx.call_position());
                e.output
                    .line(Stream::Stderr, &format!("{at}: {name}: {message}"));
            },
        );
    }
    let e = env.clone();
    function(
        "progress",
        &["step: String", "message: ?", "()"],
        "A progress line like cargo's: the step right-aligned in 12 columns, then the message.",
    )
    .set_into_module(module, move |step: &str, message: Dynamic| {
        e.output
            .line(Stream::Stderr, &format!("{step:>12} {message}"));
    });
}
