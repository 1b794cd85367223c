//! The fleet page: one self-contained HTML file (`fleet status --format html`).
//!
//! Inline CSS and inline SVG only: no script, no font, no network, so CI can publish it as
//! an artifact and anyone can open it offline. Every text that comes from a target, a URL,
//! an error or a revision file is HTML-escaped.

use std::fmt::Write;

use super::report::{FleetReport, TargetReport, TargetState};
use crate::embedded::Migrations;

/// Every state, in the order of the summary ([`TargetState::rank`]).
const STATES: [TargetState; 7] = [
    TargetState::Failed,
    TargetState::Refused,
    TargetState::Unreachable,
    TargetState::Diverged,
    TargetState::Ahead,
    TargetState::Behind,
    TargetState::AtGoal,
];

/// Pixels between two rows and two lanes of the revision graph.
const ROW: usize = 26;
const LANE: usize = 22;
const MARGIN: usize = 16;

/// Renders `report` as one self-contained HTML page: a summary of the counts per state, the
/// targets (failures and behind ones first), and the revision graph of `migrations` drawn as
/// inline SVG, with how many targets sit at each revision.
///
/// ```
/// use revchain::fleet::{FleetReport, TargetReport, TargetState};
/// use revchain::{History, Migrations};
///
/// let migrations = Migrations::from_history(History::from_files(vec![]).unwrap(), "m");
/// let mut report = FleetReport::new("status", vec![]);
/// report.targets.push(TargetReport::new("sqlite://<t>.db", TargetState::AtGoal));
/// let page = revchain::fleet::render(&report, &migrations);
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert!(page.contains("sqlite://&lt;t&gt;.db"));
/// ```
pub fn render(report: &FleetReport, migrations: &Migrations) -> String {
    let mut sorted = report.clone();
    sorted.sort_failures_first();
    let mut page = String::with_capacity(16 * 1024 + 512 * report.targets.len());
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        page,
        "<title>revchain fleet {}</title>\n<style>{CSS}</style>\n</head>\n<body>",
        escape(&sorted.command)
    );
    header(&mut page, &sorted, migrations);
    page.push_str("<main>\n");
    targets_table(&mut page, &sorted);
    graph_panel(&mut page, &sorted, migrations);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// Escapes `text` for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The words a person reads for a state.
fn title(state: TargetState) -> &'static str {
    match state {
        TargetState::AtGoal => "At goal",
        TargetState::Behind => "Behind",
        TargetState::Ahead => "Ahead",
        TargetState::Diverged => "Diverged",
        TargetState::Refused => "Refused",
        TargetState::Failed => "Failed",
        TargetState::Unreachable => "Unreachable",
    }
}

