//! Makes cargo rebuild the app when a migration file is added: `migrations!` already ties
//! every existing file into the build, but cargo cannot see a new one by itself.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    revchain::build::track("migrations");
}
