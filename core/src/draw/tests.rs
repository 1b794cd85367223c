use super::*;
use crate::graph::Node;

/// One revision: `(id, parents, depends_on, labels)`.
type Spec<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

/// A graph of revisions, in topological order.
fn graph(nodes: &[Spec<'_>]) -> Graph {
    let index = |id: &&str| nodes.iter().position(|n| n.0 == *id).unwrap();
    Graph::from_nodes(
        nodes
            .iter()
            .map(|(id, parents, deps, labels)| Node {
                id: (*id).to_owned(),
                parents: parents.iter().map(index).collect(),
                depends_on: deps.iter().map(index).collect(),
                branch_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
                reversible: true,
            })
            .collect(),
    )
    .unwrap()
}

fn drawn(g: &Graph) -> String {
    ascii(g, |_| true, |i| g.id(i).to_owned())
}

#[test]
fn a_linear_history_is_one_column() {
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("c", &["b"], &[], &[]),
    ]);
    assert_eq!(drawn(&g), "* c\n* b\n* a\n");
}

#[test]
fn a_branch_point_joins_its_branches() {
    // a ← b ← d, a ← c: two heads from one branch point.
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("c", &["a"], &[], &[]),
        ("d", &["b"], &[], &[]),
    ]);
    assert_eq!(drawn(&g), "* d\n| * c\n* | b\n|/\n* a\n");
}

#[test]
fn a_merge_point_forks_into_its_parents() {
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("c", &["a"], &[], &[]),
        ("d", &["b", "c"], &[], &[]),
        ("e", &["d"], &[], &[]),
    ]);
    assert_eq!(drawn(&g), "* e\n* d\n|\\\n| * c\n* | b\n|/\n* a\n");
}

#[test]
fn a_three_way_merge_forks_and_joins_three_lines() {
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("c", &["a"], &[], &[]),
        ("d", &["a"], &[], &[]),
        ("m", &["b", "c", "d"], &[], &[]),
    ]);
    assert_eq!(
        drawn(&g),
        "* m\n|\\\n| |\\\n| | * d\n| * | c\n* | | b\n|/ /\n|/\n* a\n"
    );
}

#[test]
fn several_bases_and_heads_keep_their_columns() {
    // Two independent trees: a ← b, x ← y, and z on x.
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("x", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("y", &["x"], &[], &[]),
        ("z", &["x"], &[], &[]),
    ]);
    assert_eq!(drawn(&g), "* z\n| * y\n| | * b\n|/ /\n* | x\n /\n* a\n");
}

#[test]
fn a_range_draws_only_its_revisions() {
    let g = graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &[]),
        ("c", &["b"], &[], &[]),
    ]);
    assert_eq!(ascii(&g, |i| i > 0, |i| g.id(i).to_owned()), "* c\n* b\n");
}

#[test]
fn a_long_history_is_drawn_row_by_row() {
    // 5000 revisions, a branch every 10 merged back at once: rows and lines add up, and
    // the drawing never grows wider than two lines.
    let mut ids = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..5000usize {
        ids.push(format!("r{i}"));
        let parents = match i {
            0 => vec![],
            i if i % 10 == 9 => vec![i - 1, i - 2],
            i if i % 10 == 8 => vec![i - 2],
            i => vec![i - 1],
        };
        nodes.push(Node {
            id: ids[i].clone(),
            parents,
            depends_on: vec![],
            branch_labels: vec![],
            reversible: true,
        });
    }
    let g = Graph::from_nodes(nodes).unwrap();
    let text = drawn(&g);
    assert_eq!(text.lines().filter(|l| l.contains('*')).count(), 5000);
    assert!(
        text.lines().all(|l| l.find(" r").unwrap_or(l.len()) <= 3),
        "{}",
        &text[..400]
    );
}

fn sample() -> Graph {
    // a ← b (label `core`), a ← c, d merges b and c; e depends on c.
    graph(&[
        ("a", &[], &[], &[]),
        ("b", &["a"], &[], &["core"]),
        ("c", &["a"], &[], &[]),
        ("d", &["b", "c"], &[], &[]),
        ("e", &[], &["c"], &[]),
    ])
}

const MESSAGES: &[&str] = &[
    "create \"users\"",
    "add email",
    "add <posts>",
    "merge",
    "audit",
];

#[test]
fn dot_names_every_node_edge_and_mark() {
    let g = sample();
    let current = [false, false, false, true, false];
    let text = dot(
        &g,
        Marks {
            messages: MESSAGES,
            current: &current,
        },
    );
    assert_eq!(
        text,
        r#"digraph revisions {
  rankdir=TB;
  node [shape=box, style=rounded, fontname="monospace"];
  "a" [label="a [branchpoint]\ncreate \"users\"", style="rounded,filled", fillcolor="lightyellow"];
  "b" [label="b (core)\nadd email"];
  "c" [label="c\nadd <posts>"];
  "d" [label="d [head, mergepoint, current]\nmerge", style="rounded,filled", fillcolor="palegreen", penwidth=2];
  "e" [label="e [head]\naudit", penwidth=2];
  "a" -> "b";
  "a" -> "c";
  "b" -> "d";
  "c" -> "d";
  "c" -> "e" [style=dashed, label="depends on"];
}
"#
    );
}

#[test]
fn mermaid_names_every_node_edge_and_mark() {
    let g = sample();
    let text = mermaid(
        &g,
        Marks {
            messages: MESSAGES,
            current: &[],
        },
    );
    assert_eq!(
        text,
        r#"flowchart TD
  r0["a [branchpoint]<br/>create #quot;users#quot;"]
  r1["b (core)<br/>add email"]
  r2["c<br/>add #lt;posts#gt;"]
  r3["d [head, mergepoint]<br/>merge"]
  r4["e [head]<br/>audit"]
  r0 --> r1
  r0 --> r2
  r1 --> r3
  r2 --> r3
  r2 -. depends on .-> r4
  classDef head stroke-width:3px
  classDef branchpoint fill:#ffffcc
  classDef mergepoint fill:#cce5ff
  classDef current fill:#ccffcc
  class r3,r4 head
  class r0 branchpoint
  class r3 mergepoint
"#
    );
}
