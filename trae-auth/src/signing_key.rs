//! The access-token signing keys: `TRAE_JWT_SECRET` when set, otherwise a ring of random keys
//! kept in the database **sealed by the secrets master key**, so every node sharing a
//! PostgreSQL database signs and verifies with the same keys while a copy of the database
//! (a backup) alone cannot mint a token: the master key never goes into the database.
//!
//! The ring lives in one shared setting ([`HS256_KEY_SETTING`]) as JSON: every key has an id
//! (the `kid` header of the tokens it signs), its bytes sealed with XChaCha20-Poly1305 under
//! the master key (bound to the key id), and, once replaced, when it was retired. The newest
//! unretired key signs; a retired key keeps verifying for [`SigningKeys::grace`] (one
//! access-token lifetime plus the time other nodes take to notice the rotation), then it is
//! dropped at the next rotation. Every change is a compare-and-swap on the row, so two nodes
//! rotating at once cannot lose a key.
//!
//! Databases from before the ring held one plaintext key in that setting; the first load with
//! a master key seals it in place (same key, now sealed), so tokens in flight keep working.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trae_core::{Clock, Error, Result, SharedSettings};
use zeroize::Zeroizing;

use crate::MasterKey;
use crate::access_token::MIN_SECRET_BYTES;

/// The shared-settings key of the sealed signing-key ring (before issue 19: of one plaintext
/// key, which the first load seals in place).
pub const HS256_KEY_SETTING: &str = "auth.jwt_hs256_key";

/// The format version of the stored ring.
const RING_FORMAT: u32 = 1;

/// How many times a compare-and-swap is retried when another node changed the ring first.
const CAS_ATTEMPTS: usize = 8;

/// What seals the signing keys: the secrets master key of this node.
#[async_trait]
pub trait KeySealer: Send + Sync + 'static {
    /// The master key to seal and open signing keys with.
    async fn master_key(&self) -> Result<Arc<MasterKey>>;
}

#[async_trait]
impl KeySealer for MasterKey {
    async fn master_key(&self) -> Result<Arc<MasterKey>> {
        Ok(Arc::new(self.clone()))
    }
}

/// The id of an HMAC key: 16 hex digits of a domain-separated SHA-256, so the id names the key
/// without revealing it.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"trae jwt signing key id\0")
        .chain_update(secret)
        .finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// One signing key, opened.
#[derive(Clone)]
pub struct SigningKey {
    /// Its id, the `kid` header of the tokens it signs.
    pub kid: String,
    /// The HMAC key bytes, zeroed on drop.
    pub secret: Zeroizing<Vec<u8>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a newer key replaced it; it verifies until `retired_at` plus the grace.
    pub retired_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// The opened keys: the one that signs last, the retired ones before it.
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// Every key still verifying, oldest first; the last one signs.
    pub keys: Vec<SigningKey>,
}

