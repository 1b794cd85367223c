//! Targets and their resolution (DESIGN.md §2): what `upgrade X`, `downgrade X` and
//! `stamp X` do from a given set of current heads.
//!
//! A *state* is the set of applied revisions: every ancestor (through `Revises` and
//! `Depends On`) of the current heads. Upgrading to a target applies every ancestor of the
//! target not yet applied, parents first; downgrading to a target reverts every applied
//! descendant of it, children first.

use std::fmt;
use std::str::FromStr;

use crate::graph::Graph;

/// A parsed revision target.
///
/// ```
/// use revchain_core::Target;
/// assert_eq!("head".parse::<Target>(), Ok(Target::Head));
/// assert_eq!("-2".parse::<Target>(), Ok(Target::Relative(-2)));
/// assert_eq!("ae10+1".parse::<Target>(), Ok(Target::FromRevision("ae10".into(), 1)));
/// assert_eq!("cart@head".parse::<Target>(), Ok(Target::BranchHead("cart".into())));
/// assert!("a b".parse::<Target>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `head`: the single head of the graph.
    Head,
    /// `heads`: every head.
    Heads,
    /// `base`: before the first revision.
    Base,
    /// A full id, a unique prefix of one, or a branch label.
    Revision(String),
    /// `label@head`: the head of a labelled branch.
    BranchHead(String),
    /// `label@base`: before the first revision that only this branch has.
    BranchBase(String),
    /// `+N` or `-N`: N steps from the current state.
    Relative(i64),
    /// `<id>+N` or `<id>-N`: N steps from a revision along the graph.
    FromRevision(String, i64),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Head => f.write_str("head"),
            Target::Heads => f.write_str("heads"),
            Target::Base => f.write_str("base"),
            Target::Revision(r) => f.write_str(r),
            Target::BranchHead(l) => write!(f, "{l}@head"),
            Target::BranchBase(l) => write!(f, "{l}@base"),
            Target::Relative(n) => write!(f, "{n:+}"),
            Target::FromRevision(r, n) => write!(f, "{r}{n:+}"),
        }
    }
}

fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses `+N`/`-N` with N ≥ 1.
fn parse_step(s: &str) -> Option<i64> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    (n > 0).then_some(sign * n)
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        let invalid = || TargetError::Invalid(s.to_owned());
        let t = s.trim();
        match t {
            "head" => return Ok(Target::Head),
            "heads" => return Ok(Target::Heads),
            "base" => return Ok(Target::Base),
            _ => {}
        }
        if let Some((name, what)) = t.split_once('@') {
            if !is_name(name) {
                return Err(invalid());
            }
            return match what {
                "head" => Ok(Target::BranchHead(name.to_owned())),
                "base" => Ok(Target::BranchBase(name.to_owned())),
                _ => Err(invalid()),
            };
        }
        if let Some(n) = parse_step(t) {
            return Ok(Target::Relative(n));
        }
        if let Some(at) = t.rfind(['+', '-'])
            && at > 0
            && let Some(n) = parse_step(&t[at..])
            && is_name(&t[..at])
        {
            return Ok(Target::FromRevision(t[..at].to_owned(), n));
        }
        if is_name(t) && !t.contains('+') {
            return Ok(Target::Revision(t.to_owned()));
        }
        Err(invalid())
    }
}

/// Which way a plan moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Applying revisions.
    Upgrade,
    /// Reverting revisions.
    Downgrade,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        })
    }
}

/// One revision to apply or revert, with the version-table rows it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The revision (an index into the graph).
    pub revision: usize,
    /// Head rows to delete in the same transaction.
    pub remove_heads: Vec<usize>,
    /// Head rows to insert in the same transaction.
    pub add_heads: Vec<usize>,
}

/// The exact work of an upgrade or a downgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// The revisions in the order to run them (parents first for an upgrade, children first
    /// for a downgrade).
    pub steps: Vec<Step>,
    /// The heads before (normalised: the heads of the applied set).
    pub heads_before: Vec<usize>,
    /// The heads once every step has run.
    pub heads_after: Vec<usize>,
}

