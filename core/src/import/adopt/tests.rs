use std::hash::{Hash, Hasher};

use super::*;
use crate::graph::Node;

fn node(id: &str, parents: Vec<usize>) -> Node {
    Node {
        id: id.into(),
        parents,
        depends_on: vec![],
        branch_labels: vec![],
        reversible: true,
    }
}

/// A linear chain `1 ← 2 ← 3 ← 4`.
fn chain() -> Graph {
    Graph::from_nodes(
        (1..=4)
            .map(|i| {
                node(
                    &i.to_string(),
                    (i > 1).then(|| i as usize - 2).into_iter().collect(),
                )
            })
            .collect(),
    )
    .unwrap()
}

fn sql(i: usize) -> String {
    format!("CREATE TABLE t{i} (id INT);")
}

fn row(version: &str, status: Status, checksum: Option<Checksum>) -> HistoryRow {
    HistoryRow {
        version: version.into(),
        status,
        checksum,
    }
}

fn sqlx_row(version: &str, text: &str, success: bool) -> HistoryRow {
    let status = if success {
        Status::Applied
    } else {
        Status::Failed
    };
    row(
        version,
        status,
        Some(Checksum::Sha384(Sha384::digest(text.as_bytes()).to_vec())),
    )
}

fn ids(graph: &Graph, indices: &[usize]) -> Vec<String> {
    indices.iter().map(|&i| graph.id(i).to_owned()).collect()
}

#[test]
fn siphash13_is_the_one_rust_hashes_with() {
    // std's `DefaultHasher::new()` is SipHash-1-3 with keys 0, as refinery's hasher.
    for (name, version, sql) in [
        ("initial", 1, "CREATE TABLE a (id INT);\n"),
        ("", -7, ""),
        ("x", 123_456, "0123456789abcdef"),
    ] {
        let mut std = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut std);
        version.hash(&mut std);
        sql.hash(&mut std);
        assert_eq!(
            refinery_checksum(name, &version.to_string(), sql),
            std.finish()
        );
    }
}

#[test]
fn flyway_checksum_is_crc32_of_the_lines() {
    assert_eq!(flyway_checksum("123456789") as u32, 0xcbf4_3926);
    let lf = flyway_checksum("CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\n");
    assert_eq!(
        flyway_checksum("\u{feff}CREATE TABLE a (id INT);\r\nINSERT INTO a VALUES (1);"),
        lf
    );
    assert_ne!(flyway_checksum("CREATE TABLE a (id INT);"), lf);
}

#[test]
fn a_sqlx_history_is_adopted_with_its_checksums() {
    let g = chain();
    let rows = [
        sqlx_row("1", &format!("{}\n", sql(0)), true),
        sqlx_row("2", &sql(1), true),
    ];
    let adoption = check(Tool::Sqlx, &rows, &g, &sql).unwrap();
    assert_eq!(ids(&g, &adoption.applied), ["1", "2"]);
    assert_eq!(ids(&g, &adoption.heads), ["2"]);
    let no_tx = sqlx_row("1", &format!("-- no-transaction\n{}\n", sql(0)), true);
    assert!(check(Tool::Sqlx, &[no_tx], &g, &sql).is_ok());
}

#[test]
fn refusals_name_the_entry() {
    let g = chain();
    let edited = sqlx_row("1", "CREATE TABLE other (id INT);\n", true);
    let failed = sqlx_row("2", &sql(1), false);
    let unknown = sqlx_row("9", "SELECT 1;", true);
    let findings = check(Tool::Sqlx, &[edited, failed, unknown], &g, &sql).unwrap_err();
    assert!(
        matches!(&findings[0], Finding::ChecksumDiffers { version, id, .. } if version == "1" && id == "1"),
        "{findings:?}"
    );
    assert!(matches!(&findings[1], Finding::Failed { version, .. } if version == "2"));
    assert!(
        matches!(&findings[2], Finding::Unknown { version, id: Some(id), .. } if version == "9" && id == "9")
    );
    assert!(
        findings[0].to_string().contains("edited"),
        "{}",
        findings[0]
    );
}

#[test]
fn a_gap_is_out_of_order() {
    let g = chain();
    let rows = [
        row("1", Status::Applied, None),
        row("3", Status::Applied, None),
    ];
    let findings = check(Tool::Dbmate, &rows, &g, &sql).unwrap_err();
    assert_eq!(
        findings,
        [Finding::OutOfOrder {
            tool: Tool::Dbmate,
            version: "3".into(),
            id: "3".into(),
            missing: "2".into()
        }]
    );
}

