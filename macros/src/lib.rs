//! The `migrations!` proc macro of revchain. Use it through the `revchain` crate, which
//! re-exports it as [`revchain::migrations!`](https://docs.rs/revchain/latest/revchain/macro.migrations.html).
//!
//! The macro is a thin shell over `revchain-core`, in three stages, one module each: `args`
//! parses the call, `validate` reads the directory and validates it with core's parser and
//! graph, and `expand` writes the `revchain::Migrations` table.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod args;
mod code;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Embeds a migrations directory, validated at build time, as a `revchain::Migrations`.
///
/// ```ignore
/// static MIGRATIONS: revchain::Migrations = revchain::migrations!("migrations");
/// ```
///
/// The path is relative to the calling crate's `CARGO_MANIFEST_DIR` (the directory of its
/// `Cargo.toml`); a directory outside the crate, such as `"../migrations"`, works too.
/// The expansion is a constant expression, so it can initialise a `static`.
///
/// # Build-time validation
///
/// Every `*.sql` file of the directory (hidden files excepted) is parsed and the revisions
/// are checked as one graph: unique ids, existing `Revises` and `Depends On` targets, no
/// cycle, a single head. **Every** problem of the directory is reported in the same build,
/// each as its own error naming `file:line`, e.g.
///
/// ```text
/// error: migrations/b.sql:4: revision `b` revises `zz`, which no file in the directory declares
/// ```
///
/// An empty directory is allowed and gives an empty table.
///
/// # Several heads
///
/// More than one head is a build error unless each extra head sits on a labelled branch
/// (`Branch Labels`). To allow unlabelled heads anyway, add the flag:
///
/// ```ignore
/// static MIGRATIONS: revchain::Migrations =
///     revchain::migrations!("migrations", allow_multiple_heads);
/// ```
///
/// # Rebuilds
///
/// Every file is tied into the build with `include_bytes!`, so editing or deleting a
/// migration rebuilds the crate; the SQL compiled into the table is the text the macro
/// checksummed. Cargo cannot see a *new* file in the
/// directory by itself: call `revchain::build::track` from the crate's `build.rs`.
///
/// ```ignore
/// // build.rs (with `revchain` also under [build-dependencies], default-features = false)
/// fn main() {
///     revchain::build::track("migrations");
/// }
/// ```
///
/// In debug builds, `Migrations::warn_if_stale` also warns at run time about files added
/// after the build.
#[proc_macro]
pub fn migrations(input: TokenStream) -> TokenStream {
    run(
        input.into(),
        std::env::var_os("CARGO_MANIFEST_DIR"),
        lex_in_compiler,
    )
    .into()
}

/// The compiler's lexer (see [`expand::expand`]).
fn lex_in_compiler(src: &str) -> Option<proc_macro2::TokenStream> {
    src.parse::<TokenStream>().ok().map(Into::into)
}

