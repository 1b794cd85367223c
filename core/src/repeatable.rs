//! Repeatable revisions (`Repeatable: true`, docs/design.md §4.10): their dependencies,
//! their stable order, and the pure plans of what a run re-applies and what a downgrade
//! removes.
//!
//! Repeatables are not nodes of the versioned [`Graph`]: they have no parents, no chain
//! digests, and are never a target. Each may depend (`Depends On`) on versioned revisions
//! (ids or branch labels) and on other repeatables. They are applied after the versioned
//! revisions of a run, in the order of [`Repeatables::order`]: topological by `Depends On`
//! among repeatables, ties (and independent ones) by id, like Flyway's `R__` migrations,
//! which run after the versioned ones ordered by description.

use std::collections::{BTreeSet, HashMap};

use crate::digest::Digest;
use crate::graph::{Graph, GraphError, Member};
use crate::parse::RevisionFile;

/// One repeatable revision as the planning reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec<'a> {
    /// Its id.
    pub id: &'a str,
    /// `Depends On` as written: versioned ids or labels, or repeatable ids.
    pub depends_on: Vec<&'a str>,
    /// The checksum of its upgrade section (§1.4).
    pub checksum: Digest,
    /// The file, for messages.
    pub path: &'a str,
    /// The line of `Revision ID`.
    pub id_line: usize,
    /// The line of `Depends On` (else of `Revision ID`).
    pub depends_on_line: usize,
}

impl<'a> Spec<'a> {
    /// The spec of a parsed repeatable file.
    pub fn of(f: &'a RevisionFile) -> Spec<'a> {
        Spec {
            id: &f.id,
            depends_on: f.depends_on.iter().map(String::as_str).collect(),
            checksum: f.checksum(),
            path: &f.path,
            id_line: f.lines.id,
            depends_on_line: f.lines.depends_on.unwrap_or(f.lines.id),
        }
    }
}

/// One resolved repeatable, at its place in [`Repeatables::order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its id.
    pub id: String,
    /// Its checksum.
    pub checksum: Digest,
    /// The versioned revisions (graph indices) it depends on directly.
    pub versioned: Vec<usize>,
    /// The repeatables (positions in the order) it depends on; all before it.
    pub repeatables: Vec<usize>,
    /// Its position in the input given to [`Repeatables::resolve`].
    pub input: usize,
}

/// The repeatables of a directory or an embedded table, resolved and ordered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repeatables {
    items: Vec<Item>,
}

/// What a run does with the repeatables: positions in [`Repeatables::order`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepeatablePlan {
    /// To (re)apply, in this order: never applied, or applied with another checksum, and
    /// every versioned dependency applied.
    pub apply: Vec<usize>,
    /// To remove (run its downgrade section, forget its row), dependents first: recorded
    /// as applied, but a versioned revision it depends on (directly or through another
    /// repeatable) is no longer applied.
    pub remove: Vec<usize>,
}

