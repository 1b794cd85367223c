//! revchain against its peers on one PostgreSQL, in one process, with the same generated
//! migrations for each tool: `sqlx::migrate::Migrator` (sqlx 0.9, built at run time from
//! files) and refinery 0.10 (tokio-postgres, a `Runner` of `Migration::unapplied`), and, for
//! the DDL scenario, `psql -1 -f` of the same SQL concatenated when `psql` is on `PATH`.
//!
//! Run with `cargo bench -p revchain-tests --bench peers --features peers`; shrink it with
//! arguments after `--`, e.g. `-- apply=200 rounds=3 boot=10,1000 runs=31`:
//!
//! - `apply=N` (1000): revisions in the two apply scenarios;
//! - `rounds=R` (7): fresh databases per tool and apply scenario (median of R);
//! - `boot=A,B,…` (10,1000,10000): database sizes for the up-to-date boot check;
//! - `runs=M` (101): boot checks per tool and size (median of M);
//! - `only=inserts|ddl|boot` (all): one scenario (`boot` includes `step`).
//!
//! Scenarios:
//! 1. `inserts`: apply N revisions of one `INSERT` each to an empty database (its one table
//!    is created before the clock starts);
//! 2. `ddl`: apply N `CREATE TABLE` revisions to an empty database;
//! 3. `boot`: the check an application makes at every boot when the database is already up
//!    to date, (a) on an existing, warm pool/client, (b) including opening a new
//!    connection (a new one-connection pool for revchain and sqlx, a new
//!    `tokio_postgres::Client` for refinery), as an application does when it starts;
//! 4. `step`: a deploy that brings one new revision to each of those databases (the last
//!    revision is taken back, untimed, before each run), on the warm pool/client.
//!
//! The clock covers only the tool's own call (`run()` / `run_async()`; for psql the whole
//! process, connection included, whose cost is also measured and shown). Tools are
//! interleaved (the order rotates every round) and medians are reported, with the ratios
//! between tools measured in the same run: absolute times on a shared machine are noise.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use revchain::Migrations;
use revchain_tests::{Kind, admin, load, server_url, unique_name};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// What one scenario's revisions do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Inserts,
    Ddl,
}

impl Scenario {
    fn sql(self, i: usize) -> String {
        match self {
            Scenario::Inserts => {
                format!("INSERT INTO bench_rows (n, note) VALUES ({i}, 'row {i}');\n")
            }
            Scenario::Ddl => format!(
                "CREATE TABLE t{i} (\n    id BIGINT PRIMARY KEY,\n    name VARCHAR(100) NOT NULL,\n    \
                 created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n);\n"
            ),
        }
    }

    /// What undoes revision `i` (revchain's downgrade section; the reset between two
    /// one-revision deploys).
    fn undo(self, i: usize) -> String {
        match self {
            Scenario::Inserts => format!("DELETE FROM bench_rows WHERE n = {i};\n"),
            Scenario::Ddl => format!("DROP TABLE t{i};\n"),
        }
    }

    /// Run before the clock starts, by every tool alike.
    fn setup(self) -> &'static str {
        match self {
            Scenario::Inserts => "CREATE TABLE bench_rows (n INT PRIMARY KEY, note TEXT NOT NULL)",
            Scenario::Ddl => "",
        }
    }

    /// A query whose answer is N when the N revisions were applied.
    fn check(self) -> &'static str {
        match self {
            Scenario::Inserts => "SELECT count(*) FROM bench_rows",
            Scenario::Ddl => {
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'"
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::Inserts => "inserts",
            Scenario::Ddl => "ddl",
        }
    }
}

/// The same N migrations, in each tool's form.
struct Generated {
    _dir: tempfile::TempDir,
    revchain: Migrations,
    sqlx: sqlx::migrate::Migrator,
    refinery: refinery::Runner,
    /// Everything concatenated, for `psql -1 -f`.
    psql_file: PathBuf,
}

