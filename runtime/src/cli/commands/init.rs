//! `init`: creates an empty migrations directory.

use std::path::Path;

use crate::cli::CliError;

pub(super) fn exec(dir: &Path) -> Result<String, CliError> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| CliError::user(format!("{}: cannot read it: {e}", dir.display())))?
            .next()
            .is_some();
        if non_empty || !dir.is_dir() {
            return Err(CliError::user(format!(
                "{} already exists and is not an empty directory; nothing was created",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::user(format!("{}: cannot create it: {e}", dir.display())))?;
    Ok(format!(
        "Created the migrations directory {0}.\nNext: revchain --dir {0} revision -m \"create the first table\"\n",
        dir.display()
    ))
}
