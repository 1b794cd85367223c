//! Writing revision files in the migrations directory, for the tool's `revision` and
//! `merge`.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use revchain_core::Graph;
use revchain_core::code;
use revchain_core::writer::{self, NewRevision};

use super::CliError;

/// The id of a new revision in `dir`: `rev_id` when given (and free), else a generated one.
pub(crate) fn new_id(
    dir: &Path,
    graph: &Graph,
    rev_id: Option<&str>,
    message: &str,
) -> Result<String, CliError> {
    if let Some(id) = rev_id {
        graph.check_new_id(id).map_err(CliError::from_display)?;
        return Ok(id.to_owned());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let entropy = format!(
        "{}:{}:{}:{message}",
        now.as_nanos(),
        std::process::id(),
        dir.display()
    );
    Ok(writer::generate_id(entropy.as_bytes(), |candidate| {
        graph.find(candidate).is_some()
    }))
}

/// Writes `revision` as a new file in `dir` (never over an existing one).
pub(crate) fn write_revision(dir: &Path, revision: &NewRevision) -> Result<String, CliError> {
    let text = writer::render(revision).map_err(CliError::from_display)?;
    create(
        &dir.join(writer::file_name(&revision.id, &revision.message)),
        &text,
    )
}

/// Writes `revision` as a new Rust code revision in `dir` whose functions take
/// `connection` (docs/design.md §1.7).
pub(crate) fn write_rust_revision(
    dir: &Path,
    revision: &NewRevision,
    connection: &str,
) -> Result<String, CliError> {
    let text = code::render_rust(revision, connection).map_err(CliError::from_display)?;
    create(
        &dir.join(code::file_name(&revision.id, &revision.message)),
        &text,
    )
}

/// Creates the file at `path` with `text` (never over an existing one).
fn create(path: &Path, text: &str) -> Result<String, CliError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| CliError::user(format!("{}: cannot create it: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| CliError::user(format!("{}: cannot write it: {e}", path.display())))?;
    Ok(format!("Generating {} ...  done\n", path.display()))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+00:00` in UTC, as Alembic writes `Create Date`.
pub(crate) fn create_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(create_date(UNIX_EPOCH), "1970-01-01 00:00:00.000000+00:00");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_514_400_123_456);
        assert_eq!(create_date(t), "2026-11-24 10:00:00.123456+00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(create_date(leap), "2000-02-29 00:00:00.000000+00:00");
    }
}
