//! Where a new revision goes (`revision`, `merge`): its parents, dependencies, branch
//! label and id, checked on the graph.

use super::{Target, TargetError};
use crate::graph::Graph;
use crate::id::{self, IdError};

/// Why a new revision cannot go where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NewRevisionError {
    /// A target or revision that does not resolve.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// An id or label that is not a valid name.
    #[error(transparent)]
    Name(#[from] IdError),
    /// A parent named by a step or a branch base.
    #[error(
        "`--head {0}` is not a revision; use an id, a prefix, a label, label@head, head, heads \
         or base"
    )]
    NotFixed(Target),
    /// `head` while the graph has several heads.
    #[error(
        "the directory has {} heads ({}); pass `--head <id>` to choose the parent, or merge \
         them first with `revchain merge -m \"merge heads\" heads`",
        .0.len(), .0.join(", ")
    )]
    SeveralHeads(Vec<String>),
    /// A parent that is not a head, without `--splice`.
    #[error("revision {0} is not a head; pass `--splice` to start a new branch from it")]
    NotAHead(String),
    /// A merge of fewer than two revisions.
    #[error("nothing to merge: {given} names {found} revision(s); a merge needs two or more heads")]
    NothingToMerge {
        /// The revisions as given, space-separated.
        given: String,
        /// How many distinct revisions they name.
        found: usize,
    },
    /// A merge of a revision with one of its descendants.
    #[error("revision {0} is already an ancestor of another revision given; merge heads only")]
    AlreadyAncestor(String),
    /// A branch label that a revision already carries (or an id already has).
    #[error("branch label `{0}` is already used by another revision; choose another")]
    LabelUsed(String),
    /// An id that a revision already has.
    #[error("revision id `{0}` is already used; choose another")]
    IdUsed(String),
}

impl Graph {
    /// The parents of a new revision written on top of `head`: `head` (the single head),
    /// `heads` (all of them), `base` (none), a revision or `label@head`. Without `splice`
    /// each must be a head.
    ///
    /// ```
    /// # use revchain_core::{Graph, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("a1", vec![]), node("b2", vec![0])]).unwrap();
    /// assert_eq!(g.new_revision_parents(&"head".parse().unwrap(), false).unwrap(), [1]);
    /// assert!(g.new_revision_parents(&"a1".parse().unwrap(), false).is_err());
    /// assert_eq!(g.new_revision_parents(&"a1".parse().unwrap(), true).unwrap(), [0]);
    /// ```
    pub fn new_revision_parents(
        &self,
        head: &Target,
        splice: bool,
    ) -> Result<Vec<usize>, NewRevisionError> {
        if !head.is_fixed() {
            return Err(NewRevisionError::NotFixed(head.clone()));
        }
        let parents = self.target_set(head).map_err(|e| match e {
            TargetError::MultipleHeads(ids) => NewRevisionError::SeveralHeads(ids),
            other => other.into(),
        })?;
        if !splice && let Some(&p) = parents.iter().find(|&&p| !self.is_head(p)) {
            return Err(NewRevisionError::NotAHead(self.id(p).to_owned()));
        }
        Ok(parents)
    }

    /// The parents of a merge of `revisions` (ids, prefixes, labels, or `heads` for all):
    /// two or more, none an ancestor of another.
    ///
    /// ```
    /// # use revchain_core::{Graph, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("a1", vec![]), node("b2", vec![0]), node("c3", vec![0])]).unwrap();
    /// assert_eq!(g.merge_parents(&["heads".into()]).unwrap(), [1, 2]);
    /// assert!(g.merge_parents(&["a1".into(), "b2".into()]).is_err());
    /// ```
    pub fn merge_parents(&self, revisions: &[String]) -> Result<Vec<usize>, NewRevisionError> {
        let mut parents: Vec<usize> = Vec::new();
        for r in revisions {
            let found = if r == "heads" {
                self.heads().to_vec()
            } else {
                vec![self.lookup(r)?]
            };
            for p in found {
                if !parents.contains(&p) {
                    parents.push(p);
                }
            }
        }
        if parents.len() < 2 {
            return Err(NewRevisionError::NothingToMerge {
                given: revisions.join(" "),
                found: parents.len(),
            });
        }
        for &p in &parents {
            if self.ancestors_by_revises(parents.iter().copied().filter(|&q| q != p))[p] {
                return Err(NewRevisionError::AlreadyAncestor(self.id(p).to_owned()));
            }
        }
        Ok(parents)
    }

