//! Offline mode (`upgrade START:END --sql`): the reviewable SQL script of a plan, with the
//! same statements and bookkeeping the runtime would execute.

use std::fmt::Write as _;

use revchain_core::{Dialect, Direction, Plan, split_statements};

use crate::table::Migrations;
use crate::tables::{Tables, Work};

/// Renders `plan` as a script for `dialect`: one `BEGIN`/`COMMIT` block per transactional
/// revision, non-transactional revisions outside any transaction, each statement followed
/// by a blank line, `-- Running …` comments as Alembic writes them.
pub(crate) fn script(
    m: &Migrations,
    tables: &Tables,
    dialect: Dialect,
    plan: &Plan,
    create_tables: bool,
) -> String {
    let mut out = String::new();
    let stmt = |out: &mut String, s: &str| {
        let _ = write!(out, "{};\n\n", s.trim_end().trim_end_matches(';'));
    };
    if create_tables {
        for s in tables.create(dialect) {
            stmt(&mut out, &s);
        }
    }
    let revs: Vec<_> = m.iter().collect();
    for step in &plan.steps {
        let rev = revs[step.revision];
        let work = Work {
            revision: rev,
            direction: plan.direction,
            remove_heads: step.remove_heads.iter().map(|&h| revs[h].id()).collect(),
            add_heads: step
                .add_heads
                .iter()
                .map(|&h| (revs[h].id(), revs[h].chain_digest()))
                .collect(),
        };
        let (from, to) = match plan.direction {
            Direction::Upgrade => (
                rev.parents().collect::<Vec<_>>().join(", "),
                rev.id().to_owned(),
            ),
            Direction::Downgrade => (
                rev.id().to_owned(),
                rev.parents().collect::<Vec<_>>().join(", "),
            ),
        };
        let _ = write!(
            out,
            "-- Running {} {from} -> {to}, {}",
            plan.direction,
            rev.message()
        );
        if !rev.is_transactional() {
            out.push_str(" (outside a transaction)");
        }
        out.push_str("\n\n");
        if rev.is_transactional() {
            stmt(&mut out, "BEGIN");
        }
        for s in split_statements(work.sql(), dialect) {
            stmt(&mut out, s.sql);
        }
        for s in tables.step_bookkeeping(dialect, &work, "0") {
            stmt(&mut out, &s);
        }
        if rev.is_transactional() {
            stmt(&mut out, "COMMIT");
        }
    }
    out
}
