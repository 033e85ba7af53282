//! The functions scripts can call, as namespaced static modules: `pg::`,
//! `docker::`, `backup::`, `qa::`, `fs::`, `time::`, `log::`, and `print`. Conventions: misuse by
//! the script throws a string `"pg::query: <what went wrong>"`; a failure of
//! the world (SQL error, missing container, I/O) throws a map
//! `#{kind, message}` a script may catch and branch on. Write primitives are
//! registered only when their grant is given (`WRITE_PRIMITIVES`); `docker::exec`
//! runs only what `allowlist` lists.

pub mod allowlist;
pub(crate) mod backup;
pub(crate) mod docker;
pub mod fs;
pub(crate) mod log;
pub(crate) mod pg;
pub mod qa;
pub mod time;

use std::sync::Arc;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, Map, Module, NativeCallContext, Position,
};

use crate::backend::{Backend, Cell, Failure};
use crate::engine::{Clock, Grant, Grants, Limits, Output, Stream};

/// Every primitive that changes something, with the grant that registers it
/// (or `--dry-run`, where they print instead of acting).
pub const WRITE_PRIMITIVES: &[(&str, Grant)] = &[
    ("pg::execute", Grant::SqlWrites),
    ("pg::transaction", Grant::SqlWrites),
    ("docker::exec", Grant::Exec),
    ("backup::run", Grant::Backups),
    ("qa::provision", Grant::Backups),
    ("qa::execute", Grant::Backups),
    ("qa::mask", Grant::Backups),
    ("qa::drop", Grant::Backups),
    ("fs::write_text", Grant::Files),
    ("fs::write_json", Grant::Files),
    ("fs::write_csv", Grant::Files),
    ("fs::append_csv", Grant::Files),
    ("fs::prune", Grant::Files),
];

/// The grant a write primitive needs, or `None` for a read primitive.
pub fn grant_of(name: &str) -> Option<Grant> {
    WRITE_PRIMITIVES
        .iter()
        .find(|(primitive, _)| *primitive == name)
        .map(|(_, grant)| *grant)
}

/// What every primitive shares.
pub(crate) struct Env {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) output: Arc<dyn Output>,
    pub(crate) grants: Grants,
    pub(crate) limits: Limits,
    pub(crate) clock: Clock,
}

pub(crate) type Res<T> = Result<T, Box<EvalAltResult>>;

impl Env {
    /// Fails a primitive that would start after the deadline (Rhai itself
    /// checks the clock only between operations).
    pub(crate) fn check_clock(&self, function: &str) -> Res<()> {
        if self.clock.expired() {
            return Err(misuse(
                function,
                format!(
                    "the runbook exceeded its time budget of {:?}",
                    self.limits.timeout
                ),
            ));
        }
        Ok(())
    }

    /// In a dry run, prints the call instead of making it and returns true.
    pub(crate) fn dry_run(
        &self,
        ctx: &NativeCallContext<'_>,
        function: &str,
        args: &[&Dynamic],
    ) -> bool {
        if !self.grants.dry_run {
            return false;
        }
        let args: Vec<String> = args.iter().map(|arg| format!("{arg:?}")).collect();
        let at = location(ctx.call_source(), ctx.call_position());
        self.output.line(
            Stream::Stderr,
            &format!("{at}: dry-run: {function}({})", args.join(", ")),
        );
        true
    }
}

/// `scripts.rhai:12` for a call site.
pub(crate) fn location(source: Option<&str>, pos: Position) -> String {
    let source = source.unwrap_or("<script>");
    match pos.line() {
        Some(line) => format!("{source}:{line}"),
        None => source.to_owned(),
    }
}

/// An error caused by how the script called a primitive.
pub(crate) fn misuse(function: &str, message: impl std::fmt::Display) -> Box<EvalAltResult> {
    format!("{function}: {message}").into()
}

/// A failure a script may catch: `#{kind, message[, sqlstate]}`.
pub(crate) fn failure(function: &str, failure: Failure) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("kind".into(), failure.kind.into());
    map.insert(
        "message".into(),
        format!("{function}: {}", failure.message).into(),
    );
    if let Some(state) = failure.sqlstate {
        map.insert("sqlstate".into(), state.into());
    }
    EvalAltResult::ErrorRuntime(map.into(), Position::NONE).into()
}

/// A registration with the parameter names and doc comment scripts and
/// `docs/rhai-api.txt` see. `params` ends with the return type.
pub(crate) fn function(name: &str, params: &[&str], doc: &str) -> FuncRegistration {
    let comments: Vec<String> = doc
        .lines()
        .map(|line| format!("/// {line}").trim_end().to_owned())
        .collect();
    FuncRegistration::new(name)
        .with_params_info(params)
        .with_comments([comments.join("\n")])
}

