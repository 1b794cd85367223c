//! How the running binary was invoked, so that every command a message suggests names it:
//! `my-app migrate stamp …` in an application's embedded CLI, `revchain stamp …` in the
//! tool. The messages themselves (in `revchain-core` and the runtime, which a library user
//! reads too) suggest the tool's form, `` `revchain <command> …` ``; the CLI rewrites the
//! ones this binary can run, here, once, before printing.

use clap::{Args as _, Subcommand as _};

use super::{Args, commands::AppCommand};

/// The words that start a command of the running CLI.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// `revchain`, `my-app migrate`, …
    prefix: String,
    /// The commands this binary has (others stay `revchain …`: they need the tool).
    commands: Vec<String>,
}

impl Invocation {
    /// The `revchain` tool, which has every command.
    pub fn tool() -> Invocation {
        Invocation {
            prefix: "revchain".to_owned(),
            commands: Vec::new(),
        }
    }

    /// The CLI embedded in this process's binary, from its command line.
    pub fn embedded() -> Invocation {
        let words: Vec<String> = std::env::args_os()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        Invocation::embedded_from(&words)
    }

    /// The embedded CLI invoked as `words` (the program first): the program's file name,
    /// then the words before the migration command that are not options or their values
    /// (`my-app --verbose migrate --database-url … stamp` gives `my-app migrate`).
    fn embedded_from(words: &[String]) -> Invocation {
        let command = AppCommand::augment_subcommands(clap::Command::new("migrate"));
        let commands: Vec<String> = command
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
            .map(str::to_owned)
            .collect();
        let options = Args::augment_args(clap::Command::new("migrate"));
        let takes_value = |word: &str| {
            let name = word.trim_start_matches('-');
            !word.contains('=')
                && options.get_arguments().any(|a| {
                    (a.get_long() == Some(name)
                        || a.get_short().is_some_and(|s| name == s.to_string()))
                        && a.get_action().takes_values()
                })
        };
        let program = words
            .first()
            .map(|p| {
                std::path::Path::new(p)
                    .file_name()
                    .map_or_else(|| p.clone(), |n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "revchain".to_owned());
        let mut prefix = vec![program];
        let mut skip_value = false;
        for word in words.iter().skip(1) {
            if skip_value {
                skip_value = false;
            } else if commands.contains(word) {
                return Invocation {
                    prefix: prefix.join(" "),
                    commands,
                };
            } else if word.starts_with('-') {
                skip_value = takes_value(word);
            } else {
                prefix.push(word.clone());
            }
        }
        // No command word (`Args` built by the application itself): the tool's form.
        Invocation {
            prefix: "revchain".to_owned(),
            commands: Vec::new(),
        }
    }

    /// `text` with each suggested `` `revchain <command>`` that this binary runs naming it
    /// instead; commands only the tool has keep `revchain`.
    pub fn name_commands(&self, text: &str) -> String {
        if self.prefix == "revchain" {
            return text.to_owned();
        }
        const TOOL: &str = "`revchain ";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(TOOL) {
            out.push_str(&rest[..at]);
            let after = &rest[at + TOOL.len()..];
            let command: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if self.commands.contains(&command) {
                out.push('`');
                out.push_str(&self.prefix);
                out.push(' ');
            } else {
                out.push_str(TOOL);
            }
            rest = after;
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_prefix_is_the_program_and_its_subcommand_path() {
        let how = Invocation::embedded_from(&words(
            "/usr/bin/my-app --verbose migrate --database-url postgres://u:secret@h/d stamp head",
        ));
        assert_eq!(how.prefix, "my-app migrate");
        let how = Invocation::embedded_from(&words("./embedded-cli --lock=lease upgrade head"));
        assert_eq!(how.prefix, "embedded-cli");
        let how = Invocation::embedded_from(&words("my-app"));
        assert_eq!(how.prefix, "revchain");
    }

    #[test]
    fn only_the_commands_this_binary_runs_are_renamed() {
        let how = Invocation::embedded_from(&words("my-app migrate current"));
        let message = "repair it, then `revchain stamp --purge <revision>`; or write a new one \
                       with `revchain revision -m \"...\"` (`revchain history` lists them)";
        assert_eq!(
            how.name_commands(message),
            "repair it, then `my-app migrate stamp --purge <revision>`; or write a new one \
             with `revchain revision -m \"...\"` (`my-app migrate history` lists them)"
        );
        assert_eq!(Invocation::tool().name_commands(message), message);
    }
}
