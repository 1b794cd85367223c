//! `revchain graph` (Graphviz DOT and Mermaid) and `history --graph` on a directory with
//! branches, a merge, a branch label, a `Depends On` edge and two heads; the current
//! revisions of a real database highlighted; the embedded CLI drawing the same pictures.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use revchain_tests::{Dir, Kind, TestDb, tests_dir};

const TOOL: &str = env!("CARGO_BIN_EXE_revchain-cli");
const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-cli");

fn revchain(dir: &Path, args: &[&str]) -> Output {
    Command::new(TOOL)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "error")
        .output()
        .expect("running revchain")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = revchain(dir, args);
    assert!(
        out.status.success(),
        "revchain {args:?} failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// a ← b (label `orders`) ← d, a ← c, m merges d and c; e on a depends on c; f on m.
/// Heads: e and f.
fn sample() -> Dir {
    let dir = Dir::new();
    dir.creates_table("a", "", "ta")
        .rev(
            "b",
            "a",
            "-- Branch Labels: orders",
            "SELECT 1;",
            Some("SELECT 1;"),
        )
        .creates_table("c", "a", "tc")
        .creates_table("d", "b", "td")
        .rev("m", "d, c", "", "SELECT 1;", Some("SELECT 1;"))
        .rev("e", "a", "-- Depends On: c", "SELECT 1;", Some("SELECT 1;"))
        .creates_table("f", "m", "tf");
    dir
}

/// Lines of `text` that start with `prefix` (after indentation).
fn lines_starting<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with(prefix))
        .collect()
}

