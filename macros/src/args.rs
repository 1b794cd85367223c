//! Stage one: the macro's arguments, `"dir"` and an optional `allow_multiple_heads`.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// The name of the flag that lifts the one-head rule.
const ALLOW_MULTIPLE_HEADS: &str = "allow_multiple_heads";

/// What `migrations!(...)` was given.
pub(crate) struct Args {
    /// The directory literal, relative to the calling crate's `CARGO_MANIFEST_DIR`; every
    /// error of the directory is reported at its span.
    pub(crate) dir: LitStr,
    /// Whether `allow_multiple_heads` was written.
    pub(crate) allow_multiple_heads: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error(
                "expected the migrations directory, relative to the crate's Cargo.toml: \
                 `revchain::migrations!(\"migrations\")`",
            ));
        }
        let dir: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the migrations directory as a string literal, relative to the \
                 crate's Cargo.toml: `revchain::migrations!(\"migrations\")`",
            )
        })?;
        if dir.value().is_empty() {
            return Err(syn::Error::new(
                dir.span(),
                "the migrations directory is empty; name a directory relative to the crate's \
                 Cargo.toml, such as \"migrations\"",
            ));
        }
        let mut allow_multiple_heads = false;
        if input.parse::<Option<Token![,]>>()?.is_some() && !input.is_empty() {
            let flag: Ident = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected `{ALLOW_MULTIPLE_HEADS}` after the directory"),
                )
            })?;
            if flag != ALLOW_MULTIPLE_HEADS {
                return Err(syn::Error::new(
                    flag.span(),
                    format!("unknown option `{flag}`; the only option is `{ALLOW_MULTIPLE_HEADS}`"),
                ));
            }
            allow_multiple_heads = true;
            input.parse::<Option<Token![,]>>()?;
        }
        if !input.is_empty() {
            return Err(input.error(format!(
                "unexpected argument; `migrations!` takes the directory and, optionally, \
                 `{ALLOW_MULTIPLE_HEADS}`"
            )));
        }
        Ok(Args {
            dir,
            allow_multiple_heads,
        })
    }
}
