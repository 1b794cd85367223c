//! Pictures of the revision graph, as text: Graphviz DOT ([`dot`]), Mermaid ([`mermaid`])
//! and the terminal drawing of `history --graph` ([`ascii`]), the way `git log --graph`
//! draws commits. What a node is (head, branch point, merge point, its labels) comes from
//! [`Graph`]; these functions only lay it out.

use std::fmt::Write as _;

use crate::graph::Graph;

/// What a picture shows of the revisions besides the graph's own facts.
#[derive(Debug, Clone, Copy)]
pub struct Marks<'a> {
    /// The message of each revision, by index.
    pub messages: &'a [&'a str],
    /// The revisions to highlight as the database's current ones, by index (empty: none).
    pub current: &'a [bool],
}

impl Marks<'_> {
    fn message(&self, i: usize) -> &str {
        self.messages.get(i).copied().unwrap_or("")
    }

    fn is_current(&self, i: usize) -> bool {
        self.current.get(i).copied().unwrap_or(false)
    }

    /// `head`, `branchpoint`, `mergepoint`, `current`: what the picture says of `i` in words.
    fn roles(&self, g: &Graph, i: usize) -> Vec<&'static str> {
        [
            (g.is_head(i), "head"),
            (g.is_branch_point(i), "branchpoint"),
            (g.is_merge_point(i), "mergepoint"),
            (self.is_current(i), "current"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect()
    }

    /// The text of a node: `id (labels) [roles]` on the first line, the message on the second.
    fn node_text(&self, g: &Graph, i: usize) -> (String, String) {
        let mut first = g.id(i).to_owned();
        let labels = g.labels_of(i);
        if !labels.is_empty() {
            let _ = write!(first, " ({})", labels.join(", "));
        }
        let roles = self.roles(g, i);
        if !roles.is_empty() {
            let _ = write!(first, " [{}]", roles.join(", "));
        }
        (first, self.message(i).to_owned())
    }
}

/// The graph in Graphviz DOT: an edge from each parent to the revision that revises it,
/// a dashed one from each `Depends On` target to its dependent; heads drawn bold, branch
/// and merge points filled, current revisions filled green, every mark also written in
/// the node's label.
///
/// ```
/// # use revchain_core::{Graph, graph::Node, draw};
/// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
/// let g = Graph::from_nodes(vec![node("a", vec![]), node("b", vec![0])]).unwrap();
/// let dot = draw::dot(&g, draw::Marks { messages: &["one", "two"], current: &[] });
/// assert!(dot.contains("\"a\" -> \"b\";"));
/// ```
pub fn dot(g: &Graph, marks: Marks<'_>) -> String {
    let mut out = String::from(
        "digraph revisions {\n  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"monospace\"];\n",
    );
    for i in 0..g.len() {
        let (first, message) = marks.node_text(g, i);
        let mut attrs = vec![format!(
            "label=\"{}\\n{}\"",
            dot_escape(&first),
            dot_escape(&message)
        )];
        if let Some(fill) = fill(g, marks, i) {
            attrs.push(format!("style=\"rounded,filled\", fillcolor=\"{fill}\""));
        }
        if g.is_head(i) {
            attrs.push("penwidth=2".to_owned());
        }
        let _ = writeln!(out, "  \"{}\" [{}];", dot_escape(g.id(i)), attrs.join(", "));
    }
    for i in 0..g.len() {
        let node = g.node(i);
        for &p in &node.parents {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\";",
                dot_escape(g.id(p)),
                dot_escape(g.id(i))
            );
        }
        for &d in &node.depends_on {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [style=dashed, label=\"depends on\"];",
                dot_escape(g.id(d)),
                dot_escape(g.id(i))
            );
        }
    }
    out.push_str("}\n");
    out
}

/// The fill colour of a node: current first, then merge point, then branch point.
fn fill(g: &Graph, marks: Marks<'_>, i: usize) -> Option<&'static str> {
    if marks.is_current(i) {
        Some("palegreen")
    } else if g.is_merge_point(i) {
        Some("lightblue")
    } else if g.is_branch_point(i) {
        Some("lightyellow")
    } else {
        None
    }
}

/// A DOT string's content: backslashes and quotes escaped, line breaks as `\n`.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The graph as a Mermaid flowchart (GitHub and GitLab render it in Markdown): node `rN`
/// is the revision at index N, `-->` from a parent to the revision that revises it, `-.->`
/// (dashed, "depends on") for `Depends On`; classes `head`, `branchpoint`, `mergepoint`
/// and `current` style the marked nodes, whose marks the labels also spell out.
///
/// ```
/// # use revchain_core::{Graph, graph::Node, draw};
/// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
/// let g = Graph::from_nodes(vec![node("a", vec![]), node("b", vec![0])]).unwrap();
/// let chart = draw::mermaid(&g, draw::Marks { messages: &["one", "two"], current: &[] });
/// assert!(chart.starts_with("flowchart TD\n"));
/// assert!(chart.contains("  r0 --> r1\n"));
/// ```
pub fn mermaid(g: &Graph, marks: Marks<'_>) -> String {
    let mut out = String::from("flowchart TD\n");
    for i in 0..g.len() {
        let (first, message) = marks.node_text(g, i);
        let _ = writeln!(
            out,
            "  r{i}[\"{}<br/>{}\"]",
            mermaid_escape(&first),
            mermaid_escape(&message)
        );
    }
    for i in 0..g.len() {
        let node = g.node(i);
        for &p in &node.parents {
            let _ = writeln!(out, "  r{p} --> r{i}");
        }
        for &d in &node.depends_on {
            let _ = writeln!(out, "  r{d} -. depends on .-> r{i}");
        }
    }
    out.push_str(
        "  classDef head stroke-width:3px\n  classDef branchpoint fill:#ffffcc\n  \
         classDef mergepoint fill:#cce5ff\n  classDef current fill:#ccffcc\n",
    );
    for class in ["head", "branchpoint", "mergepoint", "current"] {
        let members: Vec<String> = (0..g.len())
            .filter(|&i| marks.roles(g, i).contains(&class))
            .map(|i| format!("r{i}"))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "  class {} {class}", members.join(","));
        }
    }
    out
}

