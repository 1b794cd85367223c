//! `revchain import --from alembic SOURCE --alembic-cmd CMD`: the revisions of a user's
//! Alembic project, read from Alembic itself, run through the command the user names.
//!
//! - The graph (ids, `down_revision` with merges, `depends_on`, the docstring with the
//!   message and `Create Date`) comes from `CMD history --verbose`.
//! - The SQL comes from Alembic's offline mode: `CMD upgrade heads --sql` and
//!   `CMD downgrade HEAD:base --sql` (for each head) print every revision's SQL, each after
//!   Alembic's own `-- Running upgrade A -> B` line, so a few runs give the SQL of every
//!   revision. Alembic's bookkeeping (the version table's `CREATE`/`INSERT`/`UPDATE`/
//!   `DELETE`/`DROP`, `BEGIN;`/`COMMIT;`, its `-- Running` lines) is left out; the
//!   `COMMIT;`…`BEGIN;` of an `autocommit_block()` makes the revision `Transactional: false`.
//! - `history` shows the branch labels a revision inherits as well as its own, so the
//!   label's owner is read from the `branch_labels = …` line of the file Alembic names
//!   (checked against what Alembic shows).
//!
//! A revision that is not a merge and whose `upgrade()` emits no SQL gets a no-op
//! `SELECT 1;` (revchain allows an empty upgrade in a merge only).
//!
//! A revision whose offline SQL Alembic cannot produce (one that reads the database with
//! `op.get_bind()`, one whose `downgrade()` raises) is an error naming it, with Alembic's
//! own error.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use revchain_core::import::revision_id;
use revchain_core::writer::NewRevision;

use super::CliError;

/// The revisions of the Alembic project in `source`, parents first, read by running
/// `alembic_cmd` (split like a shell command line, e.g. `uv run alembic`) in `source`.
pub(crate) fn revisions(source: &Path, alembic_cmd: &str) -> Result<Vec<NewRevision>, CliError> {
    let alembic = Alembic::new(source, alembic_cmd)?;
    let history = alembic.run(&["history", "--verbose"])?;
    if !history.ok {
        return Err(alembic.failed(&["history", "--verbose"], &history.stderr));
    }
    let scripts = parse_history(&history.stdout)?;
    if scripts.is_empty() {
        return Ok(Vec::new());
    }
    let up_args = ["upgrade", "heads", "--sql"];
    let up = alembic.offline(&up_args, Direction::Upgrade, &scripts, None)?;
    let down = downgrades(&alembic, &scripts, &up.table)?;
    let labels = own_labels(source, &scripts)?;
    let ids = revchain_ids(&scripts)?;
    scripts
        .iter()
        .rev()
        .map(|s| {
            let (Some(upgrade), Some(downgrade)) = (up.sections.get(&s.id), down.get(&s.id)) else {
                return Err(CliError::user(format!(
                    "Alembic's offline SQL has no `-- Running` section for revision {} ({}); \
                     does env.py write the offline SQL somewhere else than stdout?",
                    s.id,
                    s.path.display()
                )));
            };
            let origin = s.path.strip_prefix(source).unwrap_or(&s.path);
            let origin = format!("alembic ({})", origin.display());
            Ok(new_revision(s, origin, &ids, &labels, upgrade, downgrade))
        })
        .collect()
}

/// The downgrade SQL of every revision: `downgrade HEAD:base --sql` for each head, since
/// Alembic refuses `heads:base` when there are several. A revision under several heads
/// has the same SQL in each run.
fn downgrades(
    alembic: &Alembic<'_>,
    scripts: &[Script],
    table: &str,
) -> Result<HashMap<String, Sql>, CliError> {
    let mut sections = HashMap::new();
    for head in scripts.iter().filter(|s| s.is_head) {
        let range = format!("{}:base", head.id);
        let args = ["downgrade", range.as_str(), "--sql"];
        // A downgrade does not create the version table: its name comes from the upgrade.
        let run = alembic.offline(&args, Direction::Downgrade, scripts, Some(table))?;
        for (id, sql) in run.sections {
            sections.entry(id).or_insert(sql);
        }
    }
    Ok(sections)
}

