//! MySQL and MariaDB: the template database is built under `GET_LOCK` and marked complete
//! by a last table (`revchain_template_complete`); each test database gets a copy of its
//! objects on one connection: tables (`SHOW CREATE TABLE`, then `INSERT … SELECT`, the
//! bookkeeping rows included), routines, views and triggers. Events and sequences are not
//! copied. Measured against migrating each database and against `mariadb-dump | mariadb`:
//! see the module documentation of [`crate::testing`].

use sqlx::{AssertSqlSafe, Row};

use super::*;

/// The table that marks a template as complete (never copied).
const COMPLETE: &str = "revchain_template_complete";

fn db_error(s: &Scratches, name: &str) -> impl Fn(sqlx::Error) -> Error {
    let server = redact(s.url());
    let name = name.to_owned();
    move |e| Error::Create {
        name: name.clone(),
        server: server.clone(),
        message: crate::error::driver_message(&e),
    }
}

fn admin(pool: &AnyPool) -> Option<&sqlx::MySqlPool> {
    match pool {
        AnyPool::MySql(p) => Some(p),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

async fn complete(p: &sqlx::MySqlPool, template: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    )
    .bind(template)
    .bind(COMPLETE)
    .fetch_one(p)
    .await?;
    Ok(n > 0)
}

pub(super) async fn make(
    s: &Scratches,
    m: &Migrations,
    template: &str,
    name: &str,
) -> Result<Made, Error> {
    let admin_pool = s.open(None, 1).await?;
    let result = async {
        let p = admin(&admin_pool).ok_or(Error::NoUrl)?;
        let built = ensure(s, p, m, template).await?;
        let sql = format!("CREATE DATABASE {name}");
        s.create_database_with(name, &sql)
            .await
            .map_err(naming(name))?;
        copy(p, template, name).await.map_err(db_error(s, name))?;
        Ok::<_, Error>(built)
    }
    .await;
    admin_pool.close().await;
    let built = result?;
    let pool = s.open(Some(name), 5).await?;
    Ok((pool, with_database(s.url(), name), built))
}

/// Builds the template unless it is complete; `Some(duration)` when this call built it.
async fn ensure(
    s: &Scratches,
    p: &sqlx::MySqlPool,
    m: &Migrations,
    template: &str,
) -> Result<Option<Duration>, Error> {
    let fail = db_error(s, template);
    if complete(p, template).await.map_err(&fail)? {
        return Ok(None);
    }
    let start = Instant::now();
    // The pool has one connection: the lock is its session's, released when it closes.
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 600)")
        .bind(template)
        .fetch_one(p)
        .await
        .map_err(&fail)?;
    if got != Some(1) {
        return Err(Error::Create {
            name: template.to_owned(),
            server: redact(s.url()),
            message: "waited 600 s for another process building the template".into(),
        });
    }
    let built = build(s, p, m, template).await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(template)
        .execute(p)
        .await;
    Ok(built?.then(|| start.elapsed()))
}

/// Under the lock: (re)builds the template, marking it complete at the end.
async fn build(
    s: &Scratches,
    p: &sqlx::MySqlPool,
    m: &Migrations,
    template: &str,
) -> Result<bool, Error> {
    let fail = db_error(s, template);
    if complete(p, template).await.map_err(&fail)? {
        return Ok(false);
    }
    // A half-built template of a process killed while building: never used, rebuilt.
    let _ = s.drop_database(template).await;
    let sql = format!("CREATE DATABASE {template}");
    s.create_database_with(template, &sql)
        .await
        .map_err(naming(template))?;
    let pool = s.open(Some(template), 2).await?;
    let migrated = migrate(&pool, m, template).await;
    pool.close().await;
    migrated?;
    let mark = format!("CREATE TABLE {template}.{COMPLETE} (built_at TIMESTAMP)");
    sqlx::raw_sql(AssertSqlSafe(mark))
        .execute(p)
        .await
        .map_err(&fail)?;
    s.forget(template);
    Ok(true)
}

/// The `SHOW CREATE …` text (column `column`) of one object of the current database.
async fn show_create(
    c: &mut sqlx::MySqlConnection,
    what: &str,
    object: &str,
    column: usize,
) -> Result<String, sqlx::Error> {
    let sql = format!("SHOW CREATE {what} `{}`", object.replace('`', "``"));
    let row = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_one(&mut *c).await?;
    row.try_get::<String, _>(column)
}

