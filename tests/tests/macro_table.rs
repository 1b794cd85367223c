//! The table that `revchain::migrations!` embeds equals what `revchain-core` computes from
//! the same directory: same order, ids, edges, SQL, lines, paths, checksums and chain
//! digests.

use std::path::Path;

use revchain::Migrations;
use revchain_core::{History, Mode};

static SHOP: Migrations = revchain::migrations!("fixtures/shop");
static BILLING: Migrations = revchain::migrations!("fixtures/billing/");
static EMPTY: Migrations = revchain::migrations!("fixtures/empty");

fn load(dir: &str) -> History {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    History::load_as(&path, dir, Mode::Strict).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts that `table` is `history`, revision by revision.
fn assert_same(table: &Migrations, history: &History) {
    let graph = history.graph();
    assert_eq!(table.len(), history.revisions().len());
    for (i, (rev, file)) in table.iter().zip(history.revisions()).enumerate() {
        let node = graph.node(i);
        let at = format!("revision {i} ({})", file.path);
        assert_eq!(rev.id(), file.id, "{at}");
        assert_eq!(rev.message(), file.message, "{at}");
        assert_eq!(rev.parents().collect::<Vec<_>>(), file.parents, "{at}");
        assert_eq!(
            rev.parent_indices().collect::<Vec<_>>(),
            node.parents,
            "{at}"
        );
        assert_eq!(
            rev.depends_on().collect::<Vec<_>>(),
            file.depends_on,
            "{at}"
        );
        assert_eq!(table.graph().node(i).depends_on, node.depends_on, "{at}");
        assert_eq!(
            rev.branch_labels().collect::<Vec<_>>(),
            file.branch_labels,
            "{at}"
        );
        assert_eq!(rev.create_date(), file.create_date.as_deref(), "{at}");
        assert_eq!(rev.is_transactional(), file.transactional, "{at}");
        assert_eq!(rev.upgrade_sql(), file.upgrade.sql, "{at}");
        // The SQL compiled into the binary is the SQL that was checksummed.
        assert_eq!(
            revchain::Digest::checksum(&revchain_core::parse::checksum_text(rev.upgrade_sql())),
            rev.checksum(),
            "{at}"
        );
        assert_eq!(rev.upgrade_line(), file.upgrade.line, "{at}");
        assert_eq!(
            rev.downgrade_sql(),
            file.downgrade.as_ref().map(|d| d.sql.as_str()),
            "{at}"
        );
        assert_eq!(
            rev.downgrade_line(),
            file.downgrade.as_ref().map_or(0, |d| d.line),
            "{at}"
        );
        assert_eq!(rev.is_reversible(), file.downgrade.is_some(), "{at}");
        assert_eq!(rev.path(), file.path, "{at}");
        assert_eq!(rev.id_line(), file.lines.id, "{at}");
        assert_eq!(rev.checksum(), history.checksum(i), "{at}");
        assert_eq!(rev.checksum(), file.checksum(), "{at}");
        assert_eq!(rev.chain_digest(), history.chain_digest(i), "{at}");
    }
    let heads: Vec<&str> = table.heads().map(|r| r.id()).collect();
    let expected: Vec<&str> = graph.heads().iter().map(|&h| graph.id(h)).collect();
    assert_eq!(heads, expected);
}

#[test]
fn shop_table_equals_core() {
    let history = load("fixtures/shop");
    assert_same(&SHOP, &history);
    assert_eq!(SHOP.dir(), "fixtures/shop");
    assert!(!SHOP.multiple_heads_allowed());
    // What the fixture is meant to cover.
    let ids: Vec<&str> = SHOP.iter().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        [
            "1a2b3c4d5e6f",
            "2b3c4d5e6f70",
            "3c4d5e6f7081",
            "4d5e6f708192",
            "5e6f708192a3",
            "6f708192a3b4"
        ]
    );
    let merge = &SHOP.iter().nth(3).unwrap();
    assert!(merge.is_merge());
    assert_eq!(merge.parent_indices().collect::<Vec<_>>(), [1, 2]);
    assert!(!SHOP.iter().nth(4).unwrap().is_reversible());
    assert!(!SHOP.iter().nth(5).unwrap().is_transactional());
    assert_eq!(
        SHOP.iter().next().unwrap().path(),
        "fixtures/shop/1a2b3c4d5e6f_create_users.sql"
    );
}

#[test]
fn billing_table_equals_core() {
    let history = load("fixtures/billing");
    assert_same(&BILLING, &history);
    // `fixtures/billing/` is shown without its trailing slash.
    assert_eq!(BILLING.dir(), "fixtures/billing");
    assert_eq!(
        BILLING.len(),
        5,
        "README.md and .hidden.sql are not revisions"
    );
    let heads: Vec<&str> = BILLING.heads().map(|r| r.id()).collect();
    assert_eq!(
        heads,
        ["c0000000004", "d0000000005"],
        "the labelled branch's head is allowed"
    );
    let invoices = BILLING.get("billing").unwrap();
    assert_eq!(invoices.id(), "b0000000002");
    assert_eq!(invoices.depends_on().collect::<Vec<_>>(), ["a0000000001"]);
    // Trailing whitespace is kept in the SQL that runs, and is not part of the checksummed
    // text.
    assert!(
        invoices
            .upgrade_sql()
            .contains("total_cents BIGINT NOT NULL   \n")
    );
    let checksummed = revchain_core::parse::checksum_text(invoices.upgrade_sql());
    assert!(checksummed.contains("total_cents BIGINT NOT NULL\n"));
    // CRLF files run as written and are normalised for the checksum.
    let lines = BILLING.get("b0000000003").unwrap();
    assert!(lines.upgrade_sql().contains("\r\n"));
    assert!(!revchain_core::parse::checksum_text(lines.upgrade_sql()).contains('\r'));
    assert_eq!(lines.upgrade_line(), 7);
    let index = BILLING.get("d0000000005").unwrap();
    assert!(!index.is_transactional());
    assert_eq!(index.depends_on().collect::<Vec<_>>(), ["c0000000004"]);
}

#[test]
fn an_empty_directory_is_an_empty_table() {
    assert!(EMPTY.is_empty());
    assert_eq!(EMPTY.heads().count(), 0);
    assert_eq!(EMPTY.dir(), "fixtures/empty");
}

#[test]
fn the_table_is_usable_from_a_function_too() {
    let local = revchain::migrations!("fixtures/shop");
    assert_eq!(local.len(), SHOP.len());
    assert_eq!(
        local.heads().next().map(|r| r.chain_digest()),
        SHOP.heads().next().map(|r| r.chain_digest())
    );
}
