//! Stage three: the `Migrations` expression.
//!
//! ```text
//! {
//!     // The revisions in compact form (revchain_core::packed): a handful of literals,
//!     // whatever the number of revisions, for rustc to check.
//!     static __REVCHAIN_TABLE: ::revchain::__private::v2::EmbeddedTable = EmbeddedTable {
//!         text: "3f2a9c01b7decreate users...CREATE TABLE ...",  // every revision's texts
//!         index: b"...",   // a fixed-size record per revision: lengths, lines, flags, digests
//!         edges: b"...",   // parent and dependency indices
//!         code: &[(4u32, CodeRevision { .. })],  // Rust code revisions' functions
//!     };
//!     static __REVCHAIN_REPEATABLES: [Revision; R] = [Revision { .. }, ...];
//!     // Ties every file into the build: editing or deleting one recompiles the crate.
//!     const _: &[&[u8]] = &[::core::include_bytes!("/abs/migrations/x.sql"), ...];
//!     ::revchain::__private::v2::Migrations::__from_table(&__REVCHAIN_TABLE, &[heads], "migrations", source_dir, false, &__REVCHAIN_REPEATABLES, &[catch-up tables])
//! }
//! ```
//!
//! The text compiled into the table is the very text the macro parsed and checksummed (a
//! literal written from it), and the checksums stored in the index are computed over it,
//! so the two agree by construction; the `include_bytes!` ties only make cargo recompile
//! when a file changes. A file edited during a build is newer than the build's output, so
//! cargo compiles again next time. At run time the `Revision` views are built from the
//! table on first use, borrowing its text. (An earlier version also fingerprinted every
//! file at compile time; it cost up to a second of const evaluation per 1,000 files and
//! proved nothing the construction does not. The version before this one wrote a struct
//! expression per revision, which rustc took about as long to check as sqlx's whole build.)

use std::fmt::Write as _;

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use revchain_core::{Digest, History};

use crate::validate::Validated;

/// The path of the support module, written in front of every name the table uses.
const P: &str = "::revchain::__private::v2::";

