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

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const K: u64 = 0x517C_C1B7_2722_0A95;

#[cfg(test)]
mod tests {
    use super::fingerprint;

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
