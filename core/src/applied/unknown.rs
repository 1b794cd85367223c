//! Rolling back with an older binary (docs/design.md §4.13): the plan that reverts the
//! revisions a newer binary applied, from the downgrade SQL the log stored when each was
//! applied. Pure: the caller reads the rows and runs the plan.

use std::collections::{HashMap, HashSet};

use crate::digest::Digest;
use crate::graph::Graph;

/// What the log stored of an applied revision that this binary does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRevision {
    /// The revision id.
    pub id: String,
    /// Its parents (the `revises` column); `None` when the row predates the column.
    pub parents: Option<Vec<String>>,
    /// Its downgrade SQL (`downgrade_sql`); `None` for an irreversible revision, a Rust
    /// code revision or a row that predates the column.
    pub downgrade_sql: Option<String>,
    /// The checksum of `downgrade_sql` recorded with it (`downgrade_checksum`).
    pub downgrade_checksum: Option<String>,
    /// Whether its downgrade runs in a transaction (`transactional`; `None`: unknown).
    pub transactional: Option<bool>,
}

impl StoredRevision {
    /// Why the stored downgrade of this revision cannot be run, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if self.parents.is_none() || self.transactional.is_none() {
            return Some(
                "applied before revchain stored downgrades (its row has no stored downgrade)",
            );
        }
        let Some(sql) = &self.downgrade_sql else {
            return Some("no downgrade SQL stored (an irreversible or a Rust code revision)");
        };
        match &self.downgrade_checksum {
            Some(c) if *c == downgrade_checksum(sql) => None,
            _ => Some("the stored downgrade SQL does not match its stored checksum (altered)"),
        }
    }
}

/// The checksum stored beside a downgrade's SQL: the hex SHA-256 of its text.
pub fn downgrade_checksum(sql: &str) -> String {
    Digest::of(sql.as_bytes()).to_hex()
}

/// One revert of a revision this binary does not know, with its version-table changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertStep {
    /// The revision reverted.
    pub id: String,
    /// Head rows removed (the revision itself).
    pub remove_heads: Vec<String>,
    /// Head rows added (its parents that become heads).
    pub add_heads: Vec<String>,
}

/// Why the unknown revisions cannot be reverted by this binary. Nothing ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevertError {
    /// These revisions cannot be reverted from the log: each with its reason.
    #[error(
        "the database is ahead of this binary and {} cannot be reverted from the SQL stored in \
         the log: {}; downgrade with the binary that applied them",
        if .0.len() == 1 { "this revision" } else { "these revisions" },
        .0.iter().map(|(id, why)| format!("{id}: {why}")).collect::<Vec<_>>().join("; ")
    )]
    Unrevertable(Vec<(String, String)>),
}

