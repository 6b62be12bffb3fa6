//! The secrets vault's master key: where it comes from, its id, and the sealing primitives
//! (XChaCha20-Poly1305 with random 24-byte nonces) the vault builds its envelopes from.
//!
//! The key is `TRAE_MASTER_KEY` (base64 of exactly 32 bytes) or, on SQLite only, the file
//! [`KEY_FILE_NAME`] in the data directory, created with mode 0600 on first use. Its id is the
//! first 8 bytes of a SHA-256 of the key (domain-separated), in hex: it names the key in the
//! database and in messages without revealing it.
//!
//! A sealed blob is `0x01 ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)`.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use trae_core::{Config, DatabaseBackend, Error, Result, SecretString};
use zeroize::Zeroizing;

/// The name of the key file in the data directory (SQLite only).
pub const KEY_FILE_NAME: &str = "master.key";
/// The length of a master key and of a data key, in bytes.
pub const KEY_BYTES: usize = 32;
/// The format byte every sealed blob starts with.
const FORMAT: u8 = 1;
/// Nonce length of XChaCha20-Poly1305.
const NONCE_BYTES: usize = 24;
/// Authentication tag length.
const TAG_BYTES: usize = 16;

/// A 32-byte master key. Its `Debug` shows only its id; the bytes are zeroed on drop.
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_BYTES]>,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        let key = Zeroizing::new(bytes);
        let digest = Sha256::new()
            .chain_update(b"trae master key id\0")
            .chain_update(key.as_slice())
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id }
    }

    /// A key from base64 (standard alphabet, padding optional) of exactly 32 bytes, as
    /// `TRAE_MASTER_KEY` and the key file hold it. The error never quotes the input.
    pub fn from_base64(encoded: &str) -> Result<Self> {
        let trimmed = encoded.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(trimmed)
                .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
                .map_err(|_| Error::Config("the master key is not valid base64".into()))?,
        );
        let bytes: [u8; KEY_BYTES] = decoded.as_slice().try_into().map_err(|_| {
            Error::Config(format!(
                "the master key must be base64 of exactly {KEY_BYTES} bytes, got {} bytes",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key.
    pub fn generate() -> Result<Self> {
        Ok(Self::from_bytes(random_key()?))
    }

    /// The key's short id: 16 hex digits of a hash of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key in base64, for a key file or an operator's safekeeping.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(STANDARD.encode(self.key.as_slice()))
    }

    /// Seals `plaintext` under this key with `aad`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        seal(&self.key, plaintext, aad)
    }

    /// Opens a blob sealed under this key with `aad`; `None` when it does not authenticate.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open(&self.key, sealed, aad)
    }
}

/// 32 random bytes from the operating system.
pub(crate) fn random_key() -> Result<[u8; KEY_BYTES]> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key)
        .map_err(|e| Error::Config(format!("no secure randomness available: {e}")))?;
    Ok(key)
}

/// Seals `plaintext` under `key`: a random nonce, then XChaCha20-Poly1305 with `aad`.
pub(crate) fn seal(key: &[u8; KEY_BYTES], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = XChaCha20Poly1305::new_from_slice(key)
        .map_err(|_| Error::Storage("invalid key length".into()))?;
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Config(format!("no secure randomness available: {e}")))?;
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Storage("encryption failed".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
    out.push(FORMAT);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a blob from [`seal`]; `None` when it is malformed or does not authenticate.
pub(crate) fn open(key: &[u8; KEY_BYTES], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] != FORMAT {
        return None;
    }
    let cipher = XChaCha20Poly1305::new_from_slice(key).ok()?;
    let nonce = XNonce::try_from(&sealed[1..=NONCE_BYTES]).ok()?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed[1 + NONCE_BYTES..],
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// Where a node's master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// The configured key (`TRAE_MASTER_KEY`), base64 of 32 bytes.
    Configured(SecretString),
    /// A key file, created (mode 0600) when missing and the database holds no encrypted data.
    KeyFile(PathBuf),
    /// A new random key that lives as long as the vault: for an in-memory database, whose
    /// secrets die with it anyway.
    Ephemeral,
}

impl MasterKeySource {
    /// The one rule every way in follows: `TRAE_MASTER_KEY` when set; otherwise, on a SQLite
    /// file, `master.key` in the data directory (which is the file's directory unless
    /// `TRAE_DATA_DIR` says otherwise, see [`Config::from_sources_with`]); on an in-memory
    /// SQLite database a key that lives as long as the vault; on PostgreSQL a clear error,
    /// since every node must share one key.
    pub fn from_config(config: &Config) -> Result<Self> {
        if let Some(key) = &config.master_key {
            return Ok(Self::Configured(key.clone()));
        }
        match DatabaseBackend::of_url(&config.database_url)? {
            DatabaseBackend::Sqlite
                if trae_core::config::sqlite_file(&config.database_url).is_none() =>
            {
                Ok(Self::Ephemeral)
            }
            DatabaseBackend::Sqlite => Ok(Self::KeyFile(config.data_dir.join(KEY_FILE_NAME))),
            DatabaseBackend::Postgres => Err(Error::Config(
                "TRAE_MASTER_KEY is required with PostgreSQL, so every node shares the secrets \
                 master key; set it to base64 of 32 random bytes (e.g. the output of \
                 `head -c 32 /dev/urandom | base64`)"
                    .into(),
            )),
        }
    }
}

/// Reads the key file at `path`; `Ok(None)` when it does not exist.
pub(crate) fn read_key_file(path: &Path) -> Result<Option<MasterKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read the master key file {}: {e}",
                path.display()
            )));
        }
    };
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the secrets master key file is readable by other users; chmod 600 it"
            );
        }
    }
    MasterKey::from_base64(&text)
        .map(Some)
        .map_err(|e| Error::Config(format!("master key file {}: {e}", path.display())))
}

/// Writes `key` to a new file at `path` with mode 0600; `Ok(false)` when the file exists
/// already (another process won the race), leaving it untouched.
pub(crate) fn create_key_file(path: &Path, key: &MasterKey) -> Result<bool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Config(format!(
                "cannot create the directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot create the master key file {}: {e}",
                path.display()
            )));
        }
    };
    let encoded = key.to_base64();
    file.write_all(encoded.expose().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            Error::Config(format!(
                "cannot write the master key file {}: {e}",
                path.display()
            ))
        })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_id() {
        let key = MasterKey::from_bytes([7; 32]);
        let again = MasterKey::from_base64(key.to_base64().expose()).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(key.id().len(), 16);
        assert_ne!(key.id(), MasterKey::from_bytes([8; 32]).id());
        assert!(!format!("{key:?}").contains(key.to_base64().expose()));
    }

    #[test]
    fn wrong_lengths_are_refused_without_quoting_the_input() {
        let short = STANDARD.encode([1u8; 31]);
        let err = MasterKey::from_base64(&short).unwrap_err().to_string();
        assert!(err.contains("31 bytes") && !err.contains(&short), "{err}");
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn seal_binds_the_aad() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal(b"value", b"aad-1").unwrap();
        assert_eq!(key.open(&sealed, b"aad-1").unwrap().as_slice(), b"value");
        assert!(key.open(&sealed, b"aad-2").is_none());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(key.open(&flipped, b"aad-1").is_none());
        assert!(
            MasterKey::generate()
                .unwrap()
                .open(&sealed, b"aad-1")
                .is_none()
        );
        assert!(key.open(&sealed[..10], b"aad-1").is_none());
    }
}
