use proptest::prelude::*;

use super::*;
use crate::graph::{Node, build};
use crate::testutil::{file, file_with};

/// The shop shape: a → b, a → c, m = merge(b, c), d (irreversible) → e.
fn shop() -> Graph {
    let mut d = file("d", &["m"]);
    d.downgrade = None;
    let files = vec![
        file("a", &[]),
        file("b", &["a"]),
        file("c", &["a"]),
        file("m", &["b", "c"]),
        d,
        file("e", &["d"]),
    ];
    build(&files).unwrap().0
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn ids(g: &Graph, v: &[usize]) -> Vec<String> {
    v.iter().map(|&i| g.id(i).to_owned()).collect()
}

fn at(g: &Graph, heads: &[&str]) -> Vec<usize> {
    heads.iter().map(|h| g.find(h).unwrap()).collect()
}

fn up(
    g: &Graph,
    target: &str,
    current: &[&str],
) -> Result<(Vec<String>, Vec<String>), TargetError> {
    let p = g.plan_upgrade(&t(target), &at(g, current))?;
    Ok((ids(g, &p.revisions()), ids(g, &p.heads_after)))
}

fn down(
    g: &Graph,
    target: &str,
    current: &[&str],
) -> Result<(Vec<String>, Vec<String>), TargetError> {
    let p = g.plan_downgrade(&t(target), &at(g, current))?;
    Ok((ids(g, &p.revisions()), ids(g, &p.heads_after)))
}

#[test]
fn parse_every_form() {
    assert_eq!(t("heads"), Target::Heads);
    assert_eq!(t("base"), Target::Base);
    assert_eq!(t("3f2a"), Target::Revision("3f2a".into()));
    assert_eq!(t("+3"), Target::Relative(3));
    assert_eq!(t("ae1-2"), Target::FromRevision("ae1".into(), -2));
    assert_eq!(t("cart@base"), Target::BranchBase("cart".into()));
    assert_eq!(t("my-label"), Target::Revision("my-label".into()));
    assert_eq!(t("feature-2"), Target::FromRevision("feature".into(), -2));
    for bad in [
        "", "+0", "-x", "a@b", "@head", "a+b", "+", "x y", "a;b", "++1",
    ] {
        assert!(
            matches!(bad.parse::<Target>(), Err(TargetError::Invalid(_))),
            "{bad}"
        );
    }
    for s in [
        "head", "heads", "base", "ab", "x@head", "x@base", "+2", "-1", "ab+1", "ab-3",
    ] {
        assert_eq!(t(s).to_string(), s);
    }
}

#[test]
fn lookup_prefix_label_and_errors() {
    let files = vec![
        file("ab12", &[]),
        file_with("ab34", &["ab12"], "-- Branch Labels: feature-2"),
        file("cd", &["ab34"]),
    ];
    let g = build(&files).unwrap().0;
    assert_eq!(g.lookup("ab3"), Ok(1));
    assert_eq!(g.lookup("feature-2"), Ok(1));
    assert_eq!(
        g.lookup("ab"),
        Err(TargetError::Ambiguous {
            prefix: "ab".into(),
            matches: vec!["ab12".into(), "ab34".into()]
        })
    );
    assert_eq!(
        TargetError::Ambiguous {
            prefix: "ab".into(),
            matches: vec!["ab12".into(), "ab34".into()]
        }
        .to_string(),
        "`ab` is ambiguous: it starts 2 revisions (ab12, ab34); give more characters"
    );
    assert_eq!(g.lookup("zz"), Err(TargetError::Unknown("zz".into())));
    // A label that looks like `<id>-N` is still the label.
    let p = g.plan_upgrade(&t("feature-2"), &[]).unwrap();
    assert_eq!(ids(&g, &p.revisions()), ["ab12", "ab34"]);
}

#[test]
fn upgrade_head_from_base_and_steps() {
    let g = shop();
    let p = g.plan_upgrade(&Target::Head, &[]).unwrap();
    assert_eq!(ids(&g, &p.revisions()), ["a", "b", "c", "m", "d", "e"]);
    let rows: Vec<(Vec<String>, Vec<String>)> = p
        .steps
        .iter()
        .map(|s| (ids(&g, &s.remove_heads), ids(&g, &s.add_heads)))
        .collect();
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(rows[0], (v(&[]), v(&["a"])));
    assert_eq!(rows[1], (v(&["a"]), v(&["b"])));
    // `a` is no longer a head once `b` is applied, so `c` removes nothing.
    assert_eq!(rows[2], (v(&[]), v(&["c"])));
    assert_eq!(rows[3], (v(&["b", "c"]), v(&["m"])));
    assert_eq!(ids(&g, &p.heads_after), ["e"]);
    assert!(
        g.plan_upgrade(&Target::Head, &at(&g, &["e"]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn upgrade_to_a_branch_then_the_merge() {
    let g = shop();
    assert_eq!(
        up(&g, "b", &[]).unwrap(),
        (vec!["a".into(), "b".into()], vec!["b".into()])
    );
    assert_eq!(up(&g, "m", &["b"]).unwrap().0, ["c", "m"]);
    // An already-applied target does nothing.
    assert_eq!(up(&g, "a", &["m"]).unwrap().0, Vec::<String>::new());
}

#[test]
fn relative_upgrade() {
    let g = shop();
    assert_eq!(up(&g, "+1", &[]).unwrap().0, ["a"]);
    let err = up(&g, "+2", &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`+2` is ambiguous: from `a` the walk can go up to 2 (b, c); name the revision instead"
    );
    // As in Alembic, the walk goes from b to its one child m, which needs c too.
    assert_eq!(up(&g, "+1", &["b"]).unwrap().0, ["c", "m"]);
    assert_eq!(up(&g, "+2", &["m"]).unwrap().0, ["d", "e"]);
    assert!(matches!(
        up(&g, "+3", &["m"]),
        Err(TargetError::OutOfRange { available: 2, .. })
    ));
    assert!(matches!(
        up(&g, "-1", &["m"]),
        Err(TargetError::WrongDirection { .. })
    ));
}

#[test]
fn relative_from_revision() {
    let g = shop();
    assert_eq!(up(&g, "m+1", &[]).unwrap().0.last().unwrap(), "d");
    assert_eq!(down(&g, "e-1", &["e"]).unwrap().0, ["e"]);
    assert!(matches!(
        down(&g, "m-1", &["e"]),
        Err(TargetError::RelativeAmbiguous { .. })
    ));
    assert!(matches!(
        up(&g, "a+1", &[]),
        Err(TargetError::RelativeAmbiguous { .. })
    ));
    assert!(matches!(
        up(&g, "e+1", &[]),
        Err(TargetError::OutOfRange { available: 0, .. })
    ));
    assert!(matches!(
        down(&g, "b-3", &["e"]),
        Err(TargetError::OutOfRange { available: 2, .. })
    ));
}

#[test]
fn downgrade_minus_one_from_a_merge_then_ambiguity() {
    let g = shop();
    // Alembic refuses to walk down from a merge ("Ambiguous walk"): which parent is -1?
    for target in ["-1", "-2"] {
        let err = down(&g, target, &["m"]).unwrap_err();
        assert!(
            matches!(&err, TargetError::RelativeAmbiguous { candidates, upward: false, .. } if candidates == &["b", "c"]),
            "{err}"
        );
    }
    assert_eq!(down(&g, "-1", &["e"]).unwrap().0, ["e"]);
    assert!(matches!(
        down(&g, "-4", &["b"]),
        Err(TargetError::OutOfRange { available: 2, .. })
    ));
    assert!(matches!(
        down(&g, "+1", &["b"]),
        Err(TargetError::WrongDirection { .. })
    ));
}

#[test]
fn downgrade_to_revision_base_and_irreversible() {
    let g = shop();
    assert_eq!(down(&g, "base", &["m"]).unwrap().0, ["m", "c", "b", "a"]);
    assert_eq!(
        down(&g, "c", &["m"]).unwrap(),
        (vec!["m".into()], vec!["b".into(), "c".into()])
    );
    assert_eq!(down(&g, "a", &["b", "c"]).unwrap().0, ["c", "b"]);
    assert_eq!(down(&g, "d", &["e"]).unwrap().0, ["e"]);
    assert_eq!(
        down(&g, "m", &["e"]),
        Err(TargetError::Irreversible("d".into()))
    );
    assert_eq!(
        down(&g, "base", &["e"]),
        Err(TargetError::Irreversible("d".into()))
    );
    assert_eq!(
        down(&g, "m", &["b"]),
        Err(TargetError::NotApplied("m".into()))
    );
    let steps = g
        .plan_downgrade(&Target::Base, &at(&g, &["m"]))
        .unwrap()
        .steps;
    // Reverting m brings back both parents as heads; reverting c leaves b, so a is not a head yet.
    assert_eq!(ids(&g, &steps[0].add_heads), ["b", "c"]);
    assert!(steps[1].add_heads.is_empty());
    assert_eq!(ids(&g, &steps[2].add_heads), ["a"]);
    assert!(steps[3].add_heads.is_empty());
}

#[test]
fn head_with_several_heads_and_labels() {
    let files = vec![
        file("a", &[]),
        file("b", &["a"]),
        file_with("c", &["a"], "-- Branch Labels: cart"),
        file("d", &["c"]),
    ];
    let g = build(&files).unwrap().0;
    let err = up(&g, "head", &[]).unwrap_err();
    assert_eq!(
        err,
        TargetError::MultipleHeads(vec!["b".into(), "d".into()])
    );
    assert!(
        err.to_string()
            .contains("use `heads` for all of them, `<label>@head` for one branch")
    );
    assert_eq!(up(&g, "heads", &[]).unwrap().0, ["a", "b", "c", "d"]);
    assert_eq!(
        up(&g, "cart@head", &[]).unwrap(),
        (vec!["a".into(), "c".into(), "d".into()], vec!["d".into()])
    );
    // As in Alembic, label@base goes down from the bases of the label's lineage: here `a`,
    // the one base, so b goes too.
    assert_eq!(
        down(&g, "cart@base", &["b", "d"]).unwrap(),
        (vec!["d".into(), "c".into(), "b".into(), "a".into()], vec![])
    );
    assert!(matches!(
        up(&g, "a@head", &[]),
        Err(TargetError::BranchHeads { .. })
    ));
    assert!(matches!(
        up(&g, "nope@head", &[]),
        Err(TargetError::Unknown(_))
    ));
    // Upgrading to a base does nothing, as `upgrade base` does.
    assert_eq!(up(&g, "cart@base", &["b"]).unwrap().0, Vec::<String>::new());
}

#[test]
fn depends_on_is_applied_first_and_reverted_after() {
    let files = vec![
        file("a", &[]),
        file_with("x", &[], "-- Branch Labels: other"),
        file_with("b", &["a"], "-- Depends On: x"),
    ];
    let g = build(&files).unwrap().0;
    assert_eq!(
        up(&g, "b", &[]).unwrap(),
        (
            vec!["a".into(), "x".into(), "b".into()],
            vec!["x".into(), "b".into()]
        )
    );
    assert_eq!(down(&g, "base", &["b", "x"]).unwrap().0, ["b", "x", "a"]);
    // Reverting x needs b reverted first; other@base leaves a, on another lineage.
    assert_eq!(down(&g, "other@base", &["b", "x"]).unwrap().0, ["b", "x"]);
}

#[test]
fn stamp_moves_both_ways() {
    let g = shop();
    let s = g.plan_stamp(&t("m"), &[]).unwrap();
    assert_eq!(ids(&g, &s.added), ["a", "b", "c", "m"]);
    assert_eq!(ids(&g, &s.heads_after), ["m"]);
    let s = g.plan_stamp(&t("b"), &at(&g, &["e"])).unwrap();
    // As in Alembic, the current row e gives way to b: m's other parent c is forgotten too.
    assert_eq!(ids(&g, &s.removed), ["e", "d", "m", "c"]);
    assert_eq!(ids(&g, &s.heads_after), ["b"]);
    let s = g.plan_stamp(&Target::Base, &at(&g, &["e"])).unwrap();
    assert!(s.heads_after.is_empty());
    assert_eq!(s.removed.len(), 6);
    let s = g.plan_stamp(&t("-1"), &at(&g, &["e"])).unwrap();
    assert_eq!(ids(&g, &s.heads_after), ["d"]);
}

#[test]
fn downgrade_and_stamp_to_several_revisions_keep_what_each_needs() {
    // Found by the fuzz benchmark: b12 depends on the head b1, and c revises b12. The
    // heads are b1 and c; `downgrade heads` reverted b12 (a descendant of b1) under c.
    let node = |id: &str, parents: Vec<usize>, depends_on: Vec<usize>| Node {
        id: id.into(),
        parents,
        depends_on,
        branch_labels: vec![],
        reversible: true,
    };
    let g = Graph::from_nodes(vec![
        node("b1", vec![], vec![]),
        node("b12", vec![], vec![0]),
        node("c", vec![1], vec![]),
    ])
    .unwrap();
    let heads = at(&g, &["b1", "c"]);
    let p = g.plan_downgrade(&Target::Heads, &heads).unwrap();
    assert!(p.steps.is_empty(), "{:?}", ids(&g, &p.revisions()));
    let s = g.plan_stamp(&Target::Heads, &heads).unwrap();
    assert!(s.removed.is_empty() && s.added.is_empty());
    assert_eq!(ids(&g, &s.heads_after), ["b1", "c"]);
    // b12 and c only depend on b1: a downgrade to b1 keeps them, as in Alembic.
    assert!(down(&g, "b1", &["b1", "c"]).unwrap().0.is_empty());
}

#[test]
fn unknown_current_index_is_an_error_not_a_panic() {
    let g = shop();
    assert!(matches!(
        g.plan_upgrade(&Target::Head, &[99]),
        Err(TargetError::UnknownCurrent(_))
    ));
    assert!(g.plan_downgrade(&Target::Base, &[99]).is_err());
    assert!(g.plan_stamp(&Target::Base, &[99]).is_err());
}

/// A random DAG in topological order: node i has up to two parents and up to one
/// dependency among the nodes before it.
fn dag() -> impl Strategy<Value = Graph> {
    (1usize..24)
        .prop_flat_map(|n| {
            proptest::collection::vec((any::<u16>(), any::<u16>(), any::<u16>(), 0u8..6), n)
        })
        .prop_map(|raw| {
            let nodes = raw
                .iter()
                .enumerate()
                .map(|(i, &(p1, p2, d, shape))| {
                    let mut parents = Vec::new();
                    let mut depends_on = Vec::new();
                    if i > 0 && shape > 0 {
                        parents.push(p1 as usize % i);
                        if shape > 3 {
                            let q = p2 as usize % i;
                            if !parents.contains(&q) {
                                parents.push(q);
                            }
                        }
                        if shape == 5 {
                            let q = d as usize % i;
                            if !parents.contains(&q) {
                                depends_on.push(q);
                            }
                        }
                    }
                    Node {
                        id: format!("r{i:02}"),
                        parents,
                        depends_on,
                        branch_labels: vec![],
                        reversible: true,
                    }
                })
                .collect();
            Graph::from_nodes(nodes).unwrap()
        })
}

/// Replays a plan, checking every step is legal and every row change keeps the version
/// table equal to the heads of the applied set; returns the final applied set.
fn replay(g: &Graph, plan: &Plan, applied: &[bool]) -> Vec<bool> {
    let mut state = applied.to_vec();
    let mut rows: Vec<usize> = g.heads_of(&state);
    for step in &plan.steps {
        let r = step.revision;
        let node = g.node(r);
        match plan.direction {
            Direction::Upgrade => {
                assert!(!state[r]);
                assert!(
                    node.parents
                        .iter()
                        .chain(&node.depends_on)
                        .all(|&p| state[p])
                );
                state[r] = true;
            }
            Direction::Downgrade => {
                assert!(state[r]);
                assert!(
                    !g.children(r)
                        .iter()
                        .chain(g.dependents(r))
                        .any(|&c| state[c])
                );
                state[r] = false;
            }
        }
        rows.retain(|h| !step.remove_heads.contains(h));
        rows.extend(&step.add_heads);
        rows.sort_unstable();
        assert_eq!(rows, g.heads_of(&state));
    }
    assert_eq!(rows, plan.heads_after);
    state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn upgrade_applies_exactly_the_unapplied_ancestors(g in dag(), seed in any::<u64>(), pick in any::<usize>()) {
        let start: Vec<usize> = (0..g.len()).filter(|i| (seed >> (i % 64)) & 1 == 1 && i % 3 == 0).collect();
        let applied = g.applied(&start);
        let target = pick % g.len();
        let plan = g.plan_upgrade(&Target::Revision(g.id(target).to_owned()), &start).unwrap();
        let wanted = g.ancestors_with_dependencies([target]);
        let expected: Vec<usize> = (0..g.len()).filter(|&i| wanted[i] && !applied[i]).collect();
        prop_assert_eq!(plan.revisions(), expected);
        let end = replay(&g, &plan, &applied);
        for i in 0..g.len() {
            prop_assert_eq!(end[i], applied[i] || wanted[i]);
        }
    }

    #[test]
    fn downgrade_then_upgrade_returns_to_the_same_heads(g in dag(), seed in any::<u64>(), pick in any::<usize>()) {
        let start: Vec<usize> = (0..g.len()).filter(|i| (seed >> (i % 64)) & 1 == 1).collect();
        let applied = g.applied(&start);
        let heads = g.heads_of(&applied);
        let target = if heads.is_empty() { Target::Base } else {
            let applied_ids: Vec<usize> = (0..g.len()).filter(|&i| applied[i]).collect();
            Target::Revision(g.id(applied_ids[pick % applied_ids.len()]).to_owned())
        };
        let down = g.plan_downgrade(&target, &heads).unwrap();
        let mid = replay(&g, &down, &applied);
        // Exactly what descends from the target's children went.
        if let Target::Revision(id) = &target {
            let t = g.find(id).unwrap();
            let below = g.descendants_with_dependents(g.children(t).iter().copied());
            for i in 0..g.len() {
                prop_assert_eq!(mid[i], applied[i] && !below[i]);
            }
        }
        let mut current = down.heads_after.clone();
        for &h in &heads {
            let plan = g.plan_upgrade(&Target::Revision(g.id(h).to_owned()), &current).unwrap();
            let state = replay(&g, &plan, &g.applied(&current));
            current = g.heads_of(&state);
        }
        prop_assert_eq!(current, heads);
    }

    #[test]
    fn stamp_is_an_upgrade_or_keeps_the_target_as_a_tip(g in dag(), seed in any::<u64>(), pick in any::<usize>()) {
        let start: Vec<usize> = (0..g.len()).filter(|i| (seed >> (i % 64)) & 1 == 1).collect();
        let applied = g.applied(&start);
        let r = pick % g.len();
        let target = Target::Revision(g.id(r).to_owned());
        let stamp = g.plan_stamp(&target, &start).unwrap();
        let after = g.applied(&stamp.heads_after);
        if !applied[r] {
            // Stamping what is not applied records what the upgrade would.
            prop_assert_eq!(stamp.heads_after, g.plan_upgrade(&target, &start).unwrap().heads_after);
        } else if g.tips_of(&applied).contains(&r) {
            prop_assert_eq!(after, applied);
        } else {
            // Below the tips: r becomes one, nothing is added, and what does not need r
            // and r does not need, on lineages r is not on, stays.
            prop_assert!(g.tips_of(&after).contains(&r));
            prop_assert!(stamp.added.is_empty());
            for t in g.tips_of(&applied) {
                let related = g.ancestors_with_dependencies([t])[r] || g.ancestors_with_dependencies([r])[t];
                prop_assert_eq!(after[t], !related || g.ancestors_with_dependencies([r])[t]);
            }
        }
    }

    #[test]
    fn any_text_target_never_panics(g in dag(), text in "[-+@a-z0-9_ ]{0,12}", seed in any::<u64>()) {
        let start: Vec<usize> = (0..g.len()).filter(|i| (seed >> (i % 64)) & 1 == 1).collect();
        if let Ok(target) = text.parse::<Target>() {
            let _ = g.plan_upgrade(&target, &start);
            let _ = g.plan_downgrade(&target, &start);
            let _ = g.plan_stamp(&target, &start);
        }
    }
}

/// Issue 14, class by class: each expectation is what Alembic 1.20 does on the same graph
/// (`tests/tests/alembic_conformance.rs` checks them on random graphs).
mod alembic {
    use super::*;

    fn graph(files: &[(&str, &[&str], &str)]) -> Graph {
        let files: Vec<_> = files
            .iter()
            .map(|(id, parents, extra)| file_with(id, parents, extra))
            .collect();
        build(&files).unwrap().0
    }

    #[test]
    fn plus_n_walks_from_the_one_current_tip() {
        // b1 → b2 beside a0 → c1: after b1, +1 applies b2 (the other base is not a step).
        let g = graph(&[
            ("a0", &[], ""),
            ("b1", &[], "-- Branch Labels: bee"),
            ("b2", &["b1"], ""),
            ("c1", &["a0"], ""),
        ]);
        assert_eq!(up(&g, "+1", &["b1"]).unwrap().0, ["b2"]);
        assert!(matches!(
            up(&g, "+1", &["c1"]),
            Err(TargetError::OutOfRange { available: 0, .. })
        ));
        // With two current tips Alembic refuses the walk as ambiguous.
        let err = up(&g, "+1", &["b1", "a0"]).unwrap_err();
        assert!(
            matches!(&err, TargetError::SeveralCurrent { current, .. } if current == &["a0", "b1"]),
            "{err}"
        );
        // From nothing, several bases are several ways to go.
        assert!(matches!(
            up(&g, "+1", &[]),
            Err(TargetError::RelativeAmbiguous { .. })
        ));
        // Below a merge, the walk takes the merge and what it needs.
        assert_eq!(up(&shop(), "+1", &["b"]).unwrap().0, ["c", "m"]);
        assert_eq!(up(&shop(), "+2", &["c"]).unwrap().0, ["b", "m", "d"]);
    }

    #[test]
    fn minus_one_from_a_merge_is_ambiguous() {
        let err = down(&shop(), "-1", &["m"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`-1` is ambiguous: from `m` the walk can go down to 2 (b, c); name the revision \
             instead"
        );
        // With several current revisions, -1 names none of them.
        assert!(matches!(
            down(&shop(), "-1", &["b", "c"]),
            Err(TargetError::SeveralCurrent { .. })
        ));
    }

    #[test]
    fn stamp_below_a_merge_replaces_the_tips_above() {
        let g = shop();
        let s = g.plan_stamp(&t("b"), &at(&g, &["m"])).unwrap();
        assert_eq!(ids(&g, &s.heads_after), ["b"]);
        assert_eq!(ids(&g, &s.removed), ["m", "c"]);
        // A target on another lineage joins the current tips.
        let g = graph(&[("a", &[], ""), ("x", &[], "-- Branch Labels: other")]);
        let s = g.plan_stamp(&t("x"), &at(&g, &["a"])).unwrap();
        assert_eq!(ids(&g, &s.heads_after), ["a", "x"]);
        // `heads` records every head, whatever is current.
        let s = g.plan_stamp(&Target::Heads, &at(&g, &["a"])).unwrap();
        assert_eq!(ids(&g, &s.heads_after), ["a", "x"]);
        // Alembic's `stamp heads` from x and h2 merges both rows into h1 and then skips h2,
        // already a row: h2 is lost. revchain keeps every head.
        let g2 = graph(&[
            ("a", &[], ""),
            ("x", &["a"], ""),
            ("h1", &["x"], ""),
            ("b", &[], "-- Branch Labels: other"),
            ("h2", &["b"], ""),
        ]);
        let s = g2
            .plan_stamp(&Target::Heads, &at(&g2, &["x", "h2"]))
            .unwrap();
        assert_eq!(ids(&g2, &s.heads_after), ["h2", "h1"]);
        // label@base forgets the tips on the label's lineage only.
        let s = g
            .plan_stamp(&t("other@base"), &at(&g, &["a", "x"]))
            .unwrap();
        assert_eq!(ids(&g, &s.heads_after), ["a"]);
    }

    #[test]
    fn base_id_minus_one_is_base() {
        let g = shop();
        assert_eq!(down(&g, "a-1", &["m"]).unwrap().0, ["m", "c", "b", "a"]);
        assert_eq!(down(&g, "b-2", &["m"]).unwrap().0, ["m", "c", "b", "a"]);
        assert!(matches!(
            down(&g, "a-2", &["m"]),
            Err(TargetError::OutOfRange { available: 1, .. })
        ));
        // Upgrading to base is a downgrade.
        assert!(matches!(
            up(&g, "a-1", &[]),
            Err(TargetError::WrongDirection { .. })
        ));
        let s = g.plan_stamp(&t("a-1"), &at(&g, &["m"])).unwrap();
        assert!(s.heads_after.is_empty());
    }

    #[test]
    fn label_steps_walk_the_label_lineage() {
        // a → b (cart) → c, and a → x beside it.
        let g = graph(&[
            ("a", &[], ""),
            ("b", &["a"], "-- Branch Labels: cart"),
            ("c", &["b"], ""),
            ("x", &["a"], "-- Branch Labels: other"),
        ]);
        assert_eq!(t("cart@-2"), Target::BranchRelative("cart".into(), -2));
        assert_eq!(t("cart@+1").to_string(), "cart@+1");
        assert_eq!(up(&g, "cart@+1", &[]).unwrap().0, ["a"]);
        assert_eq!(up(&g, "cart@+2", &[]).unwrap().0, ["a", "b"]);
        // From x (on another branch), the label's lineage starts at a.
        assert_eq!(up(&g, "cart@+1", &["x"]).unwrap().0, ["b"]);
        assert_eq!(down(&g, "cart@-1", &["c", "x"]).unwrap().0, ["c"]);
        assert_eq!(down(&g, "other@-1", &["c", "x"]).unwrap().0, ["x"]);
        assert!(matches!(
            up(&g, "cart@-1", &["c"]),
            Err(TargetError::WrongDirection { .. })
        ));
        assert!(matches!(
            down(&g, "cart@+1", &["c"]),
            Err(TargetError::WrongDirection { .. })
        ));
    }

    #[test]
    fn label_base_goes_down_from_the_label_lineage_bases() {
        // Two bases: other@base reverts from x, the base of its own lineage, and what
        // depends on it.
        let g = graph(&[
            ("a", &[], ""),
            ("b", &["a"], ""),
            ("x", &[], "-- Branch Labels: other"),
            ("y", &["x"], ""),
            ("z", &["b"], "-- Depends On: y"),
        ]);
        assert_eq!(down(&g, "other@base", &["z"]).unwrap().0, ["z", "y", "x"]);
        // On a shared trunk, the label's base is the trunk's.
        assert_eq!(down(&g, "b@base", &["z"]).unwrap().0, ["z", "b", "a"]);
    }

    #[test]
    fn downgrade_keeps_what_only_depends_on_the_target() {
        // x depends on a; downgrading to a reverts b (a's child) and keeps x.
        let g = graph(&[
            ("a", &[], ""),
            ("b", &["a"], ""),
            ("x", &[], "-- Branch Labels: other\n-- Depends On: a"),
        ]);
        assert_eq!(down(&g, "a", &["b", "x"]).unwrap().0, ["b"]);
        // What depends on a reverted child goes with it.
        let g = graph(&[
            ("a", &[], ""),
            ("b", &["a"], ""),
            ("x", &[], "-- Branch Labels: other\n-- Depends On: b"),
        ]);
        assert_eq!(down(&g, "a", &["b", "x"]).unwrap().0, ["x", "b"]);
    }
}
