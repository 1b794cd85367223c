//! Release 2 of the rolling deploy in tests/tests/phases.rs: reads `users.full_name`; its
//! migrations add that column (expand) and drop `users.name` (contract).

static MIGRATIONS: revchain::Migrations = revchain::migrations!("fixtures/deploy_v2");

fn main() -> std::process::ExitCode {
    revchain_tests::deploy::main(&MIGRATIONS, "full_name")
}
