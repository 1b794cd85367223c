//! An application binary whose CLI runs over `tests/fixtures/squash_embedded` compiled in: a
//! history squashed into a baseline (`sb` replaces `s1`…`s5`, SQLite DDL) whose replaced
//! files are still present, so that the `migrations!` table carries them for the catch-up.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/squash_embedded");

fn main() -> std::process::ExitCode {
    revchain::cli::main(&MIGRATIONS)
}
