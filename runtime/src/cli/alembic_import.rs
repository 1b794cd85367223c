//! `revchain import --from alembic`: reading an Alembic project's revisions through
//! Alembic's own offline mode.

use std::path::Path;

use revchain_core::writer::NewRevision;

use super::CliError;

/// The revisions of the Alembic project at `source`, read by running `alembic_cmd`.
pub(crate) fn revisions(source: &Path, alembic_cmd: &str) -> Result<Vec<NewRevision>, CliError> {
    let _ = (source, alembic_cmd);
    Err(CliError::user("importing from alembic is not built yet"))
}
