//! refinery: `V<n>__<name>.sql` and unversioned `U<n>__<name>.sql`, applied in version
//! order, without down migrations; `.rs` migrations are code and cannot be carried over.

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Migration, Read, Sql};

const EXPECTED: &str = "`V<n>__<name>.sql` or `U<n>__<name>.sql`";

/// refinery's migrations in `dir` (its top level).
pub(crate) fn read(dir: &Path) -> Read {
    let mut migrations = Vec::new();
    let mut errors = Vec::new();
    for file in match source::files_under(dir) {
        Ok(files) => files,
        Err(e) => return Read::failed(e),
    } {
        let code = file.ends_with(".rs");
        if !code && !file.ends_with(".sql") {
            continue;
        }
        let result = match name(source::base_name(&file)) {
            Some(_) if code => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::CodeMigration {
                    tool: "refinery",
                    language: "Rust",
                },
            )),
            Some((version, title)) => source::read(dir, &file).map(|text| Migration {
                version: version.to_string(),
                name: source::words(&title),
                up: Sql {
                    text,
                    file: file.clone(),
                    line: 1,
                },
                down: None,
                transactional: true,
            }),
            None => Err(ImportError::new(
                &file,
                None,
                ImportErrorKind::UnrecognisedName {
                    tool: "refinery",
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

/// The version and name of a refinery file name (`V1__init.sql`, `U2__x.rs`).
fn name(file: &str) -> Option<(i64, String)> {
    let stem = file
        .strip_suffix(".sql")
        .or_else(|| file.strip_suffix(".rs"))?;
    let rest = stem.strip_prefix('V').or_else(|| stem.strip_prefix('U'))?;
    let (version, title) = rest.split_once("__")?;
    let version = version.parse::<i64>().ok()?;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    (!title.is_empty() && title.chars().all(word)).then(|| (version, title.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versioned_and_refuses_rust() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(
            p.join("V1__create_users.sql"),
            "CREATE TABLE users (id INT);\n",
        )
        .unwrap();
        std::fs::write(p.join("U2__seed.sql"), "INSERT INTO users VALUES (1);\n").unwrap();
        std::fs::create_dir(p.join("2024")).unwrap();
        std::fs::write(p.join("2024/V5__nested.sql"), "SELECT 5;\n").unwrap();
        let ms = read(p).unwrap();
        let got: Vec<(&str, &str, &str)> = ms
            .iter()
            .map(|m| (m.version.as_str(), m.name.as_str(), m.up.file.as_str()))
            .collect();
        let want = [
            ("5", "nested", "2024/V5__nested.sql"),
            ("2", "seed", "U2__seed.sql"),
            ("1", "create users", "V1__create_users.sql"),
        ];
        assert_eq!(got, want);
        std::fs::write(p.join("V3__code.rs"), "fn migration() {}").unwrap();
        std::fs::write(p.join("V4-bad.sql"), "").unwrap();
        let errors = read(p).unwrap_err();
        assert!(matches!(
            errors[0].kind,
            ImportErrorKind::CodeMigration { .. }
        ));
        assert_eq!(errors[0].file, "V3__code.rs");
        assert_eq!(errors[1].file, "V4-bad.sql");
    }
}
