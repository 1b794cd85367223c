//! PostgreSQL: whether [`LockMode::Auto`](super::LockMode::Auto) must take the lease
//! (docs/design.md §4.2). Cheap probes (one statement, and when that proves nothing, two
//! more and one connection more when the run has a pool), in this order, each of which only
//! ever says "lease", but for the proof, which ends the probing with "no pooler":
//!
//! 1. The database has no `pg_try_advisory_lock` in `pg_catalog` (CockroachDB and other
//!    PostgreSQL-compatible databases).
//! 2. The run has a pool whose port differs from the server's own `port` setting: something
//!    stands between them (PgBouncer on 6432 in front of 5432; also a proxy or a mapped
//!    port, where the lease is correct too). Certain whatever the load.
//! - The proof: the connection of the run's server session, as the server reports its two
//!   ends, is a socket this process holds ([`own_socket`]): nothing stands between.
//!   Certain; it needs Linux and TCP, and fails to prove (never errs) behind an address
//!   translation.
//! 3. A session setting made with a fresh token on the run's connection shows up on a second,
//!    new connection (made with the pool's options, when the run has a pool): the two
//!    connections shared a server session, so a pooler hands sessions from client to client
//!    between transactions. PgBouncer gives a new client the server connection used last
//!    (its default, `server_round_robin = 0`), so on a quiet pooler this probe is certain.
//! 4. Read back on the run's connection, in a second statement outside any transaction, the
//!    setting is gone or the backend pid changed: the run's connection itself moved from one
//!    server session to another (a busy pooler, or no pool to probe with).
//!
//! Without a pool (a connection the caller holds) and without the proof, only 1 and 4 run,
//! and a quiet PgBouncer, which hands the same server session back, passes 4: there the
//! caller sets [`LockMode::Lease`](super::LockMode::Lease). On PostgreSQL reached directly
//! none of them fires. A probe that fails on the database is taken as a sign of a database
//! that is not quite PostgreSQL, and the lease is used.

use std::net::IpAddr;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{AssertSqlSafe, Row};

use super::own_socket::{self, Ends};

/// The custom setting the probes write (a session setting: harmless where it leaks).
const PROBE: &str = "revchain.probe";

/// Why the run must take the lease, when it must.
pub(super) async fn lease_reason(conn: &mut PgConnection, pool: Option<&PgPool>) -> Option<String> {
    match probe(conn, pool).await {
        Ok(reason) => reason.map(str::to_owned),
        Err(e) => Some(format!(
            "probing the connection for a pooler failed ({})",
            crate::error::driver_message(&e)
        )),
    }
}

async fn probe(
    conn: &mut PgConnection,
    pool: Option<&PgPool>,
) -> Result<Option<&'static str>, sqlx::Error> {
    let first = fetch(
        conn,
        // One catalog lookup by name and arguments (a scan of `pg_proc` by name costs a new
        // session a millisecond).
        "SELECT (to_regprocedure('pg_catalog.pg_try_advisory_lock(bigint)') IS NOT NULL)::text, \
         current_setting('port'), \
         coalesce(host(inet_client_addr()), ''), coalesce(inet_client_port()::text, ''), \
         coalesce(host(inet_server_addr()), ''), coalesce(inet_server_port()::text, '')"
            .to_owned(),
        6,
    )
    .await?;
    if first[0] != "true" {
        return Ok(Some("the database has no pg_try_advisory_lock"));
    }
    if let Some(pool) = pool
        && first[1] != pool.connect_options().get_port().to_string()
    {
        return Ok(Some(
            "the pool connects to another port than the server's own: a pooler or proxy stands between",
        ));
    }
    let ends = Ends::parse((&first[2], &first[3]), (&first[4], &first[5]));
    if ends.is_some_and(own_socket::held_here) {
        // The session's connection is a socket of this process: nothing stands between.
        return Ok(None);
    }
    sessions_probe(conn, pool).await
}

/// The condition, for the server, that the session's connection is one this process holds
/// to `pool`'s port: the proof, checked by the server before the statement that carries it
/// takes the lock, against this process's connections listed up front
/// ([`own_socket::held_connections`]). `None` when the pool connects through a Unix-domain
/// socket, or this process holds no such connection, or they cannot be listed.
pub(super) fn reaches_directly(pool: &PgPool) -> Option<String> {
    let options = pool.connect_options();
    if options.get_socket().is_some() {
        return None;
    }
    let held = own_socket::held_connections(options.get_port())?;
    let rows: Vec<String> = held.iter().flat_map(server_views).collect();
    (!rows.is_empty()).then(|| {
        format!(
            "(inet_client_addr(), inet_client_port(), inet_server_addr(), inet_server_port()) \
             IN (VALUES {})",
            rows.join(", ")
        )
    })
}

