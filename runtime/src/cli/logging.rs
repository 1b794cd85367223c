//! The CLI's logs: everything logged (revchain's events, sqlx's, the application's) goes
//! to stderr through [`LogWriter`], which removes the secrets of the database URL and
//! redacts every URL in each line before it is written.

use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use crate::url::Redactor;

/// The secrets every log line is scrubbed of: those of each URL given to
/// [`redact_in_logs`].
fn secrets() -> &'static Mutex<Redactor> {
    static SECRETS: OnceLock<Mutex<Redactor>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Redactor::default()))
}

/// Removes the secrets of `url` (its password, raw and percent-decoded, and `password`-like
/// query parameters) from every line [`LogWriter`] writes from now on. [`run`](super::run)
/// and [`run_on_dir`](super::run_on_dir) call it with `--database-url`; an application that
/// logs through [`LogWriter`] calls it with its own URL.
pub fn redact_in_logs(url: &str) {
    secrets()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(Redactor::for_url(url));
}

/// A `tracing_subscriber` writer to stderr that scrubs each log line (see
/// [`redact_in_logs`]) and redacts every URL in it ([`crate::url::redact_urls_in`]):
/// `tracing_subscriber::fmt().with_writer(revchain::cli::LogWriter)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log line being written: buffered, then scrubbed and written to stderr when dropped.
#[derive(Debug, Default)]
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.0);
        let clean = secrets()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .scrub_message(&text);
        let _ = io::stderr().lock().write_all(clean.as_bytes());
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine::default()
    }
}

/// The `tracing` filter of [`init_logging`] without `RUST_LOG`.
pub const DEFAULT_FILTER: &str = "warn,revchain=info,[revchain_revision]=info,sqlx=off";

/// Logs to stderr through [`LogWriter`] (in colour only on a terminal, and not when
/// `NO_COLOR` is set): `revchain` events at
/// `info`, and those of a Rust code revision (inside its `revchain_revision` span: a
/// backfill's progress), everything else at `warn`, unless `RUST_LOG` says otherwise. sqlx logs statement
/// text only at `trace` on the pools revchain builds ([`crate::quiet_statements`]), and
/// sqlx's own events (PostgreSQL notices, pool warnings) are off by default, so none of
/// sqlx's lines reach the terminal unless `RUST_LOG` asks for them. Does nothing if a subscriber is already installed.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Whether stderr takes colour: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn colour_on_stderr() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `error`, in bold red when stderr takes colour (as clap writes it).
pub(crate) fn error_label() -> &'static str {
    if colour_on_stderr() {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    }
}
