//! `revchain`: Alembic-style migrations on a directory of SQL revision files.
//!
//! ```text
//! revchain init
//! revchain revision -m "create users"
//! revchain upgrade head --database-url postgres://app@localhost/app
//! revchain history
//! ```

fn main() -> std::process::ExitCode {
    revchain::cli::tool_main()
}