/// The revision file of `script`; `origin` is what its `-- imported from` line says (so
/// that an `upgrade()` that emits no SQL imports as an empty upgrade section).
fn new_revision(
    script: &Script,
    origin: String,
    ids: &HashMap<String, String>,
    labels: &HashMap<String, Vec<String>>,
    upgrade: &Sql,
    downgrade: &Sql,
) -> NewRevision {
    let id_of = |alembic_id: &String| ids.get(alembic_id).unwrap_or(alembic_id).clone();
    NewRevision {
        id: id_of(&script.id),
        message: script.message(),
        parents: script.parents.iter().map(id_of).collect(),
        create_date: script.doc_value("Create Date:").unwrap_or_default(),
        branch_labels: labels.get(&script.id).cloned().unwrap_or_default(),
        depends_on: script.depends_on.iter().map(id_of).collect(),
        transactional: upgrade.transactional && downgrade.transactional,
        upgrade: upgrade.text.clone(),
        downgrade: Some(downgrade.text.clone()),
        origin: Some(origin),
    }
}

/// Alembic id → revchain id ([`revision_id`], the one rule `adopt` uses too).
fn revchain_ids(scripts: &[Script]) -> Result<HashMap<String, String>, CliError> {
    scripts
        .iter()
        .map(|s| {
            revision_id(&s.id)
                .map(|id| (s.id.clone(), id))
                .ok_or_else(|| {
                    CliError::user(format!(
                        "{}: the Alembic revision id `{}` cannot become a revchain id",
                        s.path.display(),
                        s.id
                    ))
                })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Running Alembic

/// The user's Alembic command, run in the project's directory.
struct Alembic<'a> {
    argv: Vec<String>,
    source: &'a Path,
    shown: &'a str,
}

/// What one run printed.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl<'a> Alembic<'a> {
    fn new(source: &'a Path, command: &'a str) -> Result<Alembic<'a>, CliError> {
        if !source.is_dir() {
            return Err(CliError::user(format!(
                "{}: not a directory (give the directory of the Alembic project, where \
                 `{command}` runs)",
                source.display()
            )));
        }
        let argv = split_command(command)
            .map_err(|e| CliError::user(format!("--alembic-cmd `{command}`: {e}")))?;
        Ok(Alembic {
            argv,
            source,
            shown: command,
        })
    }

    fn run(&self, args: &[&str]) -> Result<Ran, CliError> {
        let (program, rest) = self.argv.split_first().ok_or_else(|| {
            CliError::user("--alembic-cmd is empty; give the command that runs Alembic")
        })?;
        let out = Command::new(program)
            .args(rest)
            .args(args)
            .current_dir(self.source)
            .output()
            .map_err(|e| {
                CliError::user(format!(
                    "cannot run `{} {}` in {}: {e}",
                    self.shown,
                    args.join(" "),
                    self.source.display()
                ))
            })?;
        let text = |bytes: Vec<u8>, what: &str| {
            String::from_utf8(bytes).map_err(|_| {
                CliError::user(format!(
                    "`{} {}` printed {what} that is not UTF-8",
                    self.shown,
                    args.join(" ")
                ))
            })
        };
        Ok(Ran {
            ok: out.status.success(),
            // Python on Windows writes its text-mode `\n` as `\r\n`.
            stdout: text(out.stdout, "output")?.replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn failed(&self, args: &[&str], stderr: &str) -> CliError {
        CliError::user(format!(
            "`{} {}` failed in {}:\n{}",
            self.shown,
            args.join(" "),
            self.source.display(),
            alembic_error(stderr)
        ))
    }

    /// One offline run: the SQL of each revision, by Alembic id.
    fn offline(
        &self,
        args: &[&str],
        direction: Direction,
        scripts: &[Script],
        table: Option<&str>,
    ) -> Result<Offline, CliError> {
        let ran = self.run(args)?;
        let ids = scripts.iter().map(|s| s.id.as_str()).collect();
        let parsed = parse_offline(&ran.stdout, direction, &ids, table);
        if ran.ok {
            return parsed.map_err(CliError::user);
        }
        let Some(failing) = last_section(&ran.stdout, direction) else {
            return Err(self.failed(args, &ran.stderr));
        };
        let path = scripts
            .iter()
            .find(|s| s.id == failing)
            .map(|s| format!(" ({})", s.path.display()))
            .unwrap_or_default();
        Err(CliError::user(format!(
            "Alembic cannot produce the offline {} SQL of revision {failing}{path} \
             (`{} {}`), so it cannot be imported; Alembic's error:\n{}",
            direction.word(),
            self.shown,
            args.join(" "),
            alembic_error(&ran.stderr)
        )))
    }
}

/// Alembic's stderr without its `INFO` log lines, at most its last 30 lines.
fn alembic_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("INFO  ["))
        .collect();
    let start = lines.len().saturating_sub(30);
    lines[start..].join("\n").trim().to_owned()
}

/// Splits a command line into words as a POSIX shell does for plain words, `'…'`, `"…"`
/// and `\`: no variables, globs or other shell syntax.
fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a ' quote is not closed".to_owned()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => w.extend(['\\', c]),
                            None => return Err("a \" quote is not closed".to_owned()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a \" quote is not closed".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("it ends with a lone \\".to_owned()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err("it is empty; give the command that runs Alembic".to_owned());
    }
    Ok(words)
}

// ---------------------------------------------------------------------------------------
// `alembic history --verbose`

/// One revision as `history --verbose` shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Script {
    id: String,
    /// Shown as `(head)`: nothing revises it.
    is_head: bool,
    parents: Vec<String>,
    depends_on: Vec<String>,
    /// Its labels and the ones it inherits (Alembic shows both).
    shown_labels: Vec<String>,
    path: PathBuf,
    /// The docstring, one entry per line.
    doc: Vec<String>,
}

