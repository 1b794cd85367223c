//! The lines the CLI prints, in Alembic's formats so that habits and scripts carry over.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::embedded::{Migrations, Revision};
use crate::report::CurrentHead;

fn labels(rev: &Revision) -> String {
    let l: Vec<&str> = rev.branch_labels().collect();
    if l.is_empty() {
        String::new()
    } else {
        format!(" ({})", l.join(", "))
    }
}

/// ` (rust)` for a Rust code revision (docs/design.md §1.7), else nothing.
pub(crate) fn kind_mark(rev: &Revision) -> &'static str {
    if rev.is_rust() { " (rust)" } else { "" }
}

fn parents_text(rev: &Revision) -> String {
    let p: Vec<&str> = rev.parents().collect();
    if p.is_empty() {
        "<base>".to_owned()
    } else {
        p.join(", ")
    }
}

/// `<parents>[ (deps)] -> <id>[ (labels)][ (head)][ (current)][ (branchpoint)][ (mergepoint)], <message>`
pub(crate) fn history_line(m: &Migrations, i: usize, current: &HashSet<String>) -> String {
    let g = m.graph();
    let Some(rev) = m.at(i) else {
        return String::new();
    };
    let deps: Vec<&str> = rev.depends_on().collect();
    let mut s = if deps.is_empty() {
        format!("{} -> {}", parents_text(rev), rev.id())
    } else {
        format!(
            "{} ({}) -> {}",
            parents_text(rev),
            deps.join(", "),
            rev.id()
        )
    };
    s.push_str(&labels(rev));
    s.push_str(kind_mark(rev));
    if g.is_head(i) {
        s.push_str(" (head)");
    }
    if current.contains(rev.id()) {
        s.push_str(" (current)");
    }
    if g.is_branch_point(i) {
        s.push_str(" (branchpoint)");
    }
    if g.is_merge_point(i) {
        s.push_str(" (mergepoint)");
    }
    let _ = write!(s, ", {}", rev.message());
    s
}

/// `<repeatable>[ (deps)] -> <id> (repeatable), <message>`: a line of `history` for a
/// repeatable revision (docs/design.md §4.10), which runs after every versioned one.
pub(crate) fn repeatable_history_line(rev: &Revision) -> String {
    let deps: Vec<&str> = rev.depends_on().collect();
    let deps = if deps.is_empty() {
        String::new()
    } else {
        format!(" ({})", deps.join(", "))
    };
    format!(
        "<repeatable>{deps} -> {} (repeatable), {}",
        rev.id(),
        rev.message()
    )
}

/// The lines of `current` for the repeatable revisions of `status`: `<id> (repeatable)`,
/// with `, pending` when `run` would apply it (new or changed), `, unknown to this binary`
/// when this binary does not ship it.
pub(crate) fn current_repeatable_lines(status: &crate::report::Status) -> String {
    let mut out = String::new();
    for (ids, mark) in [
        (&status.repeatables_applied, ""),
        (&status.repeatables_pending, ", pending"),
        (&status.repeatables_unknown, ", unknown to this binary"),
    ] {
        for id in ids {
            let _ = writeln!(out, "{id} (repeatable{mark})");
        }
    }
    out
}

/// `<id>[ (labels)] (head)`: a line of `heads`.
pub(crate) fn head_line(m: &Migrations, i: usize) -> String {
    match m.at(i) {
        Some(rev) => format!("{}{}{} (head)", rev.id(), labels(rev), kind_mark(rev)),
        None => String::new(),
    }
}

/// A line of `current`: `<id>[ (head)][ (branchpoint)][ (mergepoint)]`, or the bare id of a
/// revision this binary does not know.
pub(crate) fn current_line(h: &CurrentHead) -> String {
    let mut s = h.id.clone();
    if h.is_head {
        s.push_str(" (head)");
    }
    if h.is_branch_point {
        s.push_str(" (branchpoint)");
    }
    if h.is_merge_point {
        s.push_str(" (mergepoint)");
    }
    if !h.known {
        s.push_str(" (unknown to this binary)");
    }
    s
}