pub(crate) fn cell_to_dynamic(cell: Cell) -> Dynamic {
    match cell {
        Cell::Null => Dynamic::UNIT,
        Cell::Bool(b) => b.into(),
        Cell::Int(i) => i.into(),
        Cell::Float(f) => f.into(),
        Cell::Text(s) => s.into(),
        Cell::Json(j) => json_to_dynamic(j),
    }
}

/// A JSON value as a script value (unit for null; integers as INT where they fit).
pub(crate) fn json_to_dynamic(value: serde_json::Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

/// A script value as JSON: unit is null, maps and arrays nest, a NaN FLOAT is null.
pub(crate) fn dynamic_to_json(function: &str, value: &Dynamic) -> Res<serde_json::Value> {
    rhai::serde::from_dynamic(value).map_err(|err| {
        misuse(
            function,
            format!("a `{}` cannot be written as JSON: {err}", value.type_name()),
        )
    })
}

/// A derived-`Serialize` value as the object map scripts get.
pub(crate) fn to_map(function: &str, value: &impl serde::Serialize) -> Res<Map> {
    rhai::serde::to_dynamic(value)?
        .try_cast::<Map>()
        .ok_or_else(|| misuse(function, "the result is not a map"))
}

/// One call of a primitive: the run's [`Env`] (through `Deref`), the call
/// site, and the qualified name its errors carry.
pub(crate) struct Call<'a, 'c> {
    env: &'a Env,
    ctx: &'a NativeCallContext<'c>,
    pub(crate) name: &'static str,
}

impl<'a, 'c> Call<'a, 'c> {
    pub(crate) fn new(env: &'a Env, ctx: &'a NativeCallContext<'c>, name: &'static str) -> Self {
        Call { env, ctx, name }
    }

    /// An error caused by how the script called the primitive.
    pub(crate) fn misuse(&self, message: impl std::fmt::Display) -> Box<EvalAltResult> {
        misuse(self.name, message)
    }

    /// A failure of the world the script may catch.
    pub(crate) fn fail(&self, failure: Failure) -> Box<EvalAltResult> {
        self::failure(self.name, failure)
    }

    /// In a dry run, prints the call with `args` instead of making it and returns true.
    pub(crate) fn dry_run(&self, args: &[&Dynamic]) -> bool {
        self.env.dry_run(self.ctx, self.name, args)
    }

    /// Runs a primitive's body: the deadline first, then the body; its error
    /// gets the call site.
    pub(crate) fn run<T>(&self, body: impl FnOnce() -> Res<T>) -> Res<T> {
        located(
            self.ctx,
            self.env.check_clock(self.name).and_then(|()| body()),
        )
    }
}

impl std::ops::Deref for Call<'_, '_> {
    type Target = Env;
    fn deref(&self) -> &Env {
        self.env
    }
}

/// The function name of `ns::name`.
pub(crate) fn short_name(qualified: &str) -> &str {
    qualified
        .rsplit_once("::")
        .map_or(qualified, |(_, name)| name)
}

/// Registers primitive `"ns::name"` into a module: its parameter names and doc
/// (as scripts and `docs/rhai-api.txt` see them; `params` ends with the return
/// type), the run's deadline checked before the body, every error given the
/// call site, and `call` ([`Call`]) for the environment, misuse, failures and
/// the dry run. Every primitive is registered through this.
macro_rules! primitive {
    ($module:expr, $env:expr, $name:literal, $params:expr, $doc:expr,
     |$call:ident $(, $arg:ident : $ty:ty)* $(,)?| -> $ret:ty $body:block) => {{
        let env = ::std::sync::Arc::clone($env);
        $crate::api::function($crate::api::short_name($name), $params, $doc).set_into_module(
            $module,
            move |ctx: ::rhai::NativeCallContext<'_>, $($arg: $ty),*| -> $crate::api::Res<$ret> {
                let $call = $crate::api::Call::new(&env, &ctx, $name);
                $call.run(|| -> $crate::api::Res<$ret> { $body })
            },
        );
    }};
}
pub(crate) use primitive;

/// Registers one module's functions.
type Registration = fn(&mut Module, &Arc<Env>);

