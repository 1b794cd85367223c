//! A Rust code revision runs inside a `revchain_revision` span (docs/design.md §4.11).
//!
//! Alone in its own test binary: `tracing` caches each callsite's interest across the
//! threads of a process, so a test that installs a thread-scoped subscriber while other
//! tests run the same revision on other threads could miss its events.

use revchain::Migrations;
use revchain_tests::{Kind, TestDb};

static CODE_SQLITE: Migrations = revchain::migrations!("fixtures/code_sqlite");

/// A writer the test reads back: what the `tracing` subscriber printed.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The function runs inside a `revchain_revision` span that names the revision, its file
/// and the direction: a backfill's progress events carry them.
#[tokio::test]
async fn code_revisions_run_inside_a_span_naming_the_revision() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let db = TestDb::new(Kind::Sqlite).await;
    let pool: sqlx::SqlitePool = db.pool().await;
    CODE_SQLITE.run(&pool).await.unwrap();
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains("lower-casing the email"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains(
            "revchain_revision{revision=\"c3d4e5f6a7b8\" path=\"fixtures/code_sqlite/c3d4e5f6a7b8_backfill_emails.rs\" direction=upgrade}"
        ),
        "{line}"
    );
}