/// The verbose entry of a revision (`heads -v`, `history -v`, `show`), ending with a blank
/// line.
pub(crate) fn log_entry(m: &Migrations, i: usize, current: &HashSet<String>) -> String {
    let g = m.graph();
    let Some(rev) = m.at(i) else {
        return String::new();
    };
    let mut s = format!("Rev: {}{}", rev.id(), kind_mark(rev));
    if g.is_head(i) {
        s.push_str(" (head)");
    }
    if g.is_branch_point(i) {
        s.push_str(" (branchpoint)");
    }
    if g.is_merge_point(i) {
        s.push_str(" (mergepoint)");
    }
    if current.contains(rev.id()) {
        s.push_str(" (current)");
    }
    s.push('\n');
    if g.is_merge_point(i) {
        let _ = writeln!(s, "Merges: {}", parents_text(rev));
    } else {
        let _ = writeln!(s, "Parent: {}", parents_text(rev));
    }
    let deps: Vec<&str> = rev.depends_on().collect();
    if !deps.is_empty() {
        let _ = writeln!(s, "Also depends on: {}", deps.join(", "));
    }
    if g.is_branch_point(i) {
        let kids: Vec<&str> = g.children(i).iter().map(|&c| g.id(c)).collect();
        let _ = writeln!(s, "Branches into: {}", kids.join(", "));
    }
    let l: Vec<&str> = rev.branch_labels().collect();
    if !l.is_empty() {
        let _ = writeln!(s, "Branch names: {}", l.join(", "));
    }
    let _ = writeln!(s, "Path: {}", rev.path());
    s.push('\n');
    let _ = writeln!(s, "    {}", rev.message());
    s.push_str("    \n");
    let _ = writeln!(s, "    Revision ID: {}", rev.id());
    let _ = writeln!(
        s,
        "    Revises: {}",
        rev.parents().collect::<Vec<_>>().join(", ")
    );
    if let Some(date) = rev.create_date() {
        let _ = writeln!(s, "    Create Date: {date}");
    }
    if !rev.is_transactional() {
        s.push_str("    Transactional: false\n");
    }
    s.push('\n');
    s
}

/// `show`: the verbose entry followed by both sections.
pub(crate) fn show(m: &Migrations, i: usize) -> String {
    let Some(rev) = m.at(i) else {
        return String::new();
    };
    let mut s = log_entry(m, i, &HashSet::new());
    if rev.is_rust() {
        let _ = writeln!(
            s,
            "// Rust code: upgrade{} (checksum {})",
            if rev.is_reversible() {
                " and downgrade"
            } else {
                ", irreversible"
            },
            rev.checksum()
        );
        let _ = writeln!(s, "{}", rev.upgrade_sql());
        return s;
    }
    let _ = writeln!(s, "-- migrate:upgrade (checksum {})", rev.checksum());
    if !rev.upgrade_sql().is_empty() {
        let _ = writeln!(s, "{}", rev.upgrade_sql());
    }
    match rev.downgrade_sql() {
        Some(down) => {
            s.push_str("\n-- migrate:downgrade\n");
            if !down.is_empty() {
                let _ = writeln!(s, "{down}");
            }
        }
        None => s.push_str("\n(no downgrade section: this revision is irreversible)\n"),
    }
    s
}

/// `branches`: each branch point, then its children.
pub(crate) fn branches(m: &Migrations, verbose: bool) -> String {
    let g = m.graph();
    let mut s = String::new();
    for i in (0..g.len()).rev().filter(|&i| g.is_branch_point(i)) {
        let Some(rev) = m.at(i) else { continue };
        if verbose {
            s.push_str(&log_entry(m, i, &HashSet::new()));
        } else {
            let _ = writeln!(s, "{}{} (branchpoint)", rev.id(), labels(rev));
        }
        let pad = " ".repeat(rev.id().len());
        for &c in g.children(i) {
            let Some(child) = m.at(c) else { continue };
            let mut line = format!("{pad} -> {}{}", child.id(), labels(child));
            if g.is_head(c) {
                line.push_str(" (head)");
            }
            if g.is_branch_point(c) {
                line.push_str(" (branchpoint)");
            }
            if g.is_merge_point(c) {
                line.push_str(" (mergepoint)");
            }
            if verbose {
                let _ = write!(line, ", {}", child.message());
            }
            let _ = writeln!(s, "{line}");
        }
        s.push('\n');
    }
    s
}
