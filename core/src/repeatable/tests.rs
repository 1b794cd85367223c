use std::collections::HashMap;

use super::*;
use crate::History;
use crate::parse::parse;
use crate::testutil::{file, file_with};

fn repeatable(id: &str, depends_on: &str, sql: &str) -> RevisionFile {
    let deps = if depends_on.is_empty() {
        String::new()
    } else {
        format!("-- Depends On: {depends_on}\n")
    };
    let text = format!(
        "-- view {id}\n-- Revision ID: {id}\n-- Repeatable: true\n{deps}\n-- migrate:upgrade\n{sql}\n-- migrate:downgrade\nDROP VIEW {id};\n"
    );
    parse(&format!("m/{id}.sql"), &text).unwrap()
}

fn history(files: Vec<RevisionFile>) -> History {
    History::from_files(files).unwrap()
}

fn ids(h: &History, positions: &[usize]) -> Vec<String> {
    let order = h.repeatables().order();
    positions.iter().map(|&p| order[p].id.clone()).collect()
}

fn all_applied(h: &History) -> Vec<bool> {
    vec![true; h.graph().len()]
}

#[test]
fn repeatables_stay_out_of_the_graph_and_order_by_dependencies_then_id() {
    let h = history(vec![
        file("a1", &[]),
        file_with("b2", &["a1"], "-- Branch Labels: accounts"),
        repeatable("v_zeta", "", "CREATE VIEW v_zeta AS SELECT 1;"),
        repeatable("v_alpha", "v_zeta", "CREATE VIEW v_alpha AS SELECT 1;"),
        repeatable("v_beta", "accounts", "CREATE VIEW v_beta AS SELECT 1;"),
    ]);
    assert_eq!(h.graph().len(), 2);
    assert_eq!(h.revisions().len(), 2);
    let order: Vec<&str> = h
        .repeatables()
        .order()
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(order, ["v_beta", "v_zeta", "v_alpha"]);
    let files: Vec<&str> = h.repeatable_files().iter().map(|f| f.id.as_str()).collect();
    assert_eq!(files, order);
    assert_eq!(h.repeatables().order()[0].versioned, [1]);
}

#[test]
fn plan_applies_new_and_changed_ones_once_and_waits_for_versioned_dependencies() {
    let h = history(vec![
        file("a1", &[]),
        file("b2", &["a1"]),
        repeatable("v_users", "", "CREATE VIEW v_users AS SELECT 1;"),
        repeatable("v_emails", "b2", "CREATE VIEW v_emails AS SELECT 2;"),
    ]);
    let r = h.repeatables();
    let mut recorded = HashMap::new();
    // Only a1 applied: v_emails waits for b2.
    let plan = r.plan(&[true, false], &recorded);
    assert_eq!(ids(&h, &plan.apply), ["v_users"]);
    assert!(plan.remove.is_empty());
    // Everything applied, nothing recorded: both, v_emails after the versioned b2.
    let plan = r.plan(&all_applied(&h), &recorded);
    assert_eq!(ids(&h, &plan.apply), ["v_emails", "v_users"]);
    // Recorded with the same checksums: nothing to do.
    for item in r.order() {
        recorded.insert(item.id.clone(), item.checksum);
    }
    assert_eq!(
        r.plan(&all_applied(&h), &recorded),
        RepeatablePlan::default()
    );
    // A changed text: that one only.
    recorded.insert(
        "v_users".into(),
        Digest::checksum("CREATE VIEW v_users AS SELECT 0;"),
    );
    let plan = r.plan(&all_applied(&h), &recorded);
    assert_eq!(ids(&h, &plan.apply), ["v_users"]);
}

#[test]
fn plan_removes_what_depends_on_a_reverted_revision_dependents_first() {
    let h = history(vec![
        file("a1", &[]),
        file("b2", &["a1"]),
        repeatable("v_base", "b2", "CREATE VIEW v_base AS SELECT 1;"),
        repeatable("v_top", "v_base", "CREATE VIEW v_top AS SELECT 1;"),
        repeatable("v_other", "a1", "CREATE VIEW v_other AS SELECT 1;"),
    ]);
    let r = h.repeatables();
    let recorded: HashMap<String, Digest> = r
        .order()
        .iter()
        .map(|i| (i.id.clone(), i.checksum))
        .collect();
    let plan = r.plan(&[true, false], &recorded);
    assert!(plan.apply.is_empty());
    assert_eq!(ids(&h, &plan.remove), ["v_top", "v_base"]);
    assert_eq!(r.available(&[true, false]), [false, true, false]);
}

#[test]
fn resolve_reports_unknown_dependencies_duplicates_and_cycles() {
    let errors = History::from_files(vec![
        file("a1", &[]),
        repeatable("a1", "", "CREATE VIEW a1 AS SELECT 1;"),
        repeatable("v_x", "nowhere", "CREATE VIEW v_x AS SELECT 1;"),
        repeatable("v_p", "v_q", "CREATE VIEW v_p AS SELECT 1;"),
        repeatable("v_q", "v_p", "CREATE VIEW v_q AS SELECT 1;"),
    ])
    .unwrap_err()
    .to_string();
    assert!(errors.contains("duplicate revision id `a1`"), "{errors}");
    assert!(
        errors.contains("m/v_x.sql:4: revision `v_x` depends on `nowhere`"),
        "{errors}"
    );
    assert!(errors.contains("v_p (m/v_p.sql:4)"), "{errors}");
    assert!(errors.contains("v_q (m/v_q.sql:4)"), "{errors}");
}

#[test]
fn a_repeatable_has_no_revises_nor_branch_labels() {
    let text = "-- v\n-- Revision ID: v_a\n-- Repeatable: true\n-- Revises: a1\n-- Branch Labels: x\n\n-- migrate:upgrade\nCREATE VIEW v_a AS SELECT 1;\n";
    let errors: Vec<String> = parse("m/v.sql", text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("m/v.sql:4: a repeatable revision"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("cannot have `Branch Labels`"),
        "{errors:?}"
    );
    let bad = parse(
        "m/v.sql",
        "-- v\n-- Revision ID: v_a\n-- Repeatable: yes\n\n-- migrate:upgrade\nSELECT 1;\n",
    );
    assert!(
        bad.unwrap_err()[0]
            .to_string()
            .contains("`Repeatable` must be `true` or `false`")
    );
}