/// How the server may see a connection with `ends` (`inet_client_addr()`,
/// `inet_client_port()`, `inet_server_addr()`, `inet_server_port()`), as SQL rows: an IPv4
/// connection as it is, and mapped to IPv6 (a server listening on an IPv6 socket sees it
/// so).
fn server_views(ends: &Ends) -> Vec<String> {
    let row = |client: IpAddr, server: IpAddr| {
        format!(
            "('{client}'::inet, {}, '{server}'::inet, {})",
            ends.client.port(),
            ends.server.port()
        )
    };
    match (ends.client.ip(), ends.server.ip()) {
        (IpAddr::V4(client), IpAddr::V4(server)) => vec![
            row(client.into(), server.into()),
            row(
                client.to_ipv6_mapped().into(),
                server.to_ipv6_mapped().into(),
            ),
        ],
        (client, server) => vec![row(client, server)],
    }
}

/// Probes 3 and 4.
async fn sessions_probe(
    conn: &mut PgConnection,
    pool: Option<&PgPool>,
) -> Result<Option<&'static str>, sqlx::Error> {
    let token = super::token();
    // The second connection (probe 3) is opened while the setting is made.
    let connect_other = async {
        let options = crate::quiet_statements((*pool?.connect_options()).clone());
        Some(sqlx::ConnectOptions::connect(&options).await)
    };
    let set = fetch(
        conn,
        format!("SELECT set_config('{PROBE}', '{token}', false), pg_backend_pid()::text"),
        2,
    );
    let (set, other) = tokio::join!(set, connect_other);
    let other: Option<PgConnection> = other.transpose()?;
    let set = match set {
        Ok(set) => set,
        Err(e) => {
            close_later(other);
            return Err(e);
        }
    };
    if let Some(mut other) = other {
        let seen = fetch(
            &mut other,
            format!("SELECT coalesce(current_setting('{PROBE}', true), '')"),
            1,
        )
        .await;
        close_later(Some(other));
        if seen?[0] == token {
            return Ok(Some(
                "a session setting of this connection showed on another one: a pooler in transaction mode",
            ));
        }
    }
    let second = fetch(
        conn,
        format!(
            "SELECT coalesce(current_setting('{PROBE}', true), ''), pg_backend_pid()::text, \
             set_config('{PROBE}', '', false)"
        ),
        3,
    )
    .await?;
    Ok(changed(&set, &second, &token)
        .then_some("the connection's server session changed between two statements: a pooler in transaction mode"))
}

/// Closes the probe's second connection without waiting for the server to end its session
/// (milliseconds that the run need not spend).
fn close_later(other: Option<PgConnection>) {
    if let Some(other) = other {
        tokio::spawn(async move {
            let _ = sqlx::Connection::close(other).await;
        });
    }
}

/// Whether the second probe (`[setting, pid]`) shows another session than the first (whose
/// setting was `token`, and pid `first[1]`).
fn changed(first: &[String], second: &[String], token: &str) -> bool {
    second.first().map(String::as_str) != Some(token) || first.get(1) != second.get(1)
}

/// The first `columns` text columns of the one row `sql` returns (an error when it has
/// fewer: a database that is not quite PostgreSQL, which the callers index no further).
async fn fetch(
    conn: &mut PgConnection,
    sql: String,
    columns: usize,
) -> Result<Vec<String>, sqlx::Error> {
    let row = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_one(conn).await?;
    (0..columns)
        .map(|i| {
            row.try_get::<Option<String>, _>(i)
                .map(Option::unwrap_or_default)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Ends, changed, server_views};

    fn v(a: &str, b: &str) -> Vec<String> {
        vec![a.to_owned(), b.to_owned()]
    }

    #[test]
    fn an_ipv4_connection_is_matched_as_is_and_mapped_an_ipv6_one_as_is() {
        let v4 = Ends {
            client: "10.0.0.5:40000".parse().unwrap(),
            server: "10.0.0.9:5432".parse().unwrap(),
        };
        assert_eq!(
            server_views(&v4),
            [
                "('10.0.0.5'::inet, 40000, '10.0.0.9'::inet, 5432)",
                "('::ffff:10.0.0.5'::inet, 40000, '::ffff:10.0.0.9'::inet, 5432)",
            ]
        );
        let v6 = Ends {
            client: "[2001:db8::5]:40000".parse().unwrap(),
            server: "[2001:db8::9]:5432".parse().unwrap(),
        };
        assert_eq!(
            server_views(&v6),
            ["('2001:db8::5'::inet, 40000, '2001:db8::9'::inet, 5432)"]
        );
    }

    #[test]
    fn a_session_that_kept_its_setting_and_pid_did_not_change() {
        assert!(!changed(&v("rc1", "42"), &v("rc1", "42"), "rc1"));
        assert!(changed(&v("rc1", "42"), &v("", "42"), "rc1"));
        assert!(changed(&v("rc1", "42"), &v("rc1", "43"), "rc1"));
        assert!(changed(&v("rc1", "42"), &[], "rc1"));
    }
}