    /// How a new revision names a dependency given as `text`: a label as written (it
    /// follows its branch), otherwise the full id of the revision it names.
    pub fn dependency_name(&self, text: &str) -> Result<String, NewRevisionError> {
        let i = self.lookup(text)?;
        Ok(if self.find_label(text) == Some(i) {
            text.to_owned()
        } else {
            self.id(i).to_owned()
        })
    }

    /// Checks a branch label for a new revision: a valid name that no revision's label or
    /// id already is.
    pub fn check_new_label(&self, label: &str) -> Result<(), NewRevisionError> {
        id::validate_label(label)?;
        if self.find_label(label).is_some() || self.find(label).is_some() {
            return Err(NewRevisionError::LabelUsed(label.to_owned()));
        }
        Ok(())
    }

    /// Checks an id chosen for a new revision: a valid id that no revision has.
    pub fn check_new_id(&self, id: &str) -> Result<(), NewRevisionError> {
        id::validate_id(id)?;
        if self.find(id).is_some() {
            return Err(NewRevisionError::IdUsed(id.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::build;
    use crate::testutil::{file, file_with};

    /// a → b, a → c (labelled `side`).
    fn forked() -> Graph {
        let files = vec![
            file("a", &[]),
            file("b", &["a"]),
            file_with("c", &["a"], "-- Branch Labels: side"),
        ];
        build(&files).unwrap().0
    }

    fn parents<'g>(
        g: &'g Graph,
        head: &str,
        splice: bool,
    ) -> Result<Vec<&'g str>, NewRevisionError> {
        let p = g.new_revision_parents(&head.parse().unwrap(), splice)?;
        Ok(p.into_iter().map(|i| g.id(i)).collect())
    }

    #[test]
    fn parents_of_a_new_revision() {
        let g = forked();
        assert_eq!(parents(&g, "heads", false).unwrap(), ["b", "c"]);
        assert_eq!(parents(&g, "side", false).unwrap(), ["c"]);
        assert_eq!(parents(&g, "base", false).unwrap(), Vec::<&str>::new());
        assert_eq!(parents(&g, "a", true).unwrap(), ["a"]);
        assert_eq!(
            parents(&g, "a", false),
            Err(NewRevisionError::NotAHead("a".into()))
        );
        assert_eq!(
            parents(&g, "head", false),
            Err(NewRevisionError::SeveralHeads(vec!["b".into(), "c".into()]))
        );
        assert!(matches!(
            parents(&g, "a+1", true),
            Err(NewRevisionError::NotFixed(_))
        ));
        assert!(matches!(
            parents(&g, "side@base", true),
            Err(NewRevisionError::NotFixed(_))
        ));
        assert!(matches!(
            parents(&g, "zz", true),
            Err(NewRevisionError::Target(TargetError::Unknown(_)))
        ));
    }

    #[test]
    fn parents_of_a_merge() {
        let g = forked();
        let merge = |r: &[&str]| {
            let given: Vec<String> = r.iter().map(|s| s.to_string()).collect();
            g.merge_parents(&given)
        };
        assert_eq!(merge(&["b", "side"]).unwrap(), [1, 2]);
        assert_eq!(merge(&["heads", "b"]).unwrap(), [1, 2]);
        assert_eq!(
            merge(&["b", "b"]),
            Err(NewRevisionError::NothingToMerge {
                given: "b b".into(),
                found: 1
            })
        );
        assert_eq!(
            merge(&["a", "c"]),
            Err(NewRevisionError::AlreadyAncestor("a".into()))
        );
    }

    #[test]
    fn dependencies_labels_and_ids() {
        let g = forked();
        assert_eq!(g.dependency_name("side").unwrap(), "side");
        assert_eq!(g.dependency_name("b").unwrap(), "b");
        assert!(g.dependency_name("zz").is_err());
        assert!(g.check_new_label("fresh").is_ok());
        assert_eq!(
            g.check_new_label("side"),
            Err(NewRevisionError::LabelUsed("side".into()))
        );
        assert_eq!(
            g.check_new_label("b"),
            Err(NewRevisionError::LabelUsed("b".into()))
        );
        assert!(matches!(
            g.check_new_label("a b"),
            Err(NewRevisionError::Name(_))
        ));
        assert!(g.check_new_id("d").is_ok());
        assert_eq!(
            g.check_new_id("a"),
            Err(NewRevisionError::IdUsed("a".into()))
        );
    }
}
