//! Two unlabelled heads build when the macro is told to allow them.

static MIGRATIONS: revchain::Migrations =
    revchain::migrations!("ui/migrations/two_heads_allowed", allow_multiple_heads);

fn main() {
    let heads: Vec<&str> = MIGRATIONS.heads().map(|r| r.id()).collect();
    assert_eq!(heads, ["0002", "0003"]);
    assert!(MIGRATIONS.multiple_heads_allowed());
    assert_eq!(MIGRATIONS.dir(), "ui/migrations/two_heads_allowed");
    assert_eq!(
        MIGRATIONS.at(0).map(|r| r.path()),
        Some("ui/migrations/two_heads_allowed/0001_users.sql")
    );
}
