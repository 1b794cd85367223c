//! goose: `<version>_<name>.sql` with `-- +goose Up` and `-- +goose Down` sections,
//! `-- +goose StatementBegin` / `StatementEnd` around statements that hold semicolons, and
//! `-- +goose NO TRANSACTION`; `.go` migrations are code and cannot be carried over.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Line, Migration, Read};

const EXPECTED: &str = "`<version>_<name>.sql`, the version an integer";

/// goose's migrations in `dir`.
pub(crate) fn read(dir: &Path) -> Read {
    let mut migrations = Vec::new();
    let mut errors = Vec::new();
    for (file, is_dir) in match source::entries(dir) {
        Ok(entries) => entries,
        Err(e) => return Read::failed(e),
    } {
        if is_dir || !(file.ends_with(".sql") || file.ends_with(".go")) {
            continue;
        }
        let result = match name(&file) {
            Some(_) if file.ends_with(".go") => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::CodeMigration {
                    tool: "goose",
                    language: "Go",
                },
            )),
            Some((version, title)) => {
                source::read(dir, &file).and_then(|text| migration(&file, &text, version, &title))
            }
            None if file.ends_with(".go") => continue,
            None => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::UnrecognisedName {
                    tool: "goose",
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

fn name(file: &str) -> Option<(i64, String)> {
    let stem = file
        .strip_suffix(".sql")
        .or_else(|| file.strip_suffix(".go"))?;
    let (version, title) = stem.split_once('_')?;
    Some((version.parse().ok()?, title.to_owned()))
}

/// The annotation of a `-- +goose <annotation>` line.
fn annotation<'a>(line: &Line<'a>) -> Option<&'a str> {
    let rest = line.text.trim().strip_prefix("--")?.trim_start();
    rest.strip_prefix("+goose").map(str::trim)
}

fn migration(file: &str, text: &str, version: i64, title: &str) -> Result<Migration, ImportError> {
    let lines = source::lines(text);
    let mut up = None;
    let mut down = None;
    let mut transactional = true;
    let error = |line: usize, kind: ImportErrorKind| ImportError::new(file, Some(line), kind);
    for line in &lines {
        let Some(a) = annotation(line) else {
            let sql_before_up = up.is_none()
                && !line.text.trim().is_empty()
                && !line.text.trim_start().starts_with("--");
            if sql_before_up {
                let what = "SQL before `-- +goose Up`; goose reads nothing there".to_owned();
                return Err(error(line.number, ImportErrorKind::Malformed(what)));
            }
            continue;
        };
        match a.to_ascii_uppercase().as_str() {
            "UP" if up.is_none() => up = Some(*line),
            "DOWN" if up.is_some() && down.is_none() => down = Some(*line),
            "NO TRANSACTION" => transactional = false,
            "STATEMENTBEGIN" | "STATEMENTEND" => {}
            "UP" | "DOWN" => {
                let what = "goose expects one `-- +goose Up`, then at most one `-- +goose Down`"
                    .to_owned();
                return Err(error(line.number, ImportErrorKind::Malformed(what)));
            }
            _ => {
                let what = format!(
                    "`-- +goose {a}` cannot be carried over: revchain runs the SQL as written (no environment substitution)"
                );
                return Err(error(line.number, ImportErrorKind::Unsupported(what)));
            }
        }
    }
    let Some(up) = up else {
        let what = "no `-- +goose Up` line; goose needs one".to_owned();
        return Err(ImportError::new(
            file,
            None,
            ImportErrorKind::Malformed(what),
        ));
    };
    Ok(Migration {
        version: version.to_string(),
        name: source::words(title),
        up: source::between(text, file, &up, down.as_ref()),
        down: down.map(|d| source::between(text, file, &d, None)),
        transactional,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections_and_annotations() {
        let text = "-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n";
        let m = migration("20240101000000_f.sql", text, 20240101000000, "f").unwrap();
        assert!(!m.transactional);
        assert_eq!(m.up.line, 3);
        assert!(
            m.up.text
                .starts_with("-- +goose StatementBegin\nCREATE FUNCTION")
        );
        assert_eq!(m.down.unwrap().text, "DROP FUNCTION f();\n");
    }

    #[test]
    fn refuses_go_envsub_and_missing_up() {
        let e = migration(
            "1_a.sql",
            "-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${X}';\n",
            1,
            "a",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = migration("1_a.sql", "SELECT 1;\n", 1, "a").unwrap_err();
        assert_eq!(e.line, Some(1));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("00002_code.go"), "package migrations").unwrap();
        std::fs::write(dir.path().join("main.go"), "package main").unwrap();
        let errors = read(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, "00002_code.go");
    }
}
