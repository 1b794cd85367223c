//! Flyway: versioned `V<version>__<description>.sql` and their undo scripts
//! `U<version>__<description>.sql`; repeatable `R__` migrations cannot be carried over yet.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Migration, Read, Sql};

const EXPECTED: &str = "`V<version>__<description>.sql` (undo: `U<version>__…`), the version digits separated by `.` or `_`";

enum Kind {
    Versioned,
    Undo,
    Repeatable,
}

/// Flyway's migrations in `dir` (its top level).
pub(crate) fn read(dir: &Path) -> Read {
    let mut migrations: Vec<Migration> = Vec::new();
    let mut undos = Vec::new();
    let mut errors = Vec::new();
    for file in match source::files_under(dir) {
        Ok(files) => files,
        Err(e) => return Read::failed(e),
    } {
        if !file.ends_with(".sql") {
            continue;
        }
        let result = match name(source::base_name(&file)) {
            Some((Kind::Repeatable, ..)) => {
                Err(ImportError::new(&file, None, ImportErrorKind::Repeatable))
            }
            Some((kind, version, desc)) => sql(dir, &file).map(|sql| match kind {
                Kind::Undo => undos.push((version, sql)),
                _ => migrations.push(Migration {
                    version,
                    name: source::words(&desc),
                    up: sql,
                    down: None,
                    transactional: true,
                }),
            }),
            None => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::UnrecognisedName {
                    tool: "flyway",
                    expected: EXPECTED,
                },
            )),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    for (version, undo) in undos {
        match migrations.iter_mut().find(|m| m.version == version) {
            Some(m) => m.down = Some(undo),
            None => errors.push(ImportError::new(
                undo.file,
                None,
                ImportErrorKind::DownWithoutUp,
            )),
        }
    }
    Read { migrations, errors }
}

/// The text of a script, refused when it uses a placeholder (`${name}`), which Flyway
/// replaces and revchain would not.
fn sql(dir: &Path, file: &str) -> Result<Sql, ImportError> {
    let text = source::read(dir, file)?;
    if let Some(line) = source::lines(&text).iter().find(|l| l.text.contains("${")) {
        let what = "a Flyway placeholder (`${…}`), which Flyway replaces before running the script; revchain runs SQL as written: replace it with its value".to_owned();
        return Err(ImportError::new(
            file,
            Some(line.number),
            ImportErrorKind::Unsupported(what),
        ));
    }
    Ok(Sql {
        text,
        file: file.to_owned(),
        line: 1,
    })
}

/// The kind, version (as Flyway records it: `_` read as `.`) and description of a file name.
fn name(file: &str) -> Option<(Kind, String, String)> {
    let stem = file.strip_suffix(".sql")?;
    if let Some(desc) = stem.strip_prefix("R__") {
        return Some((Kind::Repeatable, String::new(), desc.to_owned()));
    }
    let (kind, rest) = match stem.split_at_checked(1)? {
        ("V", rest) => (Kind::Versioned, rest),
        ("U", rest) => (Kind::Undo, rest),
        _ => return None,
    };
    let (version, desc) = rest.split_once("__").unwrap_or((rest, ""));
    let version = version.replace('_', ".");
    let valid = version
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    valid.then(|| (kind, version, desc.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_undos_and_refuses_repeatables() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("V1__create_users.sql"),
            "CREATE TABLE users (id INT);\n",
        )
        .unwrap();
        std::fs::write(p.join("U1__create_users.sql"), "DROP TABLE users;\n").unwrap();
        std::fs::write(
            p.join("V1_1__add_name.sql"),
            "ALTER TABLE users ADD name TEXT;\n",
        )
        .unwrap();
        let ms = read(p).unwrap();
        let v: Vec<&str> = ms.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(v, ["1.1", "1"]);
        assert_eq!(ms[1].down.as_ref().unwrap().text, "DROP TABLE users;\n");
        std::fs::write(p.join("R__views.sql"), "CREATE VIEW v AS SELECT 1;\n").unwrap();
        std::fs::write(p.join("V2__p.sql"), "SELECT 1;\nSELECT '${schema}';\n").unwrap();
        std::fs::write(p.join("Vx__bad.sql"), "").unwrap();
        let errors = read(p).unwrap_err();
        let got: Vec<(&str, Option<usize>)> =
            errors.iter().map(|e| (e.file.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("R__views.sql", None),
                ("V2__p.sql", Some(2)),
                ("Vx__bad.sql", None)
            ]
        );
    }
}