/// The title, the goal, and one card per state with its count.
fn header(page: &mut String, report: &FleetReport, migrations: &Migrations) {
    let goal = if report.goal.is_empty() {
        "(none)".to_owned()
    } else {
        report
            .goal
            .iter()
            .map(|g| escape(g))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let shard = report
        .shard
        .map(|s| format!(" · shard {}/{}", s.index, s.count))
        .unwrap_or_default();
    let _ = writeln!(
        page,
        "<header>\n<h1>revchain fleet <span class=\"cmd\">{}</span></h1>\n\
         <p class=\"meta\">goal <code>{goal}</code> · {} revisions in <code>{}</code>{shard} · \
         {} ms</p>\n<div class=\"cards\">",
        escape(&report.command),
        migrations.len(),
        escape(migrations.dir()),
        report.elapsed_ms,
    );
    let verdict = if report.all_at_goal() { "ok" } else { "bad" };
    let _ = writeln!(
        page,
        "<div class=\"card total {verdict}\" data-state=\"total\"><span class=\"n\">{}</span>\
         <span class=\"l\">Targets</span></div>",
        report.targets.len()
    );
    for state in STATES {
        let n = report.count(state);
        let zero = if n == 0 { " zero" } else { "" };
        let _ = writeln!(
            page,
            "<div class=\"card s-{0}{zero}\" data-state=\"{0}\"><span class=\"n\">{n}</span>\
             <span class=\"l\">{1}</span></div>",
            state.as_str(),
            title(state)
        );
    }
    page.push_str("</div>\n</header>\n");
}

/// The table of the targets, in the report's order.
fn targets_table(page: &mut String, report: &FleetReport) {
    page.push_str(
        "<section class=\"panel targets\">\n<h2>Targets</h2>\n<div class=\"scroll\">\n<table>\n\
         <thead><tr><th>Target</th><th>State</th><th>Current</th><th class=\"num\">Pending</th>\
         <th class=\"num\">Applied</th><th class=\"num\">ms</th><th>Error</th></tr></thead>\n<tbody>\n",
    );
    for t in &report.targets {
        target_row(page, t);
    }
    if report.targets.is_empty() {
        page.push_str("<tr><td colspan=\"7\" class=\"empty\">No targets.</td></tr>\n");
    }
    page.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// One `<tr>` of the targets table.
fn target_row(page: &mut String, t: &TargetReport) {
    let current = if t.current.is_empty() {
        "<span class=\"none\">(empty)</span>".to_owned()
    } else {
        t.current
            .iter()
            .map(|c| format!("<code>{}</code>", escape(c)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let error = match &t.error {
        Some(e) => format!(
            "<span class=\"kind\">{}</span> <span class=\"msg\">{}</span>",
            escape(&e.kind),
            escape(&e.message)
        ),
        None => String::new(),
    };
    let _ = writeln!(
        page,
        "<tr class=\"target\" data-state=\"{0}\"><td class=\"name\">{1}</td>\
         <td><span class=\"pill s-{0}\">{2}</span></td><td>{current}</td>\
         <td class=\"num\">{3}</td><td class=\"num\">{4}</td><td class=\"num\">{5}</td>\
         <td class=\"err\">{error}</td></tr>",
        t.state.as_str(),
        escape(&t.target),
        title(t.state),
        t.pending,
        t.applied.len(),
        t.duration_ms,
    );
}

/// Where each revision of the graph is drawn: its row (the table's order, parents first)
/// and its lane.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    lane: Vec<usize>,
    lanes: usize,
}

/// Lays the revisions out in rows (the table's topological order) and lanes: a revision
/// continues the lane of a parent it is the last child of; any other one takes the lowest
/// lane free at its row. A lane stays taken down to the last child of the revision in it,
/// so the line from a parent to each child runs in the parent's lane without crossing
/// another revision.
fn layout(migrations: &Migrations) -> Layout {
    let n = migrations.len();
    let mut last_child = vec![None::<usize>; n];
    for (row, r) in migrations.iter().enumerate() {
        for p in r.parent_indices() {
            if p < n {
                last_child[p] = Some(row);
            }
        }
    }
    let mut lane = vec![0; n];
    let mut taken_until: Vec<usize> = Vec::new();
    for (row, r) in migrations.iter().enumerate() {
        let inherited = r
            .parent_indices()
            .find(|&p| p < row && last_child[p] == Some(row))
            .map(|p| lane[p]);
        let l = inherited.unwrap_or_else(|| {
            taken_until
                .iter()
                .position(|&until| until < row)
                .unwrap_or(taken_until.len())
        });
        if l == taken_until.len() {
            taken_until.push(0);
        }
        taken_until[l] = last_child[row].unwrap_or(row);
        lane[row] = l;
    }
    Layout {
        lanes: taken_until.len().max(1),
        lane,
    }
}

/// The panel with the revision graph.
fn graph_panel(page: &mut String, report: &FleetReport, migrations: &Migrations) {
    let heads = migrations.heads().count();
    let _ = writeln!(
        page,
        "<section class=\"panel graph\">\n<h2>Revisions <span class=\"sub\">{} revisions, {heads} \
         head{}; the badge is how many targets sit at it</span></h2>\n<div class=\"scroll\">",
        migrations.len(),
        if heads == 1 { "" } else { "s" }
    );
    page.push_str(&graph_svg(report, migrations));
    page.push_str(
        "</div>\n<p class=\"legend\"><span class=\"dot\"></span> revision \
         <span class=\"dot merge\"></span> merge <span class=\"dot branch\"></span> branch point \
         <span class=\"dot goal\"></span> goal</p>\n</section>\n",
    );
}

/// The revision graph as an inline `<svg>`.
fn graph_svg(report: &FleetReport, migrations: &Migrations) -> String {
    let lay = layout(migrations);
    let counts = report.targets_per_revision();
    let label_x = MARGIN + lay.lanes * LANE + 8;
    let height = 2 * MARGIN + migrations.len().max(1) * ROW;
    let width = label_x + 520;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"revision graph\">\n"
    );
    let at = |row: usize| {
        (
            MARGIN + lay.lane[row] * LANE + LANE / 2,
            MARGIN + row * ROW + ROW / 2,
        )
    };
    for (row, r) in migrations.iter().enumerate() {
        for p in r.parent_indices().filter(|&p| p < row) {
            let ((px, py), (cx, cy)) = (at(p), at(row));
            let bend = cy - ROW;
            let _ = writeln!(
                svg,
                "<path class=\"edge\" d=\"M{px} {py} V{bend} C{px} {mid} {cx} {mid} {cx} {cy}\"/>",
                mid = bend + ROW / 2
            );
        }
    }
    for (row, r) in migrations.iter().enumerate() {
        let (x, y) = at(row);
        let n = counts.get(r.id()).copied().unwrap_or(0);
        node(&mut svg, migrations, report, row, (x, y));
        label(
            &mut svg,
            r,
            n,
            (label_x, y),
            report.goal.iter().any(|g| g == r.id()),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One revision's mark: a circle, a diamond for a merge, a ring for a branch point; green
/// around a goal revision.
fn node(
    svg: &mut String,
    m: &Migrations,
    report: &FleetReport,
    row: usize,
    (x, y): (usize, usize),
) {
    let graph = m.graph();
    let Some(r) = m.at(row) else { return };
    let goal = if report.goal.iter().any(|g| g == r.id()) {
        " goal"
    } else {
        ""
    };
    let tip = escape(&format!("{} — {}", r.id(), r.message()));
    if r.is_merge() {
        let _ = writeln!(
            svg,
            "<path class=\"node merge{goal}\" d=\"M{x} {} L{} {y} L{x} {} L{} {y} Z\">\
             <title>{tip} (merge)</title></path>",
            y - 7,
            x + 7,
            y + 7,
            x - 7
        );
    } else {
        let class = if graph.is_branch_point(row) {
            "branch"
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            "<circle class=\"node {class}{goal}\" cx=\"{x}\" cy=\"{y}\" r=\"6\"><title>{tip}</title></circle>"
        );
    }
}

/// The badge with the number of targets at the revision, its id, labels and message.
fn label(svg: &mut String, r: &crate::Revision, n: usize, (x, y): (usize, usize), goal: bool) {
    let digits = n.to_string().len();
    let w = 12 + 7 * digits;
    let badge = match (n, goal) {
        (0, _) => "badge zero",
        (_, true) => "badge ok",
        (_, false) => "badge behind",
    };
    let _ = writeln!(
        svg,
        "<rect class=\"{badge}\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"16\" rx=\"8\"/>\
         <text class=\"{badge}\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
        y - 8,
        x + w / 2,
        y + 4
    );
    let labels: String = r
        .branch_labels()
        .map(|l| format!(" <tspan class=\"tag\">[{}]</tspan>", escape(l)))
        .collect();
    let message: String = r.message().chars().take(60).collect();
    let more = if r.message().chars().count() > 60 {
        "…"
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        "<text class=\"label\" x=\"{}\" y=\"{}\"><tspan class=\"id\">{}</tspan>{labels} \
         <tspan class=\"msg\">{}{more}</tspan></text>",
        x + w + 8,
        y + 4,
        escape(r.id()),
        escape(&message)
    );
}

/// Counts per revision, for tests.
#[cfg(test)]
fn badge_counts(report: &FleetReport) -> std::collections::BTreeMap<String, usize> {
    report
        .targets_per_revision()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

const CSS: &str = "
:root{--failed:#cf222e;--refused:#bc4c00;--unreachable:#6e7781;--diverged:#8250df;--ahead:#0969da;
--behind:#9a6700;--at_goal:#1a7f37;--ink:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#24292f;color:#fff;padding:18px 28px 20px}
h1{margin:0;font-size:22px;font-weight:600}
h1 .cmd{font-weight:400;opacity:.8}
.meta{margin:4px 0 14px;color:#c9d1d9}
.meta code{color:#fff}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{min-width:104px;padding:8px 14px;border-radius:8px;background:#32383f;border-left:5px solid #8c959f}
.card .n{display:block;font-size:24px;font-weight:700}
.card .l{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#c9d1d9}
.card.zero{opacity:.45}
.card.total.ok{border-left-color:var(--at_goal)}
.card.total.bad{border-left-color:var(--failed)}
.card.s-failed{border-left-color:var(--failed)}.card.s-refused{border-left-color:var(--refused)}
.card.s-unreachable{border-left-color:var(--unreachable)}.card.s-diverged{border-left-color:var(--diverged)}
.card.s-ahead{border-left-color:var(--ahead)}.card.s-behind{border-left-color:var(--behind)}
.card.s-at_goal{border-left-color:var(--at_goal)}
main{display:flex;gap:18px;padding:18px 28px;align-items:flex-start}
.panel{background:#fff;border:1px solid var(--line);border-radius:8px;min-width:0}
.panel.targets{flex:3}.panel.graph{flex:2}
.panel h2{margin:0;padding:10px 14px;font-size:15px;border-bottom:1px solid var(--line)}
.panel h2 .sub{font-weight:400;color:var(--muted);font-size:12px}
.scroll{max-height:calc(100vh - 250px);min-height:200px;overflow:auto}
table{border-collapse:collapse;width:100%}
th{position:sticky;top:0;background:#f6f8fa;text-align:left;font-size:12px;color:var(--muted);padding:6px 10px;border-bottom:1px solid var(--line)}
td{padding:6px 10px;border-bottom:1px solid #eaeef2;vertical-align:top}
tr.target:hover td{background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.name{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.pill{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;white-space:nowrap}
.pill.s-failed{background:var(--failed)}.pill.s-refused{background:var(--refused)}
.pill.s-unreachable{background:var(--unreachable)}.pill.s-diverged{background:var(--diverged)}
.pill.s-ahead{background:var(--ahead)}.pill.s-behind{background:var(--behind)}.pill.s-at_goal{background:var(--at_goal)}
tr[data-state=failed] td.name{border-left:3px solid var(--failed)}
tr[data-state=refused] td.name{border-left:3px solid var(--refused)}
tr[data-state=unreachable] td.name{border-left:3px solid var(--unreachable)}
td.err{max-width:420px;white-space:pre-wrap;word-break:break-word;font-size:12px}
.kind{font:11px ui-monospace,Menlo,monospace;background:#ffebe9;color:var(--failed);padding:1px 5px;border-radius:4px}
.none,.empty{color:var(--muted)}
svg .edge{fill:none;stroke:#8c959f;stroke-width:2}
svg .node{fill:#57606a;stroke:#fff;stroke-width:2}
svg .node.branch{fill:#fff;stroke:#57606a;stroke-width:2.5}
svg .node.merge{fill:#8250df}
svg .node.goal{stroke:var(--at_goal);stroke-width:3}
svg rect.badge{fill:var(--behind)}svg rect.badge.ok{fill:var(--at_goal)}svg rect.badge.zero{fill:#eaeef2}
svg text.badge{fill:#fff;font:bold 11px system-ui,sans-serif}svg text.badge.zero{fill:#8c959f}
svg .label{font:12px system-ui,sans-serif;fill:var(--ink)}
svg .id{font:12px ui-monospace,Menlo,Consolas,monospace;font-weight:600}
svg .tag{fill:var(--ahead)}svg .msg{fill:var(--muted)}
.legend{margin:0;padding:8px 14px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;background:#57606a;margin:0 3px 0 10px;vertical-align:-1px}
.dot.merge{background:#8250df;border-radius:1px;transform:rotate(45deg)}
.dot.branch{background:#fff;border:2px solid #57606a}
.dot.goal{background:#57606a;box-shadow:0 0 0 2px var(--at_goal)}
";

#[cfg(test)]
mod tests {
    use revchain_core::history::{History, Mode};
    use revchain_core::parse::parse_with;

    use super::*;
    use crate::fleet::TargetError;

    fn file(id: &str, revises: &str, extra: &str) -> revchain_core::parse::RevisionFile {
        let text = format!(
            "-- {id} message\n-- Revision ID: {id}\n-- Revises: {revises}\n{extra}\
             -- migrate:upgrade\nSELECT 1;\n"
        );
        parse_with(&format!("{id}_rev.sql"), &text, Mode::Strict).unwrap()
    }

    /// a1 → b2 → {c3, d4} → e5 (merge), with a `<b>` message on d4.
    fn diamond() -> Migrations {
        let mut d4 = file("d4", "b2", "");
        d4.message = "<b>bold</b> & more".to_owned();
        let files = vec![
            file("a1", "", ""),
            file("b2", "a1", ""),
            file("c3", "b2", ""),
            d4,
            file("e5", "c3, d4", ""),
        ];
        Migrations::from_history(History::from_files(files).unwrap(), "migrations")
    }

    fn report() -> FleetReport {
        let mut r = FleetReport::new("status", vec!["e5".into()]);
        let mut at = TargetReport::new("sqlite://a.db", TargetState::AtGoal);
        at.current = vec!["e5".into()];
        let mut behind = TargetReport::new("sqlite://b.db", TargetState::Behind);
        behind.current = vec!["b2".into()];
        behind.pending = 3;
        let mut bad = TargetReport::new(
            "postgres://u:***@h/<script>alert(1)</script>",
            TargetState::Failed,
        );
        bad.current = vec!["b2".into()];
        bad.error = Some(TargetError {
            kind: "statement".into(),
            message: "syntax error near \"<script>\" & 'x'".into(),
        });
        let mut at2 = TargetReport::new("sqlite://c.db", TargetState::AtGoal);
        at2.current = vec!["e5".into()];
        r.targets = vec![at, behind, bad, at2];
        r
    }

    #[test]
    fn a_target_or_error_with_markup_is_escaped() {
        let page = render(&report(), &diamond());
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("syntax error near &quot;&lt;script&gt;&quot; &amp; &#39;x&#39;"));
        assert!(page.contains("&lt;b&gt;bold&lt;/b&gt; &amp; more"));
        assert!(!page.contains("<b>bold"));
    }

    #[test]
    fn the_summary_counts_each_state_and_failures_come_first() {
        let page = render(&report(), &diamond());
        let card =
            |state: &str, n: usize| format!("data-state=\"{state}\"><span class=\"n\">{n}</span>");
        assert!(page.contains(&card("total", 4)), "{page}");
        assert!(page.contains(&card("at_goal", 2)));
        assert!(page.contains(&card("behind", 1)));
        assert!(page.contains(&card("failed", 1)));
        assert!(page.contains(&card("refused", 0)));
        assert_eq!(page.matches("<tr class=\"target\"").count(), 4);
        let first = page
            .find("<tr class=\"target\" data-state=\"failed\"")
            .unwrap();
        let behind = page
            .find("<tr class=\"target\" data-state=\"behind\"")
            .unwrap();
        let at_goal = page
            .find("<tr class=\"target\" data-state=\"at_goal\"")
            .unwrap();
        assert!(first < behind && behind < at_goal);
    }

    #[test]
    fn the_graph_has_every_revision_an_edge_per_parent_and_the_badges() {
        let m = diamond();
        let page = render(&report(), &m);
        assert_eq!(page.matches("class=\"node").count(), 5);
        assert_eq!(page.matches("<path class=\"edge\"").count(), 5);
        assert!(page.contains("class=\"node merge goal\""));
        assert!(page.contains("class=\"node branch\""));
        let counts = badge_counts(&report());
        assert_eq!(counts["b2"], 2);
        assert!(page.contains(">2</text>") && page.contains(">0</text>"));
        assert!(page.contains("class=\"badge ok\""));
        assert!(page.contains("class=\"badge behind\""));
    }

    #[test]
    fn the_layout_keeps_a_branch_in_its_own_lane() {
        let lay = layout(&diamond());
        // a1, b2 in lane 0; c3 branches off to lane 1 (d4 is b2's last child and
        // continues its lane); e5 continues the lane of c3, its first parent.
        assert_eq!(lay.lane, vec![0, 0, 1, 0, 1]);
        assert_eq!(lay.lanes, 2);
        let linear = Migrations::from_history(
            History::from_files(vec![file("a1", "", ""), file("b2", "a1", "")]).unwrap(),
            "m",
        );
        assert_eq!(
            layout(&linear),
            Layout {
                lane: vec![0, 0],
                lanes: 1
            }
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render(&report(), &diamond());
        for outside in ["<script", "<link", "@import", "src=", "url("] {
            assert!(!page.contains(outside), "{outside}");
        }
        assert!(page.ends_with("</html>\n"));
    }
}
