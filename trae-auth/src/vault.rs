//! The secrets vault: named, versioned secrets encrypted at rest with envelope encryption.
//!
//! # Encryption
//!
//! Every version gets a fresh random 32-byte data key. The value is sealed under the data key
//! with XChaCha20-Poly1305 (random 24-byte nonce), the associated data binding it to the
//! secret's name and version; the data key is sealed (wrapped) under the master key, bound to
//! the master key's id, the name and the version. A ciphertext or wrapped key copied onto
//! another secret or version, or altered in any way, fails to authenticate and the read ends
//! in a clear error, never in garbage.
//!
//! # The master key
//!
//! See [`crate::master_key`] for where it comes from. The database holds a key-check value per
//! installed master key (a constant sealed under it) in `secret_master_keys`, shared by every
//! node, so a node started with the wrong key fails at open, naming the key it has and the key
//! the database expects. A new key is generated (SQLite key file only) only while the database
//! holds no master key and no encrypted data; a lost key file is an error, never a silent new
//! key.
//!
//! # Rotation
//!
//! [`Vault::rotate_master_key`] re-wraps every data key under the new key in one transaction
//! and installs the new key's check value as the current key. The wrappings under the previous
//! key are **kept** (each data key then has one row per master key in `secret_keys`), so nodes
//! still holding the previous key keep reading until they load the new one; they can no longer
//! write (a write must use the current key, so the overlap never gains a version the new key
//! cannot read). The operator ends the overlap with [`Vault::retire_master_key`]; the next
//! rotation also retires any key older than the one it rotates from. At most two keys are
//! therefore live at once. Values are never re-encrypted: only data keys are re-wrapped.
//!
//! When this vault's key came from a key file, rotation writes the new key to
//! `master.key.next` (mode 0600) before the transaction and moves it over `master.key` after
//! the commit; a crash in between leaves the old key in place, which still reads everything
//! during the overlap.
//!
//! Backups of the database do not contain the master key: keep it (the environment variable
//! or the key file) safe separately, or the backup cannot be decrypted.
//!
//! # What never leaks
//!
//! Values live in [`SecretValue`], whose `Debug` is redacted and whose bytes are zeroed on
//! drop. Errors, logs and audit entries carry names, versions and key ids only.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use serde_json::json;
use trae_core::identity::secret::{check_description, check_secret_name, check_tags};
use trae_core::{
    AuditLog, BindingRight, Clock, Config, Error, MasterKeyCheck, NewSecretVersion, Outcome, Page,
    PageRequest, Permission, Principal, Result, SECRETS_USE, Secret, SecretBinding, SecretFilter,
    SecretReader, SecretRepository, SecretString, SecretVersion, WrappedDataKey,
};
use zeroize::Zeroizing;

use crate::Rbac;
use crate::accounts::RequestMeta;
use crate::master_key::{
    KEY_BYTES, MasterKey, MasterKeySource, create_key_file, open, random_key, read_key_file, seal,
};
use crate::signing_key::SigningKeys;

/// The largest secret value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The permission to list secrets and read their metadata.
pub const SECRETS_READ: &str = "secrets:read";
/// The permission to set, delete and prune secrets.
pub const SECRETS_WRITE: &str = "secrets:write";
/// The permission to read a secret's value.
pub const SECRETS_REVEAL: &str = "secrets:reveal";

/// How many times `set` retries when another writer added a version concurrently.
const SET_ATTEMPTS: usize = 32;
/// The constant a key-check value seals.
const CHECK_PLAINTEXT: &[u8] = b"trae secrets master key check";

