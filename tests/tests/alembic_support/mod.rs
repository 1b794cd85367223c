//! The Alembic conformance harness (issue 14), shared by `tests/alembic_conformance.rs` (a
//! few hundred graph × command cases in CI) and `benches/alembic_conformance.rs` (thousands).
//!
//! Random revision graphs (linear, branched, merged, several bases, branch labels,
//! `Depends On`) are written both as an Alembic project and as a revchain migrations
//! directory with the same ids, each revision creating a table `t_<id>`. The same random
//! commands (`upgrade`, `downgrade`, `stamp` with targets of every form) run through the real
//! Alembic (its command API, in the venv of `.ci/run`) on one SQLite file and through the
//! `revchain` binary on another (`driver.py` runs both). After each command the two must
//! agree on success or refusal, on the applied revisions the version table stands for, and
//! on the tables that exist (which revisions ran). A disagreement is accepted only when a
//! named entry of [`KNOWN_DIFFERENCES`] (a deliberate difference, documented in the README's
//! Alembic → revchain table) recognises it; the rest of that sequence is then skipped, since
//! the two databases no longer start from the same state.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;
use serde_json::{Value, json};

/// One revision of a generated graph.
#[derive(Debug, Clone)]
pub struct Rev {
    pub id: String,
    pub parents: Vec<usize>,
    pub depends_on: Vec<usize>,
    pub label: Option<String>,
}

/// A generated graph, in topological order (parents and dependencies come first).
#[derive(Debug, Clone)]
pub struct Graph {
    pub revs: Vec<Rev>,
}

/// One command of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub op: &'static str,
    pub target: String,
}

/// A graph and the commands to run on it, from an empty database.
#[derive(Debug, Clone)]
pub struct Case {
    pub graph: Graph,
    pub commands: Vec<Cmd>,
}

const ID_GROUPS: [&str; 3] = ["aaa", "aab", "abb"];

/// The raw choices of one revision: shape (base, child or merge), two parent picks, a
/// dependency pick, whether it has a label, and its id number.
type RevChoice = (u8, u8, u8, Option<u8>, bool, u16);

impl Graph {
    /// Builds a graph from raw choices (each `(shape, a, b, dep, labelled, id)`), repairing
    /// choices that do not fit (a merge of related revisions becomes a child).
    fn from_choices(choices: &[RevChoice]) -> Graph {
        let mut revs: Vec<Rev> = Vec::new();
        let mut ids = BTreeSet::new();
        for (i, &(shape, a, b, dep, labelled, id)) in choices.iter().enumerate() {
            let mut n = id;
            let id = loop {
                let candidate = format!("{}{:03x}", ID_GROUPS[usize::from(n % 3)], n % 4096);
                if ids.insert(candidate.clone()) {
                    break candidate;
                }
                n = n.wrapping_add(7);
            };
            let parents = if i == 0 {
                Vec::new()
            } else {
                let (a, b) = (usize::from(a) % i, usize::from(b) % i);
                let g = Graph { revs: revs.clone() };
                match shape % 10 {
                    0 | 1 => Vec::new(),
                    2 | 3 if a != b && !g.lineage(a)[b] && !g.lineage(b)[a] => vec![a, b],
                    _ => vec![a],
                }
            };
            let g = Graph { revs: revs.clone() };
            let mut depends_on = Vec::new();
            if let Some(d) = dep.filter(|_| i > 0) {
                let d = usize::from(d) % i;
                let mine = g.ancestors_of(&parents);
                if !mine[d] {
                    depends_on.push(d);
                }
            }
            revs.push(Rev {
                id,
                parents,
                depends_on,
                label: labelled.then(|| format!("l{i}")),
            });
        }
        Graph { revs }
    }

    /// `roots` and their ancestors through parents only.
    fn lineage(&self, root: usize) -> Vec<bool> {
        let mut mark = vec![false; self.revs.len()];
        mark[root] = true;
        for i in (0..self.revs.len()).rev() {
            if mark[i] {
                for &p in &self.revs[i].parents {
                    mark[p] = true;
                }
            }
        }
        mark
    }

