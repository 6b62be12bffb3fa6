//! Opaque secrets (refresh tokens and API keys): 256 random bits, shown once, stored only as
//! a SHA-256 digest. They are long and random, so a fast hash is enough and argon2 would only
//! slow every request down.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::{AuthError, Result};

/// The SHA-256 digest of an opaque token, hex-encoded: what the database stores and looks up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// A freshly generated opaque token: the plaintext to hand out once, and its digest to store.
#[derive(Clone, PartialEq, Eq)]
pub struct OpaqueToken {
    /// The token as the client will present it, `prefix` + 43 base64url characters.
    pub plaintext: String,
    /// What to store.
    pub hash: TokenHash,
}

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl OpaqueToken {
    /// Generates a token starting with `prefix` (e.g. `trae_` for API keys).
    pub fn generate(prefix: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| AuthError::Config(format!("no secure randomness available: {e}")))?;
        let plaintext = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = Self::digest(&plaintext);
        Ok(Self { plaintext, hash })
    }

    /// The digest of a presented token, to look it up.
    pub fn digest(plaintext: &str) -> TokenHash {
        let digest = Sha256::digest(plaintext.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_digested() {
        let a = OpaqueToken::generate("trae_").unwrap();
        let b = OpaqueToken::generate("trae_").unwrap();
        assert!(a.plaintext.starts_with("trae_"));
        assert_eq!(
            a.plaintext.len(),
            "trae_".len() + 43,
            "256 bits in base64url"
        );
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(OpaqueToken::digest(&a.plaintext), a.hash);
        assert_eq!(a.hash.0.len(), 64);
        assert!(
            !format!("{a:?}").contains(&a.plaintext),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            OpaqueToken::digest("abc").0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
