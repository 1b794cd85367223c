//! Checksums and chain digests (docs/design.md §3.2).
//!
//! A revision's **checksum** is the SHA-256 of its normalised upgrade section (see
//! [`checksum_text`](crate::parse::checksum_text)): what the database executed, with line
//! endings and trailing whitespace left out so that re-saving a file does not count as an
//! edit. The database executes the section exactly as written.
//! Its **chain digest** is the SHA-256 of its checksum followed by the chain digests of its
//! parents in `Revises` order, so equal head digests prove equal histories.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A SHA-256 value, shown as 64 lowercase hex digits.
///
/// ```
/// use revchain_core::Digest;
/// let d = Digest::of(b"");
/// assert_eq!(d.to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// The checksum of an upgrade section that is already normalised.
    pub fn checksum(normalized_upgrade: &str) -> Digest {
        Digest::of(normalized_upgrade.as_bytes())
    }

    /// The chain digest of a revision from its checksum and its parents' chain digests,
    /// in the order its `Revises` line lists them.
    pub fn chain<'a>(checksum: &Digest, parents: impl IntoIterator<Item = &'a Digest>) -> Digest {
        let mut hasher = Sha256::new();
        hasher.update(checksum.0);
        for parent in parents {
            hasher.update(parent.0);
        }
        Digest(hasher.finalize().into())
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        // The buffer holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// The error of parsing a [`Digest`] from text that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a SHA-256 digest: expected 64 hex digits")]
pub struct InvalidDigest(pub String);

impl FromStr for Digest {
    type Err = InvalidDigest;

    fn from_str(s: &str) -> Result<Digest, InvalidDigest> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(InvalidDigest(s.to_owned()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or_else(|| InvalidDigest(s.to_owned()))?;
            let lo = hex_value(pair[1]).ok_or_else(|| InvalidDigest(s.to_owned()))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Digest(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_depends_on_parent_order_and_content() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = Digest::checksum("SELECT 1;");
        assert_ne!(Digest::chain(&c, [&a, &b]), Digest::chain(&c, [&b, &a]));
        assert_ne!(Digest::chain(&c, [&a]), Digest::chain(&c, [&b]));
        assert_eq!(Digest::chain(&c, [&a]), Digest::chain(&c, [&a]));
        // A base's chain digest is the digest of its checksum alone.
        assert_eq!(Digest::chain(&c, []), Digest::of(&c.0));
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let d = Digest::of(b"x");
        assert_eq!(d.to_hex().parse::<Digest>(), Ok(d));
        assert!("abc".parse::<Digest>().is_err());
        assert!("g".repeat(64).parse::<Digest>().is_err());
        assert!("é".repeat(32).parse::<Digest>().is_err());
    }
}
