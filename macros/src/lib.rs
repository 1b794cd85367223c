//! The `migrations!` proc macro of revchain. Use it through the `revchain` crate:
//! `revchain::migrations!("migrations")`.

use proc_macro::TokenStream;

/// Placeholder until the macro lands.
#[proc_macro]
pub fn migrations(input: TokenStream) -> TokenStream {
    let _ = input;
    "compile_error!(\"revchain::migrations! is not implemented yet\")"
        .parse()
        .unwrap_or_default()
}
