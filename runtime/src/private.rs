//! Support functions for the code that `migrations!` generates. Not public API.

/// A 64-bit fingerprint of `bytes`, evaluated at compile time by the `migrations!`
/// expansion on each migration file's `include_bytes!`: it must equal the value the macro
/// computed from the bytes it parsed, which proves that the content compiled into the crate
/// is the content that was checksummed (a file edited in the middle of a build fails the
/// build instead of embedding a table that disagrees with the file).
///
/// splitmix64 over little-endian 8-byte words, seeded with the length: one step per 8
/// bytes keeps const evaluation cheap at thousands of files. Not cryptographic. It must stay
/// identical to `fingerprint` in the `revchain-macros` crate; both pin the same test vectors.
#[doc(hidden)]
pub const fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = mix(0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64);
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        h = mix(h ^ u64::from_le_bytes(*word));
        rest = tail;
    }
    let mut last = 0u64;
    let mut i = 0;
    while i < rest.len() {
        last |= (rest[i] as u64) << (8 * i);
        i += 1;
    }
    mix(h ^ last)
}

/// The splitmix64 finaliser.
const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    /// The same vectors are pinned in `macros/src/fingerprint.rs`.
    #[test]
    fn pinned_vectors() {
        const EMPTY: u64 = fingerprint(b"");
        assert_eq!(EMPTY, 0x46B7_3E79_F0C3_7C00);
        assert_eq!(
            fingerprint(b"-- a\n-- Revision ID: a\n"),
            0xCAAA_5EF5_62E1_5190
        );
    }
}