impl Plan {
    /// The revisions of the steps, in order.
    pub fn revisions(&self) -> Vec<usize> {
        self.steps.iter().map(|s| s.revision).collect()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What `stamp` changes: the applied set moves to a new one without running any SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampPlan {
    /// Revisions that become applied, parents first.
    pub added: Vec<usize>,
    /// Revisions that stop being applied, children first.
    pub removed: Vec<usize>,
    /// The heads before.
    pub heads_before: Vec<usize>,
    /// The heads after.
    pub heads_after: Vec<usize>,
}

/// A target that cannot be resolved, or a move that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not in the target grammar.
    #[error(
        "`{0}` is not a revision target; use head, heads, base, a revision id or a unique prefix \
         of one, a branch label, label@head, label@base, +N, -N, <id>+N or <id>-N"
    )]
    Invalid(String),
    /// No id, prefix or label matches.
    #[error("no revision matches `{0}`; `revchain history` lists the revisions")]
    Unknown(String),
    /// A prefix that starts several ids.
    #[error("`{prefix}` is ambiguous: it starts {} revisions ({}); give more characters", .matches.len(), list(.matches))]
    Ambiguous {
        /// The prefix.
        prefix: String,
        /// The ids it starts.
        matches: Vec<String>,
    },
    /// `head` while the graph has several heads.
    #[error(
        "`head` is ambiguous: the graph has {} heads ({}); use `heads` for all of them, \
         `<label>@head` for one branch, a revision id, or merge them with \
         `revchain merge -m \"merge heads\" heads`", .0.len(), list(.0)
    )]
    MultipleHeads(Vec<String>),
    /// `label@head` where several heads descend from the label.
    #[error("`{label}@head` is ambiguous: {} heads descend from `{label}` ({}); name one of them", .heads.len(), list(.heads))]
    BranchHeads {
        /// The label (or revision) before `@`.
        label: String,
        /// The heads below it.
        heads: Vec<String>,
    },
    /// A relative step with several ways to go.
    #[error("`{target}` is ambiguous: {from} {} ({}); name the revision instead", if *.upward { "the next revisions are" } else { "the revisions to revert next are" }, list(.candidates))]
    RelativeAmbiguous {
        /// The target as written.
        target: String,
        /// Where the walk stood, e.g. "after 3fa2…".
        from: String,
        /// Whether the walk went up.
        upward: bool,
        /// The possible next revisions.
        candidates: Vec<String>,
    },
    /// A relative step that runs off the graph.
    #[error("`{target}` goes past {}: only {available} step(s) are possible from {from}", if *.upward { "the head" } else { "the base" })]
    OutOfRange {
        /// The target as written.
        target: String,
        /// Where the walk started.
        from: String,
        /// Whether the walk went up.
        upward: bool,
        /// How many steps were possible.
        available: u64,
    },
    /// A target that only makes sense the other way.
    #[error("`{target}` goes the other way; use `revchain {} {target}`", match .direction { Direction::Upgrade => "downgrade", Direction::Downgrade => "upgrade" })]
    WrongDirection {
        /// The target as written.
        target: String,
        /// The command that was asked for.
        direction: Direction,
    },
    /// A downgrade to a revision that is not applied.
    #[error(
        "cannot downgrade to `{0}`: it is not applied (`revchain current` shows where the database is)"
    )]
    NotApplied(String),
    /// A downgrade that would pass through an irreversible revision.
    #[error(
        "cannot downgrade through `{0}`: it has no `-- migrate:downgrade` section, so it is \
         irreversible; downgrade to `{0}` itself (or later), or add a downgrade section to it"
    )]
    Irreversible(String),
    /// A current head that the graph does not know.
    #[error("the current head `{0}` is not a revision of this graph")]
    UnknownCurrent(String),
}

fn list(ids: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut out = ids
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        out.push_str(&format!(", and {} more", ids.len() - SHOWN));
    }
    out
}

impl Graph {
    fn ids(&self, idx: impl IntoIterator<Item = usize>) -> Vec<String> {
        idx.into_iter().map(|i| self.id(i).to_owned()).collect()
    }

