//! `revchain import --from alembic` (issue 16) on a real Alembic project (Alembic from PyPI,
//! in the venv `.ci/run` creates): a branched and merged history with two heads, a branch label, a
//! second base and a `depends_on`, imported through Alembic's offline mode, then upgraded
//! and downgraded by revchain on PostgreSQL and SQLite; the schema (and the rows the
//! revisions insert) must equal what Alembic's own online `alembic upgrade heads` gives on
//! another database. A revision whose offline SQL Alembic cannot produce is refused by name,
//! with Alembic's error, and nothing is written.
//!
//! `REVCHAIN_ALEMBIC_PYTHON` names the venv's python (default `target/alembic-venv`); the
//! PostgreSQL comparison also needs `psycopg2` in it (`.ci/run` installs it).

mod alembic_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use alembic_support::alembic_python;
use revchain_tests::{Kind, TestDb};

/// The revision files of the project: (file name, text).
const REVISIONS: [(&str, &str); 10] = [
    (
        "a1_users.py",
        r#""""create users

Revision ID: a1a1a1a1a1a1
Revises:
Create Date: 2024-01-02 03:04:05.123456

"""
from alembic import op
import sqlalchemy as sa

revision = 'a1a1a1a1a1a1'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(50), nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    )
    op.create_index('ix_users_name', 'users', ['name'], unique=True)


def downgrade():
    op.drop_index('ix_users_name', table_name='users')
    op.drop_table('users')
"#,
    ),
    (
        "b2_posts.py",
        r#""""add posts

Revision ID: b2b2b2b2b2b2
Revises: a1a1a1a1a1a1
Create Date: 2024-01-03 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'b2b2b2b2b2b2'
down_revision = 'a1a1a1a1a1a1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'posts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=False),
        sa.Column('title', sa.Text()),
    )
    op.execute("INSERT INTO users (id, name) VALUES (1, 'it''s me')")


def downgrade():
    op.execute("DELETE FROM users WHERE id = 1")
    op.drop_table('posts')
"#,
    ),
    (
        "c3_audit.py",
        r#""""create audit log

Revision ID: c3c3c3c3c3c3
Revises: a1a1a1a1a1a1
Create Date: 2024-01-04 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'c3c3c3c3c3c3'
down_revision = 'a1a1a1a1a1a1'
branch_labels = ('audit',)
depends_on = None


def upgrade():
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('what', sa.String(200)),
    )


def downgrade():
    op.drop_table('audit_log')
