//! `test-roundtrip`: every downgrade undoes its upgrade, on a scratch database (the work is
//! in the CLI's autogenerate module).

use crate::cli::context::Context;
use crate::cli::{CliError, autogen};

/// The arguments of `test-roundtrip`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestRoundtripArgs {
    /// Print each revision checked and log each step (by default: one summary line).
    #[arg(short, long)]
    pub verbose: bool,
}

pub(super) async fn exec(ctx: &Context<'_>, args: &TestRoundtripArgs) -> Result<String, CliError> {
    autogen::test_roundtrip(ctx, args.verbose).await
}