/// The three stages, on `proc_macro2` tokens.
fn run(
    input: proc_macro2::TokenStream,
    manifest_dir: Option<std::ffi::OsString>,
    lex: expand::Lexer,
) -> proc_macro2::TokenStream {
    let args: args::Args = match syn::parse2(input) {
        Ok(args) => args,
        Err(e) => return e.into_compile_error(),
    };
    let written = args.dir.value();
    match validate::validate(manifest_dir, &written, args.allow_multiple_heads) {
        Ok(validated) => expand::expand(&validated, args.allow_multiple_heads, lex),
        Err(messages) => {
            let span = args.dir.span();
            let mut errors = messages.into_iter().map(|m| syn::Error::new(span, m));
            let mut combined = match errors.next() {
                Some(first) => first,
                None => syn::Error::new(span, "the migrations directory failed to load"),
            };
            for e in errors {
                combined.combine(e);
            }
            expand::expand_errors(combined, &written, args.allow_multiple_heads)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use quote::quote;

    use super::run;

    fn write(dir: &Path, name: &str, text: &str) {
        if let Some(parent) = dir.join(name).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn rev(id: &str, parents: &str) -> String {
        format!(
            "-- {id}\n-- Revision ID: {id}\n-- Revises: {parents}\n\n-- migrate:upgrade\nSELECT 1;\n"
        )
    }

    /// `proc_macro2`'s lexer: these tests run outside the compiler.
    fn lex(src: &str) -> Option<proc_macro2::TokenStream> {
        src.parse().ok()
    }

    fn expand(input: proc_macro2::TokenStream, manifest: &Path) -> String {
        run(input, Some(OsString::from(manifest)), lex).to_string()
    }

    /// The messages of the `compile_error!`s in an expansion.
    fn errors(out: &str) -> Vec<String> {
        out.split("compile_error !")
            .skip(1)
            .map(|s| {
                let literal = &s[s.find('"').unwrap() + 1..];
                let mut message = String::new();
                let mut chars = literal.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => message.extend(chars.next()),
                        c => message.push(c),
                    }
                }
                message
            })
            .collect()
    }

    #[test]
    fn arguments() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        std::fs::create_dir(m.join("migrations")).unwrap();
        assert!(expand(quote!(), m).contains("expected the migrations directory"));
        assert!(expand(quote!(migrations), m).contains("as a string literal"));
        assert!(expand(quote!(""), m).contains("the migrations directory is empty"));
        assert!(
            expand(quote!("migrations", allow_many), m).contains("unknown option `allow_many`")
        );
        assert!(expand(quote!("migrations", 1), m).contains("expected `allow_multiple_heads`"));
        assert!(
            expand(quote!("migrations", allow_multiple_heads, x), m)
                .contains("unexpected argument")
        );
        for ok in [
            quote!("migrations"),
            quote!("migrations",),
            quote!("migrations", allow_multiple_heads),
            quote!("migrations", allow_multiple_heads,),
        ] {
            let out = expand(ok, m);
            assert!(!out.contains("compile_error"), "{out}");
        }
    }

    #[test]
    fn empty_directory_gives_an_empty_table() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("migrations")).unwrap();
        let out = expand(quote!("migrations/"), tmp.path());
        assert!(
            out.contains("text : \"\" , index : b\"\" , edges : b\"\""),
            "{out}"
        );
        assert!(out.contains("\"migrations\""), "{out}");
    }

    #[test]
    fn expansion_ties_each_file_and_orders_revisions() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        write(m, "migrations/b.sql", &rev("b", "a"));
        write(m, "migrations/a.sql", &rev("a", ""));
        let out = expand(quote!("migrations"), m);
        assert!(!out.contains("compile_error"), "{out}");
        // The text blob: a's texts, then b's (its id, message, then its parent's id).
        let blob = "text : \"aaSELECT 1;migrations/a.sqlbbaSELECT 1;migrations/b.sql\"";
        assert!(out.contains(blob), "parents come first: {out}");
        let abs = m.join("migrations").join("a.sql");
        let tie = format!("include_bytes ! ({:?})", abs.to_str().unwrap());
        assert!(out.contains(&tie), "{out}");
        assert_eq!(out.matches("include_bytes !").count(), 2);
        assert!(out.contains("cfg ! (debug_assertions)"));
    }

    #[test]
    fn every_error_is_reported_with_relative_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let crate_dir = tmp.path().join("app");
        std::fs::create_dir(&crate_dir).unwrap();
        write(
            tmp.path(),
            "shared/a.sql",
            "-- a\n-- migrate:upgrade\nSELECT 1;\n",
        );
        write(tmp.path(), "shared/b.sql", &rev("b", "zz"));
        std::fs::write(tmp.path().join("shared/c.sql"), b"-- c\n\xff\n").unwrap();
        let out = expand(quote!("../shared"), &crate_dir);
        let errs = errors(&out);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(
            errs[0].starts_with("../shared/a.sql:1: the header has no"),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with("../shared/c.sql:2: the file is not valid UTF-8"),
            "{errs:#?}"
        );
        // Graph errors show once every file parses.
        write(tmp.path(), "shared/a.sql", &rev("a", ""));
        std::fs::remove_file(tmp.path().join("shared/c.sql")).unwrap();
        let errs = errors(&expand(quote!("../shared"), &crate_dir));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(
            errs[0].starts_with("../shared/b.sql:3: revision `b` revises `zz`"),
            "{errs:#?}"
        );
        let root = tmp.path().to_str().unwrap();
        assert!(
            errs.iter().all(|e| !e.contains(root)),
            "no absolute path: {errs:#?}"
        );
        // The errors stand in front of an empty table of the right type.
        assert!(out.contains("__from_static"));
    }

    #[test]
    fn heads_rule_and_flag() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        write(m, "migrations/a.sql", &rev("a", ""));
        write(m, "migrations/b.sql", &rev("b", "a"));
        write(m, "migrations/c.sql", &rev("c", "a"));
        let errs = errors(&expand(quote!("migrations"), m));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].contains("the revision graph has 2 heads"),
            "{errs:#?}"
        );
        assert!(errs[0].contains("allow_multiple_heads"), "{errs:#?}");
        let out = expand(quote!("migrations", allow_multiple_heads), m);
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("& [1u32 , 2u32]"), "{out}");
    }

    #[test]
    fn bad_paths_are_errors_not_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        write(m, "file.sql", &rev("a", ""));
        let missing = errors(&expand(quote!("nope"), m));
        assert_eq!(missing.len(), 1);
        assert!(missing[0].starts_with("nope: the migrations directory does not exist"));
        let file = errors(&expand(quote!("file.sql"), m));
        assert!(
            file[0].starts_with("file.sql: this is not a directory"),
            "{file:?}"
        );
        let no_env = run(quote!("migrations"), None, lex).to_string();
        assert!(no_env.contains("CARGO_MANIFEST_DIR is not set"), "{no_env}");
    }

    /// A FIFO and a symlink to `/dev/zero` in the directory are compile errors that name
    /// them, at once: the build neither blocks nor reads forever.
    #[cfg(unix)]
    #[test]
    fn fifo_and_device_are_errors_not_hangs() {
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        write(m, "migrations/a.sql", &rev("a", ""));
        let made = std::process::Command::new("mkfifo")
            .arg(m.join("migrations/b.sql"))
            .status()
            .unwrap();
        assert!(made.success());
        std::os::unix::fs::symlink("/dev/zero", m.join("migrations/c.sql")).unwrap();
        let errs = errors(&expand(quote!("migrations"), m));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0]
                .starts_with("migrations/b.sql: this is a FIFO (named pipe), not a regular file"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("migrations/c.sql: this is a character device, not a regular file"),
            "{errs:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_file_is_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let m = tmp.path();
        write(m, "migrations/a.sql", &rev("a", ""));
        let path = m.join("migrations/a.sql");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&path).is_ok() {
            return; // running as root: permissions do not stop reads
        }
        let errs = errors(&expand(quote!("migrations"), m));
        assert!(
            errs[0].starts_with("migrations/a.sql: cannot read it"),
            "{errs:?}"
        );
    }
}