impl KeyRing {
    /// The key that signs.
    pub fn current(&self) -> Option<&SigningKey> {
        self.keys.iter().rev().find(|k| k.retired_at.is_none())
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRotation {
    /// The id of the new key, which signs from now on.
    pub new_kid: String,
    /// The id of the key it replaced, which verifies until `retired_key_valid_until`.
    pub retired_kid: Option<String>,
    /// Until when tokens signed with the retired key are still accepted.
    pub retired_key_valid_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRing {
    format: u32,
    keys: Vec<StoredKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// `seal(secret)` under each master key, base64, by the master key's id: one while the
    /// master key stays, two during a master-key rotation's overlap.
    sealed: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

fn aad(kid: &str) -> Vec<u8> {
    [b"trae jwt signing key\0".as_slice(), kid.as_bytes()].concat()
}

fn random_secret() -> Result<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(crate::master_key::random_key()?.to_vec()))
}

fn seal(
    master: &MasterKey,
    kid: &str,
    secret: &[u8],
    created_at: DateTime<Utc>,
) -> Result<StoredKey> {
    let sealed = STANDARD.encode(master.seal(secret, &aad(kid))?);
    Ok(StoredKey {
        kid: kid.to_owned(),
        sealed: BTreeMap::from([(master.id().to_owned(), sealed)]),
        created_at,
        retired_at: None,
    })
}

fn encode(ring: &StoredRing) -> Result<String> {
    serde_json::to_string(ring)
        .map_err(|e| Error::Storage(format!("cannot encode the signing keys: {e}")))
}

/// The signing keys of one database, opened with this node's master key.
#[derive(Clone)]
pub struct SigningKeys {
    settings: Arc<dyn SharedSettings>,
    sealer: Arc<dyn KeySealer>,
    clock: Arc<dyn Clock>,
    grace: Duration,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// The ring in `settings`, sealed by `sealer`'s master key; a retired key verifies for
    /// `grace` after its retirement.
    pub fn new(
        settings: Arc<dyn SharedSettings>,
        sealer: Arc<dyn KeySealer>,
        clock: Arc<dyn Clock>,
        grace: Duration,
    ) -> Self {
        Self {
            settings,
            sealer,
            clock,
            grace,
        }
    }

    /// How long a retired key keeps verifying.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Opens the ring, creating it (one new key) when the database has none and sealing a
    /// plaintext key from before issue 19 in place. Keys retired longer ago than the grace
    /// are left out.
    pub async fn load(&self) -> Result<KeyRing> {
        let master = self.sealer.master_key().await?;
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.stored_or_create(&master).await?;
            let ring = match stored {
                Stored::Ring(ring) => ring,
                Stored::Plaintext(raw) => {
                    // Seal the pre-ring plaintext key in place (same key, so tokens in flight
                    // still verify); if another node did it first, read theirs.
                    let secret =
                        Zeroizing::new(URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| {
                            Error::Config("the stored signing key is corrupt".into())
                        })?);
                    if secret.len() < MIN_SECRET_BYTES {
                        return Err(Error::Config("the stored signing key is too short".into()));
                    }
                    let kid = key_id(&secret);
                    let ring = StoredRing {
                        format: RING_FORMAT,
                        keys: vec![seal(&master, &kid, &secret, self.clock.now_micros())?],
                    };
                    if self
                        .settings
                        .compare_and_swap(HS256_KEY_SETTING, &raw, &encode(&ring)?)
                        .await?
                    {
                        tracing::info!(
                            kid,
                            "sealed the stored JWT signing key with the master key"
                        );
                    }
                    continue;
                }
            };
            return self.open(&master, &ring);
        }
        Err(Error::Storage(
            "the signing keys kept changing while being read; try again".into(),
        ))
    }

    /// Makes a new signing key and retires the current one, which keeps verifying for the
    /// grace; keys retired longer ago than that are dropped. Other nodes pick the new key up
    /// when they next reload (within a minute) or meet a token it signed.
    pub async fn rotate(&self) -> Result<SigningKeyRotation> {
        let master = self.sealer.master_key().await?;
        // Opening first proves this node's master key is the one the ring is sealed with, so
        // a node holding the wrong key cannot replace everyone's keys.
        self.load().await?;
        for _ in 0..CAS_ATTEMPTS {
            let Some(raw) = self.settings.get(HS256_KEY_SETTING).await? else {
                return Err(Error::Storage("the signing keys vanished".into()));
            };
            let Stored::Ring(mut ring) = parse(&raw)? else {
                continue;
            };
            self.open(&master, &ring)?;
            let now = self.clock.now_micros();
            let cutoff = now - self.grace;
            ring.keys
                .retain(|k| k.retired_at.is_none_or(|retired| retired > cutoff));
            let mut retired_kid = None;
            for key in ring.keys.iter_mut().filter(|k| k.retired_at.is_none()) {
                key.retired_at = Some(now);
                retired_kid = Some(key.kid.clone());
            }
            let secret = random_secret()?;
            let new_kid = key_id(&secret);
            ring.keys.push(seal(&master, &new_kid, &secret, now)?);
            if self
                .settings
                .compare_and_swap(HS256_KEY_SETTING, &raw, &encode(&ring)?)
                .await?
            {
                return Ok(SigningKeyRotation {
                    new_kid,
                    retired_kid,
                    retired_key_valid_until: now + self.grace,
                });
            }
        }
        Err(Error::Conflict(
            "the signing keys kept changing during the rotation; try again".into(),
        ))
    }

    /// Seals every key also under `to` (a new master key), so nodes on either key open the
    /// ring during a master-key rotation's overlap. `from` must open them.
    pub async fn reseal(&self, from: &MasterKey, to: &MasterKey) -> Result<()> {
        self.change_sealings(|ring| {
            for key in &mut ring.keys {
                let sealed = key.sealed.get(from.id()).ok_or_else(|| {
                    Error::Config(format!(
                        "signing key {} is not sealed under master key {}",
                        key.kid,
                        from.id()
                    ))
                })?;
                let sealed = STANDARD
                    .decode(sealed)
                    .map_err(|_| Error::Config("a stored signing key is corrupt".into()))?;
                let secret = from.open(&sealed, &aad(&key.kid)).ok_or_else(|| {
                    Error::Config(format!("signing key {} does not open", key.kid))
                })?;
                let again = STANDARD.encode(to.seal(&secret, &aad(&key.kid))?);
                key.sealed.insert(to.id().to_owned(), again);
            }
            Ok(())
        })
        .await
    }