async fn generate(scenario: Scenario, n: usize) -> Generated {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rc = dir.path().join("revchain");
    let sx = dir.path().join("sqlx");
    std::fs::create_dir_all(&rc).expect("create a directory");
    std::fs::create_dir_all(&sx).expect("create a directory");
    let mut all = String::new();
    let mut refinery = Vec::with_capacity(n);
    for i in 0..n {
        let sql = scenario.sql(i);
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
                 -- Create Date: 2026-11-20 09:00:00.000000+00:00\n\n-- migrate:upgrade\n{sql}\n-- migrate:downgrade\n{}",
                scenario.undo(i)
            ),
        )
        .expect("write a revchain revision");
        std::fs::write(sx.join(format!("{}_m{i}.sql", i + 1)), &sql)
            .expect("write a sqlx migration");
        refinery.push(
            refinery::Migration::unapplied(&format!("V{}__m{i}", i + 1), &sql)
                .expect("a refinery migration"),
        );
        all.push_str(&sql);
    }
    let psql_file = dir.path().join("all.sql");
    std::fs::write(&psql_file, all).expect("write the concatenated SQL");
    Generated {
        revchain: load(&rc),
        sqlx: sqlx::migrate::Migrator::new(sx.as_path())
            .await
            .expect("sqlx resolves the migrations"),
        refinery: refinery::Runner::new(&refinery),
        psql_file,
        _dir: dir,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Revchain,
    Sqlx,
    Refinery,
    Psql,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::Revchain => "revchain",
            Tool::Sqlx => "sqlx 0.9",
            Tool::Refinery => "refinery 0.10",
            Tool::Psql => "psql -1 -f",
        }
    }
}

/// A throwaway database on the server.
struct Db {
    name: String,
    url: String,
}

impl Db {
    async fn new() -> Db {
        let name = unique_name("rcbench");
        admin(Kind::Postgres, &format!("CREATE DATABASE {name}")).await;
        Db {
            url: format!("{}/{name}", server_url(Kind::Postgres)),
            name,
        }
    }

    async fn drop(self) {
        admin(
            Kind::Postgres,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }

    async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    async fn exec(&self, pool: &PgPool, sql: &str) {
        if !sql.is_empty() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql} on {}: {e}", self.name));
        }
    }
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Applies everything with `tool` to a database that has none of it; returns the time of
/// the tool's own call.
async fn apply(tool: Tool, g: &Generated, db: &Db) -> Duration {
    match tool {
        Tool::Revchain => {
            let pool = db.pool().await;
            let start = Instant::now();
            let report = g.revchain.run(&pool).await.expect("revchain applies");
            let took = start.elapsed();
            assert_eq!(report.steps.len(), g.revchain.len());
            pool.close().await;
            took
        }
        Tool::Sqlx => {
            let pool = db.pool().await;
            let start = Instant::now();
            g.sqlx.run(&pool).await.expect("sqlx applies");
            let took = start.elapsed();
            pool.close().await;
            took
        }
        Tool::Refinery => {
            let mut client = db.client().await;
            let start = Instant::now();
            let report = g
                .refinery
                .run_async(&mut client)
                .await
                .expect("refinery applies");
            let took = start.elapsed();
            assert_eq!(
                report.applied_migrations().len(),
                g.refinery.get_migrations().len()
            );
            took
        }
        Tool::Psql => {
            let start = Instant::now();
            psql(&db.url, &["-1", "-f", &g.psql_file.display().to_string()]);
            start.elapsed()
        }
    }
}