    /// Finds a revision by full id, branch label, or unique id prefix.
    ///
    /// ```
    /// # use revchain_core::{Graph, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("ab12", vec![]), node("ab34", vec![0]), node("cd", vec![1])]).unwrap();
    /// assert_eq!(g.lookup("ab3").unwrap(), 1);
    /// assert!(g.lookup("ab").unwrap_err().to_string().contains("ambiguous"));
    /// ```
    pub fn lookup(&self, text: &str) -> Result<usize, TargetError> {
        if let Some(i) = self.find(text).or_else(|| self.find_label(text)) {
            return Ok(i);
        }
        let matches: Vec<usize> = (0..self.len())
            .filter(|&i| self.id(i).starts_with(text))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(TargetError::Unknown(text.to_owned())),
            many => Err(TargetError::Ambiguous {
                prefix: text.to_owned(),
                matches: self.ids(many.iter().copied()),
            }),
        }
    }

    /// The applied set of a state given by its heads.
    pub fn applied(&self, current: &[usize]) -> Vec<bool> {
        self.ancestors(current.iter().copied())
    }

    /// Marks `roots` and their descendants through `Revises` only (the branches below
    /// them), the counterpart of [`lineage`](Self::lineage).
    pub fn progeny(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut mark = vec![false; self.len()];
        for r in roots {
            mark[r] = true;
        }
        for i in 0..self.len() {
            if !mark[i] {
                mark[i] = self.node(i).parents.iter().any(|&p| mark[p]);
            }
        }
        mark
    }

    fn branch_head(&self, label: &str) -> Result<usize, TargetError> {
        let root = self.lookup(label)?;
        let below = self.progeny([root]);
        let heads: Vec<usize> = self.heads().iter().copied().filter(|&h| below[h]).collect();
        match heads.as_slice() {
            [one] => Ok(*one),
            _ => Err(TargetError::BranchHeads {
                label: label.to_owned(),
                heads: self.ids(heads),
            }),
        }
    }

    /// The revisions that only the branch of `label` has: the ancestors of its head that
    /// no other head needs.
    fn branch_members(&self, label: &str) -> Result<Vec<bool>, TargetError> {
        let head = self.branch_head(label)?;
        let mut own = self.lineage([head]);
        let others = self.lineage(self.heads().iter().copied().filter(|&h| h != head));
        for (o, other) in own.iter_mut().zip(others) {
            *o &= !other;
        }
        Ok(own)
    }

    /// Walks `n` steps from revision `from` along children (n > 0) or parents (n < 0).
    fn walk_from(&self, target: &Target, from: usize, n: i64) -> Result<usize, TargetError> {
        let mut at = from;
        for done in 0..n.unsigned_abs() {
            let next: Vec<usize> = if n > 0 {
                self.children(at).to_vec()
            } else {
                self.node(at).parents.clone()
            };
            at = match next.as_slice() {
                [one] => *one,
                [] => {
                    return Err(TargetError::OutOfRange {
                        target: target.to_string(),
                        from: format!("`{}`", self.id(from)),
                        upward: n > 0,
                        available: done,
                    });
                }
                many => {
                    return Err(TargetError::RelativeAmbiguous {
                        target: target.to_string(),
                        from: format!("at `{}`", self.id(at)),
                        upward: n > 0,
                        candidates: self.ids(many.iter().copied()),
                    });
                }
            };
        }
        Ok(at)
    }

    fn describe_state(&self, applied: &[bool]) -> String {
        let heads = self.heads_of(applied);
        if heads.is_empty() {
            "from base".to_owned()
        } else {
            format!("after {}", list(&self.ids(heads)))
        }
    }

    /// `+N` from a state: each step takes the one revision whose parents are all applied.
    fn walk_up(
        &self,
        target: &Target,
        applied: &[bool],
        n: u64,
    ) -> Result<Vec<usize>, TargetError> {
        let mut state = applied.to_vec();
        let mut chosen = Vec::new();
        for done in 0..n {
            let candidates: Vec<usize> = (0..self.len())
                .filter(|&i| !state[i] && self.node(i).parents.iter().all(|&p| state[p]))
                .collect();
            match candidates.as_slice() {
                [one] => {
                    for (s, a) in state.iter_mut().zip(self.ancestors([*one])) {
                        *s |= a;
                    }
                    chosen.push(*one);
                }
                [] => {
                    return Err(TargetError::OutOfRange {
                        target: target.to_string(),
                        from: "the current state".to_owned(),
                        upward: true,
                        available: done,
                    });
                }
                many => {
                    return Err(TargetError::RelativeAmbiguous {
                        target: target.to_string(),
                        from: self.describe_state(&state),
                        upward: true,
                        candidates: self.ids(many.iter().copied()),
                    });
                }
            }
        }
        Ok(chosen)
    }

    /// `-N` from a state: each step reverts the one applied revision nothing applied needs.
    fn walk_down(
        &self,
        target: &Target,
        applied: &[bool],
        n: u64,
    ) -> Result<Vec<bool>, TargetError> {
        let mut state = applied.to_vec();
        for done in 0..n {
            let leaves: Vec<usize> = (0..self.len())
                .filter(|&i| {
                    state[i]
                        && !self.children(i).iter().any(|&c| state[c])
                        && !self.dependents(i).iter().any(|&d| state[d])
                })
                .collect();
            match leaves.as_slice() {
                [one] => state[*one] = false,
                [] => {
                    return Err(TargetError::OutOfRange {
                        target: target.to_string(),
                        from: "the current state".to_owned(),
                        upward: false,
                        available: done,
                    });
                }
                many => {
                    return Err(TargetError::RelativeAmbiguous {
                        target: target.to_string(),
                        from: "the database has several heads, so".to_owned(),
                        upward: false,
                        candidates: self.ids(many.iter().copied()),
                    });
                }
            }
        }
        Ok(state)
    }

    /// The revisions a target names, for moves that go up (and for stamp).
    fn target_set(&self, target: &Target, applied: &[bool]) -> Result<Vec<usize>, TargetError> {
        Ok(match target {
            Target::Head => match self.heads() {
                [] => Vec::new(),
                [one] => vec![*one],
                many => return Err(TargetError::MultipleHeads(self.ids(many.iter().copied()))),
            },
            Target::Heads => self.heads().to_vec(),
            Target::Base => Vec::new(),
            Target::Revision(r) => vec![self.lookup(r)?],
            Target::BranchHead(l) => vec![self.branch_head(l)?],
            Target::FromRevision(r, n) => {
                let whole = target.to_string();
                match self.find_label(&whole).or_else(|| self.find(&whole)) {
                    Some(i) => vec![i],
                    None => vec![self.walk_from(target, self.lookup(r)?, *n)?],
                }
            }
            Target::Relative(n) if *n > 0 => self.walk_up(target, applied, n.unsigned_abs())?,
            Target::Relative(_) | Target::BranchBase(_) => {
                return Err(TargetError::WrongDirection {
                    target: target.to_string(),
                    direction: Direction::Upgrade,
                });
            }
        })
    }

    fn check_current(&self, current: &[usize]) -> Result<(), TargetError> {
        match current.iter().find(|&&c| c >= self.len()) {
            Some(c) => Err(TargetError::UnknownCurrent(c.to_string())),
            None => Ok(()),
        }
    }

    /// Plans `upgrade target` from the state whose heads are `current`.
    ///
    /// Every ancestor of the target that is not applied is applied, parents first. A target
    /// that is already applied gives an empty plan.
    pub fn plan_upgrade(&self, target: &Target, current: &[usize]) -> Result<Plan, TargetError> {
        self.check_current(current)?;
        let applied = self.applied(current);
        let set = self.target_set(target, &applied)?;
        let wanted = self.ancestors(set);
        let revisions: Vec<usize> = (0..self.len())
            .filter(|&i| wanted[i] && !applied[i])
            .collect();
        Ok(self.simulate(Direction::Upgrade, &applied, revisions))
    }

    /// Plans `downgrade target` from the state whose heads are `current`.
    ///
    /// Every applied revision that descends from the target is reverted, children first.
    /// Fails before anything runs if one of them is irreversible.
    pub fn plan_downgrade(&self, target: &Target, current: &[usize]) -> Result<Plan, TargetError> {
        self.check_current(current)?;
        let applied = self.applied(current);
        let keep: Vec<bool> = match target {
            Target::Base => vec![false; self.len()],
            Target::Relative(n) if *n < 0 => self.walk_down(target, &applied, n.unsigned_abs())?,
            Target::Relative(_) => {
                return Err(TargetError::WrongDirection {
                    target: target.to_string(),
                    direction: Direction::Downgrade,
                });
            }
            Target::BranchBase(l) => {
                let members = self.branch_members(l)?;
                let gone = self.descendants((0..self.len()).filter(|&i| members[i]));
                (0..self.len()).map(|i| applied[i] && !gone[i]).collect()
            }
            _ => {
                let set = self.target_set(target, &applied)?;
                if let Some(&missing) = set.iter().find(|&&s| !applied[s]) {
                    return Err(TargetError::NotApplied(self.id(missing).to_owned()));
                }
                // What the target's members need stays, even when it descends from another
                // member (`heads` where one head's branch depends on the other's base).
                let below = self.descendants(set.iter().copied());
                let needed = self.ancestors(set.iter().copied());
                (0..self.len())
                    .map(|i| applied[i] && (!below[i] || needed[i]))
                    .collect()
            }
        };
        let revisions: Vec<usize> = (0..self.len())
            .rev()
            .filter(|&i| applied[i] && !keep[i])
            .collect();
        if let Some(&stuck) = revisions.iter().find(|&&r| !self.node(r).reversible) {
            return Err(TargetError::Irreversible(self.id(stuck).to_owned()));
        }
        Ok(self.simulate(Direction::Downgrade, &applied, revisions))
    }

    /// Plans `stamp target`: the applied set that `upgrade` or `downgrade` to the target
    /// would leave, reached without running SQL (irreversible revisions do not matter).
    pub fn plan_stamp(&self, target: &Target, current: &[usize]) -> Result<StampPlan, TargetError> {
        self.check_current(current)?;
        let applied = self.applied(current);
        let new: Vec<bool> = match target {
            Target::Base => vec![false; self.len()],
            Target::Relative(n) if *n < 0 => self.walk_down(target, &applied, n.unsigned_abs())?,
            Target::BranchBase(l) => {
                let members = self.branch_members(l)?;
                let gone = self.descendants((0..self.len()).filter(|&i| members[i]));
                (0..self.len()).map(|i| applied[i] && !gone[i]).collect()
            }
            _ => {
                let set = self.target_set(target, &applied)?;
                let up = self.ancestors(set.iter().copied());
                let below = self.descendants(set.iter().copied());
                (0..self.len())
                    // What the target needs, and what was applied and does not descend
                    // from it.
                    .map(|i| up[i] || (applied[i] && !below[i]))
                    .collect()
            }
        };
        Ok(StampPlan {
            added: (0..self.len()).filter(|&i| new[i] && !applied[i]).collect(),
            removed: (0..self.len())
                .rev()
                .filter(|&i| applied[i] && !new[i])
                .collect(),
            heads_before: self.heads_of(&applied),
            heads_after: self.heads_of(&new),
        })
    }

    /// Turns an ordered list of revisions into steps with their version-table changes.
    fn simulate(&self, direction: Direction, applied: &[bool], revisions: Vec<usize>) -> Plan {
        let mut state = applied.to_vec();
        let heads_before = self.heads_of(&state);
        let mut heads: Vec<bool> = vec![false; self.len()];
        for &h in &heads_before {
            heads[h] = true;
        }
        let mut steps = Vec::with_capacity(revisions.len());
        for r in revisions {
            let mut step = Step {
                revision: r,
                remove_heads: Vec::new(),
                add_heads: Vec::new(),
            };
            match direction {
                Direction::Upgrade => {
                    for &p in &self.node(r).parents {
                        if heads[p] {
                            heads[p] = false;
                            step.remove_heads.push(p);
                        }
                    }
                    state[r] = true;
                    heads[r] = true;
                    step.add_heads.push(r);
                }
                Direction::Downgrade => {
                    state[r] = false;
                    heads[r] = false;
                    step.remove_heads.push(r);
                    for &p in &self.node(r).parents {
                        if !heads[p] && state[p] && !self.children(p).iter().any(|&c| state[c]) {
                            heads[p] = true;
                            step.add_heads.push(p);
                        }
                    }
                }
            }
            steps.push(step);
        }
        Plan {
            direction,
            steps,
            heads_before,
            heads_after: (0..self.len()).filter(|&i| heads[i]).collect(),
        }
    }
}

#[cfg(test)]
mod tests;
