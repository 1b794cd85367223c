//! Applying N one-`INSERT` revisions on PostgreSQL, MariaDB and SQLite: revchain against
//! the floor (the same N statements sent by the same client, sqlx, as N bare
//! transactions) and against its peers, with the same generated migrations for each:
//! `sqlx::migrate::Migrator` (sqlx 0.9, every database), `diesel_migrations` 2.3 (an
//! `EmbeddedMigrations` of the same text, as `embed_migrations!` builds; PostgreSQL and
//! SQLite) and refinery 0.10 (tokio-postgres; PostgreSQL).
//!
//! Run with `cargo bench -p revchain-tests --bench peers_apply --features peers`; arguments
//! after `--`: `apply=N` (1000), `rounds=R` (7, fresh databases per tool; medians shown),
//! `db=postgres,mysql,sqlite` (all three), `tools=floor,revchain,…` (every tool that runs
//! on the database; the names are the labels' first words: `floor`, `floor-each`,
//! `revchain`, `sqlx`, `diesel`, `refinery`).
//!
//! Two floors are measured on each database:
//! - `floor`: the N transactions `BEGIN; INSERT …; COMMIT` pipelined, 500 to a round trip,
//!   each but the last committed asynchronously where the database has that
//!   (PostgreSQL's `synchronous_commit = off`; MariaDB's and SQLite's commits are as
//!   configured) — the same durability revchain gives (docs/benchmarks.md);
//! - `floor, one round trip each`: `BEGIN; INSERT …; COMMIT` in one round trip per
//!   transaction, committed as configured: what the obvious loop over sqlx does.
//!
//! The clock covers only the tool's own call. Tools are interleaved and their order rotates
//! every round. Each round's databases are kept to the end of the run (`drop=each` drops
//! them after each round; see `main` for why). Ratios within one run are the figures to read: absolute times on a shared
//! machine are noise.

use std::time::{Duration, Instant};

use revchain::Migrations;
use revchain_tests::{Kind, TestDb, load};

/// The revisions per round trip of the pipelined floor (revchain's PostgreSQL batch size).
const PIPELINE: usize = 500;

fn insert(i: usize) -> String {
    format!("INSERT INTO bench_rows (n, note) VALUES ({i}, 'row {i}')")
}

const SETUP: &str = "CREATE TABLE bench_rows (n INT PRIMARY KEY, note VARCHAR(100) NOT NULL)";

/// The same N migrations, in each tool's form.
struct Generated {
    _dir: tempfile::TempDir,
    revchain: Migrations,
    sqlx: sqlx::migrate::Migrator,
    refinery: refinery::Runner,
    diesel: &'static [diesel_migrations::EmbeddedMigration],
}

