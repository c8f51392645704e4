//! `sqlx::migrate!` embeds `migrations/` at compile time; without this a new
//! migration file would not trigger a rebuild and would silently be missing
//! from the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
