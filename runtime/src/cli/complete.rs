//! Shell completions and the man page.
//!
//! The `revchain` tool completes dynamically: the script `revchain completions bash` prints
//! calls `revchain` back at each Tab (clap_complete's `COMPLETE=<shell>` protocol), which
//! reads the migrations directory (`--dir` on the command line, else `REVCHAIN_DIR`, else
//! `migrations`) and offers its revision ids and branch labels. An application's embedded
//! CLI completes statically: its revisions are compiled in, so the script it prints lists
//! them, and it completes the `migrate` part of the application's command line (the
//! application's other commands are its own).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{Args as _, ValueEnum};
use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use revchain_core::{History, Mode};

use super::CliError;
use super::context::{Context, Source};
use crate::embedded::Migrations;

/// A shell that `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// Elvish.
    Elvish,
}

impl ShellArg {
    fn name(self) -> &'static str {
        match self {
            ShellArg::Bash => "bash",
            ShellArg::Zsh => "zsh",
            ShellArg::Fish => "fish",
            ShellArg::Powershell => "powershell",
            ShellArg::Elvish => "elvish",
        }
    }

    fn static_shell(self) -> clap_complete::Shell {
        match self {
            ShellArg::Bash => clap_complete::Shell::Bash,
            ShellArg::Zsh => clap_complete::Shell::Zsh,
            ShellArg::Fish => clap_complete::Shell::Fish,
            ShellArg::Powershell => clap_complete::Shell::PowerShell,
            ShellArg::Elvish => clap_complete::Shell::Elvish,
        }
    }
}

/// The arguments of `completions`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// The subcommands whose argument is a revision, and that argument's id.
const REVISION_ARGS: &[(&str, &str)] = &[
    ("show", "revision"),
    ("upgrade", "target"),
    ("downgrade", "target"),
    ("stamp", "targets"),
];

/// Applies `edit` to each revision argument of `cmd`'s subcommands.
fn edit_revision_args(
    mut cmd: clap::Command,
    edit: impl Fn(clap::Arg) -> clap::Arg,
) -> clap::Command {
    for &(sub, arg) in REVISION_ARGS {
        let has = cmd
            .find_subcommand(sub)
            .is_some_and(|s| s.get_arguments().any(|a| a.get_id() == arg));
        if has {
            cmd = cmd.mut_subcommand(sub, |s| s.mut_arg(arg, &edit));
        }
    }
    cmd
}

/// The `revchain` tool's command with revision arguments that complete from the directory.
pub(crate) fn with_dynamic_revisions(cmd: clap::Command) -> clap::Command {
    edit_revision_args(cmd, |a| a.add(ArgValueCompleter::new(complete_revision)))
}

/// What a revision argument may be besides a relative step: `head`, `heads`, `base`, every
/// id and every branch label, in table order.
fn revision_words(m: &Migrations) -> Vec<String> {
    let g = m.graph();
    let mut words: Vec<String> = ["head", "heads", "base"].map(String::from).to_vec();
    for i in 0..g.len() {
        words.push(g.id(i).to_owned());
        words.extend(g.labels_of(i).iter().cloned());
    }
    words
}

/// The dynamic completer: the revision words of the directory this command line names that
/// start with what was typed. A directory that does not load completes nothing.
fn complete_revision(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(typed) = current.to_str() else {
        return Vec::new();
    };
    let dir = dir_of_command_line(std::env::args_os());
    let display = dir.display().to_string();
    let Ok(history) = History::load_as(&dir, &display, Mode::Drafts) else {
        return Vec::new();
    };
    revision_words(&Migrations::from_history(history, &display))
        .into_iter()
        .filter(|w| w.starts_with(typed))
        .map(CompletionCandidate::new)
        .collect()
}

/// The migrations directory of a command line being completed: its `--dir`, else
/// `REVCHAIN_DIR`, else `migrations`.
fn dir_of_command_line(args: impl Iterator<Item = OsString>) -> PathBuf {
    let mut args = args.peekable();
    let mut dir = None;
    while let Some(arg) = args.next() {
        if arg == "--dir" {
            dir = args.next();
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--dir=")) {
            dir = Some(value.into());
        }
    }
    dir.or_else(|| std::env::var_os("REVCHAIN_DIR"))
        .unwrap_or_else(|| "migrations".into())
        .into()
}

/// `completions`: the script for `shell`.
pub(crate) fn completions(ctx: &Context<'_>, args: &CompletionsArgs) -> Result<String, CliError> {
    let mut out = Vec::new();
    match ctx.source {
        Source::Dir(_) => {
            let completer = this_binary();
            let shells = clap_complete::env::Shells::builtins();
            let shell = shells.completer(args.shell.name()).ok_or_else(|| {
                CliError::user(format!("no completion for {}", args.shell.name()))
            })?;
            shell
                .write_registration("COMPLETE", "revchain", "revchain", &completer, &mut out)
                .map_err(CliError::from_display)?;
        }
        Source::Embedded(m) => return Ok(static_script(m, args.shell)),
    }
    String::from_utf8(out).map_err(CliError::from_display)
}

