//! The heart of revchain, shared by the `migrations!` macro (at build time) and the runtime
//! and CLI (at run time), so that they can never disagree:
//!
//! - [`parse`]: the migration file format (docs/design.md §1);
//! - [`graph`]: the revision graph, its validation and stable order (§2);
//! - [`target`]: targets (`head`, `+2`, `ae10-1`, `label@head`, …) and the exact plan of an
//!   upgrade, a downgrade or a stamp (§2);
//! - [`digest`]: checksums and chain digests (§3);
//! - [`draw`]: the graph as Graphviz DOT, Mermaid, and drawn for a terminal;
//! - [`applied`]: the database's applied state as read, and its check against the
//!   embedded revisions (§3–§4);
//! - [`baseline`]: baselines written by `squash` (`Replaces`) and their state rule;
//! - [`split`]: the SQL statement splitter (§4);
//! - [`statements`]: statements a revision may not hold (transaction control, …);
//! - [`history`]: a loaded and validated directory;
//! - [`repeatable`]: repeatable revisions, their order and what a run re-applies;
//! - [`writer`]: new revision files;
//! - [`packed`]: the compact form of the table that `migrations!` embeds;
//! - [`lint`]: the DDL linter (rules, findings, `-- revchain:allow` suppression);
//! - [`lex`]: the one SQL tokenizer that the splitter, the statement checks, the schema
//!   crate (`revchain-schema`) and the runtime read SQL with.
//!
//! ```
//! use revchain_core::{History, Target};
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("a1_users.sql"), "-- users\n-- Revision ID: a1\n-- Revises:\n\n-- migrate:upgrade\nCREATE TABLE users (id INT);\n\n-- migrate:downgrade\nDROP TABLE users;\n").unwrap();
//! let history = History::load(dir.path()).unwrap();
//! let plan = history.graph().plan_upgrade(&Target::Head, &[]).unwrap();
//! assert_eq!(plan.revisions(), [0]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod applied;
pub mod baseline;
pub mod code;
pub mod digest;
pub mod draw;
pub mod graph;
pub mod history;
pub mod id;
pub mod import;
pub mod lex;
pub mod lint;
pub mod packed;
pub mod parse;
pub mod repeatable;
pub mod split;
pub mod statements;
pub mod target;
pub mod writer;

#[cfg(test)]
mod testutil;

pub use digest::Digest;
pub use graph::{Graph, GraphError};
pub use history::{History, LoadError, LoadErrors, Mode};
pub use parse::{ParseError, Phase, RevisionFile, RevisionKind, Section};
pub use split::{Dialect, Statement, split_statements, split_statements_checked};
pub use target::{Bound, Direction, Plan, Range, RangeError, StampPlan, Step, Target, TargetError};