impl Repeatables {
    /// Resolves `specs` against the versioned `graph`: ids unique (also against versioned
    /// ids), every `Depends On` a versioned id or label or a repeatable id, no cycle among
    /// repeatables. Every problem is reported.
    pub fn resolve(specs: &[Spec<'_>], graph: &Graph) -> Result<Repeatables, Vec<GraphError>> {
        let mut errors = Vec::new();
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, s) in specs.iter().enumerate() {
            if let Some(&first) = by_id.get(s.id) {
                errors.push(duplicate(s, specs[first].path, specs[first].id_line));
            } else if graph.find(s.id).is_some() {
                errors.push(duplicate(s, "the versioned revisions", 0));
            } else {
                by_id.insert(s.id, i);
            }
        }
        let mut versioned = vec![Vec::new(); specs.len()];
        let mut needs = vec![BTreeSet::new(); specs.len()];
        for (i, s) in specs.iter().enumerate() {
            for &d in &s.depends_on {
                if let Some(&j) = by_id.get(d) {
                    needs[i].insert(j);
                } else if let Some(v) = graph.find(d).or_else(|| graph.find_label(d)) {
                    versioned[i].push(v);
                } else {
                    errors.push(GraphError::MissingDependency {
                        id: s.id.to_owned(),
                        dependency: d.to_owned(),
                        path: s.path.to_owned(),
                        line: s.depends_on_line,
                    });
                }
            }
        }
        let order = stable_order(specs, &needs);
        if order.len() < specs.len() {
            let placed: BTreeSet<usize> = order.iter().copied().collect();
            errors.push(GraphError::Cycle(
                (0..specs.len())
                    .filter(|i| !placed.contains(i))
                    .map(|i| member(&specs[i]))
                    .collect(),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let position: HashMap<usize, usize> =
            order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        let items = order
            .iter()
            .map(|&i| Item {
                id: specs[i].id.to_owned(),
                checksum: specs[i].checksum,
                versioned: versioned[i].clone(),
                repeatables: needs[i].iter().map(|j| position[j]).collect(),
                input: i,
            })
            .collect();
        Ok(Repeatables { items })
    }

    /// The repeatables in the order they are applied.
    pub fn order(&self) -> &[Item] {
        &self.items
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The position of the repeatable with this id.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.items.iter().position(|i| i.id == id)
    }

    /// The ids among `recorded` that are not repeatables of this table (a file deleted or
    /// renamed, or a newer binary's), sorted.
    pub fn unshipped<'r>(&self, recorded: impl IntoIterator<Item = &'r str>) -> Vec<String> {
        let mut out: Vec<String> = recorded
            .into_iter()
            .filter(|id| self.find(id).is_none())
            .map(str::to_owned)
            .collect();
        out.sort_unstable();
        out
    }

    /// Which repeatables can exist when the versioned revisions marked in `applied` (graph
    /// indices) are applied: every versioned dependency applied, directly or through the
    /// repeatables it depends on.
    pub fn available(&self, applied: &[bool]) -> Vec<bool> {
        let mut ok = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let versioned = item
                .versioned
                .iter()
                .all(|&v| applied.get(v).copied().unwrap_or(false));
            ok.push(versioned && item.repeatables.iter().all(|&r| ok[r]));
        }
        ok
    }

    /// The plan after the versioned part of a run: `applied` is the versioned state after
    /// it (graph indices), `recorded` the checksum recorded for each repeatable id applied
    /// before it (what the database holds now).
    ///
    /// A repeatable is applied when it is available ([`available`](Self::available)) and its
    /// recorded checksum differs or is missing; removed when it is recorded and not
    /// available. Re-applying one does not re-apply those that depend on it.
    pub fn plan(&self, applied: &[bool], recorded: &HashMap<String, Digest>) -> RepeatablePlan {
        let available = self.available(applied);
        let mut plan = RepeatablePlan::default();
        for (p, item) in self.items.iter().enumerate() {
            match (available[p], recorded.get(&item.id)) {
                (true, Some(c)) if *c == item.checksum => {}
                (true, _) => plan.apply.push(p),
                (false, Some(_)) => plan.remove.push(p),
                (false, None) => {}
            }
        }
        plan.remove.reverse();
        plan
    }
}

fn duplicate(s: &Spec<'_>, first_path: &str, first_line: usize) -> GraphError {
    GraphError::DuplicateId {
        id: s.id.to_owned(),
        path: s.path.to_owned(),
        line: s.id_line,
        first_path: first_path.to_owned(),
        first_line,
    }
}

fn member(s: &Spec<'_>) -> Member {
    Member {
        id: s.id.to_owned(),
        path: s.path.to_owned(),
        line: s.depends_on_line,
    }
}

/// Kahn's algorithm over the repeatable dependencies, smallest id first among the ready;
/// those on a cycle are left out.
fn stable_order(specs: &[Spec<'_>], needs: &[BTreeSet<usize>]) -> Vec<usize> {
    let mut pending: Vec<usize> = needs.iter().map(BTreeSet::len).collect();
    let mut ready: BTreeSet<(&str, usize)> = (0..specs.len())
        .filter(|&i| pending[i] == 0)
        .map(|i| (specs[i].id, i))
        .collect();
    let mut order = Vec::with_capacity(specs.len());
    while let Some((_, i)) = ready.pop_first() {
        order.push(i);
        for (j, n) in needs.iter().enumerate() {
            if n.contains(&i) {
                pending[j] -= 1;
                if pending[j] == 0 {
                    ready.insert((specs[j].id, j));
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests;