/// Registers every module the grants allow.
pub(crate) fn register(engine: &mut Engine, env: Arc<Env>) {
    // Rhai resolves exact parameter types first across every module, so `print`
    // is registered per type in the engine's own namespace (searched first).
    register_print::<rhai::ImmutableString>(engine, &env, "text: String");
    register_print::<rhai::INT>(engine, &env, "value: INT");
    register_print::<rhai::FLOAT>(engine, &env, "value: FLOAT");
    register_print::<bool>(engine, &env, "value: bool");
    register_print::<char>(engine, &env, "value: char");
    register_print::<()>(engine, &env, "value: ()");
    register_print::<rhai::Array>(engine, &env, "value: Array");
    register_print::<Map>(engine, &env, "value: Map");
    register_print::<Dynamic>(engine, &env, "value: ?");
    // No `on_print`: with one set, Rhai would expect our `print` to return the text and print it again.
    let modules: [(&str, Registration); 7] = [
        ("pg", pg::register),
        ("docker", docker::register),
        ("backup", backup::register),
        ("qa", qa::register),
        ("fs", fs::register),
        ("time", time::register),
        ("log", log::register),
    ];
    for (name, register) in modules {
        let mut module = Module::new();
        register(&mut module, &env);
        module.build_index();
        engine.register_static_module(name, module.into());
    }
}

fn register_print<T: Clone + Send + Sync + 'static>(
    engine: &mut Engine,
    env: &Arc<Env>,
    param: &str,
) {
    let env = env.clone();
    function(
        "print",
        &[param, "()"],
        "Prints a line to stdout, tagged with the script's file and line.",
    )
    .register_into_engine(engine, move |ctx: NativeCallContext<'_>, value: T| {
        let at = location(ctx.call_source(), ctx.call_position());
        env.output
            .line(Stream::Stdout, &format!("{at}: {}", Dynamic::from(value)));
    });
}

/// The qualified names of every script-visible function under `grants`, sorted.
pub fn function_names(grants: Grants) -> Vec<String> {
    let mut names: Vec<String> = metadata(grants)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    names.dedup();
    names
}

/// (qualified name, signature, doc) of every script-visible function, sorted.
fn metadata(grants: Grants) -> Vec<(String, String, String)> {
    let backend = Arc::new(crate::backend::Offline {
        backups_dir: "backups".into(),
    });
    let sandbox = crate::engine::sandbox(
        &Limits::default(),
        grants,
        backend,
        Arc::new(crate::engine::Terminal),
    );
    let json = sandbox
        .engine
        .gen_fn_metadata_to_json(false)
        .expect("rhai metadata serializes");
    let value: serde_json::Value = serde_json::from_str(&json).expect("rhai metadata is JSON");
    let mut out = Vec::new();
    let mut collect = |prefix: &str, functions: &serde_json::Value| {
        for f in functions.as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap_or_default();
            let signature = f["signature"].as_str().unwrap_or_default();
            let doc: Vec<&str> = f["docComments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str())
                .flat_map(str::lines)
                .map(|line| line.trim_start_matches("///").trim())
                .collect();
            out.push((
                format!("{prefix}{name}"),
                format!("{prefix}{signature}"),
                doc.join("\n"),
            ));
        }
    };
    collect("", &value["functions"]);
    if let Some(modules) = value["modules"].as_object() {
        for (module, content) in modules {
            collect(&format!("{module}::"), &content["functions"]);
        }
    }
    out.sort();
    out
}

/// `docs/rhai-api.txt`: every function a runbook can call, with its signature and help.
pub fn api_listing() -> String {
    let mut text = String::from(
        "# Every function a runbook can call: signature, then help. Generated from the code by\n\
         # `INSTA_UPDATE=always cargo test -p core_data_runbook --test api_list`; do not edit by hand.\n\
         # [--allow-…] = a write primitive, registered only with that grant (or `--dry-run`, where it\n\
         # prints instead).\n\
         # Plus Rhai's standard package (strings, arrays, maps, math): https://rhai.rs/book/\n",
    );
    for (name, signature, doc) in metadata(Grants::ALL_WRITES) {
        let mark = grant_of(&name).map_or_else(String::new, |g| format!("  [{}]", g.flag()));
        text.push_str(&format!("\n{signature}{mark}\n"));
        for line in doc.lines() {
            text.push_str(format!("    {line}\n").trim_end());
            text.push('\n');
        }
    }
    text
}

/// Gives a primitive's error the call site. Rhai fills it in for unqualified
/// calls but not for `ns::fn` calls, so every primitive goes through this.
pub(crate) fn located<T>(ctx: &NativeCallContext<'_>, result: Res<T>) -> Res<T> {
    result.map_err(|mut err| {
        if err.position().is_none() {
            err.set_position(ctx.call_position());
        }
        err
    })
}