fn psql(url: &str, args: &[&str]) {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
        .args(args)
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn have_psql() -> bool {
    Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// The rotation of `tools` for round `r`, so that no tool always goes first.
fn rotated<T: Copy>(tools: &[T], r: usize) -> Vec<T> {
    let k = r % tools.len();
    tools[k..].iter().chain(&tools[..k]).copied().collect()
}

/// One line per tool: median, spread, and how many times slower than revchain.
fn print_table(title: &str, rows: &[(String, Vec<Duration>)]) -> Vec<Duration> {
    println!("\n{title}");
    let medians: Vec<Duration> = rows.iter().map(|(_, v)| median(v.clone())).collect();
    let base = medians[0].as_secs_f64();
    for ((label, v), m) in rows.iter().zip(&medians) {
        let min = v.iter().min().copied().unwrap_or_default();
        let max = v.iter().max().copied().unwrap_or_default();
        println!(
            "  {label:<28} median {:>10}  (min {:>10}, max {:>10}, n={:>3})  {:>6.2}x revchain",
            fmt(*m),
            fmt(min),
            fmt(max),
            v.len(),
            m.as_secs_f64() / base
        );
    }
    medians
}

async fn apply_scenario(scenario: Scenario, n: usize, rounds: usize, psql_ok: bool) {
    let g = generate(scenario, n).await;
    let mut tools = vec![Tool::Revchain, Tool::Sqlx, Tool::Refinery];
    if psql_ok && scenario == Scenario::Ddl {
        tools.push(Tool::Psql);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); tools.len()];
    let mut psql_connect = Vec::new();
    for r in 0..rounds {
        for tool in rotated(&tools, r) {
            let db = Db::new().await;
            let pool = db.pool().await;
            db.exec(&pool, scenario.setup()).await;
            // Settle: the database's creation must not be paid by the first tool's run.
            db.exec(&pool, "CHECKPOINT").await;
            let took = apply(tool, &g, &db).await;
            assert_eq!(
                scalar(&pool, scenario.check()).await,
                n as i64,
                "{} did not apply all {n} revisions",
                tool.label()
            );
            if tool == Tool::Psql {
                let start = Instant::now();
                psql(&db.url, &["-c", ""]);
                psql_connect.push(start.elapsed());
            }
            pool.close().await;
            db.drop().await;
            let k = tools.iter().position(|t| *t == tool).unwrap_or(0);
            times[k].push(took);
        }
    }
    let mut rows: Vec<(String, Vec<Duration>)> = tools
        .iter()
        .zip(times)
        .map(|(t, v)| (t.label().to_owned(), v))
        .collect();
    let has_psql = !psql_connect.is_empty();
    if has_psql {
        rows.push(("  psql start+connect alone".to_owned(), psql_connect));
    }
    let medians = print_table(
        &format!(
            "[{}] apply {n} revisions of {} to an empty database ({rounds} fresh databases per tool)",
            scenario.name(),
            match scenario {
                Scenario::Inserts => "one INSERT",
                Scenario::Ddl => "one CREATE TABLE",
            }
        ),
        &rows,
    );
    let rc = medians[0].as_secs_f64();
    println!(
        "  => sqlx / revchain = {:.2}x, refinery / revchain = {:.2}x",
        medians[1].as_secs_f64() / rc,
        medians[2].as_secs_f64() / rc
    );
    if has_psql {
        let psql_total = medians[3].as_secs_f64();
        let psql_work = psql_total - medians[4].as_secs_f64();
        println!(
            "  => revchain / psql -1 -f = {:.3}x (psql's own start and connection deducted: \
             {:.3}x)",
            rc / psql_total,
            rc / psql_work
        );
    }
}

/// Databases brought up to date with N revisions by each tool, and warm handles on them.
struct Boot {
    n: usize,
    g: Generated,
    dbs: Vec<Db>,
    revchain: PgPool,
    sqlx: PgPool,
    refinery: tokio_postgres::Client,
}

const BOOT_TOOLS: [Tool; 3] = [Tool::Revchain, Tool::Sqlx, Tool::Refinery];

async fn boot_setup(n: usize) -> Boot {
    let g = generate(Scenario::Inserts, n).await;
    let mut dbs = Vec::new();
    let set_up = Instant::now();
    for tool in BOOT_TOOLS {
        let db = Db::new().await;
        // Only to set up faster: the boot check reads, and commits nothing.
        admin(
            Kind::Postgres,
            &format!("ALTER DATABASE {} SET synchronous_commit = off", db.name),
        )
        .await;
        let pool = db.pool().await;
        db.exec(&pool, Scenario::Inserts.setup()).await;
        pool.close().await;
        apply(tool, &g, &db).await;
        // What a database that has been up for a while looks like.
        let pool = db.pool().await;
        db.exec(&pool, "VACUUM ANALYZE").await;
        pool.close().await;
        dbs.push(db);
    }
    let mut b = Boot {
        n,
        revchain: dbs[0].pool().await,
        sqlx: dbs[1].pool().await,
        refinery: dbs[2].client().await,
        dbs,
        g,
    };
    eprintln!(
        "  (boot N={n}: three databases set up in {:.1?})",
        set_up.elapsed()
    );
    // Warm up each handle (and check that each tool sees an up-to-date database).
    for _ in 0..3 {
        let report = b.g.revchain.run(&b.revchain).await.expect("revchain boot");
        assert!(report.up_to_date, "revchain must take the fast path");
        b.g.sqlx.run(&b.sqlx).await.expect("sqlx boot");
        let report =
            b.g.refinery
                .run_async(&mut b.refinery)
                .await
                .expect("refinery boot");
        assert!(report.applied_migrations().is_empty());
    }
    b
}

impl Boot {
    /// One up-to-date check on the warm handle.
    async fn warm(&mut self, tool: Tool) -> Duration {
        let start = Instant::now();
        match tool {
            Tool::Revchain => {
                self.g
                    .revchain
                    .run(&self.revchain)
                    .await
                    .expect("revchain boot");
            }
            Tool::Sqlx => self.g.sqlx.run(&self.sqlx).await.expect("sqlx boot"),
            Tool::Refinery => {
                self.g
                    .refinery
                    .run_async(&mut self.refinery)
                    .await
                    .expect("refinery boot");
            }
            Tool::Psql => {}
        }
        start.elapsed()
    }

    /// One up-to-date check including opening a new connection; `None` for the tool: only
    /// open a one-connection sqlx pool.
    async fn cold(&self, tool: Option<Tool>) -> Duration {
        let start = Instant::now();
        match tool {
            Some(Tool::Revchain) => {
                let pool = self.dbs[0].pool().await;
                self.g.revchain.run(&pool).await.expect("revchain boot");
                let took = start.elapsed();
                pool.close().await;
                took
            }
            Some(Tool::Sqlx) => {
                let pool = self.dbs[1].pool().await;
                self.g.sqlx.run(&pool).await.expect("sqlx boot");
                let took = start.elapsed();
                pool.close().await;
                took
            }
            Some(Tool::Refinery) => {
                let mut client = self.dbs[2].client().await;
                self.g
                    .refinery
                    .run_async(&mut client)
                    .await
                    .expect("refinery boot");
                start.elapsed()
            }
            Some(Tool::Psql) | None => {
                let pool = self.dbs[0].pool().await;
                let took = start.elapsed();
                pool.close().await;
                took
            }
        }
    }

    /// Takes the last revision back (untimed), then times the tool applying it again.
    async fn step(&mut self, tool: Tool) -> Duration {
        let n = self.n;
        let undo = Scenario::Inserts.undo(n - 1);
        match tool {
            Tool::Revchain => {
                let report = self
                    .g
                    .revchain
                    .downgrade(&self.revchain, "-1")
                    .await
                    .expect("revchain downgrade");
                assert_eq!(report.steps.len(), 1);
            }
            Tool::Sqlx => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM _sqlx_migrations WHERE version = {n}; {undo}"
                )))
                .execute(&self.sqlx)
                .await
                .expect("undo sqlx's last migration");
            }
            Tool::Refinery => {
                self.refinery
                    .batch_execute(&format!(
                        "DELETE FROM refinery_schema_history WHERE version = {n}; {undo}"
                    ))
                    .await
                    .expect("undo refinery's last migration");
            }
            Tool::Psql => {}
        }
        let start = Instant::now();
        match tool {
            Tool::Revchain => {
                let report = self
                    .g
                    .revchain
                    .run(&self.revchain)
                    .await
                    .expect("revchain step");
                assert_eq!(report.steps.len(), 1);
            }
            Tool::Sqlx => self.g.sqlx.run(&self.sqlx).await.expect("sqlx step"),
            Tool::Refinery => {
                let report = self
                    .g
                    .refinery
                    .run_async(&mut self.refinery)
                    .await
                    .expect("refinery step");
                assert_eq!(report.applied_migrations().len(), 1);
            }
            Tool::Psql => {}
        }
        start.elapsed()
    }

    /// The floor under any check on a warm pool: one trivial query (the pool's liveness
    /// ping before handing out the connection, then the query).
    async fn floor(&self) -> Duration {
        let start = Instant::now();
        sqlx::raw_sql("SELECT 1")
            .execute(&self.revchain)
            .await
            .expect("SELECT 1");
        start.elapsed()
    }

    async fn close(self) {
        self.revchain.close().await;
        self.sqlx.close().await;
        drop(self.refinery);
        for db in self.dbs {
            db.drop().await;
        }
    }
}