"#,
    ),
    (
        "d4_audit_at.py",
        r#""""audit log: when

Revision ID: d4d4d4d4d4d4
Revises: c3c3c3c3c3c3
Create Date: 2024-01-05 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'd4d4d4d4d4d4'
down_revision = 'c3c3c3c3c3c3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('audit_log', sa.Column('at', sa.DateTime(), nullable=True))
    op.create_index('ix_audit_at', 'audit_log', ['at'])


def downgrade():
    op.drop_index('ix_audit_at', table_name='audit_log')
    op.drop_column('audit_log', 'at')
"#,
    ),
    (
        "e5_merge.py",
        r#""""merge posts and audit

Revision ID: e5e5e5e5e5e5
Revises: b2b2b2b2b2b2, d4d4d4d4d4d4
Create Date: 2024-01-06 00:00:00

"""
revision = 'e5e5e5e5e5e5'
down_revision = ('b2b2b2b2b2b2', 'd4d4d4d4d4d4')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
"#,
    ),
    (
        "g7_settings.py",
        r#""""settings

Revision ID: g7g7g7g7g7g7
Revises:
Create Date: 2024-01-07 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'g7g7g7g7g7g7'
down_revision = None
branch_labels: tuple = (
    'settings',  # the second base
)
depends_on = None


def upgrade():
    t = op.create_table(
        'settings',
        sa.Column('key', sa.String(40), primary_key=True),
        sa.Column('value', sa.Text()),
    )
    op.bulk_insert(t, [{'key': 'theme', 'value': 'dark'}, {'key': 'lang', 'value': "l'en"}])


def downgrade():
    op.drop_table('settings')
"#,
    ),
    (
        "f6_theme.py",
        r#""""user theme

Revision ID: f6f6f6f6f6f6
Revises: e5e5e5e5e5e5
Create Date: 2024-01-08 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'f6f6f6f6f6f6'
down_revision = 'e5e5e5e5e5e5'
branch_labels = None
depends_on = 'g7g7g7g7g7g7'


def upgrade():
    op.add_column('users', sa.Column('theme', sa.String(40), nullable=True))


def downgrade():
    op.drop_column('users', 'theme')
"#,
    ),
    (
        "h8_concurrently.py",
        r#""""index posts concurrently

Revision ID: h8h8h8h8h8h8
Revises: f6f6f6f6f6f6
Create Date: 2024-01-09 00:00:00

"""
from alembic import op

revision = 'h8h8h8h8h8h8'
down_revision = 'f6f6f6f6f6f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index('ix_posts_title', 'posts', ['title'], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index('ix_posts_title', table_name='posts', postgresql_concurrently=True)
"#,
    ),
    (
        "j0_empty.py",
        r#""""nothing yet

Revision ID: j0j0j0j0j0j0
Revises: h8h8h8h8h8h8
Create Date: 2024-01-11 00:00:00

"""
revision = 'j0j0j0j0j0j0'
down_revision = 'h8h8h8h8h8h8'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
"#,
    ),
    (
        "k1_tags.py",
        r#""""tags, a second head

Revision ID: k1k1k1k1k1k1
Revises: f6f6f6f6f6f6
Create Date: 2024-01-12 00:00:00

"""
from alembic import op

revision = 'k1k1k1k1k1k1'
down_revision = 'f6f6f6f6f6f6'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE tags (name VARCHAR(20) PRIMARY KEY)")


def downgrade():
    op.execute("DROP TABLE tags")
"#,
    ),
];

/// Revisions whose offline SQL Alembic cannot produce, each after [`REVISIONS`]: one that
/// reads the database, one whose downgrade raises.
const WITHOUT_OFFLINE_SQL: [(&str, &str, &str); 2] = [
    (
        "upgrade",
        "i9_reflect.py",
        r#""""looks at the database

Revision ID: i9i9i9i9i9i9
Revises: h8h8h8h8h8h8
Create Date: 2024-01-10 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'i9i9i9i9i9i9'
down_revision = 'h8h8h8h8h8h8'
branch_labels = None
depends_on = None


def upgrade():
    if 'legacy' in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table('legacy')


def downgrade():
    pass
"#,
    ),
    (
        "downgrade",
        "i9_irreversible.py",
        r#""""drop the legacy table

Revision ID: i9i9i9i9i9i9
Revises: h8h8h8h8h8h8
Create Date: 2024-01-10 00:00:00

"""
from alembic import op

revision = 'i9i9i9i9i9i9'
down_revision = 'h8h8h8h8h8h8'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP TABLE IF EXISTS legacy")


def downgrade():
    raise NotImplementedError("the legacy table is gone for good")
"#,
    ),
];

/// An Alembic project (`alembic init`) whose `sqlalchemy.url` is `url`, with `revisions`;
/// its `env.py` takes `ALEMBIC_TEST_URL` instead when set (the online reference run).
fn project(python: &Path, url: &str, revisions: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let init = Command::new(python)
        .args(["-m", "alembic", "init", "alembic"])
        .current_dir(dir.path())
        .output()
        .expect("running alembic init");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let ini_path = dir.path().join("alembic.ini");
    let ini = std::fs::read_to_string(&ini_path).expect("alembic.ini");
    let ini: String = ini
        .lines()
        .map(|l| {
            if l.starts_with("sqlalchemy.url") {
                format!("sqlalchemy.url = {url}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&ini_path, ini).expect("writing alembic.ini");
    let env_path = dir.path().join("alembic/env.py");
    let env = std::fs::read_to_string(&env_path)
        .expect("env.py")
        .replacen(
            "config = context.config\n",
            "config = context.config\nimport os\nif os.environ.get('ALEMBIC_TEST_URL'):\n    \
         config.set_main_option('sqlalchemy.url', os.environ['ALEMBIC_TEST_URL'])\n",
            1,
        );
    std::fs::write(&env_path, env).expect("writing env.py");
    for (name, text) in revisions {
        std::fs::write(dir.path().join("alembic/versions").join(name), text)
            .expect("writing a revision");
    }
    dir
}

/// `--alembic-cmd`: the venv's python running Alembic, quoted as a shell would need it.
fn alembic_cmd(python: &Path) -> String {
    format!("'{}' -m alembic", python.display())
}

/// `revchain import --from alembic SOURCE` into a new directory; the error is its stderr.
fn import(source: &Path, python: &Path) -> Result<(tempfile::TempDir, PathBuf), String> {
    import_with(source, &alembic_cmd(python))
}

/// `import` through the command `alembic_cmd`; checks that a refusal writes nothing.
fn import_with(source: &Path, alembic_cmd: &str) -> Result<(tempfile::TempDir, PathBuf), String> {
    let out = tempfile::tempdir().expect("a temporary directory");
    let dir = out.path().join("migrations");
    let run = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(&dir)
        .args(["import", "--from", "alembic"])
        .arg(source)
        .args(["--alembic-cmd", alembic_cmd])
        .output()
        .expect("running revchain import");
    if !run.status.success() {
        assert!(
            !dir.exists() || std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()),
            "nothing is written when a revision cannot be converted"
        );
        return Err(String::from_utf8_lossy(&run.stderr).into_owned());
    }
    Ok((out, dir))
}

fn revchain(dir: &Path, url: &str, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_revchain-cli"))
        .arg("--dir")
        .arg(dir)
        .args(["--database-url", url])
        .args(args)
        .output()
        .expect("running revchain");
    assert!(
        out.status.success(),
        "revchain {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Alembic's own online `upgrade TARGET` on `url` (also what an adopt test needs: half the
/// history applied by Alembic).
fn alembic_upgrade(python: &Path, project: &Path, url: &str, target: &str) {
    let out = Command::new(python)
        .args(["-m", "alembic", "upgrade", target])
        .current_dir(project)
        .env("ALEMBIC_TEST_URL", url)
        .output()
        .expect("running alembic");
    assert!(
        out.status.success(),
        "alembic upgrade {target}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything the revisions made (tables, columns, defaults, indexes, constraints, rows),
/// without revchain's and Alembic's own tables, one line each.
async fn schema(db: &TestDb) -> Vec<String> {
    let queries: &[&str] = match db.kind {
        Kind::Postgres => &[
            "SELECT concat_ws(' ', table_name, column_name, data_type, \
             character_maximum_length, is_nullable, column_default) FROM \
             information_schema.columns WHERE table_schema = 'public' \
             AND table_name NOT LIKE 'revchain%' AND table_name <> 'alembic_version'",
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' \
             AND tablename NOT LIKE 'revchain%' AND tablename <> 'alembic_version'",
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = 'public'::regnamespace \
             AND conrelid::regclass::text NOT LIKE 'revchain%' \
             AND conrelid::regclass::text <> 'alembic_version'",
            ROWS[0],
            ROWS[1],
        ],
        _ => &[
            "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'revchain%' AND name NOT LIKE '%alembic_version%' \
             AND name NOT LIKE 'sqlite_%'",
            ROWS[0],
            ROWS[1],
        ],
    };
    let mut lines = Vec::new();
    for sql in queries {
        // Alembic's offline SQL has spaces where its online SQL has tabs (SQLite keeps the
        // text of each CREATE).
        let found = query_lines(db, sql).await;
        lines.extend(
            found
                .iter()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")),
        );
    }
    lines.sort();
    lines
}

/// The rows the revisions insert (none where their table is missing).
const ROWS: [&str; 2] = ["SELECT name FROM users", "SELECT value FROM settings"];

async fn query_lines(db: &TestDb, sql: &str) -> Vec<String> {
    let text = || sqlx::AssertSqlSafe(sql.to_owned());
    let result = match db.kind {
        Kind::Postgres => {
            sqlx::query_scalar::<sqlx::Postgres, String>(text())
                .fetch_all(&db.pool::<sqlx::Postgres>().await)
                .await
        }
        _ => {
            sqlx::query_scalar::<sqlx::Sqlite, String>(text())
                .fetch_all(&db.pool::<sqlx::Sqlite>().await)
                .await
        }
    };
    match result {
        Ok(lines) => lines,
        // A rows query without its table.
        Err(_) if ROWS.contains(&sql) => Vec::new(),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// The URL SQLAlchemy uses for a test database.
fn sqlalchemy_url(db: &TestDb) -> String {
    match db.kind {
        Kind::Postgres => db.url.replacen("postgres://", "postgresql+psycopg2://", 1),
        _ => {
            let path = db.url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap_or(path);
            format!("sqlite:///{path}")
        }
    }
}

/// The Alembic venv's python for a run on `kind`, or `None` (the test is skipped, said on
/// stderr) when the venv, or for PostgreSQL its psycopg2, is missing.
fn python_for(kind: Kind) -> Option<PathBuf> {
    let Some(python) = alembic_python() else {
        eprintln!("skipped: no Alembic venv (see .ci/run)");
        return None;
    };
    if kind == Kind::Postgres && !has_psycopg2(&python) {
        eprintln!("skipped: the Alembic venv has no psycopg2 (see .ci/run)");
        return None;
    }
    Some(python)
}

fn has_psycopg2(python: &Path) -> bool {
    let works = Command::new(python)
        .args(["-c", "import psycopg2"])
        .status()
        .is_ok_and(|s| s.success());
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        works || !in_ci,
        "CI=true but {} has no psycopg2 (.ci/run installs it)",
        python.display()
    );
    works
}

fn header_of(dir: &Path, id: &str) -> String {
    let entry = std::fs::read_dir(dir)
        .expect("the imported directory")
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(id))
        .unwrap_or_else(|| panic!("no file for {id} in {}", dir.display()));
    std::fs::read_to_string(entry.path()).expect("reading an imported revision")
}

/// Imports the project made for `kind`'s dialect, checks the graph it wrote, then compares
/// revchain's `upgrade heads` with Alembic's and checks `downgrade base` leaves nothing.
async fn imported_history_matches_alembic(python: &Path, kind: Kind) {
    let reference = TestDb::new(kind).await;
    let source = project(python, &sqlalchemy_url(&reference), &REVISIONS);
    let (_out, dir) = import(source.path(), python).unwrap_or_else(|e| panic!("{e}"));

    let merge = header_of(&dir, "e5e5e5e5e5e5");
    assert!(merge.starts_with("-- merge posts and audit\n"), "{merge}");
    assert!(
        merge.contains("-- Revises: b2b2b2b2b2b2, d4d4d4d4d4d4\n"),
        "{merge}"
    );
    let audit = header_of(&dir, "c3c3c3c3c3c3");
    assert!(audit.contains("-- Branch Labels: audit\n"), "{audit}");
    assert!(
        audit.contains("-- Create Date: 2024-01-04 00:00:00\n"),
        "{audit}"
    );
    // Inherited labels stay with the revision that declares them.
    assert!(!header_of(&dir, "d4d4d4d4d4d4").contains("Branch Labels"));
    assert!(header_of(&dir, "g7g7g7g7g7g7").contains("-- Branch Labels: settings\n"));
    let theme = header_of(&dir, "f6f6f6f6f6f6");
    assert!(theme.contains("-- Depends On: g7g7g7g7g7g7\n"), "{theme}");
    for text in [&merge, &audit, &theme] {
        assert!(
            !text.contains("alembic_version") && !text.contains("Running"),
            "{text}"
        );
    }
    // An `upgrade()` that emits no SQL: an empty upgrade section, which the `imported from` line allows.
    let empty = header_of(&dir, "j0j0j0j0j0j0");
    assert!(
        empty.contains("-- imported from alembic (alembic/versions/"),
        "{empty}"
    );
    assert!(empty.contains("-- migrate:upgrade\n"), "{empty}");
    // Alembic's `autocommit_block()`: its COMMIT/BEGIN go, the revision runs outside a
    // transaction.
    let concurrently = header_of(&dir, "h8h8h8h8h8h8");
    assert!(!concurrently.contains("COMMIT") && !concurrently.contains("BEGIN"));
    assert_eq!(
        concurrently.contains("-- Transactional: false\n"),
        kind == Kind::Postgres,
        "{concurrently}"
    );

    alembic_upgrade(python, source.path(), &sqlalchemy_url(&reference), "heads");
    let expected = schema(&reference).await;
    assert!(
        expected.iter().any(|l| l.contains("it's me")),
        "{expected:?}"
    );

    let db = TestDb::new(kind).await;
    revchain(&dir, &db.url, &["upgrade", "heads"]);
    assert_eq!(
        schema(&db).await,
        expected,
        "{kind:?}: revchain upgrade heads vs Alembic"
    );
    revchain(&dir, &db.url, &["downgrade", "base"]);
    assert_eq!(
        schema(&db).await,
        Vec::<String>::new(),
        "{kind:?}: downgrade base"
    );
    revchain(&dir, &db.url, &["upgrade", "settings@head"]);
    let settings_only = schema(&db).await;
    assert!(
        settings_only.iter().any(|l| l == "dark")
            && !settings_only.iter().any(|l| l.contains("users")),
        "{kind:?}: `settings@head` is the second base alone: {settings_only:?}"
    );
    revchain(&dir, &db.url, &["upgrade", "heads"]);
    assert_eq!(
        schema(&db).await,
        expected,
        "{kind:?}: by the label, then the rest"
    );
}

#[tokio::test]
async fn alembic_history_on_sqlite() {
    let Some(python) = python_for(Kind::Sqlite) else {
        return;
    };
    imported_history_matches_alembic(&python, Kind::Sqlite).await;
}

#[tokio::test]
async fn alembic_history_on_postgres() {
    let Some(python) = python_for(Kind::Postgres) else {
        return;
    };
    imported_history_matches_alembic(&python, Kind::Postgres).await;
}

#[test]
fn a_revision_without_offline_sql_is_refused_by_name() {
    let Some(python) = alembic_python() else {
        eprintln!("skipped: no Alembic venv (see .ci/run)");
        return;
    };
    for (direction, name, text) in WITHOUT_OFFLINE_SQL {
        let mut revisions = REVISIONS.to_vec();
        revisions.push((name, text));
        let source = project(
            &python,
            "postgresql+psycopg2://localhost/nowhere",
            &revisions,
        );
        let err = import(source.path(), &python).expect_err("a revision without offline SQL");
        assert!(
            err.contains(&format!("offline {direction} SQL of revision i9i9i9i9i9i9")),
            "{err}"
        );
        assert!(err.contains(name), "{err}");
        // Alembic's own error, from its stderr.
        let alembic_error = match direction {
            "upgrade" => "NoInspectionAvailable",
            _ => "the legacy table is gone for good",
        };
        assert!(err.contains(alembic_error), "{err}");
    }

    let source = project(&python, "sqlite:///nowhere.db", &REVISIONS);
    let err = import_with(source.path(), "'/no/such/alembic'")
        .map(|_| ())
        .expect_err("a command that does not run");
    assert!(
        err.contains("cannot run `'/no/such/alembic' history --verbose`"),
        "{err}"
    );
}

/// Real Alembic migrates half the history (up to the merge); `revchain adopt --from alembic`
/// takes the database over; revchain applies the rest. The schema equals Alembic's whole
/// history's, and `alembic_version` is left as Alembic wrote it.
async fn adopted_after_alembic(python: &Path, kind: Kind) {
    let reference = TestDb::new(kind).await;
    let source = project(python, &sqlalchemy_url(&reference), &REVISIONS);
    let (_out, dir) = import(source.path(), python).unwrap_or_else(|e| panic!("{e}"));
    alembic_upgrade(python, source.path(), &sqlalchemy_url(&reference), "heads");
    let expected = schema(&reference).await;

    let db = TestDb::new(kind).await;
    alembic_upgrade(python, source.path(), &sqlalchemy_url(&db), "e5e5e5e5e5e5");
    let alembic_rows = "SELECT version_num FROM alembic_version ORDER BY 1";
    let before = query_lines(&db, alembic_rows).await;
    assert_eq!(before, ["e5e5e5e5e5e5"], "{kind:?}: Alembic's half");
    revchain(&dir, &db.url, &["adopt", "--from", "alembic"]);
    revchain(&dir, &db.url, &["upgrade", "heads"]);
    assert_eq!(
        schema(&db).await,
        expected,
        "{kind:?}: Alembic's half, adopted, then revchain's"
    );
    assert_eq!(
        query_lines(&db, alembic_rows).await,
        before,
        "{kind:?}: alembic_version is left as it was"
    );
}

#[tokio::test]
async fn adopt_a_database_alembic_migrated_on_sqlite() {
    let Some(python) = python_for(Kind::Sqlite) else {
        return;
    };
    adopted_after_alembic(&python, Kind::Sqlite).await;
}

#[tokio::test]
async fn adopt_a_database_alembic_migrated_on_postgres() {
    let Some(python) = python_for(Kind::Postgres) else {
        return;
    };
    adopted_after_alembic(&python, Kind::Postgres).await;
}
