//! Revision ids and branch labels: what is valid and what is reserved (docs/design.md §2.1).

/// Words that can never be a revision id or a branch label, because targets use them.
pub const RESERVED: [&str; 4] = ["head", "heads", "base", "current"];

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why an id or a label is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty.
    #[error("the revision id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("revision id `{0}` is too long: ids have at most 64 characters")]
    TooLong(String),
    /// The id holds a character outside `[A-Za-z0-9_]`.
    #[error("revision id `{0}` is invalid: ids hold only ASCII letters, digits and `_`")]
    BadCharacter(String),
    /// The id is one of [`RESERVED`].
    #[error(
        "`{0}` is reserved (head, heads, base and current name targets) and cannot be a revision id"
    )]
    Reserved(String),
    /// The label is not a [name](is_name): empty, longer than [`MAX_ID_LEN`], starting with
    /// `-`, or holding a character outside `[A-Za-z0-9_-]`.
    #[error(
        "branch label `{0}` is invalid: labels are 1 to 64 ASCII letters, digits, `_` or `-`, \
         not starting with `-`"
    )]
    BadLabel(String),
    /// The label is one of [`RESERVED`].
    #[error("`{0}` is reserved and cannot be a branch label")]
    ReservedLabel(String),
}

/// Whether `name` has the shape of a name in the revision graph, the one rule for revision
/// ids, branch labels and the names a target uses (docs/design.md §2.1–§2.2): 1 to
/// [`MAX_ID_LEN`] characters of `[A-Za-z0-9_-]`, not starting with `-` (a leading `-` reads
/// as a relative step, `-N`). Ids are the names without `-` ([`validate_id`]); reserved
/// words are refused by [`validate_id`] and [`validate_label`], not here, so that a target
/// such as `current` is reported as an unknown revision.
///
/// ```
/// use revchain_core::id::is_name;
/// assert!(is_name("3f2a9c01b7de"));
/// assert!(is_name("shopping-cart"));
/// assert!(!is_name("-cart"));
/// assert!(!is_name(""));
/// assert!(!is_name("a@b"));
/// ```
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ID_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a revision id: a [name](is_name) without `-` (1 to 64 characters of
/// `[A-Za-z0-9_]`), not a reserved word.
///
/// ```
/// use revchain_core::id::validate_id;
/// assert!(validate_id("3f2a9c01b7de").is_ok());
/// assert!(validate_id("add-users").is_err());
/// assert!(validate_id("head").is_err());
/// ```
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(id.to_owned()));
    }
    if !is_name(id) || id.contains('-') {
        return Err(IdError::BadCharacter(id.to_owned()));
    }
    if is_reserved(id) {
        return Err(IdError::Reserved(id.to_owned()));
    }
    Ok(())
}

/// Checks a branch label: a [name](is_name) (1 to 64 characters of `[A-Za-z0-9_-]`, not
/// starting with `-`), not a reserved word.
pub fn validate_label(label: &str) -> Result<(), IdError> {
    if !is_name(label) {
        return Err(IdError::BadLabel(label.to_owned()));
    }
    if is_reserved(label) {
        return Err(IdError::ReservedLabel(label.to_owned()));
    }
    Ok(())
}

/// Whether `word` is reserved, compared without regard to ASCII case.
pub fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// Whether `id` has the shape of a generated id: 12 lowercase hex digits.
pub fn is_generated_shape(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert!(validate_id(&"a".repeat(64)).is_ok());
        assert!(matches!(
            validate_id(&"a".repeat(65)),
            Err(IdError::TooLong(_))
        ));
        assert!(matches!(validate_id("a b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(validate_id("é"), Err(IdError::BadCharacter(_))));
        assert!(matches!(validate_id("HEAD"), Err(IdError::Reserved(_))));
        assert!(matches!(validate_id("current"), Err(IdError::Reserved(_))));
        assert!(validate_id("v1_users").is_ok());
    }

    #[test]
    fn labels() {
        assert!(validate_label("shopping-cart").is_ok());
        assert!(matches!(validate_label("a@b"), Err(IdError::BadLabel(_))));
        assert!(matches!(validate_label(""), Err(IdError::BadLabel(_))));
        // `-cart@head` and `-1` could never name it: a leading `-` is a relative step.
        assert!(matches!(validate_label("-cart"), Err(IdError::BadLabel(_))));
        assert!(matches!(
            validate_label(&"a".repeat(65)),
            Err(IdError::BadLabel(_))
        ));
        assert!(matches!(
            validate_label("base"),
            Err(IdError::ReservedLabel(_))
        ));
    }

    #[test]
    fn generated_shape() {
        assert!(is_generated_shape("3f2a9c01b7de"));
        assert!(!is_generated_shape("3F2A9C01B7DE"));
        assert!(!is_generated_shape("3f2a9c01b7d"));
    }
}