/// The boot check: revchain across sizes (interleaved with itself, so that the size is the
/// only difference), then each size against the peers.
async fn boot_scenario(sizes: &[usize], runs: usize) {
    let mut boots = Vec::new();
    for &n in sizes {
        boots.push(boot_setup(n).await);
    }

    // revchain alone, all sizes interleaved.
    let mut warm: Vec<Vec<Duration>> = vec![Vec::new(); boots.len()];
    let mut cold: Vec<Vec<Duration>> = vec![Vec::new(); boots.len()];
    let order: Vec<usize> = (0..boots.len()).collect();
    for r in 0..runs {
        for k in rotated(&order, r) {
            warm[k].push(boots[k].warm(Tool::Revchain).await);
        }
    }
    for r in 0..runs {
        for k in rotated(&order, r) {
            cold[k].push(boots[k].cold(Some(Tool::Revchain)).await);
        }
    }
    let label = |k: usize| format!("revchain N={}", boots[k].n);
    let w = print_table(
        "[boot] revchain's up-to-date check by database size, run() on an existing warm pool \
         (sizes interleaved)",
        &order
            .iter()
            .map(|&k| (label(k), warm[k].clone()))
            .collect::<Vec<_>>(),
    );
    let c = print_table(
        "[boot] revchain's up-to-date check by database size, including a new connection",
        &order
            .iter()
            .map(|&k| (label(k), cold[k].clone()))
            .collect::<Vec<_>>(),
    );
    if boots.len() > 1 {
        let last = boots.len() - 1;
        println!(
            "  => revchain N={} / N={}: {:.2}x on a warm pool, {:.2}x with a new connection",
            boots[last].n,
            boots[0].n,
            w[last].as_secs_f64() / w[0].as_secs_f64(),
            c[last].as_secs_f64() / c[0].as_secs_f64()
        );
    }

    // A deploy that brings one new revision, on each size.
    let step_runs = (runs / 4).max(5);
    for b in &mut boots {
        let n = b.n;
        let mut step: Vec<Vec<Duration>> = vec![Vec::new(); BOOT_TOOLS.len()];
        for r in 0..step_runs {
            for k in rotated(&[0usize, 1, 2], r) {
                step[k].push(b.step(BOOT_TOOLS[k]).await);
            }
        }
        let m = print_table(
            &format!(
                "[step N={n}] a deploy that applies one new revision (the {n}th) on a warm \
                 pool/client"
            ),
            &BOOT_TOOLS
                .iter()
                .map(|t| t.label().to_owned())
                .zip(step)
                .collect::<Vec<_>>(),
        );
        println!(
            "  => sqlx / revchain = {:.2}x, refinery / revchain = {:.2}x",
            m[1].as_secs_f64() / m[0].as_secs_f64(),
            m[2].as_secs_f64() / m[0].as_secs_f64()
        );
    }

    // Each size against the peers.
    for b in &mut boots {
        let n = b.n;
        let mut warm: Vec<Vec<Duration>> = vec![Vec::new(); BOOT_TOOLS.len() + 1];
        for r in 0..runs {
            for k in rotated(&[0usize, 1, 2, 3], r) {
                let took = match BOOT_TOOLS.get(k) {
                    Some(&tool) => b.warm(tool).await,
                    None => b.floor().await,
                };
                warm[k].push(took);
            }
        }
        let mut cold: Vec<Vec<Duration>> = vec![Vec::new(); BOOT_TOOLS.len() + 1];
        for r in 0..runs {
            for k in rotated(&[0usize, 1, 2, 3], r) {
                cold[k].push(b.cold(BOOT_TOOLS.get(k).copied()).await);
            }
        }
        let rows = |v: Vec<Vec<Duration>>, extra: &str| -> Vec<(String, Vec<Duration>)> {
            let mut labels: Vec<String> = BOOT_TOOLS.iter().map(|t| t.label().to_owned()).collect();
            labels.push(extra.to_owned());
            labels.into_iter().zip(v).collect()
        };
        let m = print_table(
            &format!("[boot N={n}] up-to-date check, run() on an existing warm pool/client"),
            &rows(warm, "  floor: SELECT 1 on the pool"),
        );
        println!(
            "  => sqlx / revchain = {:.2}x, refinery / revchain = {:.2}x",
            m[1].as_secs_f64() / m[0].as_secs_f64(),
            m[2].as_secs_f64() / m[0].as_secs_f64()
        );
        let c = print_table(
            &format!(
                "[boot N={n}] up-to-date check including a new connection (new pool / client)"
            ),
            &rows(cold, "  connect alone (sqlx pool)"),
        );
        let connect = c[3].as_secs_f64();
        let deducted = if c[0].as_secs_f64() > connect {
            format!(
                "{:.2}x",
                (c[1].as_secs_f64() - connect) / (c[0].as_secs_f64() - connect)
            )
        } else {
            "n/a (revchain's check is lost in the connection's own spread)".to_owned()
        };
        println!(
            "  => sqlx / revchain = {:.2}x, refinery / revchain = {:.2}x; the connection \
             deducted: sqlx / revchain = {deducted}",
            c[1].as_secs_f64() / c[0].as_secs_f64(),
            c[2].as_secs_f64() / c[0].as_secs_f64(),
        );
    }
    for b in boots {
        b.close().await;
    }
}

