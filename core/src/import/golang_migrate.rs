//! golang-migrate: `<version>_<title>.up.sql` and `<version>_<title>.down.sql`.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Migration, Read, Sql};
use crate::split::Dialect;
use crate::statements::refused_statement;

const EXPECTED: &str =
    "`<version>_<title>.up.sql` and `<version>_<title>.down.sql`, the version an unsigned integer";

/// golang-migrate's migrations in `dir`.
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
            Some((version, title, true)) => ups.push((version, title, file)),
            Some((version, _, false)) => downs.push((version, file)),
            None => errors.push(ImportError::new(
                &file,
                None,
                ImportErrorKind::UnrecognisedName {
                    tool: "golang-migrate",
                    expected: EXPECTED,
                },
            )),
        }
    }
    let mut migrations = Vec::new();
    for (version, title, file) in ups {
        let down = downs
            .iter()
            .position(|d| d.0 == version)
            .map(|i| downs.remove(i).1);
        let read_down = |f: String| {
            source::read(dir, &f).map(|text| Sql {
                text,
                file: f,
                line: 1,
            })
        };
        let result = source::read(dir, &file).and_then(|text| {
            Ok(own_transaction(Migration {
                version: version.to_string(),
                name: source::words(&title),
                up: Sql {
                    text,
                    file,
                    line: 1,
                },
                down: down.map(read_down).transpose()?,
                transactional: true,
            }))
        });
        match result {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    for (_, file) in downs {
        errors.push(ImportError::new(file, None, ImportErrorKind::DownWithoutUp));
    }
    Read { migrations, errors }
}

/// golang-migrate runs each file as it is written, without a transaction of its own: a
/// file that controls its transaction (`BEGIN; … COMMIT;`) or holds a statement that cannot
/// run in one (`CREATE INDEX CONCURRENTLY`) becomes a revision with `Transactional: false`,
/// which runs it the same way. Any other file runs in a transaction, as its statements ran
/// in PostgreSQL's implicit transaction of one multi-statement query.
fn own_transaction(mut m: Migration) -> Migration {
    let needs = |sql: &Sql| refused_statement(&sql.text, Dialect::Generic, true).is_some();
    if needs(&m.up) || m.down.as_ref().is_some_and(needs) {
        m.transactional = false;
    }
    m
}

/// The version, title and direction (up: `true`) of a golang-migrate file name.
fn name(file: &str) -> Option<(u64, String, bool)> {
    let (stem, up) = match file.strip_suffix(".up.sql") {
        Some(stem) => (stem, true),
        None => (file.strip_suffix(".down.sql")?, false),
    };
    let (version, title) = stem.split_once('_')?;
    Some((version.parse().ok()?, title.to_owned(), up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_up_and_down_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("000001_create_users.up.sql"),
            "CREATE TABLE users (id INT);\n",
        )
        .unwrap();
        std::fs::write(
            p.join("000001_create_users.down.sql"),
            "DROP TABLE users;\n",
        )
        .unwrap();
        std::fs::write(
            p.join("000002_seed.up.sql"),
            "INSERT INTO users VALUES (1);\n",
        )
        .unwrap();
        let ms = read(p).unwrap();
        assert_eq!(ms[0].version, "1");
        assert_eq!(
            ms[0].down.as_ref().unwrap().file,
            "000001_create_users.down.sql"
        );
        assert!(ms[1].down.is_none());
        assert!(ms[0].transactional);
        std::fs::write(
            p.join("000002_seed.up.sql"),
            "BEGIN;\nINSERT INTO users VALUES (1);\nCOMMIT;\n",
        )
        .unwrap();
        assert!(!read(p).unwrap()[1].transactional);
        std::fs::write(p.join("000003_x.sql"), "").unwrap();
        std::fs::write(p.join("000004_y.down.sql"), "").unwrap();
        let files: Vec<String> = read(p).unwrap_err().into_iter().map(|e| e.file).collect();
        assert_eq!(files, ["000003_x.sql", "000004_y.down.sql"]);
    }
}