async fn generate(n: usize) -> Generated {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rc = dir.path().join("revchain");
    let sx = dir.path().join("sqlx");
    std::fs::create_dir_all(&rc).expect("create a directory");
    std::fs::create_dir_all(&sx).expect("create a directory");
    let mut refinery = Vec::with_capacity(n);
    let mut diesel = Vec::with_capacity(n);
    for i in 0..n {
        let sql = format!("{};\n", insert(i));
        let id = format!("{i:012x}");
        let parent = if i == 0 {
            String::new()
        } else {
            format!("{:012x}", i - 1)
        };
        std::fs::write(
            rc.join(format!("{id}_m{i}.sql")),
            format!(
                "-- migration {i}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n\
                 -- Create Date: 2026-11-20 09:00:00.000000+00:00\n\n-- migrate:upgrade\n{sql}\n\
                 -- migrate:downgrade\nDELETE FROM bench_rows WHERE n = {i};\n"
            ),
        )
        .expect("write a revchain revision");
        std::fs::write(sx.join(format!("{}_m{i}.sql", i + 1)), &sql)
            .expect("write a sqlx migration");
        refinery.push(
            refinery::Migration::unapplied(&format!("V{}__m{i}", i + 1), &sql)
                .expect("a refinery migration"),
        );
        // What `embed_migrations!` expands to, for files generated at run time.
        let up: &'static str = Box::leak(sql.into_boxed_str());
        let name: &'static str = Box::leak(format!("{:014}_m{i}", i + 1).into_boxed_str());
        diesel.push(diesel_migrations::EmbeddedMigration::new(
            up,
            None,
            diesel_migrations::EmbeddedName::new(name),
            diesel_migrations::TomlMetadataWrapper::new(true),
        ));
    }
    Generated {
        revchain: load(&rc),
        sqlx: sqlx::migrate::Migrator::new(sx.as_path())
            .await
            .expect("sqlx resolves the migrations"),
        refinery: refinery::Runner::new(&refinery),
        diesel: Box::leak(diesel.into_boxed_slice()),
        _dir: dir,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Floor,
    FloorEach,
    Revchain,
    Sqlx,
    Diesel,
    Refinery,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Floor => "floor (pipelined)",
            Tool::FloorEach => "floor (one round trip each)",
            Tool::Revchain => "revchain",
            Tool::Sqlx => "sqlx 0.9",
            Tool::Diesel => "diesel_migrations 2.3",
            Tool::Refinery => "refinery 0.10",
        }
    }

    /// The name of the tool in `tools=`.
    fn name(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::FloorEach => "floor-each",
            Tool::Revchain => "revchain",
            Tool::Sqlx => "sqlx",
            Tool::Diesel => "diesel",
            Tool::Refinery => "refinery",
        }
    }

    /// The tools measured on `kind`: those that run on it, of those `tools=` names.
    fn on(kind: Kind) -> Vec<Tool> {
        let wanted = arg("tools");
        Tool::all_on(kind)
            .into_iter()
            .filter(|t| {
                wanted
                    .as_deref()
                    .is_none_or(|list| list.split(',').any(|n| n == t.name()))
            })
            .collect()
    }

    /// Every tool that runs on `kind`.
    fn all_on(kind: Kind) -> Vec<Tool> {
        match kind {
            Kind::Postgres => vec![
                Tool::Floor,
                Tool::FloorEach,
                Tool::Revchain,
                Tool::Sqlx,
                Tool::Diesel,
                Tool::Refinery,
            ],
            // diesel's MySQL backend links libmysqlclient, which this machine lacks.
            Kind::MySql => vec![Tool::Floor, Tool::FloorEach, Tool::Revchain, Tool::Sqlx],
            Kind::Sqlite => vec![Tool::Floor, Tool::Revchain, Tool::Sqlx, Tool::Diesel],
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "PostgreSQL",
        Kind::MySql => "MariaDB",
        Kind::Sqlite => "SQLite",
    }
}

/// The pipelined floor's round trips: `BEGIN; INSERT; COMMIT` per revision, `PIPELINE` to
/// a text, each transaction but the last asynchronous on PostgreSQL.
fn floor_batches(kind: Kind, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut sql = String::new();
    if kind == Kind::Postgres {
        sql.push_str("SET synchronous_commit = off;\n");
    }
    for i in 0..n {
        if kind == Kind::Postgres && i + 1 == n {
            sql.push_str("RESET synchronous_commit;\n");
        }
        sql.push_str(&format!("BEGIN; {}; COMMIT;\n", insert(i)));
        if (i + 1) % PIPELINE == 0 || i + 1 == n {
            out.push(std::mem::take(&mut sql));
        }
    }
    out
}

