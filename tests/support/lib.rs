//! Shared helpers of the full-workflow tests.
