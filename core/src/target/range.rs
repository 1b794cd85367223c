//! Ranges of revisions, `START:END` (`history -r`, `upgrade START:END --sql`).

use std::fmt;
use std::str::FromStr;

use super::{Direction, Plan, Target, TargetError};
use crate::graph::Graph;

/// One end of a [`Range`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bound {
    /// Nothing written: the range is open on that side.
    Open,
    /// `current`: the database's current revisions.
    Current,
    /// A revision target.
    Target(Target),
}

impl Bound {
    fn parse(text: &str) -> Result<Bound, TargetError> {
        match text {
            "" => Ok(Bound::Open),
            "current" => Ok(Bound::Current),
            t => t.parse().map(Bound::Target),
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Open => Ok(()),
            Bound::Current => f.write_str("current"),
            Bound::Target(t) => t.fmt(f),
        }
    }
}

/// A range `START:END` of revisions; either end may be left out (`START:`, `:END`).
///
/// ```
/// use revchain_core::{Bound, Range, Target};
/// let r: Range = "ae10:head".parse().unwrap();
/// assert_eq!(r.start, Bound::Target(Target::Revision("ae10".into())));
/// assert_eq!(r.end, Bound::Target(Target::Head));
/// assert_eq!("current:".parse::<Range>().unwrap().start, Bound::Current);
/// assert_eq!(":".parse::<Range>().unwrap(), Range { start: Bound::Open, end: Bound::Open });
/// assert!("ae10".parse::<Range>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Range {
    /// Where the range starts.
    pub start: Bound,
    /// Where the range ends.
    pub end: Bound,
}

/// A text that is not a [`Range`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// No `:` in the text.
    #[error("`{0}` is not a range; use START:END, START: or :END")]
    NotARange(String),
    /// A downgrade script without the state to start from.
    #[error("downgrade --sql needs a range START:END (the state to start from, then the target)")]
    MissingStart(String),
    /// START is not a revision target. The error quotes the whole text, never one end of
    /// it: a URL given by mistake is then recognised, and its password hidden, by whoever
    /// prints the message.
    #[error(
        "`{0}` is not a range: START is not a revision target (head, heads, base, current, an \
         id or a unique prefix of one, a label, label@head, <id>+N, …)"
    )]
    InvalidStart(String),
    /// END is not a revision target (the whole text, as for [`InvalidStart`](Self::InvalidStart)).
    #[error(
        "`{0}` is not a range: END is not a revision target (head, heads, base, current, an id \
         or a unique prefix of one, a label, label@head, <id>-N, …)"
    )]
    InvalidEnd(String),
    /// The bare target of an upgrade script is not a target.
    #[error(transparent)]
    Target(TargetError),
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Range, RangeError> {
        let Some((start, end)) = text.split_once(':') else {
            return Err(RangeError::NotARange(text.to_owned()));
        };
        let whole = || text.to_owned();
        Ok(Range {
            start: Bound::parse(start).map_err(|_| RangeError::InvalidStart(whole()))?,
            end: Bound::parse(end).map_err(|_| RangeError::InvalidEnd(whole()))?,
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.start, self.end)
    }
}

impl Range {
    /// Parses `START:END` (the same as [`str::parse`]).
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        text.parse()
    }

    /// Parses the range of an offline script: `START:END`, or for an upgrade a bare
    /// target, which starts from base. A downgrade must say where it starts.
    ///
    /// ```
    /// use revchain_core::{Bound, Direction, Range, Target};
    /// let r = Range::parse_script("head", Direction::Upgrade).unwrap();
    /// assert_eq!((r.start, r.end), (Bound::Open, Bound::Target(Target::Head)));
    /// assert!(Range::parse_script("base", Direction::Downgrade).is_err());
    /// ```
    pub fn parse_script(text: &str, direction: Direction) -> Result<Range, RangeError> {
        match (text.parse(), direction) {
            (Err(RangeError::NotARange(_)), Direction::Upgrade) => Ok(Range {
                start: Bound::Open,
                end: Bound::Target(text.parse().map_err(RangeError::Target)?),
            }),
            (Err(RangeError::NotARange(_)), Direction::Downgrade) => {
                Err(RangeError::MissingStart(text.to_owned()))
            }
            (parsed, _) => parsed,
        }
    }

    /// Whether an end is `current` (resolving the range needs the database's state).
    pub fn uses_current(&self) -> bool {
        self.start == Bound::Current || self.end == Bound::Current
    }
}