/// A Mermaid label's content: characters that end or break a quoted label as entities.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The graph drawn for a terminal, newest first, as `git log --graph` draws commits: one
/// row per revision with `*` in its column and `text(i)` after it, `|` for the lines that
/// pass, `/` and `\` where lines join (branch points) and fork (merge points). Only the
/// revisions `include` accepts are drawn, with the edges between them (`Revises` only;
/// `Depends On` belongs in the text). Time and space are linear in the number of rows
/// drawn times the number of lines side by side.
///
/// ```
/// # use revchain_core::{Graph, graph::Node, draw};
/// let node = |id: &str, parents: Vec<usize>| Node { id: id.into(), parents, depends_on: vec![], branch_labels: vec![], reversible: true };
/// // a ← b, a ← c, and d merges b and c.
/// let g = Graph::from_nodes(vec![node("a", vec![]), node("b", vec![0]), node("c", vec![0]), node("d", vec![1, 2])]).unwrap();
/// let text = draw::ascii(&g, |_| true, |i| g.id(i).to_owned());
/// assert_eq!(text, "* d\n|\\\n| * c\n* | b\n|/\n* a\n");
/// ```
pub fn ascii(g: &Graph, include: impl Fn(usize) -> bool, text: impl Fn(usize) -> String) -> String {
    let mut out = String::new();
    // The revision each line, left to right, leads down to.
    let mut lines: Vec<usize> = Vec::new();
    for i in (0..g.len()).rev().filter(|&i| include(i)) {
        let column = join_lines_of(&mut lines, i, &mut out);
        let row: Vec<char> = (0..lines.len())
            .map(|k| if k == column { '*' } else { '|' })
            .collect();
        out.push_str(&spaced(&row));
        out.push(' ');
        out.push_str(&text(i));
        out.push('\n');
        let parents: Vec<usize> = (g.node(i).parents.iter().copied())
            .filter(|&p| include(p))
            .collect();
        replace_line(&mut lines, column, &parents, &mut out);
    }
    out
}

/// The column of `i`: the first line that leads to it (a new one on the right for a head),
/// after drawing the other lines that lead to it joining it.
fn join_lines_of(lines: &mut Vec<usize>, i: usize, out: &mut String) -> usize {
    let Some(column) = lines.iter().position(|&l| l == i) else {
        lines.push(i);
        return lines.len() - 1;
    };
    let targets = shifted_targets(lines, |l| (l == i).then_some(column), column);
    move_lines((0..lines.len()).collect(), targets, out);
    let mut k = 0;
    lines.retain(|&l| {
        k += 1;
        l != i || k - 1 == column
    });
    column
}

/// Each line's column after some lines move to fixed columns (`fixed`) and leave theirs:
/// the others close up, keeping their order.
fn shifted_targets(
    lines: &[usize],
    fixed: impl Fn(usize) -> Option<usize>,
    keep: usize,
) -> Vec<usize> {
    let mut next = 0;
    lines
        .iter()
        .enumerate()
        .map(|(k, &l)| match fixed(l) {
            Some(c) if k != keep => c,
            _ => {
                next += 1;
                next - 1
            }
        })
        .collect()
}

/// Replaces the line at `column` by one line per parent (none for a base), drawing the
/// fork of a merge point and the lines to its right moving over or closing up.
fn replace_line(lines: &mut Vec<usize>, column: usize, parents: &[usize], out: &mut String) {
    let grow = parents.len();
    let mut from = Vec::new();
    let mut to = Vec::new();
    for k in 0..lines.len() {
        if k == column {
            for j in 0..grow {
                from.push(column);
                to.push(column + j);
            }
        } else {
            from.push(k);
            to.push(if k < column { k } else { k + grow - 1 });
        }
    }
    move_lines(from, to, out);
    lines.splice(column..=column, parents.iter().copied());
}

/// Draws lines moving from columns `from` to columns `to`, one column per row: `/` for a
/// step left, `\` for a step right, `|` for a line that stays.
fn move_lines(mut from: Vec<usize>, to: Vec<usize>, out: &mut String) {
    while from.iter().zip(&to).any(|(f, t)| f != t) {
        let width = 2 * from.iter().chain(&to).max().map_or(0, |m| m + 1);
        let mut row = vec![' '; width];
        for (f, &t) in from.iter_mut().zip(&to) {
            if *f > t {
                row[2 * *f - 1] = '/';
                *f -= 1;
            } else if *f < t {
                row[2 * *f + 1] = '\\';
                *f += 1;
            } else if row[2 * *f] == ' ' {
                row[2 * *f] = '|';
            }
        }
        out.push_str(row.iter().collect::<String>().trim_end());
        out.push('\n');
    }
}

/// `* | |`: a row's marks, one column apart.
fn spaced(row: &[char]) -> String {
    let mut s = String::with_capacity(row.len() * 2);
    for (k, c) in row.iter().enumerate() {
        if k > 0 {
            s.push(' ');
        }
        s.push(*c);
    }
    s
}

#[cfg(test)]
mod tests;
