//! Release 1 of the rolling deploy in tests/tests/phases.rs: reads `users.name`.

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/deploy_v1");

fn main() -> std::process::ExitCode {
    revchain_tests::deploy::main(&MIGRATIONS, "name")
}