impl Script {
    /// The first line of the docstring (Alembic's message), or a stand-in.
    fn message(&self) -> String {
        self.doc
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map_or_else(|| format!("alembic revision {}", self.id), str::to_owned)
    }

    /// The rest of the docstring line that starts with `key` (e.g. `Create Date:`).
    fn doc_value(&self, key: &str) -> Option<String> {
        self.doc
            .iter()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().to_owned())
    }
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "<base>")
        .map(str::to_owned)
        .collect()
}

/// The revisions of `history --verbose`, in its order (heads first).
fn parse_history(stdout: &str) -> Result<Vec<Script>, CliError> {
    let mut scripts: Vec<Script> = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("Rev: ") {
            let mut words = rest.split_whitespace();
            let id = words.next().unwrap_or_default();
            scripts.push(Script {
                id: id.to_owned(),
                is_head: words.any(|w| w == "(head)"),
                ..Script::default()
            });
            continue;
        }
        let Some(script) = scripts.last_mut() else {
            continue;
        };
        if let Some(doc) = line.strip_prefix("    ") {
            script.doc.push(doc.to_owned());
        } else if let Some(v) = line.strip_prefix("Parent: ") {
            script.parents = comma_list(v);
        } else if let Some(v) = line.strip_prefix("Merges: ") {
            script.parents = comma_list(v);
        } else if let Some(v) = line.strip_prefix("Also depends on: ") {
            script.depends_on = comma_list(v);
        } else if let Some(v) = line.strip_prefix("Branch names: ") {
            script.shown_labels = comma_list(v);
        } else if let Some(v) = line.strip_prefix("Path: ") {
            script.path = PathBuf::from(v);
        }
    }
    if let Some(s) = scripts
        .iter()
        .find(|s| s.id.is_empty() || s.path.as_os_str().is_empty())
    {
        return Err(CliError::user(format!(
            "`alembic history --verbose` printed a revision `{}` without its id or path; \
             is this Alembic's own output?",
            s.id
        )));
    }
    Ok(scripts)
}

