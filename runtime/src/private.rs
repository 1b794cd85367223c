//! Support functions for the code that `migrations!` generates. Not public API.

/// A 64-bit fingerprint of `bytes`, evaluated at compile time by the `migrations!`
/// expansion on each migration file's `include_bytes!`: it must equal the value the macro
/// computed from the bytes it parsed, which proves that the content compiled into the crate
/// is the content that was checksummed (a file edited in the middle of a build fails the
/// build instead of embedding a table that disagrees with the file).
///
/// Not cryptographic: a multiply-rotate hash over little-endian 8-byte words, seeded with
/// the length and finished with the splitmix64 finaliser. It is written for the compiler's
/// const evaluator, which is slow per operation: slice patterns instead of indexing and no
/// function call in the loop (about 1 µs of compile time per KB). It must stay identical to
/// `fingerprint` in the `revchain-macros` crate; both pin the same test vectors.
#[doc(hidden)]
#[allow(clippy::manual_rotate)] // `rotate_left` would be a call per word in const evaluation
pub const fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = SEED ^ bytes.len() as u64;
    let mut rest = bytes;
    while let [b0, b1, b2, b3, b4, b5, b6, b7, tail @ ..] = rest {
        let word = u64::from_le_bytes([*b0, *b1, *b2, *b3, *b4, *b5, *b6, *b7]);
        h = ((h << 5 | h >> 59) ^ word).wrapping_mul(K);
        rest = tail;
    }
    let mut last = [0u8; 8];
    let mut i = 0;
    while i < rest.len() {
        last[i] = rest[i];
        i += 1;
    }
    h = ((h << 5 | h >> 59) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    // The splitmix64 finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Whether `bytes` is `total` bytes long and its segment `start..start + len` has the
/// fingerprint `expected`. The expansion checks a file in segments (and groups small files),
/// so that no single constant runs into the compiler's limit on const-evaluation steps.
#[doc(hidden)]
pub const fn fingerprint_matches(
    bytes: &[u8],
    total: usize,
    start: usize,
    len: usize,
    expected: u64,
) -> bool {
    if bytes.len() != total {
        return false;
    }
    let Some((_, rest)) = bytes.split_at_checked(start) else {
        return false;
    };
    let Some((segment, _)) = rest.split_at_checked(len) else {
        return false;
    };
    fingerprint(segment) == expected
}

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const K: u64 = 0x517C_C1B7_2722_0A95;

#[cfg(test)]
mod tests {
    use super::{fingerprint, fingerprint_matches};

    /// The same vectors are pinned in `macros/src/fingerprint.rs`.
    #[test]
    fn pinned_vectors() {
        const EMPTY: u64 = fingerprint(b"");
        assert_eq!(EMPTY, 0xFA50_2F43_F5AA_71C5);
        assert_eq!(
            fingerprint(b"-- a\n-- Revision ID: a\n"),
            0xFA68_2B7C_20E7_4996
        );
        const WHOLE: bool = fingerprint_matches(b"abc", 3, 0, 3, fingerprint(b"abc"));
        assert!(WHOLE);
        assert!(fingerprint_matches(b"abcdef", 6, 2, 3, fingerprint(b"cde")));
        assert!(!fingerprint_matches(
            b"abcdef",
            7,
            2,
            3,
            fingerprint(b"cde")
        ));
        assert!(!fingerprint_matches(b"abcdef", 6, 5, 3, fingerprint(b"f")));
        assert!(!fingerprint_matches(b"abcdef", 6, 7, 0, fingerprint(b"")));
    }
}
