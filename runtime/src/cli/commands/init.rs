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
        "Created the migrations directory {}.\nNext: revchain {}revision -m \"create the first table\"\n",
        dir.display(),
        dir_option(dir)
    ))
}

/// The `--dir` the next command needs: none when `dir` is what it finds anyway (the
/// default `migrations`, or `REVCHAIN_DIR`).
fn dir_option(dir: &Path) -> String {
    let implied = std::env::var_os("REVCHAIN_DIR")
        .map_or_else(|| std::path::PathBuf::from("migrations"), Into::into);
    if dir == implied {
        String::new()
    } else {
        format!("--dir {} ", dir.display())
    }
}