/// The objects of the template as statements, in creation order, and the tables to fill.
struct Objects {
    tables: Vec<(String, String, Vec<String>)>,
    later: Vec<String>,
    views: Vec<String>,
    triggers: Vec<String>,
}

async fn names(
    c: &mut sqlx::MySqlConnection,
    sql: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
        .collect()
}

/// Reads the objects (the connection's current database is the template).
async fn read(c: &mut sqlx::MySqlConnection) -> Result<Objects, sqlx::Error> {
    let mut o = Objects {
        tables: Vec::new(),
        later: Vec::new(),
        views: Vec::new(),
        triggers: Vec::new(),
    };
    let all = "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
               WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME";
    for (t, kind) in names(c, all).await? {
        if t == COMPLETE {
            continue;
        }
        if kind == "VIEW" {
            o.views.push(show_create(c, "VIEW", &t, 1).await?);
            continue;
        }
        let ddl = show_create(c, "TABLE", &t, 1).await?;
        let cols = format!(
            "SELECT COLUMN_NAME, '' FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = \
             DATABASE() AND TABLE_NAME = '{}' AND EXTRA NOT LIKE '%VIRTUAL GENERATED%' AND \
             EXTRA NOT LIKE '%STORED GENERATED%' ORDER BY ORDINAL_POSITION",
            t.replace('\'', "''")
        );
        let cols = names(c, &cols).await?.into_iter().map(|(n, _)| n).collect();
        o.tables.push((t, ddl, cols));
    }
    let routines = "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
                    WHERE ROUTINE_SCHEMA = DATABASE()";
    for (r, kind) in names(c, routines).await? {
        o.later.push(show_create(c, &kind, &r, 2).await?);
    }
    let triggers = "SELECT TRIGGER_NAME, '' FROM information_schema.TRIGGERS \
                    WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER";
    for (t, _) in names(c, triggers).await? {
        o.triggers.push(show_create(c, "TRIGGER", &t, 2).await?);
    }
    Ok(o)
}

async fn exec(c: &mut sqlx::MySqlConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *c)
        .await
        .map(|_| ())
}

/// Copies the template's objects and rows into `to`.
async fn copy(p: &sqlx::MySqlPool, template: &str, to: &str) -> Result<(), sqlx::Error> {
    let mut c = p.acquire().await?;
    exec(&mut c, format!("USE {template}")).await?;
    let o = read(&mut c).await?;
    exec(&mut c, format!("USE {to}")).await?;
    exec(&mut c, "SET FOREIGN_KEY_CHECKS = 0".into()).await?;
    let filled = fill(&mut c, &o, template).await;
    let _ = exec(&mut c, "SET FOREIGN_KEY_CHECKS = 1".into()).await;
    filled?;
    create_views(&mut c, o.views).await?;
    for t in o.triggers {
        exec(&mut c, t).await?;
    }
    Ok(())
}

async fn fill(
    c: &mut sqlx::MySqlConnection,
    o: &Objects,
    template: &str,
) -> Result<(), sqlx::Error> {
    for (t, ddl, cols) in &o.tables {
        exec(c, ddl.clone()).await?;
        let cols = cols
            .iter()
            .map(|n| format!("`{}`", n.replace('`', "``")))
            .collect::<Vec<_>>()
            .join(", ");
        let t = t.replace('`', "``");
        exec(
            c,
            format!("INSERT INTO `{t}` ({cols}) SELECT {cols} FROM {template}.`{t}`"),
        )
        .await?;
    }
    for r in &o.later {
        exec(c, r.clone()).await?;
    }
    Ok(())
}

/// Views in an order that works: each round creates those whose views exist, until none
/// is left (or a round makes no progress: its last error).
async fn create_views(
    c: &mut sqlx::MySqlConnection,
    mut views: Vec<String>,
) -> Result<(), sqlx::Error> {
    while !views.is_empty() {
        let before = views.len();
        let mut failed = Vec::new();
        let mut last = None;
        for v in views {
            if let Err(e) = exec(c, v.clone()).await {
                failed.push(v);
                last = Some(e);
            }
        }
        if let Some(e) = last.filter(|_| failed.len() == before) {
            return Err(e);
        }
        views = failed;
    }
    Ok(())
}
