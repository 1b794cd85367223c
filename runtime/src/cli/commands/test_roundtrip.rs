//! `test-roundtrip`: every downgrade undoes its upgrade, on a scratch database (the work is
//! in the CLI's autogenerate module).

use crate::cli::context::Context;
use crate::cli::{CliError, autogen};

pub(super) async fn exec(ctx: &Context<'_>) -> Result<String, CliError> {
    autogen::test_roundtrip(ctx).await
}