/// The embedded CLI's script for `shell`, its revisions listed in it.
fn static_script(m: &Migrations, shell: ShellArg) -> String {
    let (bin, path) = embedded_command_path();
    if shell != ShellArg::Bash {
        let mut cmd = embedded_command(m, &bin, &path);
        let mut out = Vec::new();
        clap_complete::generate(shell.static_shell(), &mut cmd, &bin, &mut out);
        return String::from_utf8_lossy(&out).into_owned();
    }
    // clap_complete's bash script names a subcommand's case differently where it is
    // looked up and where it is defined when the binary's name has a `-` (`my-app`): it is
    // generated for a name without one, then given the real name.
    const PLACEHOLDER: &str = "revchain_app_binary";
    let mut cmd = embedded_command(m, PLACEHOLDER, &path);
    let mut out = Vec::new();
    clap_complete::generate(shell.static_shell(), &mut cmd, PLACEHOLDER, &mut out);
    String::from_utf8_lossy(&out)
        .replace(&format!(" {PLACEHOLDER}\n"), &format!(" {bin}\n"))
        .replace(PLACEHOLDER, &bin.replace('-', "__"))
}

/// `man`: the roff page.
pub(crate) fn man(ctx: &Context<'_>) -> Result<String, CliError> {
    let cmd = match ctx.source {
        Source::Dir(_) => super::tool_command(),
        Source::Embedded(m) => {
            let (bin, path) = embedded_command_path();
            let mut name = bin;
            for word in &path {
                name = format!("{name}-{word}");
            }
            embedded_command(m, &name, &[])
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(CliError::from_display)?;
    String::from_utf8(out).map_err(CliError::from_display)
}

/// The path of the running binary as a completion script calls it back: as typed when it
/// is a bare name (found on `PATH`) or absolute, else made absolute.
fn this_binary() -> String {
    let argv0 = PathBuf::from(
        std::env::args_os()
            .next()
            .unwrap_or_else(|| "revchain".into()),
    );
    let path = if argv0.components().count() > 1 && argv0.is_relative() {
        std::env::current_dir().map_or(argv0.clone(), |d| d.join(&argv0))
    } else {
        argv0
    };
    path.to_string_lossy().into_owned()
}

/// The running application's name and the subcommands before `completions` or `man`
/// (`my-app migrate completions bash` → `("my-app", ["migrate"])`), skipping options and the
/// values of the migration CLI's own options.
fn embedded_command_path() -> (String, Vec<String>) {
    let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let bin = args
        .next()
        .and_then(|a| {
            PathBuf::from(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "app".to_owned());
    let options = super::Options::augment_args(clap::Command::new("options"));
    let takes_value = |flag: &str| {
        options.get_arguments().any(|a| {
            a.get_long().is_some_and(|l| flag == format!("--{l}"))
                && a.get_num_args().is_none_or(|n| n.takes_values())
                && !matches!(a.get_action(), clap::ArgAction::SetTrue)
        })
    };
    let mut path = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "completions" || arg == "man" {
            break;
        }
        if arg.starts_with('-') {
            if !arg.contains('=') && takes_value(&arg) {
                args.next();
            }
            continue;
        }
        path.push(arg);
    }
    (bin, path)
}

/// The embedded CLI's command, nested under `path` in a command named `bin`, its revision
/// arguments offering the compiled-in revisions.
fn embedded_command(m: &Migrations, bin: &str, path: &[String]) -> clap::Command {
    let words = revision_words(m);
    let migrate = |name: String| {
        let cmd = super::Args::augment_args(clap::Command::new(name))
            .about("Database migrations compiled into this binary (revchain)");
        edit_revision_args(cmd, |a| a.value_parser(words.clone()))
    };
    let Some((last, outer)) = path.split_last() else {
        return migrate(bin.to_owned()).bin_name(bin);
    };
    let mut cmd = migrate(last.clone());
    for name in outer.iter().rev() {
        cmd = clap::Command::new(name.clone()).subcommand(cmd);
    }
    clap::Command::new(bin.to_owned())
        .bin_name(bin)
        .subcommand(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_comes_from_the_command_line_then_the_default() {
        let dir = |words: &[&str]| dir_of_command_line(words.iter().map(OsString::from));
        assert_eq!(
            dir(&["revchain", "--", "revchain", "--dir", "db/m", "show", ""]),
            PathBuf::from("db/m")
        );
        assert_eq!(
            dir(&["revchain", "--", "revchain", "show", "--dir=x", ""]),
            PathBuf::from("x")
        );
        if std::env::var_os("REVCHAIN_DIR").is_none() {
            assert_eq!(dir(&["revchain", "show"]), PathBuf::from("migrations"));
        }
    }
}
