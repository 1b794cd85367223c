//! The `revchain` tool, built inside the test package so that the integration tests can run
//! it (`CARGO_BIN_EXE_revchain-cli`); its `main` is the tool's, `revchain::cli::tool_main`.

fn main() -> std::process::ExitCode {
    revchain::cli::tool_main()
}