/// Runs `tool` on one kind of pool; the time of its own call.
macro_rules! timed {
    ($pool:expr, $tool:expr, $g:expr, $db:expr, $n:expr) => {{
        let pool = $pool;
        let start = Instant::now();
        match $tool {
            Tool::Floor => {
                for sql in floor_batches($db.kind, $n) {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&pool)
                        .await
                        .expect("the floor");
                }
            }
            Tool::FloorEach => {
                let mut conn = pool.acquire().await.expect("a connection");
                for i in 0..$n {
                    let sql = format!("BEGIN; {}; COMMIT", insert(i));
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *conn)
                        .await
                        .expect("the floor");
                }
            }
            Tool::Revchain => {
                let report = $g.revchain.run(&pool).await.expect("revchain applies");
                assert_eq!(report.steps.len(), $n);
            }
            Tool::Sqlx => $g.sqlx.run(&pool).await.expect("sqlx applies"),
            Tool::Diesel | Tool::Refinery => unreachable!("not a sqlx tool"),
        }
        start.elapsed()
    }};
}

async fn pool<DB: sqlx::Database>(db: &TestDb) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.url))
}

fn diesel_pg(g: &Generated, url: &str) -> Duration {
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    let mut conn = diesel::PgConnection::establish(url).expect("diesel connects");
    let start = Instant::now();
    let done = conn
        .run_pending_migrations(g.diesel_source())
        .expect("diesel applies")
        .len();
    let took = start.elapsed();
    assert!(done > 0);
    took
}

fn diesel_sqlite(g: &Generated, url: &str) -> Duration {
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    let path = url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let mut conn = diesel::SqliteConnection::establish(path).expect("diesel opens");
    let start = Instant::now();
    let done = conn
        .run_pending_migrations(g.diesel_source())
        .expect("diesel applies")
        .len();
    let took = start.elapsed();
    assert!(done > 0);
    took
}

impl Generated {
    fn diesel_source(&self) -> diesel_migrations::EmbeddedMigrations {
        diesel_migrations::EmbeddedMigrations::new(self.diesel)
    }
}

async fn count(db: &TestDb) -> i64 {
    let sql = "SELECT count(*) FROM bench_rows";
    match db.kind {
        Kind::Postgres => {
            sqlx::query_scalar(sql)
                .fetch_one(&pool::<sqlx::Postgres>(db).await)
                .await
        }
        Kind::MySql => {
            sqlx::query_scalar(sql)
                .fetch_one(&pool::<sqlx::MySql>(db).await)
                .await
        }
        Kind::Sqlite => {
            sqlx::query_scalar(sql)
                .fetch_one(&pool::<sqlx::Sqlite>(db).await)
                .await
        }
    }
    .expect("count the rows")
}

async fn setup(db: &TestDb) {
    let sql = sqlx::AssertSqlSafe(SETUP);
    match db.kind {
        Kind::Postgres => {
            let p = pool::<sqlx::Postgres>(db).await;
            sqlx::raw_sql(sql).execute(&p).await.expect("setup");
            sqlx::raw_sql("CHECKPOINT")
                .execute(&p)
                .await
                .expect("setup");
        }
        Kind::MySql => {
            sqlx::raw_sql(sql)
                .execute(&pool::<sqlx::MySql>(db).await)
                .await
                .expect("setup");
        }
        Kind::Sqlite => {
            sqlx::raw_sql(sql)
                .execute(&pool::<sqlx::Sqlite>(db).await)
                .await
                .expect("setup");
        }
    }
}