// ---------------------------------------------------------------------------------------
// Offline SQL

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Upgrade,
    Downgrade,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }

    /// The revision that an Alembic `-- Running …` line runs.
    fn revision_of(self, chunk: &str) -> Option<String> {
        let rest = chunk.strip_prefix("-- Running ")?;
        let rest = rest.strip_prefix(self.word())?.strip_prefix(' ')?;
        let (from, to) = rest.split_once(" ->")?;
        let id = match self {
            Direction::Upgrade => to.trim(),
            Direction::Downgrade => from.trim(),
        };
        (!id.is_empty() && !id.contains([',', ' ', '\n'])).then(|| id.to_owned())
    }
}

/// The SQL of one revision in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sql {
    text: String,
    /// `false` when it held an `autocommit_block()` (a `COMMIT;` … `BEGIN;` of Alembic's).
    transactional: bool,
}

/// The revision of the last `-- Running` line: the one that was running when it failed.
fn last_section(stdout: &str, direction: Direction) -> Option<String> {
    stdout
        .split("\n\n")
        .filter_map(|c| direction.revision_of(c.trim_start_matches('\n')))
        .last()
}

/// What one offline run printed, by revision.
#[derive(Debug)]
struct Offline {
    /// The SQL of each revision, by Alembic id.
    sections: HashMap<String, Sql>,
    /// The version table's name.
    table: String,
}

/// Alembic's offline output cut at its `-- Running` lines: the SQL of each revision. The
/// version table is the one the output creates, else `table`, else `alembic_version`.
fn parse_offline(
    stdout: &str,
    direction: Direction,
    ids: &BTreeSet<&str>,
    table: Option<&str>,
) -> Result<Offline, String> {
    let mut sections: Vec<(String, Vec<&str>)> = Vec::new();
    let mut preamble: Vec<&str> = Vec::new();
    for chunk in stdout.split("\n\n") {
        let chunk = chunk.trim_start_matches('\n');
        if let Some(id) = direction.revision_of(chunk) {
            sections.push((id, Vec::new()));
        } else if let Some((_, chunks)) = sections.last_mut() {
            chunks.push(chunk);
        } else {
            preamble.push(chunk);
        }
    }
    let table = version_table(&preamble)
        .or_else(|| table.map(str::to_owned))
        .unwrap_or_else(|| "alembic_version".to_owned());
    let mut by_id = HashMap::new();
    for (id, chunks) in sections {
        let sql = section_sql(chunks, &table, ids);
        if by_id.insert(id.clone(), sql).is_some() {
            return Err(format!(
                "Alembic's offline {} SQL runs revision {id} twice; revchain cannot tell \
                 which SQL is its own",
                direction.word()
            ));
        }
    }
    Ok(Offline {
        sections: by_id,
        table,
    })
}

/// The version table's name as Alembic's offline upgrade creates it (a downgrade does not).
fn version_table(preamble: &[&str]) -> Option<String> {
    preamble
        .iter()
        .filter(|c| c.contains("version_num"))
        .find_map(|c| c.strip_prefix("CREATE TABLE "))
        .and_then(|rest| rest.split_once(" ("))
        .map(|(name, _)| name.to_owned())
}

