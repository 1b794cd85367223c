//! diesel: a directory `<version>_<name>/` per migration with `up.sql`, `down.sql` and an
//! optional `metadata.toml` (`run_in_transaction = false`).

use std::path::Path;

use super::error::{ImportError, ImportErrorKind};
use super::source::{self, Migration, Read, Sql};

/// diesel's migrations in `dir`.
pub(crate) fn read(dir: &Path) -> Read {
    let mut migrations = Vec::new();
    let mut errors = Vec::new();
    for (name, is_dir) in match source::entries(dir) {
        Ok(entries) => entries,
        Err(e) => return Read::failed(e),
    } {
        if !is_dir {
            continue;
        }
        match migration(dir, &name) {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    Read { migrations, errors }
}

fn migration(dir: &Path, name: &str) -> Result<Migration, ImportError> {
    let (version, title) = name.split_once('_').unwrap_or((name, ""));
    // diesel records the directory name's first part without its dashes.
    let version = version.replace('-', "");
    if version.is_empty() {
        let kind = ImportErrorKind::UnrecognisedName {
            tool: "diesel",
            expected: "`<version>_<name>/` directories holding `up.sql`",
        };
        return Err(ImportError::new(name, None, kind));
    }
    let up_file = format!("{name}/up.sql");
    let down_file = format!("{name}/down.sql");
    let text = source::read(dir, &up_file)?;
    let down = if dir.join(&down_file).exists() {
        let text = source::read(dir, &down_file)?;
        Some(Sql {
            text,
            file: down_file,
            line: 1,
        })
    } else {
        None
    };
    let metadata = format!("{name}/metadata.toml");
    let transactional = if dir.join(&metadata).exists() {
        run_in_transaction(&metadata, &source::read(dir, &metadata)?)?
    } else {
        true
    };
    Ok(Migration {
        version,
        name: source::words(title),
        up: Sql {
            text,
            file: up_file,
            line: 1,
        },
        down,
        transactional,
    })
}

/// `run_in_transaction` of a `metadata.toml` (default `true`).
fn run_in_transaction(file: &str, text: &str) -> Result<bool, ImportError> {
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "run_in_transaction" {
            continue;
        }
        return match value.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ImportError::new(
                file,
                Some(i + 1),
                ImportErrorKind::Malformed(format!(
                    "`run_in_transaction` must be `true` or `false`, not `{other}`"
                )),
            )),
        };
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directories_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let m = p.join("2024-01-01-120000_create_users");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("up.sql"), "CREATE TABLE users (id INT);\n").unwrap();
        std::fs::write(m.join("down.sql"), "DROP TABLE users;\n").unwrap();
        std::fs::write(
            m.join("metadata.toml"),
            "# comment\nrun_in_transaction = false\n",
        )
        .unwrap();
        std::fs::write(p.join(".keep"), "").unwrap();
        let ms = read(p).unwrap();
        assert_eq!(ms[0].version, "20240101120000");
        assert_eq!(ms[0].name, "create users");
        assert!(!ms[0].transactional);
        assert_eq!(ms[0].up.file, "2024-01-01-120000_create_users/up.sql");
        assert!(run_in_transaction("m", "x = 1\n").unwrap());
        assert_eq!(
            run_in_transaction("m", "run_in_transaction = maybe")
                .unwrap_err()
                .line,
            Some(1)
        );
    }

    #[test]
    fn a_directory_without_up_sql_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("1_x")).unwrap();
        let errors = read(dir.path()).unwrap_err();
        assert_eq!(errors[0].file, "1_x/up.sql");
    }
}
