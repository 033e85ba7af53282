//! core_data runbooks: the Rhai sandbox and the primitives it exposes to scripts.
