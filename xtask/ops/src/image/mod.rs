//! The platform image: its base (pulled or bootstrapped from Debian packages),
//! the service binaries built from this workspace (`binary`), the build
//! (skipped when its inputs are unchanged; one build of a tag at a time on the
//! machine, `build_lock`), and its manifest; and the other
//! images built on that base (`on_base`: the add-ons, the tests' browser).

pub mod base;
pub mod binary;
pub mod build;
pub mod build_lock;
pub mod info;
pub mod on_base;
pub mod suites;

/// Label carrying the hash of everything the image was built from.
pub const INPUTS_LABEL: &str = "org.core-data.inputs";
/// Label naming the base image the platform image was built on.
pub const BASE_LABEL: &str = "org.core-data.base";
/// Label carrying the PostgreSQL major of a platform image.
pub const MAJOR_LABEL: &str = "org.core-data.pg-major";
