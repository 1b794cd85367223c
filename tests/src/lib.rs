//! Shared helpers for revchain's workspace-level integration tests.