/// The expression for a validated directory.
///
/// The revisions and the file ties are written as Rust source and handed to the compiler's
/// lexer in one piece: at thousands of revisions that is several times faster than creating
/// each of their tokens one by one through the proc-macro bridge (see
/// `benches/expand.rs`). The frame around them is ordinary `quote!`.
///
/// `lex` turns that source into tokens: the compiler's own lexer inside the compiler
/// (`proc_macro2`'s parsing would first check the text with its own, much slower, lexer),
/// `proc_macro2`'s outside it (unit tests, benchmarks).
pub(crate) fn expand(v: &Validated, allow_multiple_heads: bool, lex: Lexer) -> TokenStream {
    let history = &v.history;
    let graph = history.graph();
    let count = history.revisions().len();

    let packed = revchain_core::packed::pack(history);
    let mut code = String::from("&[");
    for (i, source) in v.files.iter().enumerate() {
        if let Some(c) = &source.code {
            let _ = write!(code, "({}, {}),", line(i), code_revision(i, c));
        }
    }
    code.push(']');
    let catch_ups = catch_up_text(history, &v.display);

    // Each Rust code revision's file, compiled as a module that the table's functions call.
    let mut modules = String::new();
    for (i, source) in v.files.iter().enumerate() {
        if source.code.is_some() {
            let _ = write!(
                modules,
                "#[path = {:?}] mod {}{i};",
                source.abs_path, CODE_MODULE
            );
        }
    }

    // Ties every file into the build: editing or deleting it rebuilds the crate.
    let mut ties = String::with_capacity(count * 96);
    ties.push_str("const _: &[&[u8]] = &[");
    for source in &v.files {
        let _ = write!(ties, "::core::include_bytes!({:?}),", source.abs_path);
    }
    ties.push_str("];");

    let heads = u32_slice(graph.heads());
    let (Some(code), Some(ties), Some(heads), Some(modules)) =
        (lex(&code), lex(&ties), lex(&heads), lex(&modules))
    else {
        return internal_error();
    };
    let (text, index, edges) = (
        Literal::string(&packed.text),
        Literal::byte_string(&packed.index),
        Literal::byte_string(&packed.edges),
    );
    let table = quote! {
        static __REVCHAIN_TABLE: ::revchain::__private::v2::EmbeddedTable =
            ::revchain::__private::v2::EmbeddedTable {
                text: #text,
                index: #index,
                edges: #edges,
                code: #code,
            };
    };
    let dir = Literal::string(&v.display);
    let source_dir = Literal::string(&v.abs_dir);
    let source_dir = quote! {
        if ::core::cfg!(debug_assertions) {
            ::core::option::Option::Some(#source_dir)
        } else {
            ::core::option::Option::None
        }
    };
    let (statics, entries) = catch_ups.unwrap_or_else(|| (String::new(), "&[]".to_owned()));
    let (Some(repeatables), Some(statics), Some(entries)) =
        (repeatables(history, lex), lex(&statics), lex(&entries))
    else {
        return internal_error();
    };
    let repeatable_count = history.repeatable_files().len();
    quote! {
        {
            #modules
            #table
            static __REVCHAIN_REPEATABLES: [::revchain::__private::v2::Revision; #repeatable_count] = [#repeatables];
            #statics
            #ties
            ::revchain::__private::v2::Migrations::__from_table(
                &__REVCHAIN_TABLE,
                #heads,
                #dir,
                #source_dir,
                #allow_multiple_heads,
                &__REVCHAIN_REPEATABLES,
                #entries,
            )
        }
    }
}

/// The revisions of `history` as the elements of a static `[Revision; N]`; `code(i)` is the
/// code part of revision `i` (a Rust code revision).
fn table_text(history: &History, code: impl Fn(usize) -> Option<String>) -> String {
    let graph = history.graph();
    let mut revisions = String::with_capacity(history.revisions().len() * 1_536);
    for (i, f) in history.revisions().iter().enumerate() {
        let node = graph.node(i);
        let digests = (history.checksum(i), history.chain_digest(i));
        let parts = (&node.parents[..], &node.depends_on[..]);
        write_revision(&mut revisions, f, parts, digests, code(i));
    }
    revisions
}

/// The repeatable revisions as `Revision { … },` items: no parents, no dependency indices
/// (resolved at run time from the names), the checksum as the chain digest.
fn repeatables(history: &revchain_core::History, lex: Lexer) -> Option<TokenStream> {
    let mut out = String::new();
    for f in history.repeatable_files() {
        write_revision(&mut out, f, (&[], &[]), (f.checksum(), f.checksum()), None);
    }
    lex(&out)
}

fn internal_error() -> TokenStream {
    // Cannot happen for the text written by `expand`; reported rather than panicking.
    let message = "internal error in revchain: the generated table does not lex; please \
                   report this";
    quote!(::core::compile_error!(#message))
}

/// Appends one `Revision { … },` to `out`.
fn write_revision(
    out: &mut String,
    f: &revchain_core::RevisionFile,
    (parents, depends_on): (&[usize], &[usize]),
    (checksum, chain_digest): (Digest, Digest),
    code: Option<String>,
) {
    // Writing to a `String` cannot fail.
    let _ = write!(
        out,
        "{P}Revision {{ __parts: {P}RevisionParts {{ \
             id: {id}, message: {message}, parent_ids: {parent_ids}, parents: {parents}, \
             depends_on_names: {depends_on_names}, depends_on: {depends_on}, \
             branch_labels: {branch_labels}, create_date: {create_date}, \
             transactional: {transactional}, upgrade_sql: {upgrade_sql}, \
             upgrade_line: {upgrade_line}, downgrade_sql: {downgrade_sql}, \
             downgrade_line: {downgrade_line}, path: {path}, id_line: {id_line}, \
             checksum: {checksum}, chain_digest: {chain_digest}, code: {code}, replaces: {replaces}, \
             lock_timeout_ms: {lock_ms}u64, statement_timeout_ms: {statement_ms}u64, \
             contract: {contract} }} }},",
        id = text(&f.id),
        message = text(&f.message),
        parent_ids = text(&f.parents.join(", ")),
        parents = indices(parents),
        depends_on_names = text(&f.depends_on.join(", ")),
        depends_on = indices(depends_on),
        branch_labels = text(&f.branch_labels.join(", ")),
        create_date = optional(f.create_date.as_deref().map(text)),
        transactional = f.transactional,
        upgrade_sql = text(&f.upgrade.sql),
        upgrade_line = line(f.upgrade.line),
        downgrade_sql = optional(f.downgrade.as_ref().map(|d| text(&d.sql))),
        downgrade_line = line(f.downgrade.as_ref().map_or(0, |d| d.line)),
        path = text(&f.path),
        id_line = line(f.lines.id),
        contract = f.phase == revchain_core::Phase::Contract,
        checksum = digest(&checksum),
        chain_digest = digest(&chain_digest),
        code = optional(code),
        replaces = text(&f.replaces.join(", ")),
        lock_ms = millis(f.lock_timeout),
        statement_ms = millis(f.statement_timeout),
    );
}

/// A timeout header in milliseconds for the table; 0 when there is none.
fn millis(d: Option<std::time::Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// For each baseline whose replaced files are in the directory (docs/design.md §2.3), a
/// static table of those revisions, and the list `(index, &table)` that
/// `Migrations::__from_static_with_catch_up` takes; `None` when there is none.
fn catch_up_text(history: &History, display: &str) -> Option<(String, String)> {
    let mut statics = String::new();
    let mut entries = String::new();
    for i in 0..history.revisions().len() {
        let Some(sub) = history.catch_up(i) else {
            continue;
        };
        let _ = write!(
            statics,
            "static __REVCHAIN_CATCH_UP_{i}_REVISIONS: [{P}Revision; {n}] = [{table}]; \
             static __REVCHAIN_CATCH_UP_{i}: {P}Migrations = {P}Migrations::__from_static(\
             &__REVCHAIN_CATCH_UP_{i}_REVISIONS, {heads}, {dir:?}, ::core::option::Option::None, true);",
            n = sub.revisions().len(),
            table = table_text(&sub, |_| None),
            heads = u32_slice(sub.graph().heads()),
            dir = display,
        );
        let _ = write!(entries, "({}, &__REVCHAIN_CATCH_UP_{i}),", line(i));
    }
    (!entries.is_empty()).then(|| (statics, format!("&[{entries}]")))
}

/// Turns Rust source into tokens; `None` if it does not lex.
pub(crate) type Lexer = fn(&str) -> Option<TokenStream>;

/// What stands in for the table when the directory has errors: the errors, then an empty
/// table, so that the only messages are the directory's own (no type errors follow).
pub(crate) fn expand_errors(
    errors: syn::Error,
    display: &str,
    allow_multiple_heads: bool,
) -> TokenStream {
    let errors = errors.into_compile_error();
    let dir = Literal::string(display);
    quote! {
        {
            #errors
            ::revchain::__private::v1::Migrations::__from_static(
                &[],
                &[],
                #dir,
                ::core::option::Option::None,
                #allow_multiple_heads,
            )
        }
    }
}

/// The name of the module of the Rust code revision at index `i`: this and `i`.
const CODE_MODULE: &str = "__revchain_code_";

/// `CodeRevision { .. }` for the code revision at index `i`: each function wrapped in a
/// closure that rustc type-checks against the user's function (docs/design.md §1.7).
fn code_revision(i: usize, c: &crate::code::CodeFile) -> String {
    let function = |name: &str| {
        format!(
            "{P}CodeFn::{variant}(|conn| {P}code_future({CODE_MODULE}{i}::{name}(conn)))",
            variant = c.variant
        )
    };
    format!(
        "{P}CodeRevision {{ upgrade: {}, downgrade: {}, upgrade_line: {}, downgrade_line: {} }}",
        optional(Some(function("upgrade"))),
        optional(c.has_downgrade.then(|| function("downgrade"))),
        line(c.upgrade_line),
        line(c.downgrade_line),
    )
}

/// `Cow::Borrowed("...")`. `{:?}` of a `str` is a valid Rust string literal.
fn text(s: &str) -> String {
    format!("{P}Cow::Borrowed({s:?})")
}

/// `Option::Some(x)` or `Option::None`.
fn optional(value: Option<String>) -> String {
    match value {
        Some(v) => format!("::core::option::Option::Some({v})"),
        None => "::core::option::Option::None".to_owned(),
    }
}

/// `Cow::Borrowed(&[1u32, 2u32])`.
fn indices(v: &[usize]) -> String {
    format!("{P}Cow::Borrowed({})", u32_slice(v))
}

/// `&[1u32, 2u32]`.
fn u32_slice(v: &[usize]) -> String {
    let items: Vec<String> = v.iter().map(|&i| line(i)).collect();
    format!("&[{}]", items.join(", "))
}

/// A `u32` literal. Indices and lines beyond `u32` cannot occur in a directory that was
/// read (4 billion files or lines); they saturate, as the runtime's `from_history` does.
fn line(n: usize) -> String {
    format!("{}u32", u32::try_from(n).unwrap_or(u32::MAX))
}

/// `Digest(*b"\x..")`: one byte-string token instead of 32 integer literals.
fn digest(d: &Digest) -> String {
    let mut out = format!("{P}Digest(*b\"");
    for byte in d.as_bytes() {
        let _ = write!(out, "\\x{byte:02x}");
    }
    out.push_str("\")");
    out
}
