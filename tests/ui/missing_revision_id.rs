static MIGRATIONS: revchain::Migrations =
    revchain::migrations!("ui/migrations/missing_revision_id");

fn main() {
    let _ = MIGRATIONS.len();
}
