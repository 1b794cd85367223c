//! Lock and statement timeouts of revisions, and the retry of a revision that timed out
//! waiting for a lock (docs/design.md §4.12). SQLite has neither: its busy timeout is its
//! lock wait.
#![cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]

use std::time::Duration;

use super::Failure;
use crate::embedded::Revision;
use crate::error::{Aftermath, Stage};

/// The run's defaults for revisions without `Lock Timeout` / `Statement Timeout` headers,
/// and how many times a transactional revision that timed out waiting for a lock is tried
/// again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// The lock timeout of a revision without its own; `None`: the session's.
    pub lock: Option<Duration>,
    /// The statement timeout of a revision without its own; `None`: the session's.
    pub statement: Option<Duration>,
    /// How many more tries a transactional revision gets after a lock timeout.
    pub lock_retries: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            lock: None,
            statement: None,
            lock_retries: DEFAULT_LOCK_RETRIES,
        }
    }
}

/// The default of [`Timeouts::lock_retries`].
pub(crate) const DEFAULT_LOCK_RETRIES: u32 = 3;

impl Timeouts {
    /// The lock timeout `revision` runs with (`None`: the session's own).
    pub fn lock_for(&self, revision: &Revision) -> Option<Duration> {
        revision.lock_timeout().or(self.lock)
    }

    /// The statement timeout `revision` runs with (`None`: the session's own).
    pub fn statement_for(&self, revision: &Revision) -> Option<Duration> {
        revision.statement_timeout().or(self.statement)
    }
}

#[cfg(feature = "postgres")]
/// A duration as PostgreSQL's setting text, in milliseconds (`'200ms'`); at least 1 ms,
/// since 0 means no timeout.
pub(crate) fn pg_setting(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

#[cfg(feature = "mysql")]
/// A duration as MariaDB's seconds (`lock_wait_timeout` takes whole seconds, at least 1;
/// `max_statement_time` takes fractions).
pub(crate) fn mariadb_seconds(d: Duration, whole: bool) -> String {
    if whole {
        d.as_secs_f64().ceil().max(1.0).to_string()
    } else {
        format!("{:.3}", d.as_secs_f64().max(0.001))
    }
}

/// How long to wait before try `attempt` (1 for the first retry): the lock polling's
/// exponential [`backoff`](super::backoff), from 160 ms to 500 ms, plus up to half of it
/// again at random, so that runs blocked together do not retry together.
pub(crate) fn retry_delay(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = super::backoff(attempt.saturating_add(3));
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let half = u64::try_from(base.as_millis() / 2).unwrap_or(0).max(1);
    base + Duration::from_millis(hasher.finish() % half)
}

/// The warning logged before each retry.
pub(crate) fn warn_retry(revision: &Revision, attempt: u32, of: u32, blockers: &[String]) {
    let blocked_by = if blockers.is_empty() {
        "the database did not say by whom".to_owned()
    } else {
        format!("possibly blocked by {}", blockers.join("; "))
    };
    tracing::warn!(
        target: "revchain",
        revision = revision.id(),
        attempt,
        "revision {} ({}) timed out waiting for a lock ({blocked_by}); rolled back, trying \
         again ({attempt} of {of} retries)",
        revision.id(),
        revision.path(),
    );
}

/// The first line of a blocker's query, at most 80 characters (it is the user's own
/// statement; only its start is logged).
pub(crate) fn query_excerpt(query: &str) -> String {
    query
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(80)
        .collect()
}

/// The index of the step whose lock timeout (`is_lock_timeout` reads the database's error)
/// `failure` is, when that rolled the step back entirely: then it can be tried again.
pub(crate) fn lock_timed_out(
    failure: &Failure,
    is_lock_timeout: fn(&sqlx::Error) -> bool,
) -> Option<usize> {
    match failure {
        Failure::Step {
            index,
            error,
            aftermath: Aftermath::RolledBack,
            stage: Stage::Statement,
            ..
        } if is_lock_timeout(error) => Some(*index),
        Failure::Code {
            index,
            error,
            aftermath: Aftermath::RolledBack,
            ..
        } if error
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_lock_timeout) =>
        {
            Some(*index)
        }
        _ => None,
    }
}

/// After try `attempt` (0 for the first) of a step failed with a lock timeout: the number
/// of the retry to make, or, when the `retries` are spent, the failure to report (with the
/// count of tries).
pub(crate) fn next_try(failure: Failure, attempt: u32, retries: u32) -> Result<u32, Failure> {
    if attempt < retries {
        Ok(attempt + 1)
    } else if retries == 0 {
        Err(failure)
    } else {
        Err(Failure::Retried {
            tries: retries + 1,
            failure: Box::new(failure),
        })
    }
}