/// A revision's SQL: its chunks without Alembic's bookkeeping at the end (version table,
/// `COMMIT;`, `BEGIN;`), and without the `COMMIT;`/`BEGIN;` of autocommit blocks inside.
fn section_sql(mut chunks: Vec<&str>, table: &str, ids: &BTreeSet<&str>) -> Sql {
    while chunks
        .last()
        .is_some_and(|c| c.trim().is_empty() || is_bookkeeping(c, table, ids))
    {
        chunks.pop();
    }
    let before = chunks.len();
    chunks.retain(|c| !is_transaction_control(c));
    Sql {
        text: chunks.join("\n\n").trim_matches('\n').to_owned(),
        transactional: chunks.len() == before,
    }
}

fn is_transaction_control(chunk: &str) -> bool {
    matches!(chunk.trim(), "BEGIN;" | "COMMIT;")
}

/// A statement Alembic writes for its version table (in exactly Alembic's form, naming
/// revisions of the project), or its transaction.
fn is_bookkeeping(chunk: &str, table: &str, ids: &BTreeSet<&str>) -> bool {
    let chunk = chunk.trim();
    if is_transaction_control(chunk) || chunk == format!("DROP TABLE {table};") {
        return true;
    }
    if chunk.starts_with(&format!("CREATE TABLE {table} (")) {
        return chunk.contains("version_num");
    }
    let Some(statement) = chunk.strip_suffix(';') else {
        return false;
    };
    let id = |rest: &str| -> Option<String> {
        let (id, after) = rest.split_once('\'')?;
        ids.contains(id).then(|| after.to_owned())
    };
    let insert = format!("INSERT INTO {table} (version_num) VALUES ('");
    let update = format!("UPDATE {table} SET version_num='");
    let delete = format!("DELETE FROM {table} WHERE {table}.version_num = '");
    let where_ = format!(" WHERE {table}.version_num = '");
    let returning = |after: &str| {
        after.strip_prefix(") RETURNING ").is_some_and(|column| {
            column == "version_num" || column == format!("{table}.version_num")
        })
    };
    if let Some(rest) = statement.strip_prefix(&insert) {
        return id(rest).is_some_and(|after| after == ")" || returning(&after));
    }
    if let Some(rest) = statement.strip_prefix(&update) {
        return id(rest)
            .and_then(|after| after.strip_prefix(&where_).map(str::to_owned))
            .and_then(|rest| id(&rest))
            .is_some_and(|after| after.is_empty());
    }
    statement
        .strip_prefix(&delete)
        .and_then(id)
        .is_some_and(|after| after.is_empty())
}

// ---------------------------------------------------------------------------------------
// Branch labels: whose own they are

/// Each revision's own branch labels (by Alembic id), read from the `branch_labels = …`
/// line of the revisions that Alembic shows with labels, and checked against what it shows.
fn own_labels(source: &Path, scripts: &[Script]) -> Result<HashMap<String, Vec<String>>, CliError> {
    let mut owned = HashMap::new();
    let mut shown = BTreeSet::new();
    for s in scripts.iter().filter(|s| !s.shown_labels.is_empty()) {
        shown.extend(s.shown_labels.iter().cloned());
        let path = source.join(&s.path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::user(format!("{}: cannot read it: {e}", path.display())))?;
        let labels = labels_in_file(&text)
            .map_err(|(line, e)| CliError::user(format!("{}:{line}: {e}", path.display())))?;
        if let Some(l) = labels.iter().find(|l| !s.shown_labels.contains(l)) {
            return Err(CliError::user(format!(
                "{}: `branch_labels` names `{l}`, which Alembic does not show for revision {}",
                path.display(),
                s.id
            )));
        }
        owned.insert(s.id.clone(), labels);
    }
    let declared: BTreeSet<&String> = owned.values().flatten().collect();
    if let Some(l) = shown.iter().find(|l| !declared.contains(l)) {
        return Err(CliError::user(format!(
            "Alembic shows the branch label `{l}`, but no revision file has it in a \
             `branch_labels = …` line that revchain can read"
        )));
    }
    Ok(owned)
}

