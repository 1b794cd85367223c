//! Targets and their resolution (docs/design.md §2.2): what `upgrade X`, `downgrade X` and
//! `stamp X` do from a given set of current heads.
//!
//! A *state* is the set of applied revisions: every ancestor (through `Revises` and
//! `Depends On`) of the current heads. Upgrading to a target applies every ancestor of the
//! target not yet applied, parents first; downgrading to a target reverts every applied
//! revision that descends from one of its children, children first. The targets mean what
//! they mean in Alembic 1.20 (issue 14; `tests/tests/alembic_conformance.rs` compares both on
//! random graphs), except for the deliberate differences listed in the README's
//! Alembic → revchain table.
//!
//! Relative targets walk as Alembic does: from the state's *tips* (the applied revisions
//! nothing applied needs, which are Alembic's version rows), one `Revises` edge at a time,
//! refusing a walk that has several ways to go.

use std::fmt;
use std::str::FromStr;

use crate::graph::Graph;
use crate::id::is_name;

mod new_revision;
mod phase;
mod range;

pub use new_revision::NewRevisionError;
pub use phase::Compatibility;
pub use range::{Bound, Range, RangeError};

/// A parsed revision target.
///
/// ```
/// use revchain_core::Target;
/// assert_eq!("head".parse::<Target>(), Ok(Target::Head));
/// assert_eq!("-2".parse::<Target>(), Ok(Target::Relative(-2)));
/// assert_eq!("ae10+1".parse::<Target>(), Ok(Target::FromRevision("ae10".into(), 1)));
/// assert_eq!("cart@head".parse::<Target>(), Ok(Target::BranchHead("cart".into())));
/// assert_eq!("cart@-1".parse::<Target>(), Ok(Target::BranchRelative("cart".into(), -1)));
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
    /// `label@base`: before the base of the label's branch (downgrading to it reverts what
    /// descends from the bases the label's revision stands on).
    BranchBase(String),
    /// `label@+N` or `label@-N`: N steps from the current state along the label's branch.
    BranchRelative(String, i64),
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
            Target::BranchRelative(l, n) => write!(f, "{l}@{n:+}"),
            Target::Relative(n) => write!(f, "{n:+}"),
            Target::FromRevision(r, n) => write!(f, "{r}{n:+}"),
        }
    }
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
            return match (what, parse_step(what)) {
                ("head", _) => Ok(Target::BranchHead(name.to_owned())),
                ("base", _) => Ok(Target::BranchBase(name.to_owned())),
                (_, Some(n)) => Ok(Target::BranchRelative(name.to_owned(), n)),
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
         of one, a branch label, label@head, label@base, label@+N, label@-N, +N, -N, <id>+N \
         or <id>-N"
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
    #[error("`{target}` is ambiguous: from {from} the walk can go {} to {} ({}); name the revision instead", if *.upward { "up" } else { "down" }, .candidates.len(), list(.candidates))]
    RelativeAmbiguous {
        /// The target as written.
        target: String,
        /// Where the walk stood, e.g. "`3fa2…`" or "base".
        from: String,
        /// Whether the walk went up.
        upward: bool,
        /// The possible next revisions.
        candidates: Vec<String>,
    },
    /// A branch step whose revisions to revert are all off the branch (Alembic: "not a
    /// valid downgrade target").
    #[error(
        "`{target}` is not a valid downgrade target: the revisions it would revert are not on the lineage of `{branch}`; name the revision instead"
    )]
    OffBranch {
        /// The target as written.
        target: String,
        /// The revision whose lineage was required.
        branch: String,
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
    /// A relative step from the current state while several revisions are current.
    #[error(
        "`{target}` is ambiguous: the database has {} current revisions ({}); name the \
         revision (`<id>{step}`) or the branch (`<label>@{step}`) to step from",
        .current.len(), list(.current)
    )]
    SeveralCurrent {
        /// The target as written.
        target: String,
        /// The step, e.g. `-1`.
        step: String,
        /// The current revisions (the applied ones nothing applied needs).
        current: Vec<String>,
    },
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

