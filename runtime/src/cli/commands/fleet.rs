//! `fleet upgrade|downgrade|status|check`: one command over many databases or schemas
//! (see [`crate::fleet`]), with a live progress line on a terminal, a summary (failures
//! first) or the JSON report, and a log file per target.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Subcommand;
use revchain_core::Mode;

use crate::cli::Format;
use crate::cli::context::Context;
use crate::cli::{CliError, redact_in_logs};
use crate::fleet::{
    Action, Fleet, FleetReport, Shard, Target, TargetReport, read_targets_file, schema_targets,
    summary_text, targets_from_query,
};

/// The exit code of a fleet command when a target is not at the goal (failed, refused,
/// unreachable, behind, ahead, or not attempted).
pub const FLEET_INCOMPLETE: u8 = 8;

/// The environment variable a Kubernetes Indexed Job sets in each pod: its index, the
/// shard `--shards N` takes.
pub const JOB_COMPLETION_INDEX: &str = "JOB_COMPLETION_INDEX";

/// The arguments of `fleet`.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// What to do on every target.
    #[command(subcommand)]
    pub command: FleetCommand,
}

/// The fleet commands.
#[derive(Debug, Clone, Subcommand)]
pub enum FleetCommand {
    /// Upgrade every target (default: to the heads; a target already there costs one
    /// query).
    Upgrade {
        /// `head`, `heads`, an id or prefix, `+N`…
        #[arg(default_value = "heads", allow_negative_numbers = true)]
        target: String,
        /// The targets and how to run.
        #[command(flatten)]
        options: FleetOptions,
    },
    /// Downgrade every target.
    Downgrade {
        /// `base`, an id or prefix, `-N`…
        #[arg(allow_negative_numbers = true)]
        target: String,
        /// The targets and how to run.
        #[command(flatten)]
        options: FleetOptions,
    },
    /// Show every target's state (without --shard: the whole fleet).
    Status {
        /// The targets and how to run.
        #[command(flatten)]
        options: FleetOptions,
    },
    /// Like `status`, showing only the targets not at the heads.
    Check {
        /// The targets and how to run.
        #[command(flatten)]
        options: FleetOptions,
    },
}

/// Where the targets come from (exactly one).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct TargetSource {
    /// A file of database URLs, one per line (`#` comments and blank lines skipped).
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// A query run on --database-url (the catalog) whose rows' first column are the
    /// targets' URLs.
    #[arg(long, value_name = "SQL")]
    pub targets_query: Option<String>,
    /// The schemas of the PostgreSQL --database-url matching this LIKE pattern
    /// (`tenant_%`): each with its own bookkeeping tables and `search_path`.
    #[arg(long, value_name = "PATTERN")]
    pub schemas: Option<String>,
}

/// The options every fleet command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetOptions {
    /// Where the targets come from.
    #[command(flatten)]
    pub source: TargetSource,
    /// How many targets are worked on at once (each with up to two connections).
    #[arg(long, value_name = "N", default_value_t = crate::fleet::DEFAULT_JOBS)]
    pub jobs: usize,
    /// The first N targets form a wave finished before any other target starts.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub canary: usize,
    /// How many failed targets are tolerated: once more have failed, no new target starts
    /// (0: the first failure stops the fleet; the running targets finish).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: usize,
    /// Only this stable share of the targets: `I/N`, 0-based (a hash of each target).
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Split the targets into N shards and take the one `JOB_COMPLETION_INDEX` names
    /// (a Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Write the output (text, JSON or HTML) to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write one log file per target into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

impl FleetCommand {
    fn parts(&self) -> (Action, &FleetOptions) {
        match self {
            FleetCommand::Upgrade { target, options } => (Action::Upgrade(target.clone()), options),
            FleetCommand::Downgrade { target, options } => {
                (Action::Downgrade(target.clone()), options)
            }
            FleetCommand::Status { options } => (Action::Status, options),
            FleetCommand::Check { options } => (Action::Check, options),
        }
    }
}