/// The labels of the last top-level `branch_labels = …` assignment (a string, or a tuple,
/// list or set of strings, or `None`), or the line and why it cannot be read.
fn labels_in_file(text: &str) -> Result<Vec<String>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().rposition(|l| {
        l.strip_prefix("branch_labels")
            .is_some_and(|r| r.trim_start().starts_with([':', '=']))
    }) else {
        return Ok(Vec::new());
    };
    let line_no = start + 1;
    let first = lines[start];
    let value_start = first.find('=').ok_or((line_no, "no `=` here".to_owned()))? + 1;
    let mut value = first[value_start..].to_owned();
    let mut next = start + 1;
    while depth(&value) > 0 && next < lines.len() {
        value.push('\n');
        value.push_str(lines[next]);
        next += 1;
    }
    python_strings(&value).ok_or((
        line_no,
        "`branch_labels` is not a literal revchain can read (None, a string, or a tuple, \
         list or set of strings); write the labels as literals"
            .to_owned(),
    ))
}

/// How many brackets are open at the end of `text` (outside strings, roughly).
fn depth(text: &str) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The strings of a Python literal: `None`, `'a'`, `("a", 'b',)`, `['a']`, `{'a'}`;
/// a comment after it is allowed. `None` when it is anything else.
fn python_strings(value: &str) -> Option<Vec<String>> {
    let value = strip_comment(value);
    let value = value.trim();
    if value == "None" {
        return Some(Vec::new());
    }
    let inner = ["()", "[]", "{}"]
        .iter()
        .find_map(|b| {
            value
                .strip_prefix(&b[..1])
                .and_then(|v| v.strip_suffix(&b[1..]))
        })
        .map_or((value, false), |inner| (inner, true));
    let mut rest = inner.0.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (s, after) = python_string(rest)?;
        out.push(s);
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(r) if inner.1 => rest = r.trim_start(),
            Some(_) => return None,
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    (inner.1 || out.len() == 1).then_some(out)
}

