//! `completions` and `man`: the scripts run in a real bash, which completes commands and the
//! revision ids and labels of the migrations directory (the tool, called back at each Tab)
//! or of the compiled-in table (the embedded CLI); the man page rendered by groff.

use std::path::Path;
use std::process::{Command, Output};

use revchain_tests::{Dir, tests_dir};

const TOOL: &str = env!("CARGO_BIN_EXE_revchain-cli");
const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-cli");

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(tests_dir())
        .env_remove("DATABASE_URL")
        .env_remove("REVCHAIN_DIR")
        .output()
        .expect("running a CLI")
}

fn ok(bin: &str, args: &[&str]) -> String {
    let out = run(bin, args);
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash offers after `line` (the word being completed is its last, maybe empty), with
/// the script `script` loaded and `function` as its completion function, in `cwd`.
fn bash_complete(
    script: &str,
    function: &str,
    line: &str,
    cwd: &Path,
    env: &[(&str, &str)],
) -> Vec<String> {
    let mut words: Vec<&str> = line.split(' ').collect();
    if words.is_empty() {
        words.push("");
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; \
         COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9; {function} '{cmd}' '{cur}' '{prev}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = words.len() - 1,
        cmd = words[0],
        cur = words[words.len() - 1],
        prev = words[words.len().saturating_sub(2)],
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(program)
        .current_dir(cwd)
        .env_remove("REVCHAIN_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_end().to_owned())
        .collect()
}

fn labelled() -> Dir {
    let dir = Dir::new();
    dir.creates_table("ab01", "", "t1")
        .rev(
            "ab02",
            "ab01",
            "-- Branch Labels: accounts",
            "SELECT 1;",
            Some("SELECT 1;"),
        )
        .creates_table("cd03", "ab02", "t3");
    dir
}

#[test]
fn the_tool_completes_commands_ids_and_labels_from_the_directory() {
    let script = ok(TOOL, &["completions", "bash"]);
    assert!(script.contains("complete -o nospace"), "{script}");
    let dir = labelled();
    let d = dir.path().to_str().unwrap();
    let complete = |line: &str, env: &[(&str, &str)]| {
        bash_complete(&script, "_clap_complete_revchain", line, &tests_dir(), env)
    };
    assert_eq!(complete("revchain gra", &[]), ["graph"]);
    assert_eq!(
        complete(&format!("revchain --dir {d} show ab"), &[]),
        ["ab01", "ab02"]
    );
    assert_eq!(
        complete(&format!("revchain --dir={d} upgrade acc"), &[]),
        ["accounts"]
    );
    assert_eq!(
        complete(&format!("revchain --dir {d} downgrade c"), &[]),
        ["cd03"]
    );
    assert_eq!(
        complete(&format!("revchain --dir {d} stamp ab02 h"), &[]),
        ["head", "heads"]
    );
    // REVCHAIN_DIR, as the tool reads it; a directory that does not load offers nothing.
    assert_eq!(
        complete("revchain show cd", &[("REVCHAIN_DIR", d)]),
        ["cd03"]
    );
    assert!(complete("revchain --dir /nonexistent show a", &[]).is_empty());
}

#[test]
fn the_embedded_cli_completes_its_compiled_in_revisions() {
    let script = ok(EMBEDDED, &["completions", "bash"]);
    assert!(script.contains("embedded-cli"), "{script}");
    assert!(!script.contains("revchain_app_binary"), "{script}");
    let complete = |line: &str| bash_complete(&script, "_embedded__cli", line, &tests_dir(), &[]);
    assert_eq!(complete("embedded-cli gra"), ["graph"]);
    assert_eq!(
        complete("embedded-cli upgrade a"),
        ["a1b2c3d4e5f6", "a7b8c9d0e1f2"]
    );
    assert_eq!(complete("embedded-cli show d4"), ["d4e5f6a7b8c9"]);
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        for bin in [TOOL, EMBEDDED] {
            let script = ok(bin, &["completions", shell]);
            assert!(script.len() > 200, "{bin} {shell}: {script}");
        }
    }
    assert!(ok(EMBEDDED, &["completions", "zsh"]).starts_with("#compdef embedded-cli"));
    assert!(ok(EMBEDDED, &["completions", "zsh"]).contains("a1b2c3d4e5f6"));
    let out = run(TOOL, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash"));
}

#[test]
fn the_man_page_renders() {
    for (bin, title) in [(TOOL, ".TH revchain 1"), (EMBEDDED, ".TH embedded-cli 1")] {
        let page = ok(bin, &["man"]);
        assert!(page.contains(title), "{page}");
        assert!(
            page.contains(".SH SUBCOMMANDS") || page.contains(".SH COMMANDS"),
            "{page}"
        );
        match groff(&page) {
            Some(text) => {
                assert!(
                    text.contains("NAME") && text.contains("--database-url"),
                    "{text}"
                );
                assert!(text.contains("graph"), "{text}");
            }
            None if std::env::var_os("CI").is_some() => panic!("groff is not installed"),
            None => eprintln!("groff is not installed: the rendering is not checked"),
        }
    }
}

/// The page as groff renders it for a terminal, `None` without groff; warnings fail.
fn groff(page: &str) -> Option<String> {
    use std::io::Write as _;
    let mut child = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-P", "-cbou", "-ww"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(page.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}