/// A secret value. `Debug` never shows it; the bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wraps a value.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The value's bytes; call only where the value is used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as UTF-8 text.
    pub fn expose_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.0)
            .map_err(|_| Error::validation("value", "the secret value is not UTF-8 text"))
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl From<String> for SecretValue {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<&str> for SecretValue {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<Vec<u8>> for SecretValue {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

/// What `set` writes: a value and, optionally, new metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSecret {
    /// The value (1 byte to 64 KiB).
    pub value: SecretValue,
    /// A new description (`Some("")` clears it); `None` keeps the current one.
    pub description: Option<String>,
    /// New tags; `None` keeps the current ones.
    pub tags: Option<Vec<String>>,
}

impl SetSecret {
    /// A value with no metadata change.
    pub fn value(value: impl Into<SecretValue>) -> Self {
        Self {
            value: value.into(),
            description: None,
            tags: None,
        }
    }
}

/// One version of a secret with its decrypted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedSecret {
    /// The secret's name.
    pub name: String,
    /// The version read.
    pub version: u32,
    /// Who set this version.
    pub created_by: String,
    /// When this version was set.
    pub created_at: DateTime<Utc>,
    /// The value (redacted in `Debug`).
    pub value: SecretValue,
}

/// A master key the database knows, without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyInfo {
    /// The key's id.
    pub id: String,
    /// Whether new versions are written with it.
    pub current: bool,
    /// Whether this vault holds it.
    pub loaded: bool,
    /// When it was installed.
    pub created_at: DateTime<Utc>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The previous key's id (still readable until retired).
    pub from: String,
    /// The new current key's id.
    pub to: String,
    /// How many data keys were re-wrapped.
    pub rewrapped: u64,
    /// Keys older than `from` that the rotation retired.
    pub retired: Vec<String>,
}

/// The secrets vault service. Cheap to clone; clones share the loaded master key.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn SecretRepository>,
    clock: Arc<dyn Clock>,
    key: RwLock<Arc<MasterKey>>,
    key_file: Option<PathBuf>,
    audit: Option<AuditLog>,
    rbac: Option<Rbac>,
    /// The JWT signing keys, also sealed by the master key: re-sealed when it rotates.
    signing_keys: Option<SigningKeys>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("master_key_id", &self.master_key_id())
            .finish_non_exhaustive()
    }
}