/// Where a walk stands: before every revision (`base`), or at a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spot {
    Base,
    At(usize),
}

/// What a downgrade goes down to: the revision whose children are reverted (`Base`: every
/// base is), and the revision whose lineage chooses among several children (Alembic's
/// branch of `label@base`, `label@-N` and `-N`).
struct DowngradeTo {
    spot: Spot,
    branch: Option<usize>,
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
        self.ancestors_with_dependencies(current.iter().copied())
    }

    /// Marks `roots` and their descendants through `Revises` edges (children) only, not
    /// `Depends On`: the branches below them, the counterpart of
    /// [`ancestors_by_revises`](Self::ancestors_by_revises). See
    /// [`descendants_with_dependents`](Self::descendants_with_dependents) for an example.
    pub fn descendants_by_revises(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
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

    /// The tips of an applied set: the applied revisions that no applied revision revises
    /// or depends on. They are the rows Alembic's version table holds for that state, and
    /// where relative steps start.
    pub fn tips_of(&self, applied: &[bool]) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| applied[i] && !self.needed_by(i).any(|c| applied[c]))
            .collect()
    }

    /// The revisions that revise or depend on `index`.
    fn needed_by(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        self.children(index)
            .iter()
            .chain(self.dependents(index))
            .copied()
    }

    /// Whether `a` and `b` are on one line of `Revises` edges (one is an ancestor of the
    /// other, or they are the same): Alembic's "shares lineage" without dependencies.
    fn on_lineage(&self, a: usize, b: usize) -> bool {
        // In topological order an ancestor has the smaller index.
        self.ancestors_by_revises([a.max(b)])[a.min(b)]
    }

    /// Whether one of `a` and `b` needs the other (through `Revises` and `Depends On`).
    fn related(&self, a: usize, b: usize) -> bool {
        self.ancestors_with_dependencies([a.max(b)])[a.min(b)]
    }

    /// The heads that nothing depends on (Alembic's "real" heads).
    fn real_heads(&self) -> Vec<usize> {
        self.heads()
            .iter()
            .copied()
            .filter(|&h| self.dependents(h).is_empty())
            .collect()
    }

    fn single_head(&self) -> Result<Option<usize>, TargetError> {
        match self.heads() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(TargetError::MultipleHeads(self.ids(many.iter().copied()))),
        }
    }

    fn branch_head(&self, label: &str) -> Result<usize, TargetError> {
        let root = self.lookup(label)?;
        let below = self.descendants_by_revises([root]);
        let heads: Vec<usize> = self.heads().iter().copied().filter(|&h| below[h]).collect();
        match heads.as_slice() {
            [one] => Ok(*one),
            _ => Err(TargetError::BranchHeads {
                label: label.to_owned(),
                heads: self.ids(heads),
            }),
        }
    }

    fn describe_spot(&self, spot: Spot) -> String {
        match spot {
            Spot::Base => "base".to_owned(),
            Spot::At(i) => format!("`{}`", self.id(i)),
        }
    }

    /// Walks `n` steps from `from`, as Alembic does: up (n > 0) to the one child through
    /// `Revises` (only children on the lineage of `branch` when given; from base, the one
    /// base), down (n < 0) to the one parent (base below a base). Refuses a step with
    /// several ways to go, and a walk past the ends.
    fn walk(
        &self,
        target: &Target,
        from: Spot,
        n: i64,
        branch: Option<usize>,
    ) -> Result<Spot, TargetError> {
        let upward = n > 0;
        let mut at = from;
        for done in 0..n.unsigned_abs() {
            let next = self.next_spots(at, upward, branch);
            at = match next.as_slice() {
                [one] => *one,
                [] => {
                    return Err(TargetError::OutOfRange {
                        target: target.to_string(),
                        from: self.describe_spot(from),
                        upward,
                        available: done,
                    });
                }
                many => {
                    return Err(TargetError::RelativeAmbiguous {
                        target: target.to_string(),
                        from: self.describe_spot(at),
                        upward,
                        candidates: many
                            .iter()
                            .filter_map(|s| match s {
                                Spot::At(i) => Some(self.id(*i).to_owned()),
                                Spot::Base => None,
                            })
                            .collect(),
                    });
                }
            };
        }
        Ok(at)
    }

    /// The spots one step from `at`: its children (on the lineage of `branch` when given)
    /// or, from base, the bases; or its parents (base below a base).
    fn next_spots(&self, at: Spot, upward: bool, branch: Option<usize>) -> Vec<Spot> {
        match (at, upward) {
            (Spot::Base, false) => Vec::new(),
            (Spot::At(i), false) => match self.node(i).parents.as_slice() {
                [] => vec![Spot::Base],
                parents => parents.iter().map(|&p| Spot::At(p)).collect(),
            },
            (from, true) => {
                let children = match from {
                    Spot::Base => self.bases(),
                    Spot::At(i) => self.children(i).to_vec(),
                };
                children
                    .into_iter()
                    .filter(|&c| branch.is_none_or(|b| self.on_lineage(c, b)))
                    .map(Spot::At)
                    .collect()
            }
        }
    }

    fn one_start(
        &self,
        target: &Target,
        step: i64,
        starts: Vec<usize>,
    ) -> Result<Option<usize>, TargetError> {
        match starts.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(TargetError::SeveralCurrent {
                target: target.to_string(),
                step: format!("{step:+}"),
                current: self.ids(many.iter().copied()),
            }),
        }
    }

    /// Where `label@+N` starts (Alembic's rule): the tip on the label's lineage; else the
    /// newest applied revision on that lineage; else base.
    fn branch_start_up(
        &self,
        target: &Target,
        step: i64,
        label: usize,
        applied: &[bool],
    ) -> Result<Spot, TargetError> {
        let mut starts = self.tips_on_lineage(applied, label);
        if starts.is_empty() {
            let on: Vec<bool> = (0..self.len())
                .map(|i| applied[i] && self.on_lineage(i, label))
                .collect();
            starts = (0..self.len())
                .filter(|&i| on[i] && !self.needed_by(i).any(|c| on[c]))
                .collect();
        }
        Ok(self
            .one_start(target, step, starts)?
            .map_or(Spot::Base, Spot::At))
    }

    /// The tips of the applied set `applied` that lie on `label`'s lineage.
    fn tips_on_lineage(&self, applied: &[bool], label: usize) -> Vec<usize> {
        self.tips_of(applied)
            .into_iter()
            .filter(|&t| self.on_lineage(t, label))
            .collect()
    }

    /// Where `label@-N` starts (Alembic's rule): the tip on the label's lineage; else the
    /// head of the applied set on it. There must be exactly one.
    fn branch_start_down(
        &self,
        target: &Target,
        step: i64,
        label: usize,
        applied: &[bool],
    ) -> Result<usize, TargetError> {
        let mut starts = self.tips_on_lineage(applied, label);
        if starts.is_empty() {
            starts = self
                .heads_of(applied)
                .into_iter()
                .filter(|&h| self.on_lineage(h, label))
                .collect();
        }
        self.one_start(target, step, starts)?
            .ok_or_else(|| TargetError::OutOfRange {
                target: target.to_string(),
                from: format!("the branch of `{}` (none of it is applied)", self.id(label)),
                upward: false,
                available: 0,
            })
    }

    /// The one current tip that `+N`/`-N` start from (`None` when nothing is applied).
    fn current_start(
        &self,
        target: &Target,
        step: i64,
        applied: &[bool],
    ) -> Result<Option<usize>, TargetError> {
        self.one_start(target, step, self.tips_of(applied))
    }

    /// `<id>+N`/`<id>-N` (or a label or id that contains the sign itself).
    fn step_from_revision(&self, target: &Target, r: &str, n: i64) -> Result<Spot, TargetError> {
        let whole = target.to_string();
        match self.find_label(&whole).or_else(|| self.find(&whole)) {
            Some(i) => Ok(Spot::At(i)),
            None => self.walk(target, Spot::At(self.lookup(r)?), n, None),
        }
    }

    /// The revisions an upgrade to `target` reaches (with their ancestors).
    fn upgrade_targets(
        &self,
        target: &Target,
        applied: &[bool],
    ) -> Result<Vec<usize>, TargetError> {
        let spot = match target {
            Target::Head => return Ok(self.single_head()?.into_iter().collect()),
            Target::Heads => return Ok(self.heads().to_vec()),
            Target::Base => return Ok(Vec::new()),
            Target::BranchBase(l) => {
                self.lookup(l)?;
                return Ok(Vec::new());
            }
            Target::Revision(r) => return Ok(vec![self.lookup(r)?]),
            Target::BranchHead(l) => return Ok(vec![self.branch_head(l)?]),
            Target::FromRevision(r, n) => self.step_from_revision(target, r, *n)?,
            Target::Relative(n) if *n > 0 => {
                let from = self.current_start(target, *n, applied)?;
                self.walk(target, from.map_or(Spot::Base, Spot::At), *n, None)?
            }
            Target::BranchRelative(l, n) if *n > 0 => {
                let label = self.lookup(l)?;
                let from = self.branch_start_up(target, *n, label, applied)?;
                self.walk(target, from, *n, Some(label))?
            }
            Target::Relative(_) | Target::BranchRelative(..) => Spot::Base,
        };
        match spot {
            Spot::At(i) => Ok(vec![i]),
            Spot::Base => Err(TargetError::WrongDirection {
                target: target.to_string(),
                direction: Direction::Upgrade,
            }),
        }
    }

    /// Where a downgrade to `target` goes (Alembic's `_parse_downgrade_target`).
    fn downgrade_to(&self, target: &Target, applied: &[bool]) -> Result<DowngradeTo, TargetError> {
        let plain = |spot| Ok(DowngradeTo { spot, branch: None });
        match target {
            Target::Base => plain(Spot::Base),
            Target::BranchBase(l) => Ok(DowngradeTo {
                spot: Spot::Base,
                branch: Some(self.lookup(l)?),
            }),
            Target::Head => plain(self.single_head()?.map_or(Spot::Base, Spot::At)),
            Target::Heads => match self.real_heads().as_slice() {
                [] => plain(Spot::Base),
                [one] => plain(Spot::At(*one)),
                many => Err(TargetError::MultipleHeads(self.ids(many.iter().copied()))),
            },
            Target::Revision(r) => plain(Spot::At(self.lookup(r)?)),
            Target::BranchHead(l) => Ok(DowngradeTo {
                spot: Spot::At(self.branch_head(l)?),
                branch: Some(self.lookup(l)?),
            }),
            Target::FromRevision(r, n) => plain(self.step_from_revision(target, r, *n)?),
            Target::Relative(n) if *n < 0 => {
                let Some(tip) = self.current_start(target, *n, applied)? else {
                    return Err(TargetError::OutOfRange {
                        target: target.to_string(),
                        from: "base (nothing is applied)".to_owned(),
                        upward: false,
                        available: 0,
                    });
                };
                Ok(DowngradeTo {
                    spot: self.walk(target, Spot::At(tip), *n, None)?,
                    branch: Some(tip),
                })
            }
            Target::BranchRelative(l, n) if *n < 0 => {
                let label = self.lookup(l)?;
                let from = self.branch_start_down(target, *n, label, applied)?;
                Ok(DowngradeTo {
                    spot: self.walk(target, Spot::At(from), *n, None)?,
                    branch: Some(label),
                })
            }
            Target::Relative(_) | Target::BranchRelative(..) => Err(TargetError::WrongDirection {
                target: target.to_string(),
                direction: Direction::Downgrade,
            }),
        }
    }

    /// The applied set a downgrade to `target` leaves: every applied revision that descends
    /// (through `Revises` or `Depends On`) from a child of the target goes; the target
    /// stays, and so does what depends only on it. Going to base, what descends from the
    /// bases goes (from the bases of the branch's lineage for `label@base`).
    fn after_downgrade(&self, target: &Target, applied: &[bool]) -> Result<Vec<bool>, TargetError> {
        let to = self.downgrade_to(target, applied)?;
        let mut roots = match to.spot {
            Spot::Base => self.bases(),
            Spot::At(t) if !applied[t] => {
                return Err(TargetError::NotApplied(self.id(t).to_owned()));
            }
            Spot::At(t) => self.children(t).to_vec(),
        };
        if let Some(branch) = to.branch
            && roots.len() > 1
        {
            let line = self.ancestors_by_revises([branch]);
            roots.retain(|&r| line[r]);
            if roots.is_empty() {
                return Err(TargetError::OffBranch {
                    target: target.to_string(),
                    branch: self.id(branch).to_owned(),
                });
            }
        }
        let gone = self.descendants_with_dependents(roots);
        Ok((0..self.len()).map(|i| applied[i] && !gone[i]).collect())
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
        let wanted = self.ancestors_with_dependencies(self.upgrade_targets(target, &applied)?);
        let revisions: Vec<usize> = (0..self.len())
            .filter(|&i| wanted[i] && !applied[i])
            .collect();
        Ok(self.simulate(Direction::Upgrade, &applied, revisions))
    }

    /// Plans `downgrade target` from the state whose heads are `current`.
    ///
    /// Every applied revision that descends from a child of the target is reverted,
    /// children first (see the module documentation for relative and branch targets).
    /// Fails before anything runs if one of them is irreversible.
    pub fn plan_downgrade(&self, target: &Target, current: &[usize]) -> Result<Plan, TargetError> {
        self.check_current(current)?;
        let applied = self.applied(current);
        let keep = self.after_downgrade(target, &applied)?;
        let revisions: Vec<usize> = (0..self.len())
            .rev()
            .filter(|&i| applied[i] && !keep[i])
            .collect();
        if let Some(&stuck) = revisions.iter().find(|&&r| !self.node(r).reversible) {
            return Err(TargetError::Irreversible(self.id(stuck).to_owned()));
        }
        Ok(self.simulate(Direction::Downgrade, &applied, revisions))
    }

    /// Plans `stamp target`, reached without running SQL (irreversible revisions do not
    /// matter). As in Alembic, the state's tips on the target's lineage give way to the
    /// target: stamping below a merge forgets the merge's other parents; a target on no
    /// current lineage is added beside them; `base` forgets everything and `label@base` the
    /// tips on the label's lineage. `heads` stamps each head in turn, so every head ends up
    /// applied. Relative targets (`+N`, `-N`, `label@±N`) stamp where `upgrade` or
    /// `downgrade` would go.
    pub fn plan_stamp(&self, target: &Target, current: &[usize]) -> Result<StampPlan, TargetError> {
        self.check_current(current)?;
        let applied = self.applied(current);
        let new = self.after_stamp(target, &applied)?;
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

    fn after_stamp(&self, target: &Target, applied: &[bool]) -> Result<Vec<bool>, TargetError> {
        let (dest, anchors) = match target {
            Target::Relative(n) | Target::BranchRelative(_, n) if *n > 0 => {
                let wanted =
                    self.ancestors_with_dependencies(self.upgrade_targets(target, applied)?);
                return Ok((0..self.len()).map(|i| applied[i] || wanted[i]).collect());
            }
            Target::Relative(_) | Target::BranchRelative(..) => {
                return self.after_downgrade(target, applied);
            }
            Target::Heads => {
                let mut state = applied.to_vec();
                for &h in self.heads() {
                    state = self.stamp_one(&state, Some(h), &[h]);
                }
                return Ok(state);
            }
            Target::Base => (None, Vec::new()),
            Target::BranchBase(l) => (None, vec![self.lookup(l)?]),
            Target::BranchHead(l) => {
                let head = self.branch_head(l)?;
                (Some(head), vec![self.lookup(l)?, head])
            }
            Target::FromRevision(r, n) => match self.step_from_revision(target, r, *n)? {
                Spot::At(i) => (Some(i), vec![i]),
                Spot::Base => (None, Vec::new()),
            },
            Target::Head | Target::Revision(_) => {
                match self.upgrade_targets(target, applied)?[..] {
                    [one] => (Some(one), vec![one]),
                    _ => (None, Vec::new()),
                }
            }
        };
        Ok(self.stamp_one(applied, dest, &anchors))
    }

    /// Alembic's stamp of one destination: the tips related to one of `anchors` (every tip
    /// when there is none) are replaced by `dest` when one of them is related to it (it
    /// moves that lineage up or down), else `dest` joins them as a new branch.
    fn stamp_one(&self, applied: &[bool], dest: Option<usize>, anchors: &[usize]) -> Vec<bool> {
        let tips = self.tips_of(applied);
        let (replaced, kept): (Vec<usize>, Vec<usize>) = tips
            .iter()
            .partition(|&&t| anchors.is_empty() || anchors.iter().any(|&a| self.related(t, a)));
        let rows: Vec<usize> = match dest {
            Some(d) if replaced.contains(&d) => return applied.to_vec(),
            Some(d) if replaced.iter().any(|&t| self.related(t, d)) => {
                kept.into_iter().chain([d]).collect()
            }
            Some(d) => tips.into_iter().chain([d]).collect(),
            None => kept,
        };
        self.ancestors_with_dependencies(rows)
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

impl Target {
    /// Whether the target is a fixed place in the graph: `head`, `heads`, `base`, a
    /// revision (id, prefix or label) or `label@head`; not a step (`+N`, `-N`, `<id>±N`,
    /// `label@±N`) nor a branch's base. Only these can name the parents of a new revision.
    ///
    /// ```
    /// use revchain_core::Target;
    /// assert!("cart@head".parse::<Target>().unwrap().is_fixed());
    /// assert!(!"ae10+1".parse::<Target>().unwrap().is_fixed());
    /// assert!(!"cart@base".parse::<Target>().unwrap().is_fixed());
    /// ```
    pub fn is_fixed(&self) -> bool {
        matches!(
            self,
            Target::Head
                | Target::Heads
                | Target::Base
                | Target::Revision(_)
                | Target::BranchHead(_)
        )
    }
}

/// Resolving a target on the graph alone, without a database state.
impl Graph {
    /// The revisions `target` names, resolved as from an empty database: the heads of
    /// everything `upgrade target` would apply there, in topological order. This is the
    /// graph's one way to turn a target into revisions wherever no state is involved
    /// (`show`, `revision --head`, the ends of a [`Range`]).
    ///
    /// `base` and `label@base` name nothing; `heads` names every head; `head` the single
    /// head (an error when there are several); a relative step walks from base, so `-N`
    /// fails as going the other way.
    ///
    /// ```
    /// # use revchain_core::{Graph, Target, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("a1", vec![]), node("b2", vec![0]), node("c3", vec![0])]).unwrap();
    /// assert_eq!(g.target_set(&Target::Heads).unwrap(), [1, 2]);
    /// assert_eq!(g.target_set(&"a1+1".parse().unwrap()).unwrap_err().to_string().contains("ambiguous"), true);
    /// assert_eq!(g.target_set(&"b2".parse().unwrap()).unwrap(), [1]);
    /// assert!(g.target_set(&Target::Base).unwrap().is_empty());
    /// assert!(g.target_set(&Target::Head).is_err());
    /// ```
    pub fn target_set(&self, target: &Target) -> Result<Vec<usize>, TargetError> {
        let nothing = vec![false; self.len()];
        let reached = self.upgrade_targets(target, &nothing)?;
        Ok(self.heads_of(&self.ancestors_with_dependencies(reached)))
    }
}

#[cfg(test)]
mod tests;