impl Graph {
    /// The revisions of `range`, in topological order: the descendants of START (through
    /// `Revises`) that are ancestors of END, both ends included. An open end, `base` or
    /// `heads`/`head` at the start, and `heads`/`head` at the end do not limit the range;
    /// `current` stands for `current`, the database's current heads.
    ///
    /// ```
    /// # use revchain_core::{Graph, Range, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("a1", vec![]), node("b2", vec![0]), node("c3", vec![1])]).unwrap();
    /// assert_eq!(g.range_revisions(&"b2:".parse().unwrap(), &[]).unwrap(), [1, 2]);
    /// assert_eq!(g.range_revisions(&":b2".parse().unwrap(), &[]).unwrap(), [0, 1]);
    /// assert_eq!(g.range_revisions(&"current:".parse().unwrap(), &[2]).unwrap(), [2]);
    /// ```
    pub fn range_revisions(
        &self,
        range: &Range,
        current: &[usize],
    ) -> Result<Vec<usize>, TargetError> {
        let bound = |b: &Bound, start: bool| -> Result<Option<Vec<usize>>, TargetError> {
            match (b, start) {
                (Bound::Open | Bound::Target(Target::Head | Target::Heads), _)
                | (Bound::Target(Target::Base), true) => Ok(None),
                (Bound::Current, _) => Ok(Some(current.to_vec())),
                (Bound::Target(t), _) => self.target_set(t).map(Some),
            }
        };
        let above = bound(&range.start, true)?.map(|l| self.descendants_by_revises(l));
        let below = bound(&range.end, false)?.map(|u| self.ancestors_with_dependencies(u));
        Ok((0..self.len())
            .filter(|&i| below.as_ref().is_none_or(|b| b[i]) && above.as_ref().is_none_or(|a| a[i]))
            .collect())
    }

    /// The plan of an offline script for `range`: from the state whose heads START names
    /// (base when open) to the target END. With no database, `current` is read as a
    /// revision name.
    ///
    /// ```
    /// # use revchain_core::{Direction, Graph, Range, graph::Node};
    /// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
    /// let g = Graph::from_nodes(vec![node("a1", vec![]), node("b2", vec![0]), node("c3", vec![1])]).unwrap();
    /// let up = g.plan_range(&"a1:head".parse().unwrap(), Direction::Upgrade).unwrap();
    /// assert_eq!(up.revisions(), [1, 2]);
    /// let down = g.plan_range(&"head:a1".parse().unwrap(), Direction::Downgrade).unwrap();
    /// assert_eq!(down.revisions(), [2, 1]);
    /// ```
    pub fn plan_range(&self, range: &Range, direction: Direction) -> Result<Plan, TargetError> {
        let current = match &range.start {
            Bound::Open => Vec::new(),
            Bound::Current => self.target_set(&Target::Revision("current".to_owned()))?,
            Bound::Target(t) => self.target_set(t)?,
        };
        let end = match &range.end {
            Bound::Open => return Err(TargetError::Invalid(String::new())),
            Bound::Current => Target::Revision("current".to_owned()),
            Bound::Target(t) => t.clone(),
        };
        match direction {
            Direction::Upgrade => self.plan_upgrade(&end, &current),
            Direction::Downgrade => self.plan_downgrade(&end, &current),
        }
    }
}

#[cfg(test)]
mod tests;