fn value_aad(name: &str, version: u32) -> Vec<u8> {
    let mut aad = b"trae-vault-v1\0value\0".to_vec();
    push_field(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn key_aad(master_key_id: &str, name: &str, version: u32) -> Vec<u8> {
    let mut aad = b"trae-vault-v1\0data-key\0".to_vec();
    push_field(&mut aad, master_key_id.as_bytes());
    push_field(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn check_aad(master_key_id: &str) -> Vec<u8> {
    let mut aad = b"trae-vault-v1\0key-check\0".to_vec();
    push_field(&mut aad, master_key_id.as_bytes());
    aad
}

fn push_field(aad: &mut Vec<u8>, field: &[u8]) {
    aad.extend_from_slice(&(field.len() as u32).to_be_bytes());
    aad.extend_from_slice(field);
}

fn undecryptable(name: &str, version: u32, what: &str) -> Error {
    Error::Storage(format!(
        "secret {name} version {version} cannot be decrypted: its {what} does not authenticate \
         (altered, or copied from another secret or version)"
    ))
}

fn key_check(key: &MasterKey, now: DateTime<Utc>) -> Result<MasterKeyCheck> {
    Ok(MasterKeyCheck {
        id: key.id().to_owned(),
        seq: 0,
        check: key.seal(CHECK_PLAINTEXT, &check_aad(key.id()))?,
        created_at: now,
    })
}

/// Verifies `key` against the checks in the database, installing it when the database has
/// neither a master key nor encrypted data.
async fn verify_key(
    repo: &dyn SecretRepository,
    key: &MasterKey,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut checks = repo.key_checks().await?;
    if checks.is_empty() {
        let versions = repo.version_count().await?;
        if versions > 0 {
            return Err(Error::Config(format!(
                "the database holds {versions} encrypted secret versions but no master key \
                 check value; refusing to install master key {}",
                key.id()
            )));
        }
        if repo.insert_first_key_check(&key_check(key, now)?).await? {
            tracing::info!(master_key_id = key.id(), "installed the secrets master key");
        }
        checks = repo.key_checks().await?;
    }
    let Some(check) = checks.iter().find(|c| c.id == key.id()) else {
        let installed: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        return Err(Error::Config(format!(
            "wrong secrets master key: this node has key {}, but the database's secrets are \
             encrypted under key {}; set TRAE_MASTER_KEY (or the key file) to that key",
            key.id(),
            installed.join(" or ")
        )));
    };
    match key.open(&check.check, &check_aad(key.id())) {
        Some(plain) if plain.as_slice() == CHECK_PLAINTEXT => {}
        _ => {
            return Err(Error::Config(format!(
                "the check value of secrets master key {} does not match the key; the key or \
                 the check value in the database is wrong",
                key.id()
            )));
        }
    }
    if let Some(current) = checks.last()
        && current.id != key.id()
    {
        tracing::warn!(
            master_key_id = key.id(),
            current_master_key_id = %current.id,
            "the secrets master key was rotated: this node reads with the previous key until \
             it is retired and cannot write secrets; load the current key"
        );
    }
    Ok(())
}

/// The key from `source`, creating the key file when it is missing and the database holds
/// neither a master key nor encrypted data.
async fn load_key(repo: &dyn SecretRepository, source: &MasterKeySource) -> Result<MasterKey> {
    let path = match source {
        MasterKeySource::Configured(encoded) => {
            return MasterKey::from_base64(encoded.expose())
                .map_err(|e| Error::Config(format!("TRAE_MASTER_KEY: {e}")));
        }
        MasterKeySource::KeyFile(path) => path,
        MasterKeySource::Ephemeral => return MasterKey::generate(),
    };
    if let Some(key) = read_key_file(path)? {
        return Ok(key);
    }
    let checks = repo.key_checks().await?;
    let versions = repo.version_count().await?;
    if !checks.is_empty() || versions > 0 {
        let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        return Err(Error::Config(format!(
            "the secrets master key file {} is missing, but the database holds {versions} \
             secret versions encrypted under master key {}; restore the key file or set \
             TRAE_MASTER_KEY to that key (refusing to generate a new key)",
            path.display(),
            if ids.is_empty() {
                "(unknown)".to_owned()
            } else {
                ids.join(" or ")
            }
        )));
    }
    let key = MasterKey::generate()?;
    if create_key_file(path, &key)? {
        tracing::info!(
            path = %path.display(),
            master_key_id = key.id(),
            "generated a new secrets master key file; back it up: database backups do not \
             contain it"
        );
        Ok(key)
    } else {
        // Another process created it first: use theirs.
        read_key_file(path)?.ok_or_else(|| {
            Error::Config(format!("the master key file {} vanished", path.display()))
        })
    }
}

impl Vault {
    /// Opens the vault with the key `config` names ([`MasterKeySource::from_config`]).
    pub async fn from_config(
        config: &Config,
        repo: Arc<dyn SecretRepository>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Self::open(repo, &MasterKeySource::from_config(config)?, clock).await
    }

    /// Opens the vault with the key from `source`, verified against the database's key
    /// check (a wrong key is a `Config` error here, not garbage later).
    pub async fn open(
        repo: Arc<dyn SecretRepository>,
        source: &MasterKeySource,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let key = load_key(repo.as_ref(), source).await?;
        let key_file = match source {
            MasterKeySource::KeyFile(path) => Some(path.clone()),
            MasterKeySource::Configured(_) | MasterKeySource::Ephemeral => None,
        };
        Self::open_inner(repo, key, key_file, clock).await
    }

    /// Opens the vault with `key`, verified against the database's key check.
    pub async fn open_with_key(
        repo: Arc<dyn SecretRepository>,
        key: MasterKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Self::open_inner(repo, key, None, clock).await
    }

    async fn open_inner(
        repo: Arc<dyn SecretRepository>,
        key: MasterKey,
        key_file: Option<PathBuf>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        verify_key(repo.as_ref(), &key, clock.now_micros()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                repo,
                clock,
                key: RwLock::new(Arc::new(key)),
                key_file,
                audit: None,
                rbac: None,
                signing_keys: None,
            }),
        })
    }

    /// This vault, recording set, delete, prune, reveal and key changes in `audit`.
    pub fn with_audit(self, audit: AuditLog) -> Self {
        self.rebuild(|inner| inner.audit = Some(audit))
    }

    /// This vault, checking `secrets:read`, `secrets:write` and `secrets:reveal` with `rbac`
    /// (without it, every principal may do everything: library use).
    pub fn with_rbac(self, rbac: Rbac) -> Self {
        self.rebuild(|inner| inner.rbac = Some(rbac))
    }

    /// This vault, re-sealing `keys` (the JWT signing keys) under the new master key when it
    /// rotates and dropping their sealing under a retired one, so they never become
    /// unreadable with the master key of the day.
    pub fn with_signing_keys(self, keys: SigningKeys) -> Self {
        self.rebuild(|inner| inner.signing_keys = Some(keys))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            repo: Arc::clone(&self.inner.repo),
            clock: Arc::clone(&self.inner.clock),
            key: RwLock::new(self.key()),
            key_file: self.inner.key_file.clone(),
            audit: self.inner.audit.clone(),
            rbac: self.inner.rbac.clone(),
            signing_keys: self.inner.signing_keys.clone(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    fn key(&self) -> Arc<MasterKey> {
        Arc::clone(
            &self
                .inner
                .key
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The id of the master key this vault holds.
    pub fn master_key_id(&self) -> String {
        self.key().id().to_owned()
    }

    async fn authorize(&self, principal: &Principal, permission: &'static str) -> Result<()> {
        match &self.inner.rbac {
            Some(rbac) => {
                rbac.authorize(principal, &Permission::from_static(permission))
                    .await
            }
            None => Ok(()),
        }
    }

    /// Authorizes an audited action, recording a denial.
    async fn authorize_audited(
        &self,
        principal: &Principal,
        permission: &'static str,
        action: &str,
        target: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let result = self.authorize(principal, permission).await;
        if let Err(Error::Forbidden(_)) = &result {
            self.record(principal, action, target, Outcome::Denied, json!({}), meta)
                .await?;
        }
        result
    }

    async fn record(
        &self,
        principal: &Principal,
        action: &str,
        target: &str,
        outcome: Outcome,
        details: serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<()> {
        if let Some(audit) = &self.inner.audit {
            audit
                .record(meta.audit_entry(
                    principal.actor(),
                    action,
                    Some(target.to_owned()),
                    outcome,
                    details,
                ))
                .await?;
        }
        Ok(())
    }

    /// Sets a secret's value as a new version (1 when the secret is new); needs
    /// `secrets:write`. Returns the secret's metadata.
    pub async fn set(
        &self,
        principal: &Principal,
        name: &str,
        input: SetSecret,
        meta: &RequestMeta,
    ) -> Result<Secret> {
        check_secret_name(name)?;
        let target = format!("secret:{name}");
        self.authorize_audited(principal, SECRETS_WRITE, "secret.set", &target, meta)
            .await?;
        if input.value.is_empty() || input.value.len() > MAX_VALUE_BYTES {
            return Err(Error::validation(
                "value",
                format!("must be 1 to {MAX_VALUE_BYTES} bytes"),
            ));
        }
        let description = input
            .description
            .as_deref()
            .map(check_description)
            .transpose()?;
        let tags = input.tags.as_deref().map(check_tags).transpose()?;
        let by = principal.created_by();
        let mut attempt = 0;
        let stored = loop {
            attempt += 1;
            let current = self.inner.repo.find(name).await?;
            let expected_latest = current.as_ref().map(|s| s.version);
            let version = expected_latest.map_or(1, |v| v + 1);
            let key = self.key();
            let data_key = Zeroizing::new(random_key()?);
            let new = NewSecretVersion {
                name: name.to_owned(),
                expected_latest,
                description: match &description {
                    Some(d) => d.clone(),
                    None => current.as_ref().and_then(|s| s.description.clone()),
                },
                tags: match &tags {
                    Some(t) => t.clone(),
                    None => current.map(|s| s.tags).unwrap_or_default(),
                },
                created_by: by.clone(),
                created_at: self.inner.clock.now_micros(),
                ciphertext: seal(&data_key, input.value.expose(), &value_aad(name, version))?,
                master_key_id: key.id().to_owned(),
                wrapped_key: key.seal(data_key.as_slice(), &key_aad(key.id(), name, version))?,
            };
            match self.inner.repo.insert_version(&new).await {
                Ok(stored) => break stored,
                Err(Error::Conflict(_)) if attempt < SET_ATTEMPTS && self.is_current().await? => {
                    // Another writer took this version; each round has a winner, and a short
                    // random pause keeps the losers from colliding in lockstep.
                    let pause = u64::from(data_key[0] % 8) + 1;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(e),
            }
        };
        tracing::debug!(secret = name, version = stored.version, "secret set");
        self.record(
            principal,
            "secret.set",
            &target,
            Outcome::Success,
            json!({"version": stored.version}),
            meta,
        )
        .await?;
        Ok(stored)
    }

    /// Whether this vault holds the current master key (else writes cannot succeed).
    async fn is_current(&self) -> Result<bool> {
        let checks = self.inner.repo.key_checks().await?;
        Ok(checks.last().is_some_and(|c| c.id == self.key().id()))
    }

    /// Reveals a secret's value, the latest version or `version`; needs `secrets:reveal`
    /// and is audited (name and version only).
    pub async fn get(
        &self,
        principal: &Principal,
        name: &str,
        version: Option<u32>,
        meta: &RequestMeta,
    ) -> Result<RevealedSecret> {
        check_secret_name(name)?;
        let target = format!("secret:{name}");
        self.authorize_audited(principal, SECRETS_REVEAL, "secret.reveal", &target, meta)
            .await?;
        let revealed = self.reveal(name, version).await?;
        self.record(
            principal,
            "secret.reveal",
            &target,
            Outcome::Success,
            json!({"version": revealed.version}),
            meta,
        )
        .await?;
        Ok(revealed)
    }

    /// Decrypts a version with neither authorization nor audit (the callers do both).
    async fn reveal(&self, name: &str, version: Option<u32>) -> Result<RevealedSecret> {
        let key = self.key();
        let sealed = self
            .inner
            .repo
            .get(name, version, key.id())
            .await?
            .ok_or_else(|| match version {
                Some(v) => Error::not_found("secret version", format!("{name}@{v}")),
                None => Error::not_found("secret", name),
            })?;
        let v = sealed.version.version;
        let Some(wrapped) = sealed.wrapped_key else {
            let checks = self.inner.repo.key_checks().await?;
            let current = checks.last().map_or("(none)", |c| c.id.as_str());
            return Err(Error::Config(format!(
                "secret {name} version {v} has no data key wrapped by this node's master key {} \
                 (it was retired after a rotation); load the current master key {current}",
                key.id()
            )));
        };
        let data_key = key
            .open(&wrapped, &key_aad(key.id(), name, v))
            .ok_or_else(|| undecryptable(name, v, "wrapped data key"))?;
        let data_key: &[u8; KEY_BYTES] = data_key
            .as_slice()
            .try_into()
            .map_err(|_| undecryptable(name, v, "wrapped data key"))?;
        let value = open(data_key, &sealed.ciphertext, &value_aad(name, v))
            .ok_or_else(|| undecryptable(name, v, "ciphertext"))?;
        Ok(RevealedSecret {
            name: sealed.version.name,
            version: v,
            created_by: sealed.version.created_by,
            created_at: sealed.version.created_at,
            value: SecretValue(value),
        })
    }

    /// A secret's metadata (never its value); needs `secrets:read`.
    pub async fn describe(&self, principal: &Principal, name: &str) -> Result<Secret> {
        check_secret_name(name)?;
        self.authorize(principal, SECRETS_READ).await?;
        self.inner
            .repo
            .find(name)
            .await?
            .ok_or_else(|| Error::not_found("secret", name))
    }

    /// Secrets' metadata (never values), by name; needs `secrets:read`.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: &SecretFilter,
        page: PageRequest,
    ) -> Result<Page<Secret>> {
        self.authorize(principal, SECRETS_READ).await?;
        self.inner.repo.list(filter, page).await
    }

    /// The stored versions of a secret, newest first; needs `secrets:read`.
    pub async fn versions(&self, principal: &Principal, name: &str) -> Result<Vec<SecretVersion>> {
        check_secret_name(name)?;
        self.authorize(principal, SECRETS_READ).await?;
        let versions = self.inner.repo.versions(name).await?;
        if versions.is_empty() {
            return Err(Error::not_found("secret", name));
        }
        Ok(versions)
    }

    /// Deletes a secret with every version; needs `secrets:write`. Returns how many versions
    /// went.
    pub async fn delete(
        &self,
        principal: &Principal,
        name: &str,
        meta: &RequestMeta,
    ) -> Result<u64> {
        check_secret_name(name)?;
        let target = format!("secret:{name}");
        self.authorize_audited(principal, SECRETS_WRITE, "secret.delete", &target, meta)
            .await?;
        let removed = self.inner.repo.delete(name).await?;
        if removed == 0 {
            return Err(Error::not_found("secret", name));
        }
        self.record(
            principal,
            "secret.delete",
            &target,
            Outcome::Success,
            json!({"versions": removed}),
            meta,
        )
        .await?;
        Ok(removed)
    }

    /// Removes all but the `keep_latest` (at least 1) newest versions of a secret; needs
    /// `secrets:write`. Returns how many went.
    pub async fn prune(
        &self,
        principal: &Principal,
        name: &str,
        keep_latest: u32,
        meta: &RequestMeta,
    ) -> Result<u64> {
        check_secret_name(name)?;
        if keep_latest == 0 {
            return Err(Error::validation(
                "keep_latest",
                "must be at least 1 (delete removes a secret entirely)",
            ));
        }
        let target = format!("secret:{name}");
        self.authorize_audited(principal, SECRETS_WRITE, "secret.prune", &target, meta)
            .await?;
        let removed = self.inner.repo.prune(name, keep_latest).await?;
        self.record(
            principal,
            "secret.prune",
            &target,
            Outcome::Success,
            json!({"removed": removed, "kept": keep_latest}),
            meta,
        )
        .await?;
        Ok(removed)
    }

    /// The master keys the database knows, oldest first.
    pub async fn master_keys(&self) -> Result<Vec<MasterKeyInfo>> {
        let checks = self.inner.repo.key_checks().await?;
        let loaded = self.key();
        let last = checks.len().saturating_sub(1);
        Ok(checks
            .into_iter()
            .enumerate()
            .map(|(i, c)| MasterKeyInfo {
                loaded: c.id == loaded.id(),
                current: i == last,
                id: c.id,
                created_at: c.created_at,
            })
            .collect())
    }

    /// Loads another master key into this vault (e.g. the new key after another node
    /// rotated), verified against the database's key checks first.
    pub async fn load_master_key(&self, key: MasterKey) -> Result<()> {
        verify_key(
            self.inner.repo.as_ref(),
            &key,
            self.inner.clock.now_micros(),
        )
        .await?;
        *self
            .inner
            .key
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        Ok(())
    }

    /// Rotates the master key (system principal only): in one transaction, every data key is
    /// re-wrapped under `new_key`, whose check value becomes current; keys older than the one
    /// this vault holds are retired. This vault then uses `new_key`; other nodes read with
    /// the previous key until it is retired. See the module docs.
    pub async fn rotate_master_key(
        &self,
        principal: &Principal,
        new_key: MasterKey,
        meta: &RequestMeta,
    ) -> Result<RotationReport> {
        require_system(principal, "rotate the secrets master key")?;
        let old = self.key();
        if old.id() == new_key.id() {
            return Err(Error::validation(
                "new_key",
                "the new master key is the key in use",
            ));
        }
        let checks = self.inner.repo.key_checks().await?;
        let retire: Vec<String> = checks
            .iter()
            .filter(|c| c.id != old.id())
            .map(|c| c.id.clone())
            .collect();
        let to = key_check(&new_key, self.inner.clock.now_micros())?;
        if let Some(keys) = &self.inner.signing_keys {
            // First, so a failure here leaves the rotation undone; an extra sealing under a
            // key that then never becomes current is harmless.
            keys.reseal(&old, &new_key).await?;
        }
        let new_key = Arc::new(new_key);
        let staged = self.stage_key_file(&new_key)?;
        let (from_key, to_key) = (Arc::clone(&old), Arc::clone(&new_key));
        let rewrap = move |w: &WrappedDataKey| -> Result<Vec<u8>> {
            let data_key = from_key
                .open(&w.wrapped, &key_aad(from_key.id(), &w.name, w.version))
                .ok_or_else(|| undecryptable(&w.name, w.version, "wrapped data key"))?;
            to_key.seal(&data_key, &key_aad(to_key.id(), &w.name, w.version))
        };
        let result = self
            .inner
            .repo
            .rewrap_all(old.id(), &to, &retire, &rewrap)
            .await;
        let rewrapped = match result {
            Ok(n) => n,
            Err(e) => {
                if let Some((staged, _)) = &staged {
                    let _ = std::fs::remove_file(staged);
                }
                return Err(e);
            }
        };
        *self
            .inner
            .key
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&new_key);
        if let Some((staged, path)) = &staged {
            std::fs::rename(staged, path).map_err(|e| {
                Error::Config(format!(
                    "the master key was rotated to {}, but moving {} over {} failed: {e}; move \
                     it by hand before the old key is retired",
                    new_key.id(),
                    staged.display(),
                    path.display()
                ))
            })?;
        }
        tracing::info!(
            from = old.id(),
            to = new_key.id(),
            rewrapped,
            "rotated the secrets master key"
        );
        self.record(
            principal,
            "secret.master_key.rotate",
            &format!("master_key:{}", new_key.id()),
            Outcome::Success,
            json!({"from": old.id(), "rewrapped": rewrapped, "retired": retire}),
            meta,
        )
        .await?;
        Ok(RotationReport {
            from: old.id().to_owned(),
            to: new_key.id().to_owned(),
            rewrapped,
            retired: retire,
        })
    }

    /// Writes the new key next to the key file (when there is one), before the rotation.
    fn stage_key_file(&self, key: &MasterKey) -> Result<Option<(PathBuf, PathBuf)>> {
        let Some(path) = &self.inner.key_file else {
            return Ok(None);
        };
        let mut staged = path.clone().into_os_string();
        staged.push(".next");
        let staged = PathBuf::from(staged);
        let _ = std::fs::remove_file(&staged);
        if !create_key_file(&staged, key)? {
            return Err(Error::Config(format!(
                "cannot stage the new master key: {} exists",
                staged.display()
            )));
        }
        Ok(Some((staged, path.clone())))
    }

    /// Retires a master key that is no longer current (system principal only), removing
    /// every data key wrapped by it; nodes still holding it can no longer read. Refuses while
    /// it is current or some version is wrapped by it alone. Returns how many wrappings went.
    pub async fn retire_master_key(
        &self,
        principal: &Principal,
        master_key_id: &str,
        meta: &RequestMeta,
    ) -> Result<u64> {
        require_system(principal, "retire a secrets master key")?;
        let removed = self.inner.repo.retire_key(master_key_id).await?;
        if let Some(keys) = &self.inner.signing_keys {
            keys.forget_master_key(master_key_id).await?;
        }
        tracing::info!(master_key_id, removed, "retired a secrets master key");
        self.record(
            principal,
            "secret.master_key.retire",
            &format!("master_key:{master_key_id}"),
            Outcome::Success,
            json!({"removed": removed}),
            meta,
        )
        .await?;
        Ok(removed)
    }
}

fn require_system(principal: &Principal, what: &str) -> Result<()> {
    match principal {
        Principal::System => Ok(()),
        _ => Err(Error::Forbidden(format!(
            "only the operator (the system principal) may {what}"
        ))),
    }
}

/// Decides whether `principal` may bind the secret `name` to outbound calls: it holds
/// `secrets:use` or `secrets:reveal` (any secret, existing or not), or it set the secret's
/// current value. Needs no master key, so endpoints can be registered before the vault opens.
pub async fn bind_secret(
    rbac: Option<&Rbac>,
    repo: &dyn SecretRepository,
    principal: &Principal,
    name: &str,
) -> Result<SecretBinding> {
    check_secret_name(name)?;
    let binding = |right| SecretBinding {
        secret: name.to_owned(),
        bound_by: principal.created_by(),
        right,
    };
    let Some(rbac) = rbac else {
        return Ok(binding(BindingRight::Permission));
    };
    // Either permission lets its holder send any secret out; reveal shows it anyway.
    for permission in [SECRETS_USE, SECRETS_REVEAL] {
        match rbac
            .authorize(principal, &Permission::from_static(permission))
            .await
        {
            Ok(()) => return Ok(binding(BindingRight::Permission)),
            Err(Error::Forbidden(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let versions = repo.versions(name).await?;
    if versions
        .first()
        .is_some_and(|latest| latest.created_by == principal.created_by())
    {
        return Ok(binding(BindingRight::Authorship));
    }
    Err(Error::Forbidden(format!(
        "binding the secret {name} to outbound calls needs {SECRETS_USE}, or that you set its \
         current value"
    )))
}

/// Credentials for trae's own outbound calls: who may bind a secret to them, and the latest
/// value under a binding that still holds, as text. Reads are not audited one by one (the
/// registry change that bound the secret is).
#[async_trait::async_trait]
impl SecretReader for Vault {
    async fn bind_secret(&self, principal: &Principal, name: &str) -> Result<SecretBinding> {
        bind_secret(self.inner.rbac.as_ref(), &*self.inner.repo, principal, name).await
    }

    async fn read_secret(&self, binding: &SecretBinding) -> Result<SecretString> {
        let name = binding.secret.as_str();
        check_secret_name(name)?;
        let revealed = self.reveal(name, None).await?;
        if binding.right == BindingRight::Authorship && revealed.created_by != binding.bound_by {
            return Err(Error::Forbidden(format!(
                "the secret {name} was bound by the author of an earlier value and has been set \
                 by someone else since; the endpoint must be saved again by someone who may use it"
            )));
        }
        Ok(SecretString::new(revealed.value.expose_str()?))
    }
}

#[async_trait::async_trait]
impl crate::signing_key::KeySealer for Vault {
    async fn master_key(&self) -> Result<Arc<MasterKey>> {
        Ok(self.key())
    }
}
