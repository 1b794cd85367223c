//! dbmate: `<version>_<name>.sql` holding `-- migrate:up` and `-- migrate:down` sections;
//! `transaction:false` after a marker runs the migration outside a transaction.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Line, Migration, Read};
use crate::split::{Dialect, has_statement};

const EXPECTED: &str = "`<version>_<name>.sql`, the version made of digits";

/// dbmate's migrations in `dir`.
pub(crate) fn read(dir: &Path) -> Read {
    let mut migrations = Vec::new();
    let mut errors = Vec::new();
    for (file, is_dir) in match source::entries(dir) {
        Ok(entries) => entries,
        Err(e) => return Read::failed(e),
    } {
        if is_dir || !file.ends_with(".sql") {
            continue;
        }
        let result = match name(&file) {
            Some((version, title)) => {
                source::read(dir, &file).and_then(|text| migration(&file, &text, version, title))
            }
            None => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::UnrecognisedName {
                    tool: "dbmate",
                    expected: EXPECTED,
                },
            )),
        };
        match result {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    Read { migrations, errors }
}

fn name(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".sql")?;
    let (version, title) = stem.split_once('_').unwrap_or((stem, ""));
    let digits = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
    digits.then_some((version, title))
}

/// A `-- migrate:up` or `-- migrate:down` line: (is up, its options).
fn marker<'a>(line: &Line<'a>) -> Option<(bool, &'a str)> {
    let rest = line.text.trim_start().strip_prefix("--")?.trim_start();
    if let Some(options) = rest.strip_prefix("migrate:up") {
        return Some((true, options));
    }
    rest.strip_prefix("migrate:down")
        .map(|options| (false, options))
}

fn migration(file: &str, text: &str, version: &str, title: &str) -> Result<Migration, ImportError> {
    let lines = source::lines(text);
    let markers: Vec<(Line<'_>, bool, &str)> = lines
        .iter()
        .filter_map(|l| marker(l).map(|(up, opts)| (*l, up, opts)))
        .collect();
    let malformed = |line: Option<usize>, what: &str| {
        ImportError::new(file, line, ImportErrorKind::Malformed(what.to_owned()))
    };
    let (up, down) = match markers.as_slice() {
        [(u, true, uo)] => ((u, *uo), None),
        [(u, true, uo), (d, false, dopts)] => ((u, *uo), Some((d, *dopts))),
        [] => return Err(malformed(None, "no `-- migrate:up` line; dbmate needs one")),
        [.., (l, _, _)] => {
            return Err(malformed(
                Some(l.number),
                "dbmate expects one `-- migrate:up` line, then at most one `-- migrate:down` line",
            ));
        }
    };
    let transactional = transaction(file, up.0, up.1)?;
    let down_sql = down.map(|d| source::between(text, file, d.0, None));
    let down_runs = down_sql
        .as_ref()
        .is_some_and(|d| has_statement(&d.text, Dialect::Generic));
    if let Some((d, opts)) = down
        && transaction(file, d, opts)? != transactional
        && down_runs
    {
        let what = "`transaction:false` on one section only; a revision runs both ways inside a transaction or both outside";
        return Err(malformed(Some(d.number), what));
    }
    Ok(Migration {
        version: version.to_owned(),
        name: source::words(title),
        up: source::between(text, file, up.0, down.map(|d| d.0)),
        down: down_sql,
        transactional,
    })
}

/// The `transaction:` option of a marker (default `true`).
fn transaction(file: &str, line: &Line<'_>, options: &str) -> Result<bool, ImportError> {
    let mut transactional = true;
    for option in options.split_whitespace() {
        transactional = match option {
            "transaction:false" => false,
            "transaction:true" => true,
            other => {
                let what = format!(
                    "unknown dbmate option `{other}`; revchain carries over `transaction:false` only"
                );
                return Err(ImportError::new(
                    file,
                    Some(line.number),
                    ImportErrorKind::Unsupported(what),
                ));
            }
        };
    }
    Ok(transactional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sections_and_reads_options() {
        let text = "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n-- migrate:down transaction:false\nDROP INDEX i;\n";
        let m = migration("20240101000000_i.sql", text, "20240101000000", "i").unwrap();
        assert!(!m.transactional);
        assert_eq!(m.up.text, "CREATE INDEX CONCURRENTLY i ON t (a);\n\n");
        assert_eq!(m.up.line, 2);
        assert_eq!(m.down.as_ref().unwrap().text, "DROP INDEX i;\n");
        assert_eq!(m.down.unwrap().line, 5);
        let text =
            "-- migrate:up transaction:false\nALTER TYPE e ADD VALUE 'b';\n-- migrate:down\n";
        assert!(!migration("1_e.sql", text, "1", "e").unwrap().transactional);
    }

    #[test]
    fn refuses_missing_or_misplaced_markers() {
        let e = migration("1_a.sql", "SELECT 1;\n", "1", "a").unwrap_err();
        assert_eq!(e.line, None);
        let e = migration("1_a.sql", "-- migrate:down\n\n-- migrate:up\n", "1", "a").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e = migration(
            "1_a.sql",
            "-- migrate:up transaction:false\nSELECT 1;\n-- migrate:down\nSELECT 2;\n",
            "1",
            "a",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(name("abc_x.sql").is_none());
    }
}