#[test]
fn goose_takes_the_latest_row_of_a_version() {
    let g = chain();
    let cells = |v: &str, applied: &str| {
        decode_row(Tool::Goose, &[Some(v.into()), Some(applied.into())]).unwrap()
    };
    let rows = [
        cells("0", "1"),
        cells("1", "1"),
        cells("2", "1"),
        cells("3", "1"),
        cells("3", "0"),
    ];
    let adoption = check(Tool::Goose, &rows, &g, &sql).unwrap();
    assert_eq!(ids(&g, &adoption.heads), ["2"]);
}

#[test]
fn golang_migrate_records_only_its_latest_version() {
    let g = chain();
    let decode = |dirty: &str| {
        decode_row(Tool::GolangMigrate, &[Some("3".into()), Some(dirty.into())]).unwrap()
    };
    let adoption = check(Tool::GolangMigrate, &[decode("0")], &g, &sql).unwrap();
    assert_eq!(ids(&g, &adoption.applied), ["1", "2", "3"]);
    let findings = check(Tool::GolangMigrate, &[decode("1")], &g, &sql).unwrap_err();
    assert_eq!(
        findings,
        [Finding::Dirty {
            tool: Tool::GolangMigrate,
            version: "3".into()
        }]
    );
}

#[test]
fn alembic_rows_are_heads_of_a_branched_graph() {
    // a ← b, a ← c, (b, c) ← d
    let g = Graph::from_nodes(vec![
        node("a", vec![]),
        node("b", vec![0]),
        node("c", vec![0]),
        node("d", vec![1, 2]),
    ])
    .unwrap();
    let rows = [row("b", Status::Head, None), row("c", Status::Head, None)];
    let adoption = check(Tool::Alembic, &rows, &g, &|_| String::new()).unwrap();
    assert_eq!(ids(&g, &adoption.applied), ["a", "b", "c"]);
    assert_eq!(ids(&g, &adoption.heads), ["b", "c"]);
}

#[test]
fn flyway_rows_by_type() {
    let g = chain();
    let decode = |v: Option<&str>, kind: &str, checksum: Option<i32>, success: &str| {
        decode_row(
            Tool::Flyway,
            &[
                v.map(Into::into),
                Some("d".into()),
                Some(kind.into()),
                checksum.map(|c| c.to_string()),
                Some(success.into()),
            ],
        )
    };
    let rows = [
        decode(Some("0"), "SCHEMA", None, "1").unwrap(),
        decode(Some("2"), "BASELINE", None, "1").unwrap(),
        decode(Some("3"), "SQL", Some(flyway_checksum(&sql(2))), "1").unwrap(),
    ];
    let adoption = check(Tool::Flyway, &rows, &g, &sql).unwrap();
    assert_eq!(ids(&g, &adoption.heads), ["3"]);
    let bad = decode(Some("3"), "SQL", Some(12), "1").unwrap();
    assert!(matches!(
        &check(Tool::Flyway, &[bad], &g, &sql).unwrap_err()[..],
        [Finding::ChecksumDiffers { version, stored, embedded, .. }]
            if version == "3" && stored == "12" && *embedded == flyway_checksum(&sql(2)).to_string()
    ));
    assert!(matches!(
        decode(None, "SQL", None, "1"),
        Err(Finding::Damaged { .. })
    ));
    // `flyway repair` deleted version 3 after it ran: its later `DELETE` row counts.
    let repaired = [
        rows[1].clone(),
        rows[2].clone(),
        decode(Some("3"), "DELETE", None, "1").unwrap(),
    ];
    let adoption = check(Tool::Flyway, &repaired, &g, &sql).unwrap();
    assert_eq!(ids(&g, &adoption.heads), ["2"]);
    let failed = decode(Some("1"), "SQL", Some(1), "0").unwrap();
    assert_eq!(failed.status, Status::Failed);
}

#[test]
fn refinery_rows_carry_their_name() {
    let g = chain();
    let stored = refinery_checksum("initial", "1", &format!("{}\n", sql(0))).to_string();
    let decoded = decode_row(
        Tool::Refinery,
        &[Some("1".into()), Some("initial".into()), Some(stored)],
    )
    .unwrap();
    assert!(check(Tool::Refinery, &[decoded], &g, &sql).is_ok());
    let damaged = decode_row(
        Tool::Refinery,
        &[Some("1".into()), Some("initial".into()), Some("x".into())],
    );
    assert!(matches!(damaged, Err(Finding::Damaged { .. })));
}

#[test]
fn sqlx_checksums_are_read_from_hex() {
    let text = sql(0);
    let hex: String = Sha384::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let decoded = decode_row(
        Tool::Sqlx,
        &[
            Some("1".into()),
            Some("d".into()),
            Some("1".into()),
            Some(hex),
        ],
    )
    .unwrap();
    assert_eq!(decoded, sqlx_row("1", &text, true));
    assert!(
        decode_row(
            Tool::Sqlx,
            &[Some("1".into()), None, Some("1".into()), Some("zz".into())]
        )
        .is_err()
    );
}
