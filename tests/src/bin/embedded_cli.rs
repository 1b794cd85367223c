//! An application binary whose only job is the migration CLI over the revisions compiled
//! into it (`tests/fixtures/portable`): the embedded counterpart of `revchain-cli`.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/portable");

fn main() -> std::process::ExitCode {
    revchain::cli::main(&MIGRATIONS)
}