    /// `roots` and everything they need (parents and dependencies).
    pub fn ancestors_of(&self, roots: &[usize]) -> Vec<bool> {
        let mut mark = vec![false; self.revs.len()];
        for &r in roots {
            mark[r] = true;
        }
        for i in (0..self.revs.len()).rev() {
            if mark[i] {
                for &p in self.revs[i].parents.iter().chain(&self.revs[i].depends_on) {
                    mark[p] = true;
                }
            }
        }
        mark
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.revs.iter().position(|r| r.id == id)
    }

    /// The applied revisions that version rows stand for, or the unknown row.
    pub fn applied(&self, rows: &[String]) -> Result<BTreeSet<String>, String> {
        let roots = rows
            .iter()
            .map(|r| self.index(r).ok_or_else(|| r.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let mark = self.ancestors_of(&roots);
        Ok((0..self.revs.len())
            .filter(|&i| mark[i])
            .map(|i| self.revs[i].id.clone())
            .collect())
    }

    fn labels(&self) -> Vec<&str> {
        self.revs
            .iter()
            .filter_map(|r| r.label.as_deref())
            .collect()
    }

    /// The graph in a few lines, for failure messages.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for r in &self.revs {
            let names = |v: &[usize]| {
                v.iter()
                    .map(|&p| self.revs[p].id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = write!(out, "  {} <- [{}]", r.id, names(&r.parents));
            if !r.depends_on.is_empty() {
                let _ = write!(out, " depends on [{}]", names(&r.depends_on));
            }
            if let Some(l) = &r.label {
                let _ = write!(out, " label {l}");
            }
            out.push('\n');
        }
        out
    }

    /// Writes the Alembic project (`<root>/alembic`) and the revchain directory
    /// (`<root>/migrations`).
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        let versions = root.join("alembic/versions");
        let migrations = root.join("migrations");
        std::fs::create_dir_all(&versions)?;
        std::fs::create_dir_all(&migrations)?;
        std::fs::write(root.join("alembic/env.py"), ENV_PY)?;
        for r in &self.revs {
            std::fs::write(versions.join(format!("{}.py", r.id)), self.python(r))?;
            std::fs::write(migrations.join(format!("{}_r.sql", r.id)), self.sql(r))?;
        }
        Ok(())
    }

    fn py_tuple(&self, v: &[usize]) -> String {
        match v {
            [] => "None".to_owned(),
            [one] => format!("'{}'", self.revs[*one].id),
            many => format!(
                "({})",
                many.iter()
                    .map(|&p| format!("'{}'", self.revs[p].id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn python(&self, r: &Rev) -> String {
        let labels = r
            .label
            .as_ref()
            .map_or_else(|| "None".to_owned(), |l| format!("('{l}',)"));
        let depends = match r.depends_on.as_slice() {
            [] => "None".to_owned(),
            d => format!("({},)", self.py_tuple(d)),
        };
        format!(
            "from alembic import op\n\nrevision = '{id}'\ndown_revision = {down}\n\
             branch_labels = {labels}\ndepends_on = {depends}\n\n\
             def upgrade():\n    op.execute(\"CREATE TABLE IF NOT EXISTS t_{id} (x int)\")\n\n\
             def downgrade():\n    op.execute(\"DROP TABLE IF EXISTS t_{id}\")\n",
            id = r.id,
            down = self.py_tuple(&r.parents),
        )
    }

    fn sql(&self, r: &Rev) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|&p| self.revs[p].id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut header = format!(
            "-- revision {id}\n--\n-- Revision ID: {id}\n-- Revises: {}\n",
            list(&r.parents),
            id = r.id
        );
        if let Some(l) = &r.label {
            let _ = writeln!(header, "-- Branch Labels: {l}");
        }
        if !r.depends_on.is_empty() {
            let _ = writeln!(header, "-- Depends On: {}", list(&r.depends_on));
        }
        format!(
            "{header}\n-- migrate:upgrade\nCREATE TABLE IF NOT EXISTS t_{id} (x int);\n\n-- migrate:downgrade\nDROP TABLE IF EXISTS t_{id};\n",
            id = r.id
        )
    }
}

const ENV_PY: &str = "from alembic import context\n\n\
connection = context.config.attributes[\"connection\"]\n\
context.configure(connection=connection)\n\
with context.begin_transaction():\n    context.run_migrations()\n";

/// The driver that runs both tools.
const DRIVER_PY: &str = include_str!("driver.py");

/// Maps raw choices to a target string of the graph.
fn target(g: &Graph, kind: u8, a: u8, n: u8) -> String {
    let id = &g.revs[usize::from(a) % g.revs.len()].id;
    let labels = g.labels();
    let label = if labels.is_empty() {
        id.as_str()
    } else {
        labels[usize::from(a) % labels.len()]
    };
    let n = i32::from(n % 3) + 1;
    match kind % 18 {
        0 => "head".to_owned(),
        1 => "heads".to_owned(),
        2 => "base".to_owned(),
        3 => id.clone(),
        4 => id[..(4 + usize::from(a % 2)).min(id.len())].to_owned(),
        5 => format!("+{n}"),
        6 => format!("-{n}"),
        7 => format!("{id}+{n}"),
        8 => format!("{id}-{n}"),
        9 => format!("{label}@head"),
        10 => format!("{label}@base"),
        11 => format!("{label}@+{n}"),
        12 => format!("{label}@-{n}"),
        13 => format!("{id}@head"),
        14 => format!("{id}@base"),
        15 => format!("{id}@+{n}"),
        16 => format!("{id}@-{n}"),
        _ => label.to_owned(),
    }
}

/// The strategy of one case: 1 to `max_revs` revisions and 3 to 8 commands.
pub fn case(max_revs: usize) -> impl Strategy<Value = Case> {
    let rev = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        prop::option::weighted(0.25, any::<u8>()),
        prop::bool::weighted(0.3),
        any::<u16>(),
    );
    let cmd = (0u8..10, any::<u8>(), any::<u8>(), any::<u8>());
    (
        prop::collection::vec(rev, 1..=max_revs),
        prop::collection::vec(cmd, 3..=8),
    )
        .prop_map(|(revs, cmds)| {
            let graph = Graph::from_choices(&revs);
            let commands = cmds
                .iter()
                .map(|&(op, kind, a, n)| Cmd {
                    op: match op {
                        0..=4 => "upgrade",
                        5..=7 => "downgrade",
                        _ => "stamp",
                    },
                    target: target(&graph, kind, a, n),
                })
                .collect();
            Case { graph, commands }
        })
}

/// What one tool did with one command.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ok: bool,
    pub error: String,
    pub warnings: Vec<String>,
    pub rows: Vec<String>,
    pub tables: Vec<String>,
}

impl Outcome {
    fn from_json(v: &Value) -> Outcome {
        let strings = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Outcome {
            ok: v["ok"].as_bool().unwrap_or(false),
            error: v["error"].as_str().unwrap_or("").to_owned(),
            warnings: strings("warnings"),
            rows: strings("rows"),
            tables: strings("tables"),
        }
    }
}

/// Where a command of a case stood when the tools disagreed.
pub struct Step<'a> {
    pub graph: &'a Graph,
    pub cmd: &'a Cmd,
    /// The applied revisions before the command (the two tools agreed on them).
    pub before: &'a BTreeSet<String>,
    pub alembic: &'a Outcome,
    pub revchain: &'a Outcome,
}

/// A deliberate difference from Alembic: revchain keeps the right behaviour, and the README's
/// Alembic → revchain table says so.
pub struct KnownDifference {
    /// A short name, counted in the summary.
    pub name: &'static str,
    /// Why revchain differs.
    pub reason: &'static str,
    /// Whether a disagreement is this difference.
    pub recognises: fn(&Step<'_>) -> bool,
}

/// Every deliberate difference the harness accepts (one line each in the README's
/// Alembic → revchain table).
pub const KNOWN_DIFFERENCES: &[KnownDifference] = &[
    KnownDifference {
        name: "stamp-relative",
        reason: "revchain stamps a relative target (+N, -N, <id>+N, <id>-N, label@+N, label@-N) \
             where upgrade or downgrade would go from the current state; Alembic's stamp \
             cannot locate +N and <id>±N, and resolves -N and label@-N only while the version \
             table is empty, from the script's heads (otherwise it looks `-N` up as a \
             revision name and fails)",
        recognises: |s| {
            s.cmd.op == "stamp"
                && is_relative(&s.cmd.target)
                && (s.before.is_empty()
                    || !s.alembic.ok && s.alembic.error.contains("Can't locate revision"))
        },
    },
    KnownDifference {
        name: "downgrade-label-head",
        reason: "revchain's downgrade to label@head goes to the head of the label's branch (nothing \
             above it is reverted); Alembic resolves `head` there without the label, so it \
             refuses whenever the script has several heads",
        recognises: |s| {
            s.cmd.op == "downgrade"
                && s.cmd.target.ends_with("@head")
                && !s.alembic.ok
                && s.alembic
                    .error
                    .contains("Multiple head revisions are present")
                && s.revchain.ok
                && s.revchain.tables == s.alembic.tables
                && s.graph.applied(&s.revchain.rows).as_ref() == Ok(s.before)
        },
    },
    KnownDifference {
        name: "downgrade-relative-several-current",
        reason: "with several current revisions, Alembic's downgrade -N steps down from whichever \
             version row the database returns first (and warns that this will be disallowed); \
             revchain refuses and asks for <id>-N or label@-N",
        recognises: |s| {
            s.cmd.op == "downgrade"
                && s.cmd.target.starts_with('-')
                && s.alembic
                    .warnings
                    .iter()
                    .any(|w| w.contains("from multiple heads is ambiguous"))
                && !s.revchain.ok
                && s.revchain.error.contains("current revisions")
        },
    },
    KnownDifference {
        name: "downgrade-to-needed-revision",
        reason: "a downgrade to an applied revision that only revisions depending on it (Depends On) \
             stand above does nothing in revchain, as the target is where the database is; \
             Alembic finds nothing to drop and calls it not a valid downgrade target",
        recognises: |s| {
            s.cmd.op == "downgrade"
                && !s.alembic.ok
                && s.alembic.error.contains("is not a valid downgrade target")
                && s.revchain.ok
                && s.revchain.tables == s.alembic.tables
                && s.graph.applied(&s.revchain.rows).as_ref() == Ok(s.before)
        },
    },
    KnownDifference {
        name: "stamp-heads-keeps-every-head",
        reason: "Alembic's stamp heads computes every head's step from the rows before the \
                 stamp: when one head is already a row and another branch is below its head, \
                 the first step merges both rows away and the second is skipped, so a head is \
                 lost; revchain stamps each head in turn and records all of them",
        recognises: |s| {
            s.cmd.op == "stamp"
                && s.cmd.target == "heads"
                && s.alembic.ok
                && s.revchain.ok
                && s.graph
                    .applied(&s.revchain.rows)
                    .is_ok_and(|a| a.len() == s.graph.revs.len())
        },
    },
];

/// Whether a target is a step: `+N`, `-N`, `<id>±N`, `label@±N`.
fn is_relative(target: &str) -> bool {
    target.rfind(['+', '-']).is_some_and(|at| {
        at + 1 < target.len() && target[at + 1..].bytes().all(|b| b.is_ascii_digit())
    })
}

/// How a case went.
#[derive(Debug, Default)]
pub struct Tally {
    /// Commands compared (both tools agreed).
    pub agreed: usize,
    /// Commands where a known difference showed, by name.
    pub known: std::collections::BTreeMap<&'static str, usize>,
    /// Commands where Alembic refused (and revchain too).
    pub refused: usize,
    /// Failure reports.
    pub failures: Vec<String>,
}

/// The python of the Alembic venv: `REVCHAIN_ALEMBIC_PYTHON`, else `target/alembic-venv`
/// (what `.ci/run` creates). `None` when neither exists outside CI; in CI (`CI=true`) a
/// missing venv is a failure, never a skip.
pub fn alembic_python() -> Option<PathBuf> {
    let from_env = std::env::var_os("REVCHAIN_ALEMBIC_PYTHON").map(PathBuf::from);
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/alembic-venv/bin/python");
    let python = from_env.or_else(|| default.exists().then_some(default));
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    match python {
        Some(p) => {
            let works = Command::new(&p)
                .args(["-c", "import alembic, sqlalchemy"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                works,
                "{} cannot import alembic; recreate the venv (see .ci/run)",
                p.display()
            );
            Some(p)
        }
        None if in_ci => panic!(
            "CI=true but there is no Alembic venv: set REVCHAIN_ALEMBIC_PYTHON or run .ci/run, \
             which creates target/alembic-venv"
        ),
        None => None,
    }
}

/// Runs cases through both tools (one Python process for all of them) and judges every
/// command.
pub fn run(python: &Path, revchain: &Path, cases: &[Case]) -> Tally {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let driver = tmp.path().join("driver.py");
    std::fs::write(&driver, DRIVER_PY).expect("writing the driver");
    let mut request = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let root = tmp.path().join(format!("case{k}"));
        case.graph.write(&root).expect("writing the projects");
        request.push(json!({
            "alembic": root.join("alembic"),
            "revchain_dir": root.join("migrations"),
            "alembic_db": root.join("alembic.db"),
            "revchain_db": root.join("revchain.db"),
            "commands": case.commands.iter().map(|c| [c.op, c.target.as_str()]).collect::<Vec<_>>(),
        }));
    }
    let request = json!({ "revchain": revchain, "cases": request });
    let mut child = Command::new(python)
        .arg(&driver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the Alembic driver");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("writing the request");
    let out = child
        .wait_with_output()
        .expect("running the Alembic driver");
    assert!(out.status.success(), "the Alembic driver failed");
    let results: Value = serde_json::from_slice(&out.stdout).expect("the driver's JSON");
    let mut tally = Tally::default();
    for (case, result) in cases.iter().zip(results.as_array().expect("a list")) {
        judge(case, result, &mut tally);
    }
    tally
}

fn judge(case: &Case, result: &Value, tally: &mut Tally) {
    let mut before = BTreeSet::new();
    for (k, (cmd, res)) in case
        .commands
        .iter()
        .zip(result.as_array().expect("a list"))
        .enumerate()
    {
        let alembic = Outcome::from_json(&res["alembic"]);
        let revchain = Outcome::from_json(&res["revchain"]);
        let problem = disagreement(&case.graph, &alembic, &revchain);
        let Some(problem) = problem else {
            if alembic.ok {
                tally.agreed += 1;
            } else {
                tally.refused += 1;
            }
            before = case.graph.applied(&alembic.rows).unwrap_or_default();
            continue;
        };
        let step = Step {
            graph: &case.graph,
            cmd,
            before: &before,
            alembic: &alembic,
            revchain: &revchain,
        };
        if let Some(known) = KNOWN_DIFFERENCES.iter().find(|d| (d.recognises)(&step)) {
            *tally.known.entry(known.name).or_default() += 1;
            return;
        }
        let mut report = format!(
            "{problem} at command {} of:\ngraph:\n{}commands:\n",
            k + 1,
            case.graph.describe()
        );
        for c in &case.commands[..=k] {
            let _ = writeln!(report, "  {} {}", c.op, c.target);
        }
        let _ = writeln!(
            report,
            "applied before: {before:?}\nalembic: {alembic:?}\nrevchain: {revchain:?}"
        );
        tally.failures.push(report);
        return;
    }
}

/// What differs between the two outcomes, if anything.
fn disagreement(g: &Graph, alembic: &Outcome, revchain: &Outcome) -> Option<String> {
    if alembic.ok != revchain.ok {
        return Some(format!(
            "alembic {} but revchain {}",
            if alembic.ok { "succeeded" } else { "refused" },
            if revchain.ok { "succeeded" } else { "refused" }
        ));
    }
    let a = g.applied(&alembic.rows);
    let r = g.applied(&revchain.rows);
    if a != r {
        return Some(format!(
            "the applied revisions differ (alembic {a:?}, revchain {r:?})"
        ));
    }
    if alembic.tables != revchain.tables {
        return Some("different revisions ran (the tables differ)".to_owned());
    }
    None
}