/// After a run of steps that began at step `from`, on try `attempt` of that step, failed
/// with `failure`: the step to try again from (the one that timed out waiting for a lock;
/// the ones before it committed) and the number of that retry; or the failure to report,
/// when it is not a lock timeout or the retries are spent.
pub(crate) fn retry_from(
    failure: Failure,
    from: usize,
    attempt: u32,
    retries: u32,
    is_lock_timeout: fn(&sqlx::Error) -> bool,
) -> Result<(usize, u32), Failure> {
    let Some(index) = lock_timed_out(&failure, is_lock_timeout) else {
        return Err(failure);
    };
    let tried = if index == from { attempt } else { 0 };
    Ok((index, next_try(failure, tried, retries)?))
}

/// `result`, once the session's timeouts are put back with `restore` (the statement that
/// set them returned it; `None`: they were not changed). Failing to put them back is the
/// error only when `result` was a success.
pub(crate) async fn restored<DB: super::sealed::Driver>(
    conn: &mut DB::Connection,
    restore: Option<String>,
    result: Result<(), Failure>,
) -> Result<(), Failure> {
    if let Some(restore) = restore
        && let Err(e) = DB::execute(conn, restore).await
        && result.is_ok()
    {
        return Err(Failure::db("restoring the session's timeouts", &e));
    }
    result
}

/// Logs the retry and waits before it.
pub(crate) async fn before_retry(revision: &Revision, attempt: u32, of: u32, blockers: &[String]) {
    warn_retry(revision, attempt, of, blockers);
    tokio::time::sleep(retry_delay(attempt)).await;
}

/// The note added to the error of a revision that timed out on every try.
pub(crate) fn tries_note(tries: u32) -> String {
    format!("timed out waiting for a lock on each of {tries} tries")
}

/// The sessions that may block this one, as `sql` (one query of `columns` text cells per
/// session) finds them, each described by `describe`; none when the query fails (it is
/// only a hint for the retry's log line).
pub(crate) async fn blockers<DB: super::sealed::Driver>(
    conn: &mut DB::Connection,
    sql: &str,
    columns: usize,
    describe: fn(&[String]) -> String,
) -> Vec<String> {
    use super::BookkeepingRow as _;
    let rows = match DB::fetch_all(conn, sql.to_owned()).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::debug!(target: "revchain", "looking for the blocking session: {e}");
            return Vec::new();
        }
    };
    rows.iter()
        .filter_map(|row| {
            let cells: Option<Vec<String>> =
                (0..columns).map(|i| row.text(i).ok().flatten()).collect();
            cells.map(|cells| describe(&cells))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_settings_are_in_milliseconds() {
        assert_eq!(pg_setting(Duration::from_millis(200)), "200ms");
        assert_eq!(pg_setting(Duration::from_micros(10)), "1ms");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mariadb_settings_are_in_seconds() {
        assert_eq!(mariadb_seconds(Duration::from_millis(200), true), "1");
        assert_eq!(mariadb_seconds(Duration::from_millis(2500), true), "3");
        assert_eq!(mariadb_seconds(Duration::from_millis(100), false), "0.100");
    }

    #[test]
    fn retry_delays_grow_with_jitter() {
        for attempt in 1..6 {
            let base = super::super::backoff(attempt + 3);
            let d = retry_delay(attempt);
            assert!(
                d >= base && d < base + base / 2 + Duration::from_millis(1),
                "{d:?}"
            );
        }
        assert!(retry_delay(1) < retry_delay(3));
    }

    fn step(aftermath: Aftermath) -> Failure {
        Failure::Step {
            index: 4,
            line: 7,
            error: sqlx::Error::PoolTimedOut,
            aftermath,
            stage: Stage::Statement,
        }
    }

    #[test]
    fn only_a_rolled_back_lock_timeout_is_tried_again() {
        let yes: fn(&sqlx::Error) -> bool = |_| true;
        let no: fn(&sqlx::Error) -> bool = |_| false;
        assert_eq!(lock_timed_out(&step(Aftermath::RolledBack), yes), Some(4));
        assert_eq!(lock_timed_out(&step(Aftermath::RolledBack), no), None);
        assert_eq!(lock_timed_out(&step(Aftermath::Dirty), yes), None);
    }

    #[test]
    fn the_last_try_reports_the_count() {
        assert_eq!(next_try(step(Aftermath::RolledBack), 0, 2).ok(), Some(1));
        assert_eq!(next_try(step(Aftermath::RolledBack), 1, 2).ok(), Some(2));
        match next_try(step(Aftermath::RolledBack), 2, 2) {
            Err(Failure::Retried { tries: 3, failure }) => {
                assert!(matches!(*failure, Failure::Step { index: 4, .. }));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            next_try(step(Aftermath::RolledBack), 0, 0),
            Err(Failure::Step { .. })
        ));
    }

    #[test]
    fn excerpts_keep_the_first_line_only() {
        assert_eq!(
            query_excerpt("\n  UPDATE t SET a = 1\nWHERE x"),
            "UPDATE t SET a = 1"
        );
        assert_eq!(query_excerpt(&"x".repeat(200)).len(), 80);
    }
}
