//! core_data runbooks: the Rhai sandbox and the primitives it exposes to scripts.
//!
//! `engine::sandbox` is the only `Engine` constructor; `api` holds the
//! script-visible functions; `backend` abstracts the stack they act on (`live`
//! is the real one); `catalog` finds, compiles and runs runbooks; `diag`
//! renders errors with file, line, column and caret.

pub mod api;
pub mod backend;
pub mod bench;
pub mod catalog;
pub mod diag;
pub mod engine;
pub mod live;