pub(super) async fn exec(ctx: &Context<'_>, args: &FleetArgs) -> Result<String, CliError> {
    let (action, options) = args.command.parts();
    let m = ctx.load(Mode::Strict)?;
    let shard = shard_of(options, std::env::var(JOB_COMPLETION_INDEX).ok())?;
    let mut targets = targets(ctx, &options.source).await?;
    for t in &targets {
        redact_in_logs(t.url());
    }
    if let Some(shard) = shard {
        targets.retain(|t| t.in_shard(shard));
    }
    if let Some(dir) = &options.log_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::user(format!(
                "cannot create the log directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let progress = Progress::new(targets.len(), options.log_dir.as_deref());
    let mut report = Fleet::new(ctx.migrator(&m))
        .jobs(options.jobs)
        .canary(options.canary)
        .max_failures(options.max_failures)
        .run(&action, &targets, &|t| progress.done(t))
        .await;
    progress.finish();
    report.shard = shard;
    report.sort_failures_first();
    let out = render(&report, &action, ctx.format, &m)?;
    let out = write_output(out, options.output.as_deref())?;
    if report.all_at_goal() {
        return Ok(out);
    }
    let missing = report.targets.len() - report.count(crate::fleet::TargetState::AtGoal);
    // The report stands in for the error document in JSON mode (`CliError::after`).
    Err(CliError::new(
        FLEET_INCOMPLETE,
        "fleet_incomplete",
        format!(
            "{missing} of {} target(s) are not at the goal (see the summary)",
            report.targets.len()
        ),
    )
    .after(out))
}

/// The shard `--shard I/N` names, or with `--shards N` the one `JOB_COMPLETION_INDEX`
/// (`index`) names.
fn shard_of(options: &FleetOptions, index: Option<String>) -> Result<Option<Shard>, CliError> {
    let Some(count) = options.shards else {
        return Ok(options.shard);
    };
    let index = index.ok_or_else(|| {
        CliError::user(format!(
            "--shards {count} takes the shard that {JOB_COMPLETION_INDEX} names, and it is not \
             set: run in a Kubernetes Indexed Job, set it, or pass --shard I/{count}"
        ))
    })?;
    let i = index.trim().parse::<u32>().map_err(|_| {
        CliError::user(format!(
            "{JOB_COMPLETION_INDEX}=`{index}` is not a shard index (0 to {})",
            count.saturating_sub(1)
        ))
    })?;
    Shard::new(i, count)
        .map(Some)
        .map_err(CliError::from_display)
}

/// The targets `source` names.
async fn targets(ctx: &Context<'_>, source: &TargetSource) -> Result<Vec<Target>, CliError> {
    let result = if let Some(file) = &source.targets_file {
        read_targets_file(file)
    } else if let Some(query) = &source.targets_query {
        targets_from_query(ctx.url("fleet --targets-query")?, query).await
    } else if let Some(pattern) = &source.schemas {
        schema_targets(ctx.url("fleet --schemas")?, pattern).await
    } else {
        unreachable!("clap requires one target source")
    };
    result.map_err(CliError::from_display)
}

/// The report as `format` shows it; `check` shows only the targets not at the goal.
fn render(
    report: &FleetReport,
    action: &Action,
    format: Format,
    m: &crate::Migrations,
) -> Result<String, CliError> {
    match format {
        Format::Html => Ok(crate::fleet::render(report, m)),
        Format::Json => serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .map_err(CliError::from_display),
        Format::Text if *action == Action::Check => {
            let mut behind = report.clone();
            behind.targets.retain(|t| !t.state.is_at_goal());
            let text = if behind.targets.is_empty() {
                String::new()
            } else {
                summary_text(&behind)
            };
            Ok(text + &crate::fleet::counts_line(report))
        }
        // `github`, `dot` and `mermaid` are refused before the fleet runs (`Context::fleet_formats`).
        _ => Ok(summary_text(report)),
    }
}

/// `out` written to `file` (then nothing is left for stdout), or `out` itself.
fn write_output(out: String, file: Option<&Path>) -> Result<String, CliError> {
    let Some(file) = file else { return Ok(out) };
    std::fs::write(file, out).map_err(|e| {
        CliError::user(format!(
            "cannot write the output to {}: {e}",
            file.display()
        ))
    })?;
    Ok(String::new())
}

/// The live progress line (on a terminal only) and the per-target log files.
struct Progress<'a> {
    start: Instant,
    total: usize,
    tty: bool,
    log_dir: Option<&'a Path>,
    state: Mutex<(usize, usize, Option<Instant>)>,
}

impl<'a> Progress<'a> {
    fn new(total: usize, log_dir: Option<&'a Path>) -> Progress<'a> {
        Progress {
            start: Instant::now(),
            total,
            tty: std::io::stderr().is_terminal(),
            log_dir,
            state: Mutex::new((0, 0, None)),
        }
    }

    /// One target ended.
    fn done(&self, t: &TargetReport) {
        if let Some(dir) = self.log_dir {
            write_log(dir, t);
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        if !t.state.is_at_goal() {
            state.1 += 1;
        }
        let due = state
            .2
            .is_none_or(|last| last.elapsed() >= Duration::from_millis(200));
        if self.tty && (due || state.0 == self.total) {
            state.2 = Some(Instant::now());
            eprint!("\r\x1b[2K{}", self.line(state.0, state.1));
        }
    }

    /// `done, failed, pending, rate, ETA`.
    fn line(&self, done: usize, failed: usize) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let pending = self.total - done;
        let eta = if rate > 0.0 {
            format!("{:.0}s", pending as f64 / rate)
        } else {
            "?".to_owned()
        };
        format!(
            "fleet: {done}/{} done, {failed} failed, {pending} pending, {rate:.1}/s, ETA {eta}",
            self.total
        )
    }

    /// Ends the progress line.
    fn finish(&self) {
        if self.tty && self.state.lock().map(|s| s.2.is_some()).unwrap_or(true) {
            eprintln!();
        }
    }
}

/// Writes `t`'s log file in `dir`: a name made from the redacted target (and a hash, so
/// that two targets never share a file); a failure to write is logged, not fatal.
fn write_log(dir: &Path, t: &TargetReport) {
    let safe: String = t
        .target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tail = safe.len().saturating_sub(80);
    let name = format!(
        "{}-{:08x}.log",
        &safe[tail..],
        crate::fleet::stable_hash(t.target.as_bytes()) as u32
    );
    let mut text = format!(
        "target: {}\nstate: {}\nduration_ms: {}\ncurrent: {}\npending: {}\n",
        t.target,
        t.state.as_str(),
        t.duration_ms,
        t.current.join(", "),
        t.pending
    );
    for id in &t.applied {
        text.push_str(&format!("applied: {id}\n"));
    }
    if let Some(e) = &t.error {
        text.push_str(&format!("error ({}): {}\n", e.kind, e.message));
    }
    let text = crate::url::redact_urls_in(&text);
    if let Err(e) = std::fs::write(dir.join(&name), text) {
        tracing::warn!(target: "revchain", "cannot write the log file {name}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_the_flag_or_the_job_index() {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            o: FleetOptions,
        }
        let p = P::try_parse_from(["x", "--targets-file", "f", "--shards", "4"]).unwrap();
        assert_eq!(
            shard_of(&p.o, Some("2".into())).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        assert!(shard_of(&p.o, None).is_err());
        assert!(shard_of(&p.o, Some("4".into())).is_err());
        let p = P::try_parse_from(["x", "--targets-file", "f", "--shard", "1/3"]).unwrap();
        assert_eq!(
            shard_of(&p.o, Some("2".into())).unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        assert!(P::try_parse_from(["x", "--shard", "1/3"]).is_err());
        assert!(P::try_parse_from(["x", "--targets-file", "f", "--schemas", "t_%"]).is_err());
    }
}
