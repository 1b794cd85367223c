//! A user's handle: a URL-friendly name derived from its name, written with every new user.
//! Migration `a8b0c2d4e6f8` backfilled the users that existed before (with its own copy of
//! this rule, as an applied revision must not change).

/// The longest handle the column holds (in characters).
const MAX_HANDLE: usize = 100;

/// `ada-lovelace` for "Ada Lovelace": the words of the name (runs of letters and digits, of
/// any script), lower-cased, joined by `-`, at most 100 characters; the email's local part
/// when the name has no word, and `user` when neither has.
pub fn handle(name: &str, email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    [name, local]
        .into_iter()
        .map(slug)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "user".to_owned())
}

fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).collect())
        .collect();
    let cut: String = words.join("-").chars().take(MAX_HANDLE).collect();
    cut.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::handle;

    #[test]
    fn words_lower_cased_and_joined() {
        assert_eq!(handle("Ada Lovelace", "ada@example.com"), "ada-lovelace");
        assert_eq!(handle("  Émile   ZOLA ", "e@x.org"), "émile-zola");
        assert_eq!(handle("O'Brien, Seán", "s@x.org"), "o-brien-seán");
        assert_eq!(handle("!!!", "grace.hopper@x.org"), "grace-hopper");
        assert_eq!(handle("!!!", "+@x.org"), "user");
        let long = "a ".repeat(80);
        let h = handle(&long, "a@x.org");
        assert_eq!(h.chars().count(), 99, "{h}");
        assert!(!h.ends_with('-'));
    }
}
