use super::*;
use crate::graph::build;
use crate::testutil::{file, file_with};

/// a → b → c, a → x (labelled `side`).
fn forked() -> Graph {
    let files = vec![
        file("a", &[]),
        file("b", &["a"]),
        file("c", &["b"]),
        file_with("x", &["a"], "-- Branch Labels: side"),
    ];
    build(&files).unwrap().0
}

fn ids(g: &Graph, v: &[usize]) -> Vec<String> {
    v.iter().map(|&i| g.id(i).to_owned()).collect()
}

fn range(s: &str) -> Range {
    s.parse().unwrap()
}

fn selected(g: &Graph, r: &str, current: &[&str]) -> Result<Vec<String>, TargetError> {
    let current: Vec<usize> = current.iter().map(|c| g.find(c).unwrap()).collect();
    Ok(ids(g, &g.range_revisions(&range(r), &current)?))
}

#[test]
fn parses_both_ends() {
    let target = |s: &str| Bound::Target(s.parse().unwrap());
    assert_eq!(
        range("a:c"),
        Range {
            start: target("a"),
            end: target("c")
        }
    );
    assert_eq!(range("side@-1:").end, Bound::Open);
    assert_eq!(range("side@-1:").start, target("side@-1"));
    assert_eq!(range(":current").end, Bound::Current);
    assert_eq!(
        "a:b:c".parse::<Range>(),
        Err(RangeError::InvalidEnd("a:b:c".into()))
    );
}

#[test]
fn parse_errors_say_which_end() {
    assert_eq!(
        "abc".parse::<Range>(),
        Err(RangeError::NotARange("abc".into()))
    );
    assert_eq!(
        "a b:c".parse::<Range>(),
        Err(RangeError::InvalidStart("a b:c".into()))
    );
    assert_eq!(
        "a:c d".parse::<Range>(),
        Err(RangeError::InvalidEnd("a:c d".into()))
    );
    assert_eq!(
        "abc".parse::<Range>().unwrap_err().to_string(),
        "`abc` is not a range; use START:END, START: or :END"
    );
    // The message quotes the whole text (a URL given by mistake stays whole, so that its
    // password can be found and hidden), never one end of it.
    let url = "postgres://u:secret@db:5432/x";
    let message = url.parse::<Range>().unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("`{url}` is not a range: END")),
        "{message}"
    );
    assert_eq!(message.matches("secret").count(), 1, "{message}");
}

#[test]
fn display_round_trips() {
    for s in ["a:c", ":head", "current:", ":", "side@+1:x-1"] {
        assert_eq!(range(s).to_string(), s);
    }
}

#[test]
fn script_ranges() {
    let up = Range::parse_script("c", Direction::Upgrade).unwrap();
    assert_eq!(up.start, Bound::Open);
    assert_eq!(up.end, Bound::Target(Target::Revision("c".into())));
    assert_eq!(
        Range::parse_script("c", Direction::Downgrade),
        Err(RangeError::MissingStart("c".into()))
    );
    assert_eq!(
        Range::parse_script("a b", Direction::Upgrade),
        Err(RangeError::Target(TargetError::Invalid("a b".into())))
    );
    assert_eq!(
        Range::parse_script("c:a", Direction::Downgrade).unwrap(),
        range("c:a")
    );
}

#[test]
fn uses_current() {
    assert!(range("current:").uses_current());
    assert!(range(":current").uses_current());
    assert!(!range("a:c").uses_current());
}

#[test]
fn target_sets() {
    let g = forked();
    let set = |s: &str| g.target_set(&s.parse().unwrap()).map(|v| ids(&g, &v));
    assert_eq!(set("heads").unwrap(), ["c", "x"]);
    assert_eq!(set("base").unwrap(), Vec::<String>::new());
    assert_eq!(set("side@base").unwrap(), Vec::<String>::new());
    assert_eq!(set("b").unwrap(), ["b"]);
    assert_eq!(set("side").unwrap(), ["x"]);
    assert_eq!(set("b@head").unwrap(), ["c"]);
    assert_eq!(set("b+1").unwrap(), ["c"]);
    assert_eq!(set("c-2").unwrap(), ["a"]);
    assert!(matches!(set("head"), Err(TargetError::MultipleHeads(_))));
    assert!(matches!(set("-1"), Err(TargetError::WrongDirection { .. })));
    assert_eq!(set("+1").unwrap(), ["a"]);
    assert!(matches!(set("c+1"), Err(TargetError::OutOfRange { .. })));
    assert!(matches!(
        set("a+1"),
        Err(TargetError::RelativeAmbiguous { .. })
    ));
    assert!(matches!(set("zz"), Err(TargetError::Unknown(_))));
}

#[test]
fn history_selection() {
    let g = forked();
    let all = ["a", "b", "x", "c"];
    // Topological order of the graph, whatever it is.
    let mut order = ids(&g, &(0..g.len()).collect::<Vec<_>>());
    order.sort_by_key(|id| all.iter().position(|a| a == id));
    assert_eq!(selected(&g, ":", &[]).unwrap().len(), 4);
    for unbounded in ["base:", "head:", "heads:", ":heads", ":head", "base:heads"] {
        assert_eq!(
            selected(&g, unbounded, &[]).unwrap().len(),
            4,
            "{unbounded}"
        );
    }
    assert!(selected(&g, ":base", &[]).unwrap().is_empty());
    assert_eq!(selected(&g, "b:", &[]).unwrap(), ["b", "c"]);
    assert_eq!(selected(&g, ":b", &[]).unwrap(), ["a", "b"]);
    assert_eq!(selected(&g, "b:c", &[]).unwrap(), ["b", "c"]);
    assert_eq!(selected(&g, ":side", &[]).unwrap(), ["a", "x"]);
    assert!(selected(&g, "c:b", &[]).unwrap().is_empty());
    assert_eq!(selected(&g, "current:", &["b"]).unwrap(), ["b", "c"]);
    assert_eq!(selected(&g, ":current", &["b", "x"]).unwrap().len(), 3);
    assert!(matches!(
        selected(&g, "zz:", &[]),
        Err(TargetError::Unknown(_))
    ));
}

#[test]
fn script_plans() {
    let g = forked();
    let plan = |s: &str, d| g.plan_range(&range(s), d);
    let up = plan("a:c", Direction::Upgrade).unwrap();
    assert_eq!(ids(&g, &up.revisions()), ["b", "c"]);
    assert_eq!(ids(&g, &up.heads_before), ["a"]);
    let fresh = g
        .plan_range(
            &Range::parse_script("side", Direction::Upgrade).unwrap(),
            Direction::Upgrade,
        )
        .unwrap();
    assert_eq!(ids(&g, &fresh.revisions()), ["a", "x"]);
    assert!(fresh.heads_before.is_empty());
    let down = plan("heads:a", Direction::Downgrade).unwrap();
    assert_eq!(down.revisions().len(), 3);
    assert_eq!(ids(&g, &down.heads_after), ["a"]);
    assert_eq!(
        plan("a:", Direction::Upgrade),
        Err(TargetError::Invalid(String::new()))
    );
    assert_eq!(
        plan("current:c", Direction::Upgrade),
        Err(TargetError::Unknown("current".into()))
    );
    assert!(matches!(
        plan("-1:c", Direction::Upgrade),
        Err(TargetError::WrongDirection { .. })
    ));
}
