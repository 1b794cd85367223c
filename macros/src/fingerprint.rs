//! The fingerprint that proves the bytes compiled into the crate are the bytes the macro
//! read and hashed.
//!
//! The same function, as a `const fn`, is `revchain::__private::fingerprint`: the expansion
//! asserts at compile time that it gives, for every `include_bytes!` of a migration file, the
//! value computed here from the bytes that were parsed. The two must stay identical; both
//! crates pin the same test vectors.

/// A 64-bit fingerprint of `bytes`: a multiply-rotate hash over little-endian 8-byte
/// words, seeded with the length and finished with the splitmix64 finaliser. Not
/// cryptographic: it detects a file that changed between the macro's read and the
/// compiler's, which is all it is for. See `revchain::__private::fingerprint` for why it is
/// shaped for the const evaluator.
pub(crate) fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = SEED ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// The most bytes one generated constant fingerprints: the compiler stops a constant
/// whose evaluation takes a few million steps (`long_running_const_eval`), which the
/// fingerprint reaches at a few MB, so bigger files are checked in segments and the
/// expansion groups small files up to this budget per constant.
pub(crate) const SEGMENT: usize = 128 * 1024;

/// A part of a file and its fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The first byte.
    pub(crate) start: usize,
    /// The length.
    pub(crate) len: usize,
    /// The fingerprint of `bytes[start..start + len]`.
    pub(crate) fingerprint: u64,
}

/// `bytes` cut into segments of at most [`SEGMENT`] bytes (one, empty, for an empty file).
pub(crate) fn segments(bytes: &[u8]) -> Vec<Segment> {
    if bytes.is_empty() {
        return vec![Segment {
            start: 0,
            len: 0,
            fingerprint: fingerprint(bytes),
        }];
    }
    bytes
        .chunks(SEGMENT)
        .enumerate()
        .map(|(i, chunk)| Segment {
            start: i * SEGMENT,
            len: chunk.len(),
            fingerprint: fingerprint(chunk),
        })
        .collect()
}

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const K: u64 = 0x517C_C1B7_2722_0A95;

#[cfg(test)]
mod tests {
    use super::{SEGMENT, fingerprint, segments};

    /// The same vectors are pinned in `runtime/src/private.rs` (and were checked against a
    /// third, independent implementation).
    #[test]
    fn pinned_vectors() {
        assert_eq!(fingerprint(b""), 0xFA50_2F43_F5AA_71C5);
        assert_eq!(
            fingerprint(b"-- a\n-- Revision ID: a\n"),
            0xFA68_2B7C_20E7_4996
        );
    }

    #[test]
    fn segments_cover_the_file() {
        assert_eq!(segments(b"").len(), 1);
        assert_eq!(segments(b"")[0].len, 0);
        let big = vec![7u8; 2 * SEGMENT + 5];
        let parts = segments(&big);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].start, SEGMENT);
        assert_eq!(parts[2].len, 5);
        assert_eq!(parts[2].fingerprint, fingerprint(&[7; 5]));
    }

    #[test]
    fn sensitive_to_every_byte_and_the_length() {
        let base = b"SELECT 1;\nSELECT 2;\n".to_vec();
        let f = fingerprint(&base);
        for i in 0..base.len() {
            let mut changed = base.clone();
            changed[i] ^= 1;
            assert_ne!(fingerprint(&changed), f, "byte {i}");
        }
        let mut longer = base.clone();
        longer.push(0);
        assert_ne!(fingerprint(&longer), f);
        assert_ne!(fingerprint(&[0; 8]), fingerprint(&[0; 16]));
    }
}