/// The reverts, newest first (children before parents), of every revision this binary does
/// not know that lies under the version rows `heads`, placed by the parents the log stored
/// (`stored`: the log rows of the applied revisions this binary does not know). Stops when every remaining head is known to `graph`; the caller then plans
/// the ordinary downgrade. Refuses, naming each one, when any of them cannot be reverted.
pub fn plan_revert(
    graph: &Graph,
    heads: &[String],
    stored: &[StoredRevision],
) -> Result<Vec<RevertStep>, RevertError> {
    let by_id: HashMap<&str, &StoredRevision> = stored.iter().map(|s| (s.id.as_str(), s)).collect();
    // Every applied revision this binary does not know must go, also those the walk from
    // the heads cannot reach (under a row whose parents were not stored): each is named.
    let mut unknown = unknown_under(graph, heads, &by_id);
    unknown.extend(
        stored
            .iter()
            .filter(|s| graph.find(&s.id).is_none() && !unknown.contains(&s.id))
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
    );
    unknown.sort();
    let problems: Vec<(String, String)> = unknown
        .iter()
        .filter_map(|id| match by_id.get(id.as_str()) {
            None => Some((id.clone(), "the log has no row for it".to_owned())),
            Some(s) => s.problem().map(|p| (id.clone(), p.to_owned())),
        })
        .collect();
    if !problems.is_empty() {
        return Err(RevertError::Unrevertable(problems));
    }
    let parents = |id: &str| -> Vec<String> {
        match graph.find(id) {
            Some(i) => graph
                .node(i)
                .parents
                .iter()
                .map(|&p| graph.id(p).to_owned())
                .collect(),
            None => by_id
                .get(id)
                .and_then(|s| s.parents.clone())
                .unwrap_or_default(),
        }
    };
    let depth = depths(&unknown, &parents);
    let mut current: Vec<String> = heads.to_vec();
    let mut steps = Vec::new();
    while let Some(id) = current
        .iter()
        .filter(|h| graph.find(h).is_none())
        .max_by(|a, b| depth[a.as_str()].cmp(&depth[b.as_str()]).then(b.cmp(a)))
        .cloned()
    {
        current.retain(|h| *h != id);
        let covered = ancestors(&current, &parents);
        let add: Vec<String> = parents(&id)
            .into_iter()
            .filter(|p| !covered.contains(p) && !current.contains(p))
            .collect();
        current.extend(add.iter().cloned());
        steps.push(RevertStep {
            id: id.clone(),
            remove_heads: vec![id],
            add_heads: add,
        });
    }
    Ok(steps)
}

/// The revisions this binary does not know among `heads` and their ancestors by the stored
/// parents (known revisions end the walk), sorted.
fn unknown_under(
    graph: &Graph,
    heads: &[String],
    by_id: &HashMap<&str, &StoredRevision>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<&str> = heads.iter().map(String::as_str).collect();
    while let Some(id) = stack.pop() {
        if graph.find(id).is_some() || !seen.insert(id.to_owned()) {
            continue;
        }
        if let Some(parents) = by_id.get(id).and_then(|s| s.parents.as_ref()) {
            stack.extend(parents.iter().map(String::as_str));
        }
    }
    let mut unknown: Vec<String> = seen.into_iter().collect();
    unknown.sort();
    unknown
}

/// Each unknown revision's number of unknown ancestors on its longest line: reverting the
/// deepest head first reverts children before parents.
fn depths(unknown: &[String], parents: &dyn Fn(&str) -> Vec<String>) -> HashMap<String, usize> {
    fn depth(
        id: &str,
        unknown: &HashSet<&str>,
        parents: &dyn Fn(&str) -> Vec<String>,
        memo: &mut HashMap<String, usize>,
        visiting: &mut HashSet<String>,
    ) -> usize {
        if let Some(&d) = memo.get(id) {
            return d;
        }
        // A cycle in edited rows must not recurse forever.
        if !unknown.contains(id) || !visiting.insert(id.to_owned()) {
            return 0;
        }
        let d = 1 + parents(id)
            .iter()
            .map(|p| depth(p, unknown, parents, memo, visiting))
            .max()
            .unwrap_or(0);
        memo.insert(id.to_owned(), d);
        d
    }
    let set: HashSet<&str> = unknown.iter().map(String::as_str).collect();
    let mut memo = HashMap::new();
    for id in unknown {
        depth(id, &set, parents, &mut memo, &mut HashSet::new());
    }
    memo
}