/// Applies everything with `tool` to a fresh database; the time of the tool's own call, and
/// the database (dropped by the caller).
async fn apply(tool: Tool, g: &Generated, kind: Kind, n: usize) -> (Duration, TestDb) {
    let db = TestDb::new(kind).await;
    setup(&db).await;
    let took = match (tool, kind) {
        (Tool::Diesel, Kind::Postgres) => diesel_pg(g, &db.url),
        (Tool::Diesel, _) => diesel_sqlite(g, &db.url),
        (Tool::Refinery, _) => {
            let (mut client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                .await
                .expect("refinery connects");
            tokio::spawn(async move {
                let _ = connection.await;
            });
            let start = Instant::now();
            g.refinery
                .run_async(&mut client)
                .await
                .expect("refinery applies");
            start.elapsed()
        }
        (_, Kind::Postgres) => timed!(pool::<sqlx::Postgres>(&db).await, tool, g, db, n),
        (_, Kind::MySql) => timed!(pool::<sqlx::MySql>(&db).await, tool, g, db, n),
        (_, Kind::Sqlite) => timed!(pool::<sqlx::Sqlite>(&db).await, tool, g, db, n),
    };
    assert_eq!(count(&db).await, n as i64, "{} applied all", tool.label());
    (took, db)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn arg(name: &str) -> Option<String> {
    std::env::args().find_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[tokio::main]
async fn main() {
    let n: usize = arg("apply").and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rounds: usize = arg("rounds").and_then(|s| s.parse().ok()).unwrap_or(7);
    let kinds: Vec<Kind> = match arg("db") {
        None => Kind::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|s| match s {
                "postgres" => Kind::Postgres,
                "mysql" => Kind::MySql,
                "sqlite" => Kind::Sqlite,
                other => panic!("db={other}: postgres, mysql or sqlite"),
            })
            .collect(),
    };
    // The databases are dropped at the end of the run (`drop=each`: after each round).
    // Dropping one deletes its files; on a file system without a journal (ext4 here), the
    // kernel then skips each inode deleted in the last 30 s when it allocates one, and
    // every file a tool creates in the next rounds (a table, an index) costs milliseconds
    // more: a cost of the benchmark's own churn, charged to the tools that create tables.
    let drop_each = arg("drop").as_deref() == Some("each");
    let mut kept = Vec::new();
    let g = generate(n).await;
    let mut table = Vec::new();
    for kind in kinds {
        let tools = Tool::on(kind);
        let mut times = vec![Vec::new(); tools.len()];
        for r in 0..rounds {
            let k = r % tools.len();
            for (i, tool) in tools.iter().enumerate().cycle().skip(k).take(tools.len()) {
                let (took, db) = apply(*tool, &g, kind, n).await;
                times[i].push(took);
                if !drop_each {
                    kept.push(db);
                }
            }
        }
        println!(
            "\n[{}] apply {n} one-INSERT revisions ({rounds} fresh databases per tool)",
            kind_name(kind)
        );
        let medians: Vec<(Tool, Duration)> = tools
            .iter()
            .zip(times)
            .map(|(t, v)| {
                let min = v.iter().min().copied().unwrap_or_default();
                let max = v.iter().max().copied().unwrap_or_default();
                let m = median(v);
                println!(
                    "  {:<30} median {:>10}  (min {:>10}, max {:>10})",
                    t.label(),
                    ms(m),
                    ms(min),
                    ms(max)
                );
                (*t, m)
            })
            .collect();
        table.push((kind, medians));
    }
    println!(
        "\nratios ({n} one-INSERT revisions, medians of {rounds}; `-` where the tool does not run)\n"
    );
    println!(
        "| database | floor | floor, one round trip each | revchain | revchain / floor | sqlx / revchain | diesel / revchain | refinery / revchain |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (kind, medians) in table {
        let get = |t: Tool| medians.iter().find(|(x, _)| *x == t).map(|(_, d)| *d);
        let rc = get(Tool::Revchain)
            .map(|d| d.as_secs_f64())
            .unwrap_or(f64::NAN);
        let over = |t: Tool, base: f64| {
            get(t).map_or("-".to_owned(), |d| {
                format!("{:.2}x", d.as_secs_f64() / base)
            })
        };
        let plain = |t: Tool| get(t).map_or("-".to_owned(), ms);
        let floor = get(Tool::Floor)
            .map(|d| d.as_secs_f64())
            .unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {} | {:.2}x | {} | {} | {} |",
            kind_name(kind),
            plain(Tool::Floor),
            plain(Tool::FloorEach),
            plain(Tool::Revchain),
            rc / floor,
            over(Tool::Sqlx, rc),
            over(Tool::Diesel, rc),
            over(Tool::Refinery, rc),
        );
    }
}
