//! SHA-256 in lower-case hex: how stored videos and refresh tokens are fingerprinted.

use sha2::{Digest, Sha256};

pub use sha2::Sha256 as Hasher;

/// The hex digest of what `hasher` has seen.
pub fn hex(hasher: Hasher) -> String {
    format!("{:x}", hasher.finalize())
}

/// The hex digest of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(Sha256::new_with_prefix(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