/// Removes `# …` comments outside strings, line by line.
fn strip_comment(value: &str) -> String {
    value
        .lines()
        .map(|line| {
            let mut quote: Option<char> = None;
            for (i, c) in line.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '#') => return &line[..i],
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One plain Python string literal at the start of `text` (optionally `r`/`u`-prefixed, no
/// escapes) and what follows it.
fn python_string(text: &str) -> Option<(String, &str)> {
    let text = text
        .strip_prefix(['r', 'u', 'R', 'U'])
        .filter(|t| t.starts_with(['\'', '"']))
        .unwrap_or(text);
    let quote = text.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let body = &text[1..];
    let end = body.find(quote)?;
    let s = &body[..end];
    (!s.contains(['\\', '\n'])).then(|| (s.to_owned(), &body[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_command_lines_like_a_shell() {
        assert_eq!(
            split_command("uv run alembic").unwrap(),
            ["uv", "run", "alembic"]
        );
        assert_eq!(
            split_command(r#"'/a b/python' -m alembic -c "my dir/alembic.ini" x\ y"#).unwrap(),
            [
                "/a b/python",
                "-m",
                "alembic",
                "-c",
                "my dir/alembic.ini",
                "x y"
            ]
        );
        assert_eq!(split_command(r#"a "" b"#).unwrap(), ["a", "", "b"]);
        assert!(split_command("  ").is_err());
        assert!(split_command("a 'b").is_err());
        assert!(split_command("a \"b").is_err());
    }

    const HISTORY: &str = "\
Rev: e5 (head) (mergepoint)
Merges: b2, d4
Also depends on: g7, settings
Branch names: audit
Path: /p/versions/e5_merge.py

    merge posts and audit
    \n    Revision ID: e5
    Revises: b2, d4
    Create Date: 2024-01-06 00:00:00

Rev: a1 (branchpoint)
Parent: <base>
Branches into: b2, d4
Path: versions/a1.py

";

    #[test]
    fn reads_alembic_history() {
        let s = parse_history(HISTORY).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id, "e5");
        assert!(s[0].is_head && !s[1].is_head);
        assert_eq!(s[0].parents, ["b2", "d4"]);
        assert_eq!(s[0].depends_on, ["g7", "settings"]);
        assert_eq!(s[0].shown_labels, ["audit"]);
        assert_eq!(s[0].path, Path::new("/p/versions/e5_merge.py"));
        assert_eq!(s[0].message(), "merge posts and audit");
        assert_eq!(
            s[0].doc_value("Create Date:").as_deref(),
            Some("2024-01-06 00:00:00")
        );
        assert!(s[1].parents.is_empty());
        assert_eq!(s[1].message(), "alembic revision a1");
        assert_eq!(s[1].doc_value("Create Date:"), None);
        assert!(parse_history("Rev: x\nParent: <base>\n").is_err());
    }

    const UPGRADE: &str = "BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> a1

CREATE TABLE users (
    id SERIAL NOT NULL, 
    PRIMARY KEY (id)
);

INSERT INTO alembic_version (version_num) VALUES ('a1') RETURNING version_num;

-- Running upgrade a1 -> b2

INSERT INTO alembic_version (version_num) VALUES ('x');

UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';

COMMIT;

BEGIN;

-- Running upgrade b2, d4 -> e5

COMMIT;

CREATE INDEX CONCURRENTLY ix ON users (id);

SELECT '

two paragraphs';

BEGIN;

DELETE FROM alembic_version WHERE alembic_version.version_num = 'b2';

UPDATE alembic_version SET version_num='e5' WHERE alembic_version.version_num = 'd4';

-- Running upgrade e5 -> f6

DELETE FROM alembic_version WHERE alembic_version.version_num = 'e5';

COMMIT;

";

    #[test]
    fn keeps_each_revisions_sql_and_drops_alembics_bookkeeping() {
        let ids = BTreeSet::from(["a1", "b2", "d4", "e5", "f6"]);
        let s = parse_offline(UPGRADE, Direction::Upgrade, &ids, None).unwrap();
        assert_eq!(s.table, "alembic_version");
        let s = s.sections;
        assert_eq!(s.len(), 4);
        assert_eq!(
            s["a1"].text,
            "CREATE TABLE users (\n    id SERIAL NOT NULL, \n    PRIMARY KEY (id)\n);"
        );
        assert!(s["a1"].transactional);
        // Only the trailing version-table statements are Alembic's: the revision's own
        // statement on that table, before them, stays.
        assert_eq!(
            s["b2"].text,
            "INSERT INTO alembic_version (version_num) VALUES ('x');"
        );
        assert_eq!(
            s["e5"].text,
            "CREATE INDEX CONCURRENTLY ix ON users (id);\n\nSELECT '\n\ntwo paragraphs';"
        );
        assert!(!s["e5"].transactional);
        assert_eq!(s["f6"].text, "");
        assert_eq!(
            last_section(UPGRADE, Direction::Upgrade).as_deref(),
            Some("f6")
        );
    }

    #[test]
    fn reads_downgrade_sections_and_other_version_tables() {
        let out = "-- Running downgrade e5 -> b2, d4\n\nDROP TABLE t;\n\n\
                   UPDATE s.vt SET version_num='b2' WHERE s.vt.version_num = 'e5';\n\n\
                   -- Running downgrade a1 -> \n\nDROP TABLE u;\n\nINSERT INTO alembic_version (version_num) \
                   VALUES ('b2') RETURNING alembic_version.version_num;\n\nDELETE FROM alembic_version \
                   WHERE alembic_version.version_num = 'a1';\n\nDROP TABLE alembic_version;\n\n";
        let ids = BTreeSet::from(["a1", "b2", "e5"]);
        let s = parse_offline(out, Direction::Downgrade, &ids, None).unwrap();
        assert_eq!(s.sections["a1"].text, "DROP TABLE u;");
        // Without the upgrade's CREATE TABLE, nor a name from it, the default is assumed.
        assert!(s.sections["e5"].text.ends_with("version_num = 'e5';"));
        let s = parse_offline(out, Direction::Downgrade, &ids, Some("s.vt")).unwrap();
        assert_eq!(s.sections["e5"].text, "DROP TABLE t;");
        assert_eq!(
            version_table(&["CREATE TABLE s.vt (\n    version_num VARCHAR(32)"]).as_deref(),
            Some("s.vt")
        );
        let twice = "-- Running upgrade  -> a\n\nX;\n\n-- Running upgrade  -> a\n\n";
        assert!(parse_offline(twice, Direction::Upgrade, &ids, None).is_err());
    }

    #[test]
    fn reads_branch_labels_literals() {
        let f = |t: &str| labels_in_file(t);
        assert_eq!(f("x = 1\n").unwrap(), Vec::<String>::new());
        assert_eq!(
            f("branch_labels: Union[str, Sequence[str], None] = None\n").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(f("branch_labels = 'a'  # mine\n").unwrap(), ["a"]);
        assert_eq!(f("branch_labels = ('a',)\n").unwrap(), ["a"]);
        assert_eq!(
            f("branch_labels = (\n    \"a\",\n    'b',\n)\n").unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            f("branch_labels = ['a']\nbranch_labels = {'c'}\n").unwrap(),
            ["c"]
        );
        assert_eq!(f("branch_labels = r'a'\n").unwrap(), ["a"]);
        assert_eq!(f("x\nbranch_labels = LABELS\n").unwrap_err().0, 2);
        assert!(f("branch_labels = 'a', 'b'\n").is_err());
        assert!(f("branch_labels = ('a' 'b')\n").is_err());
        assert!(f("branch_labels = 'a\\'b'\n").is_err());
    }

    #[test]
    fn makes_revchain_revisions() {
        let scripts = parse_history(HISTORY).unwrap();
        let ids = revchain_ids(&scripts).unwrap();
        let labels = HashMap::from([("e5".to_owned(), vec!["audit".to_owned()])]);
        let sql = |t: &str, tx| Sql {
            text: t.to_owned(),
            transactional: tx,
        };
        let r = new_revision(
            &scripts[0],
            "alembic (versions/e5.py)".to_owned(),
            &ids,
            &labels,
            &sql("UP;", true),
            &sql("", false),
        );
        assert_eq!(r.id, "e5");
        assert_eq!(r.parents, ["b2", "d4"]);
        assert_eq!(r.branch_labels, ["audit"]);
        assert_eq!(r.depends_on, ["g7", "settings"]);
        assert_eq!(r.create_date, "2024-01-06 00:00:00");
        assert!(!r.transactional);
        assert_eq!(r.downgrade.as_deref(), Some(""));
        let text = revchain_core::writer::render(&r).unwrap();
        assert!(text.contains("-- Revises: b2, d4\n"), "{text}");
        // A docstring without `Create Date` (nor a message) still makes a file that reads
        // back.
        let base = new_revision(
            &scripts[1],
            "alembic (versions/a1.py)".to_owned(),
            &ids,
            &labels,
            &sql("", true),
            &sql("", true),
        );
        let text = revchain_core::writer::render(&base).unwrap();
        let parsed = revchain_core::parse::parse_with("a1.sql", &text, revchain_core::Mode::Strict)
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(parsed.message, "alembic revision a1");
        // An `upgrade()` that emits no SQL: an empty section, which an imported revision
        // may have.
        assert_eq!(parsed.upgrade.sql, "");
        assert!(
            text.contains("-- imported from alembic (versions/a1.py)\n"),
            "{text}"
        );
        assert!(parsed.parents.is_empty());
    }
}