#[test]
fn dot_has_every_revision_edge_and_mark_and_graphviz_reads_it() {
    let dir = sample();
    let dot = ok(dir.path(), &["graph"]);
    assert_eq!(dot, ok(dir.path(), &["graph", "--format", "dot"]));
    assert!(
        dot.starts_with("digraph revisions {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    let nodes: Vec<&str> = dot
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('"') && !l.contains("->"))
        .collect();
    assert_eq!(nodes.len(), 7, "{dot}");
    let edges = lines_starting(&dot, "\"")
        .into_iter()
        .filter(|l| l.contains("->"));
    let (dashed, solid): (Vec<&str>, Vec<&str>) = edges.partition(|l| l.contains("dashed"));
    assert_eq!(solid.len(), 7, "{dot}");
    assert_eq!(
        dashed,
        ["\"c\" -> \"e\" [style=dashed, label=\"depends on\"];"]
    );
    for (id, marks) in [
        ("a", "a [branchpoint]"),
        ("b", "b (orders)"),
        ("m", "m [mergepoint]"),
        ("e", "e [head]"),
        ("f", "f [head]"),
    ] {
        let node = nodes
            .iter()
            .find(|l| l.starts_with(&format!("\"{id}\" [")))
            .unwrap();
        assert!(node.contains(&format!("label=\"{marks}\\n")), "{node}");
    }
    assert!(!dot.contains("current"), "{dot}");

    // Graphviz itself: every node and edge laid out (`-Tplain` lists them).
    match graphviz(&dot) {
        Some(plain) => {
            assert_eq!(lines_starting(&plain, "node ").len(), 7, "{plain}");
            assert_eq!(lines_starting(&plain, "edge ").len(), 8, "{plain}");
        }
        None if std::env::var_os("CI").is_some() => panic!("`dot` (graphviz) is not installed"),
        None => eprintln!("`dot` is not installed: Graphviz's own parse skipped"),
    }
}

/// `dot -Tplain` of `source`, `None` without Graphviz; a parse error fails the test.
fn graphviz(source: &str) -> Option<String> {
    let mut child = Command::new("dot")
        .arg("-Tplain")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(source.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot rejected the graph: {}\n{source}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn mermaid_has_every_revision_edge_and_class() {
    let dir = sample();
    let chart = ok(dir.path(), &["graph", "--format", "mermaid"]);
    assert!(chart.starts_with("flowchart TD\n"), "{chart}");
    let nodes = lines_starting(&chart, "r")
        .into_iter()
        .filter(|l| l.contains("[\""))
        .count();
    assert_eq!(nodes, 7, "{chart}");
    let solid = lines_starting(&chart, "r")
        .into_iter()
        .filter(|l| l.contains(" --> "));
    assert_eq!(solid.count(), 7, "{chart}");
    let index = |id: &str| {
        lines_starting(&chart, "r")
            .into_iter()
            .find(|l| l.contains(&format!("[\"{id}")))
            .and_then(|l| l.split('[').next())
            .unwrap()
            .to_owned()
    };
    assert!(chart.contains(&format!(
        "  {} -. depends on .-> {}\n",
        index("c"),
        index("e")
    )));
    assert!(chart.contains(&format!("  class {} mergepoint\n", index("m"))));
    assert!(chart.contains(&format!("  class {} branchpoint\n", index("a"))));
    let mut heads = [index("e"), index("f")];
    heads.sort_by_key(|r| r[1..].parse::<usize>().unwrap());
    assert!(
        chart.contains(&format!("  class {} head\n", heads.join(","))),
        "{chart}"
    );
}

#[test]
fn history_graph_draws_branches_merges_and_heads() {
    let dir = sample();
    let drawn = ok(dir.path(), &["history", "--graph"]);
    let shape: Vec<String> = drawn
        .lines()
        .map(|l| match l.find(" ->") {
            // A revision's row: its graph columns and its id.
            Some(_) => {
                let id = l
                    .split(" -> ")
                    .nth(1)
                    .unwrap()
                    .split([' ', ','])
                    .next()
                    .unwrap();
                let cols = l
                    .find(|c: char| c.is_ascii_alphanumeric() || c == '<')
                    .unwrap();
                format!("{}{id}", &l[..cols])
            }
            None => l.to_owned(),
        })
        .collect();
    assert_eq!(
        shape.join("\n"),
        "* f\n* m\n|\\\n| | * e\n* | | d\n| * | c\n* | | b\n|/ /\n|/\n* a",
        "{drawn}"
    );
    let plain = ok(dir.path(), &["history"]);
    for line in plain.lines() {
        assert!(drawn.contains(line), "{line} is missing from\n{drawn}");
    }
    // A range draws only its revisions; --graph and --verbose do not mix.
    let range = ok(dir.path(), &["history", "--graph", "-r", "m:f"]);
    assert_eq!(range.lines().count(), 2, "{range}");
    assert_eq!(
        revchain(dir.path(), &["history", "--graph", "-v"])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn the_current_revisions_of_a_database_are_highlighted() {
    let db = TestDb::new(Kind::Sqlite).await;
    let dir = sample();
    let url = db.url.as_str();
    ok(dir.path(), &["--database-url", url, "upgrade", "d"]);
    let dot = ok(dir.path(), &["--database-url", url, "graph"]);
    let current: Vec<&str> = dot.lines().filter(|l| l.contains("current")).collect();
    assert_eq!(current.len(), 1, "{dot}");
    assert!(
        current[0].starts_with("  \"d\" [label=\"d [current]\\n"),
        "{dot}"
    );
    assert!(current[0].contains("fillcolor=\"palegreen\""), "{dot}");
    let chart = ok(
        dir.path(),
        &["--database-url", url, "graph", "--format", "mermaid"],
    );
    assert!(chart.contains("\"d [current]<br/>"), "{chart}");
    let d = lines_starting(&chart, "r")
        .into_iter()
        .find(|l| l.contains("[\"d "))
        .unwrap();
    let d = d.split('[').next().unwrap();
    assert!(chart.contains(&format!("  class {d} current\n")), "{chart}");
    graphviz(&dot);

    // A database ahead of the directory: the unknown revision is said, not dropped.
    let fewer = Dir::new();
    fewer.creates_table("a", "", "ta");
    let dot = ok(fewer.path(), &["--database-url", url, "graph"]);
    assert!(
        dot.ends_with(&format!(
            "}}\n// the database's current revision d is not in {}\n",
            fewer.path().display()
        )),
        "{dot}"
    );
}

#[test]
fn the_embedded_cli_draws_the_same_pictures() {
    for args in [
        &["graph"][..],
        &["graph", "--format", "mermaid"],
        &["history", "--graph"],
    ] {
        let run = |bin: &str| {
            let mut cmd = Command::new(bin);
            if bin == TOOL {
                cmd.args(["--dir", "fixtures/portable"]);
            }
            let out = cmd
                .args(args)
                .current_dir(tests_dir())
                .env_remove("DATABASE_URL")
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run(TOOL), run(EMBEDDED), "{args:?}");
    }
}