struct Args {
    apply: usize,
    rounds: usize,
    boot: Vec<usize>,
    runs: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        apply: 1000,
        rounds: 7,
        boot: vec![10, 1000, 10_000],
        runs: 101,
        only: None,
    };
    for arg in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
        let (key, value) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        let number = || -> usize {
            value
                .parse()
                .unwrap_or_else(|_| panic!("`{arg}`: expected a number"))
        };
        match key {
            "apply" => a.apply = number(),
            "rounds" => a.rounds = number().max(1),
            "runs" => a.runs = number().max(1),
            "boot" => {
                a.boot = value
                    .split(',')
                    .map(|v| {
                        v.trim()
                            .parse()
                            .unwrap_or_else(|_| panic!("`{arg}`: expected numbers"))
                    })
                    .collect()
            }
            "only" => a.only = Some(value.to_owned()),
            _ => panic!(
                "unknown argument `{arg}`: use apply=N rounds=R boot=A,B,C runs=M \
                 only=inserts|ddl|boot"
            ),
        }
    }
    a
}

fn main() {
    let args = args();
    let wants = |s: &str| args.only.as_deref().is_none_or(|o| o == s);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let psql_ok = have_psql();
        println!(
            "revchain vs sqlx::migrate::Migrator 0.9 vs refinery 0.10 on {} (PostgreSQL {}); \
             psql {}",
            server_url(Kind::Postgres),
            server_version().await,
            if psql_ok { "found" } else { "not on PATH" }
        );
        if wants("inserts") {
            apply_scenario(Scenario::Inserts, args.apply, args.rounds, psql_ok).await;
        }
        if wants("ddl") {
            apply_scenario(Scenario::Ddl, args.apply, args.rounds, psql_ok).await;
        }
        if wants("boot") {
            boot_scenario(&args.boot, args.runs).await;
        }
    });
}

async fn server_version() -> String {
    let db = Db {
        name: "postgres".into(),
        url: format!("{}/postgres", server_url(Kind::Postgres)),
    };
    let pool = db.pool().await;
    let v: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await
        .unwrap_or_default();
    pool.close().await;
    v
}