    /// Drops the sealings under a retired master key, so the ring no longer opens with it.
    pub async fn forget_master_key(&self, master_key_id: &str) -> Result<()> {
        self.change_sealings(|ring| {
            for key in &mut ring.keys {
                if key.sealed.len() > 1 {
                    key.sealed.remove(master_key_id);
                }
            }
            Ok(())
        })
        .await
    }

    async fn change_sealings(&self, change: impl Fn(&mut StoredRing) -> Result<()>) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(raw) = self.settings.get(HS256_KEY_SETTING).await? else {
                // Nothing sealed yet: the first load seals under whichever key it has.
                return Ok(());
            };
            let Stored::Ring(mut ring) = parse(&raw)? else {
                // A plaintext key from before issue 19: seal it first.
                self.load().await?;
                continue;
            };
            change(&mut ring)?;
            if self
                .settings
                .compare_and_swap(HS256_KEY_SETTING, &raw, &encode(&ring)?)
                .await?
            {
                return Ok(());
            }
        }
        Err(Error::Conflict(
            "the signing keys kept changing; try again".into(),
        ))
    }

    async fn stored_or_create(&self, master: &MasterKey) -> Result<Stored> {
        if let Some(raw) = self.settings.get(HS256_KEY_SETTING).await? {
            return parse(&raw);
        }
        let secret = random_secret()?;
        let kid = key_id(&secret);
        let candidate = StoredRing {
            format: RING_FORMAT,
            keys: vec![seal(master, &kid, &secret, self.clock.now_micros())?],
        };
        let raw = self
            .settings
            .get_or_insert(HS256_KEY_SETTING, &encode(&candidate)?)
            .await?;
        parse(&raw)
    }

    fn open(&self, master: &MasterKey, ring: &StoredRing) -> Result<KeyRing> {
        let cutoff = self.clock.now_micros() - self.grace;
        let mut keys = Vec::with_capacity(ring.keys.len());
        for stored in &ring.keys {
            if stored.retired_at.is_some_and(|retired| retired <= cutoff) {
                continue;
            }
            let Some(sealed) = stored.sealed.get(master.id()) else {
                let ids: Vec<&str> = stored.sealed.keys().map(String::as_str).collect();
                return Err(Error::Config(format!(
                    "the JWT signing keys are sealed under master key {}, but this node has \
                     master key {}; set TRAE_MASTER_KEY (or the key file) to that key",
                    ids.join(" or "),
                    master.id()
                )));
            };
            let sealed = STANDARD
                .decode(sealed)
                .map_err(|_| Error::Config("a stored signing key is corrupt".into()))?;
            let secret = master.open(&sealed, &aad(&stored.kid)).ok_or_else(|| {
                Error::Config(format!(
                    "the JWT signing key {} does not open with master key {} (altered, or \
                     sealed by another key)",
                    stored.kid,
                    master.id()
                ))
            })?;
            keys.push(SigningKey {
                kid: stored.kid.clone(),
                secret,
                created_at: stored.created_at,
                retired_at: stored.retired_at,
            });
        }
        let ring = KeyRing { keys };
        if ring.current().is_none() {
            return Err(Error::Config(
                "the stored signing keys have no current key".into(),
            ));
        }
        Ok(ring)
    }
}

enum Stored {
    Ring(StoredRing),
    Plaintext(String),
}

fn parse(raw: &str) -> Result<Stored> {
    if !raw.trim_start().starts_with('{') {
        return Ok(Stored::Plaintext(raw.to_owned()));
    }
    let ring: StoredRing = serde_json::from_str(raw)
        .map_err(|e| Error::Config(format!("the stored signing keys are corrupt: {e}")))?;
    if ring.format != RING_FORMAT {
        return Err(Error::Config(format!(
            "the stored signing keys have format {}, this trae reads format {RING_FORMAT}",
            ring.format
        )));
    }
    Ok(Stored::Ring(ring))
}

/// `TRAE_JWT_SECRET` checked: at least 32 bytes.
pub fn configured_secret(secret: &str) -> Result<Vec<u8>> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(Error::Config(format!(
            "TRAE_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    Ok(secret.as_bytes().to_vec())
}
