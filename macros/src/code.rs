//! Rust code revisions (docs/design.md §1.7): the build-time check of a `.rs` revision's
//! functions, with `syn`. Core found the header and the functions by text; this is the
//! authority on their signatures:
//!
//! ```text
//! pub async fn upgrade(conn: &mut <path::>PgConnection) -> <path::>Result<(), E>
//! pub async fn downgrade(conn: &mut <same connection type>) -> <path::>Result<(), E>   (optional)
//! pub async fn upgrade(db: <path::>Connection<'_>) -> <path::>Result<(), E>          (portable)
//! ```
//!
//! `PgConnection`, `MySqlConnection` or `SqliteConnection` (any path ending so) decides the
//! database; revchain's `Connection` by value (any path ending so) makes the revision
//! portable: it runs on any database. rustc then type-checks the call the expansion writes (the error type, `Send`).

use syn::{FnArg, GenericArgument, Item, PathArguments, ReturnType, Type, Visibility};

/// What the expansion needs of a checked code revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeFile {
    /// The `CodeFn` variant of its connection type: `Postgres`, `MySql`, `Sqlite` or
    /// `Portable`.
    pub(crate) variant: &'static str,
    /// Whether it has a `downgrade` function.
    pub(crate) has_downgrade: bool,
    /// The file line of `upgrade`.
    pub(crate) upgrade_line: usize,
    /// The file line of `downgrade` (0 without one).
    pub(crate) downgrade_line: usize,
}

/// The shape every function must have, for messages.
const EXPECTED: &str = "pub async fn NAME(conn: &mut sqlx::PgConnection) -> Result<(), E>` \
    (or `&mut sqlx::MySqlConnection`, `&mut sqlx::SqliteConnection`, or \
    `db: revchain::Connection<'_>` for any database; E is any error that converts into \
    `Box<dyn std::error::Error + Send + Sync>`, such as `sqlx::Error`)";

/// Checks the code of the `.rs` revision `shown` (its whole text): every problem as
/// `path:line: message`.
pub(crate) fn check(shown: &str, text: &str) -> Result<CodeFile, Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let line_of = |name: &str| fn_line(&lines, name);
    let file = syn::parse_file(text).map_err(|e| {
        vec![format!(
            "{shown}: the Rust code does not parse ({e}); rustc shows where when the file is \
             compiled on its own"
        )]
    })?;
    let find = |name: &str| {
        file.items.iter().find_map(|item| match item {
            Item::Fn(f) if f.sig.ident == name => Some(f),
            _ => None,
        })
    };
    let mut errors = Vec::new();
    let Some(upgrade) = find("upgrade") else {
        return Err(vec![format!(
            "{shown}:{}: the Rust revision has no `upgrade` function; expected `{}",
            lines.len().max(1),
            EXPECTED.replace("NAME", "upgrade")
        )]);
    };
    let up_line = line_of("upgrade");
    let variant = match signature(upgrade) {
        Ok(v) => Some(v),
        Err(why) => {
            errors.push(mismatch(shown, up_line, "upgrade", &why));
            None
        }
    };
    let downgrade = find("downgrade");
    let down_line = if downgrade.is_some() {
        line_of("downgrade")
    } else {
        0
    };
    if let Some(down) = downgrade {
        match signature(down) {
            Ok(v) if variant.is_some_and(|u| u != v) => errors.push(mismatch(
                shown,
                down_line,
                "downgrade",
                "it takes another connection type than `upgrade`; both take the same database's \
                 connection",
            )),
            Ok(_) => {}
            Err(why) => errors.push(mismatch(shown, down_line, "downgrade", &why)),
        }
    }
    match variant {
        Some(variant) if errors.is_empty() => Ok(CodeFile {
            variant,
            has_downgrade: downgrade.is_some(),
            upgrade_line: up_line,
            downgrade_line: down_line,
        }),
        _ => Err(errors),
    }
}

fn mismatch(shown: &str, line: usize, name: &str, why: &str) -> String {
    format!(
        "{shown}:{line}: `{name}` has the wrong signature: {why}; expected `{}",
        EXPECTED.replace("NAME", name)
    )
}

/// The line of `fn <name>` (core's textual rule), else 1.
fn fn_line(lines: &[&str], name: &str) -> usize {
    revchain_core::code::function_line(lines, name).unwrap_or(1)
}

/// The `CodeFn` variant of a well-shaped function, or what is wrong with it.
fn signature(f: &syn::ItemFn) -> Result<&'static str, String> {
    let sig = &f.sig;
    if !matches!(f.vis, Visibility::Public(_)) {
        return Err("it is not `pub`".into());
    }
    if sig.asyncness.is_none() {
        return Err("it is not `async`".into());
    }
    if sig.constness.is_some() || !matches!(sig.safety, syn::Safety::Default) || sig.abi.is_some() {
        return Err("it may not be `const`, `unsafe` or `extern`".into());
    }
    if sig.generics.type_params().next().is_some() || sig.generics.const_params().next().is_some() {
        return Err("it may not have type or const parameters".into());
    }
    let mut inputs = sig.inputs.iter();
    let (Some(FnArg::Typed(arg)), None) = (inputs.next(), inputs.next()) else {
        return Err("it must take exactly one argument, the connection".into());
    };
    let variant = connection(&arg.ty).ok_or_else(|| {
        "its argument is not `&mut PgConnection`, `&mut MySqlConnection` or `&mut \
         SqliteConnection` (a mutable reference to sqlx's connection), nor \
         `revchain::Connection<'_>` (by value)"
            .to_owned()
    })?;
    if !returns_unit_result(&sig.output) {
        return Err("it does not return `Result<(), E>`".into());
    }
    Ok(variant)
}

