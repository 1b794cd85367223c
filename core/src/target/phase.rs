//! Expand and contract phases (docs/design.md §4.14): which revisions an upgrade applies in
//! each phase, and whether a database is within a binary's compatibility window.
//!
//! A revision is contract-phase when its header says `Phase: contract` or when one of its
//! ancestors (by `Revises` and `Depends On`) is: it cannot be applied before that ancestor,
//! which waits for the contract phase. Every other revision is expand-phase.

use crate::graph::Graph;
use crate::parse::Phase;

use super::{Direction, Plan, Target, TargetError};

/// Where a database's applied set stands against a binary's graph, by phase
/// ([`Graph::compatibility`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compatibility {
    /// Every revision is applied.
    AtHead,
    /// Every expand-phase revision is applied; these contract-phase ones (graph indices,
    /// in order) are not yet.
    ContractPending(Vec<usize>),
    /// These expand-phase revisions (graph indices, in order) are not applied: the
    /// database is behind the binary's expand head.
    ExpandPending(Vec<usize>),
}

impl Graph {
    /// Marks the contract-phase revisions: those marked in `contract` (indexed like the
    /// graph; `Phase: contract` in the header) and every revision with such an ancestor.
    pub fn contract_phase(&self, contract: &[bool]) -> Vec<bool> {
        let mut mark = vec![false; self.len()];
        // Nodes are in topological order: one forward sweep closes the set.
        for i in 0..self.len() {
            let n = self.node(i);
            mark[i] = contract.get(i).copied().unwrap_or(false)
                || n.parents.iter().chain(&n.depends_on).any(|&p| mark[p]);
        }
        mark
    }

    /// Plans `upgrade target` from `current` for one phase: [`Phase::Expand`] applies the
    /// revisions of the plan that are not contract-phase (see
    /// [`contract_phase`](Self::contract_phase)); [`Phase::Contract`] applies the rest,
    /// which is the whole plan (expand-phase revisions not yet applied come first, as
    /// their order requires).
    pub fn plan_upgrade_phase(
        &self,
        target: &Target,
        current: &[usize],
        contract: &[bool],
        phase: Phase,
    ) -> Result<Plan, TargetError> {
        let plan = self.plan_upgrade(target, current)?;
        if phase == Phase::Contract {
            return Ok(plan);
        }
        let late = self.contract_phase(contract);
        let revisions = plan.revisions().into_iter().filter(|&r| !late[r]).collect();
        Ok(self.simulate(Direction::Upgrade, &self.applied(current), revisions))
    }

    /// Whether the state whose heads are `current` is within this graph's compatibility
    /// window: at head, or at the expand head with only contract-phase revisions pending.
    pub fn compatibility(&self, current: &[usize], contract: &[bool]) -> Compatibility {
        let applied = self.applied(current);
        let late = self.contract_phase(contract);
        let missing = |contract_phase: bool| -> Vec<usize> {
            (0..self.len())
                .filter(|&i| !applied[i] && late[i] == contract_phase)
                .collect()
        };
        let expand = missing(false);
        if !expand.is_empty() {
            return Compatibility::ExpandPending(expand);
        }
        let contract = missing(true);
        if contract.is_empty() {
            Compatibility::AtHead
        } else {
            Compatibility::ContractPending(contract)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::build;
    use crate::parse::RevisionFile;
    use crate::testutil::{file, file_with};

    fn contract(id: &str, parents: &[&str]) -> RevisionFile {
        file_with(id, parents, "-- Phase: contract")
    }

    /// The graph of `files` and its `Phase: contract` marks.
    fn graph(files: &[RevisionFile]) -> (Graph, Vec<bool>) {
        let g = build(files).unwrap().0;
        let marks = (0..g.len())
            .map(|i| {
                let f = files.iter().find(|f| f.id == g.id(i)).unwrap();
                f.phase == Phase::Contract
            })
            .collect();
        (g, marks)
    }

    fn ids(g: &Graph, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| g.id(i).to_owned()).collect()
    }

    fn plan(g: &Graph, marks: &[bool], current: &[&str], phase: Phase) -> Vec<String> {
        let current: Vec<usize> = current.iter().map(|c| g.find(c).unwrap()).collect();
        let p = g
            .plan_upgrade_phase(&Target::Heads, &current, marks, phase)
            .unwrap();
        ids(g, &p.revisions())
    }

    #[test]
    fn a_chain_splits_at_the_first_contract_revision() {
        // a → b → c (contract) → d: d comes after a contract revision, so it waits too.
        let (g, marks) = graph(&[
            file("a", &[]),
            file("b", &["a"]),
            contract("c", &["b"]),
            file("d", &["c"]),
        ]);
        assert_eq!(plan(&g, &marks, &[], Phase::Expand), ["a", "b"]);
        assert_eq!(
            plan(&g, &marks, &["b"], Phase::Expand),
            Vec::<String>::new()
        );
        assert_eq!(plan(&g, &marks, &["b"], Phase::Contract), ["c", "d"]);
        assert_eq!(plan(&g, &marks, &[], Phase::Contract), ["a", "b", "c", "d"]);
        assert_eq!(g.contract_phase(&marks), [false, false, true, true]);
    }

    #[test]
    fn a_branch_and_merge_keep_the_independent_branch_in_expand() {
        // a → b (contract), a → c, m = merge(b, c), and e depends on c only.
        let mut e = file("e", &[]);
        e.depends_on = vec!["c".into()];
        let (g, marks) = graph(&[
            file("a", &[]),
            contract("b", &["a"]),
            file("c", &["a"]),
            file("m", &["b", "c"]),
            e,
        ]);
        let expand = plan(&g, &marks, &[], Phase::Expand);
        assert_eq!(expand, ["a", "c", "e"]);
        let heads: Vec<&str> = vec!["c", "e"];
        assert_eq!(plan(&g, &marks, &heads, Phase::Contract), ["b", "m"]);
        // The expand plan's steps keep the version table right: c and e are the heads.
        let p = g
            .plan_upgrade_phase(&Target::Heads, &[], &marks, Phase::Expand)
            .unwrap();
        assert_eq!(ids(&g, &p.heads_after), ["c", "e"]);
    }

    #[test]
    fn compatibility_accepts_head_and_expand_head_only() {
        let (g, marks) = graph(&[
            file("a", &[]),
            file("b", &["a"]),
            contract("c", &["b"]),
            file("d", &["c"]),
        ]);
        let at = |id: &str| vec![g.find(id).unwrap()];
        assert_eq!(g.compatibility(&at("d"), &marks), Compatibility::AtHead);
        assert_eq!(
            g.compatibility(&at("b"), &marks),
            Compatibility::ContractPending(vec![2, 3])
        );
        assert_eq!(
            g.compatibility(&at("c"), &marks),
            Compatibility::ContractPending(vec![3])
        );
        assert_eq!(
            g.compatibility(&at("a"), &marks),
            Compatibility::ExpandPending(vec![1])
        );
        assert_eq!(
            g.compatibility(&[], &marks),
            Compatibility::ExpandPending(vec![0, 1])
        );
    }
}