/// Every strict ancestor of `heads` through `parents`.
fn ancestors(heads: &[String], parents: &dyn Fn(&str) -> Vec<String>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack: Vec<String> = heads.iter().flat_map(|h| parents(h)).collect();
    while let Some(id) = stack.pop() {
        if seen.insert(id.clone()) {
            stack.extend(parents(&id));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;

    fn graph() -> Graph {
        let node = |id: &str, parents: Vec<usize>| Node {
            id: id.into(),
            parents,
            depends_on: vec![],
            branch_labels: vec![],
            reversible: true,
        };
        Graph::from_nodes(vec![node("a1", vec![]), node("a2", vec![0])]).unwrap()
    }

    fn stored(id: &str, parents: &[&str], sql: &str) -> StoredRevision {
        StoredRevision {
            id: id.into(),
            parents: Some(parents.iter().map(|p| (*p).to_owned()).collect()),
            downgrade_sql: Some(sql.into()),
            downgrade_checksum: Some(downgrade_checksum(sql)),
            transactional: Some(true),
        }
    }

    fn ids(steps: &[RevertStep]) -> Vec<&str> {
        steps.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn a_line_is_reverted_newest_first_down_to_the_known_head() {
        let rows = [
            stored("a3", &["a2"], "DROP TABLE t3"),
            stored("a4", &["a3"], "DROP TABLE t4"),
        ];
        let steps = plan_revert(&graph(), &["a4".into()], &rows).unwrap();
        assert_eq!(ids(&steps), ["a4", "a3"]);
        assert_eq!(steps[0].add_heads, ["a3"]);
        assert_eq!(steps[1].add_heads, ["a2"]);
    }

    #[test]
    fn unknown_branches_and_a_merge() {
        // a2 ← b1 ← m, a2 ← c1 ← m (m merges b1 and c1); all unknown.
        let rows = [
            stored("b1", &["a2"], "x"),
            stored("c1", &["a2"], "y"),
            stored("m", &["b1", "c1"], "z"),
        ];
        let steps = plan_revert(&graph(), &["m".into()], &rows).unwrap();
        assert_eq!(ids(&steps), ["m", "b1", "c1"]);
        assert_eq!(steps[0].add_heads, ["b1", "c1"]);
        // After b1, a2 is still under c1: it becomes a head only with c1.
        assert!(steps[1].add_heads.is_empty());
        assert_eq!(steps[2].add_heads, ["a2"]);
    }

    #[test]
    fn a_known_head_beside_stays() {
        let rows = [stored("x1", &["a1"], "x")];
        let steps = plan_revert(&graph(), &["a2".into(), "x1".into()], &rows).unwrap();
        assert_eq!(ids(&steps), ["x1"]);
        // a1 is under a2 still.
        assert!(steps[0].add_heads.is_empty());
    }

    #[test]
    fn every_unrevertable_revision_is_named() {
        let mut tampered = stored("a3", &["a2"], "DROP TABLE t3");
        tampered.downgrade_sql = Some("DROP TABLE users".into());
        let mut irreversible = stored("a4", &["a3"], "");
        irreversible.downgrade_sql = None;
        let err = plan_revert(&graph(), &["a4".into()], &[tampered, irreversible]).unwrap_err();
        let RevertError::Unrevertable(list) = &err;
        assert_eq!(list.len(), 2);
        let text = err.to_string();
        assert!(
            text.contains("a3: the stored downgrade SQL does not match"),
            "{text}"
        );
        assert!(text.contains("a4: no downgrade SQL stored"), "{text}");
    }

    #[test]
    fn rows_from_before_the_columns_are_refused() {
        let old = StoredRevision {
            id: "a3".into(),
            parents: None,
            downgrade_sql: None,
            downgrade_checksum: None,
            transactional: None,
        };
        let newer = stored("a4", &["a3"], "x");
        let err = plan_revert(&graph(), &["a4".into()], &[old.clone(), newer]).unwrap_err();
        assert!(
            err.to_string()
                .contains("a3: applied before revchain stored downgrades")
        );
        // Unreachable from the heads (its child's parents were not stored): named too.
        let mut a4 = old.clone();
        a4.id = "a4".into();
        let err = plan_revert(&graph(), &["a4".into()], &[old, a4]).unwrap_err();
        let text = err.to_string();
        let before = "applied before revchain stored downgrades";
        assert!(text.contains(&format!("a3: {before}")) && text.contains(&format!("a4: {before}")));
        let err = plan_revert(&graph(), &["zz".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("zz: the log has no row for it"));
    }

    #[test]
    fn nothing_unknown_plans_nothing() {
        assert!(
            plan_revert(&graph(), &["a2".into()], &[])
                .unwrap()
                .is_empty()
        );
    }
}