/// The variant for `&mut <…>::PgConnection` and its kin, or `Portable` for
/// `<…>::Connection<'_>` by value.
fn connection(ty: &Type) -> Option<&'static str> {
    let r = match ty {
        Type::Reference(r) => r,
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            return (p.qself.is_none() && last.ident == "Connection").then_some("Portable");
        }
        _ => return None,
    };
    r.mutability.as_ref()?;
    let Type::Path(p) = &*r.elem else {
        return None;
    };
    match p.path.segments.last()?.ident.to_string().as_str() {
        "PgConnection" => Some("Postgres"),
        "MySqlConnection" => Some("MySql"),
        "SqliteConnection" => Some("Sqlite"),
        _ => None,
    }
}

/// Whether the return type is `<…>::Result<(), …>` (or an alias `Result<()>`).
fn returns_unit_result(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Type::Path(p) = &**ty else {
        return false;
    };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Result"
        && matches!(args.args.first(), Some(GenericArgument::Type(Type::Tuple(t))) if t.elems.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "// m\n// Revision ID: c3\n// Revises:\n\n";

    fn check_code(code: &str) -> Result<CodeFile, Vec<String>> {
        check("m/c3.rs", &format!("{HEADER}{code}"))
    }

    #[test]
    fn accepts_the_three_connections_and_an_optional_downgrade() {
        let ok = check_code(
            "use sqlx::PgConnection;\npub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> { Ok(()) }\n\npub async fn downgrade(c: &mut sqlx::PgConnection) -> anyhow::Result<()> { Ok(()) }\n",
        )
        .unwrap();
        assert_eq!(
            ok,
            CodeFile {
                variant: "Postgres",
                has_downgrade: true,
                upgrade_line: 6,
                downgrade_line: 8
            }
        );
        let ok = check_code("pub async fn upgrade<'c>(c: &'c mut sqlx::SqliteConnection) -> Result<(), Box<dyn std::error::Error + Send + Sync>> { Ok(()) }\n").unwrap();
        assert_eq!(ok.variant, "Sqlite");
        assert!(!ok.has_downgrade);
        assert_eq!(
            check_code("pub async fn upgrade(c: &mut MySqlConnection) -> Result<(), E> { Ok(()) }")
                .unwrap()
                .variant,
            "MySql"
        );
    }

    #[test]
    fn revchain_connection_by_value_is_portable() {
        let ok = check_code(
            "pub async fn upgrade(mut db: revchain::Connection<'_>) -> Result<(), sqlx::Error> { Ok(()) }\npub async fn downgrade(db: Connection) -> anyhow::Result<()> { Ok(()) }\n",
        )
        .unwrap();
        assert_eq!((ok.variant, ok.has_downgrade), ("Portable", true));
        let e = check_code("pub async fn upgrade(db: revchain::Connection<'_>) -> Result<(), E> { Ok(()) }\npub async fn downgrade(c: &mut PgConnection) -> Result<(), E> { Ok(()) }").unwrap_err();
        assert!(
            e[0].starts_with(
                "m/c3.rs:6: `downgrade` has the wrong signature: it takes another connection type"
            ),
            "{}",
            e[0]
        );
        let e = check_code(
            "pub async fn upgrade(db: &mut revchain::Connection<'_>) -> Result<(), E> { Ok(()) }",
        )
        .unwrap_err();
        assert!(
            e[0].contains("nor `revchain::Connection<'_>` (by value)"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn refuses_wrong_shapes_at_their_lines() {
        let cases = [
            (
                "pub async fn upgrade(c: PgConnection) -> Result<(), E> { Ok(()) }",
                "its argument is not",
            ),
            (
                "pub fn upgrade(c: &mut PgConnection) -> Result<(), E> { Ok(()) }",
                "it is not `async`",
            ),
            (
                "async fn upgrade(c: &mut PgConnection) -> Result<(), E> { Ok(()) }",
                "it is not `pub`",
            ),
            (
                "pub async fn upgrade(c: &mut PgConnection) { }",
                "it does not return `Result<(), E>`",
            ),
            (
                "pub async fn upgrade(c: &mut PgConnection, n: u32) -> Result<(), E> { Ok(()) }",
                "exactly one argument",
            ),
        ];
        for (code, why) in cases {
            let e = check_code(code).unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(
                e[0].starts_with("m/c3.rs:5: `upgrade` has the wrong signature: "),
                "{}",
                e[0]
            );
            assert!(e[0].contains(why), "{}", e[0]);
        }
        let e = check_code("pub async fn upgrade(c: &mut PgConnection) -> Result<(), E> { Ok(()) }\npub async fn downgrade(c: &mut SqliteConnection) -> Result<(), E> { Ok(()) }").unwrap_err();
        assert!(
            e[0].starts_with(
                "m/c3.rs:6: `downgrade` has the wrong signature: it takes another connection type"
            ),
            "{}",
            e[0]
        );
        let e = check_code("fn helper() {}\n").unwrap_err();
        assert!(
            e[0].starts_with("m/c3.rs:5: the Rust revision has no `upgrade` function"),
            "{}",
            e[0]
        );
    }
}
