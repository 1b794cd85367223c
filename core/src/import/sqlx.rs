//! sqlx: `<version>_<description>.sql`, or reversible `<version>_<description>.up.sql` and
//! `.down.sql`; a file starting with `-- no-transaction` runs outside a transaction.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Migration, Read, Sql};
use crate::split::{Dialect, has_statement};

const EXPECTED: &str = "`<version>_<description>.sql` or `<version>_<description>.up.sql` / `.down.sql`, the version an integer";

/// sqlx's migrations in `dir`.
pub(crate) fn read(dir: &Path) -> Read {
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut errors = Vec::new();
    for (file, is_dir) in match source::entries(dir) {
        Ok(entries) => entries,
        Err(e) => return Read::failed(e),
    } {
        if is_dir || !file.ends_with(".sql") {
            continue;
        }
        match name(&file) {
            None => errors.push(unrecognised(&file)),
            Some((version, desc, Kind::Down)) => downs.push((version, desc, file)),
            Some((version, desc, _)) => ups.push((version, desc, file)),
        }
    }
    let mut migrations = Vec::new();
    for (version, desc, file) in ups {
        let down = downs.iter().position(|d| d.0 == version && d.1 == desc);
        let down = down.map(|i| downs.remove(i).2);
        match migration(dir, version, &desc, file, down) {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    for (_, _, file) in downs {
        errors.push(ImportError::new(file, None, ImportErrorKind::DownWithoutUp));
    }
    Read { migrations, errors }
}

fn migration(
    dir: &Path,
    version: i64,
    desc: &str,
    file: String,
    down_file: Option<String>,
) -> Result<Migration, ImportError> {
    let text = source::read(dir, &file)?;
    let transactional = !no_transaction(&text);
    let down = match down_file {
        Some(down_file) => {
            let down_text = source::read(dir, &down_file)?;
            if no_transaction(&down_text) == transactional
                && has_statement(&down_text, Dialect::Generic)
            {
                let kind = ImportErrorKind::Unsupported(
                    "`-- no-transaction` is on one of the up and down files only; a revision runs \
                     both ways inside a transaction or both outside: put it on both or on neither"
                        .to_owned(),
                );
                return Err(ImportError::new(down_file, Some(1), kind));
            }
            Some(Sql {
                text: down_text,
                file: down_file,
                line: 1,
            })
        }
        None => None,
    };
    Ok(Migration {
        version: version.to_string(),
        name: source::words(desc),
        up: Sql {
            text,
            file,
            line: 1,
        },
        down,
        transactional,
    })
}

/// sqlx's rule: the file's text starts with `-- no-transaction`.
fn no_transaction(text: &str) -> bool {
    text.starts_with("-- no-transaction")
}

#[derive(PartialEq)]
enum Kind {
    Simple,
    Up,
    Down,
}

/// The version, description and kind in a sqlx file name, as sqlx reads it.
fn name(file: &str) -> Option<(i64, String, Kind)> {
    let (version, rest) = file.split_once('_')?;
    let version: i64 = version.parse().ok()?;
    let (desc, kind) = if let Some(d) = rest.strip_suffix(".up.sql") {
        (d, Kind::Up)
    } else if let Some(d) = rest.strip_suffix(".down.sql") {
        (d, Kind::Down)
    } else {
        (rest.strip_suffix(".sql")?, Kind::Simple)
    };
    Some((version, desc.to_owned(), kind))
}

fn unrecognised(file: &str) -> ImportError {
    ImportError::new(
        file,
        None,
        ImportErrorKind::UnrecognisedName {
            tool: "sqlx",
            expected: EXPECTED,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_simple_and_reversible_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("20240101120000_create_users.sql"),
            "CREATE TABLE users (id INT);\n",
        )
        .unwrap();
        std::fs::write(
            p.join("20240102120000_add_index.up.sql"),
            "-- no-transaction\nCREATE INDEX i ON users (id);\n",
        )
        .unwrap();
        std::fs::write(
            p.join("20240102120000_add_index.down.sql"),
            "-- no-transaction\nDROP INDEX i;\n",
        )
        .unwrap();
        std::fs::write(p.join("README.md"), "not a migration").unwrap();
        let mut ms = read(p).unwrap();
        ms.sort_by(|a, b| a.version.cmp(&b.version));
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].name, "create users");
        assert!(ms[0].transactional && ms[0].down.is_none());
        assert!(!ms[1].transactional);
        assert_eq!(
            ms[1].down.as_ref().unwrap().text,
            "-- no-transaction\nDROP INDEX i;\n"
        );
    }

    #[test]
    fn refuses_bad_names_and_lone_downs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("users.sql"), "SELECT 1;").unwrap();
        std::fs::write(p.join("x_zero.sql"), "SELECT 1;").unwrap();
        std::fs::write(p.join("3_x.down.sql"), "SELECT 1;").unwrap();
        let errors = read(p).unwrap_err();
        let files: Vec<&str> = errors.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(files, ["users.sql", "x_zero.sql", "3_x.down.sql"]);
        assert_eq!(name("0001_a.sql").unwrap().0, 1);
    }
}
