//! The secrets vault's domain: secret metadata, name and tag rules, and the storage port.
//!
//! Values are never held here in clear: storage sees only ciphertexts and data keys wrapped by
//! a master key (the encryption lives in trae-auth's `vault` module). A secret has versions
//! `1, 2, …`; setting a value adds a version, and each version's data key is stored once per
//! master key that wraps it (two during a key rotation's overlap, otherwise one).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Page, PageRequest, Result};

/// The longest secret name.
pub const NAME_MAX_CHARS: usize = 128;
/// The most tags a secret carries.
pub const MAX_TAGS: usize = 32;
/// The longest tag.
pub const TAG_MAX_CHARS: usize = 64;
/// The longest description.
pub const DESCRIPTION_MAX_CHARS: usize = 1024;

/// A secret as lists show it: metadata only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// Unique name, 1–128 characters of `[A-Za-z0-9_.-]`, not starting with a dot.
    pub name: String,
    /// The latest version.
    pub version: u32,
    /// What it is for.
    pub description: Option<String>,
    /// Labels, sorted and unique.
    pub tags: Vec<String>,
    /// Who created the first version (`user:<id>`, `api_key:<id>` or `system`).
    pub created_by: String,
    /// When the first version was set.
    pub created_at: DateTime<Utc>,
    /// When the latest version was set.
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    /// The secret's name.
    pub name: String,
    /// The version number, from 1.
    pub version: u32,
    /// Who set it.
    pub created_by: String,
    /// When it was set.
    pub created_at: DateTime<Utc>,
}

/// Which secrets a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFilter {
    /// Names starting with this.
    pub prefix: Option<String>,
    /// Secrets carrying this tag.
    pub tag: Option<String>,
}

/// A version as storage holds it: the value's ciphertext and its data key wrapped by one
/// master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedVersion {
    /// The version's metadata.
    pub version: SecretVersion,
    /// The value encrypted under the version's data key.
    pub ciphertext: Vec<u8>,
    /// The data key wrapped by the master key that was asked for, or `None` when that master
    /// key does not wrap this version (it was retired, or never loaded).
    pub wrapped_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for SealedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedVersion")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A version to store, already encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecretVersion {
    /// The secret's name (validated).
    pub name: String,
    /// The latest version the caller saw (`None`: the secret must not exist yet); the new
    /// version is this plus one, and storage refuses with `Conflict` when it moved meanwhile.
    pub expected_latest: Option<u32>,
    /// The secret's description after this write.
    pub description: Option<String>,
    /// The secret's tags after this write (validated).
    pub tags: Vec<String>,
    /// Who sets it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The value encrypted under a fresh data key.
    pub ciphertext: Vec<u8>,
    /// The id of the master key wrapping the data key; storage refuses with `Conflict` unless
    /// it is the current (newest) master key.
    pub master_key_id: String,
    /// The data key wrapped by that master key.
    pub wrapped_key: Vec<u8>,
}

impl NewSecretVersion {
    /// The version number this write creates.
    pub fn version(&self) -> u32 {
        self.expected_latest.map_or(1, |v| v + 1)
    }
}

impl std::fmt::Debug for NewSecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecretVersion")
            .field("name", &self.name)
            .field("version", &self.version())
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// A master key as the database knows it: its id and a check value only it decrypts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyCheck {
    /// The key's short id (a hash of the key, in hex).
    pub id: String,
    /// 1 for the first key, one more per rotation: the highest is the current key.
    pub seq: i64,
    /// A constant encrypted under the key.
    pub check: Vec<u8>,
    /// When the key was installed.
    pub created_at: DateTime<Utc>,
}

/// One version's data key as wrapped by one master key, handed to a rotation.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// The secret's name.
    pub name: String,
    /// The version.
    pub version: u32,
    /// The wrapping master key.
    pub master_key_id: String,
    /// The wrapped data key.
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}

/// Re-wraps one data key under the new master key (runs inside the rotation's transaction).
pub type RewrapFn = dyn Fn(&WrappedDataKey) -> Result<Vec<u8>> + Send + Sync;

/// Storage of encrypted secrets and of the master keys' check values.
#[async_trait]
pub trait SecretRepository: Send + Sync + 'static {
    /// Every installed master key, oldest first (the last is current).
    async fn key_checks(&self) -> Result<Vec<MasterKeyCheck>>;
    /// Installs the first master key; false (and nothing written) when one exists already.
    async fn insert_first_key_check(&self, check: &MasterKeyCheck) -> Result<bool>;
    /// How many secret versions are stored (any encrypted data at all when non-zero).
    async fn version_count(&self) -> Result<u64>;
    /// The secret named `name`.
    async fn find(&self, name: &str) -> Result<Option<Secret>>;
    /// Stores a new version (see [`NewSecretVersion`] for the `Conflict` cases) and returns
    /// the secret as it now is.
    async fn insert_version(&self, version: &NewSecretVersion) -> Result<Secret>;
    /// A version (the latest when `version` is `None`) with its data key as wrapped by the
    /// master key `master_key_id`.
    async fn get(
        &self,
        name: &str,
        version: Option<u32>,
        master_key_id: &str,
    ) -> Result<Option<SealedVersion>>;
    /// Secrets matching `filter`, by name.
    async fn list(&self, filter: &SecretFilter, page: PageRequest) -> Result<Page<Secret>>;
    /// Every stored version of a secret, newest first (empty when there is no such secret).
    async fn versions(&self, name: &str) -> Result<Vec<SecretVersion>>;
    /// Removes a secret and every version; returns how many versions went (0: no such secret).
    async fn delete(&self, name: &str) -> Result<u64>;
    /// Removes all but the `keep_latest` newest versions; returns how many went.
    async fn prune(&self, name: &str, keep_latest: u32) -> Result<u64>;
    /// In one transaction: checks that `from` is the current master key and wraps every
    /// version, adds a wrapping under `to.id` made by `rewrap` from the `from` wrapping of
    /// each version, installs `to` as the new current key, and removes the wrappings and
    /// checks of the keys in `retire`. Returns how many data keys were re-wrapped. Nothing
    /// changes when any step fails.
    async fn rewrap_all(
        &self,
        from: &str,
        to: &MasterKeyCheck,
        retire: &[String],
        rewrap: &RewrapFn,
    ) -> Result<u64>;
    /// Removes a master key that is no longer current, with every wrapping under it; refuses
    /// (`Conflict`) when it is current or some version would be left with no wrapping.
    /// Returns how many wrappings went.
    async fn retire_key(&self, master_key_id: &str) -> Result<u64>;
}

/// Binding any secret to outbound calls (an API endpoint's `auth`) without revealing it.
pub const SECRETS_USE: &str = "secrets:use";

/// Why a principal was allowed to bind a secret to outbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingRight {
    /// It held `secrets:use` or `secrets:reveal`, so it may send any secret out.
    Permission,
    /// It set the secret's current value, so sending it out reveals nothing it did not know;
    /// the binding lapses when someone else sets a new value.
    Authorship,
}

/// A secret bound to an endpoint's outbound calls: which, by whom, on what right. The vault
/// checks it again every time it injects the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretBinding {
    /// The secret's name.
    pub secret: String,
    /// Who bound it (`user:<id>`, `api_key:<id>` or `system`).
    pub bound_by: String,
    /// On what right.
    pub right: BindingRight,
}

/// Reads secret values for trae's own use (e.g. injecting an external API's credentials).
/// Implemented by the vault; reads through it are not audited one by one, since the registry
/// change that bound the secret is.
#[async_trait]
pub trait SecretReader: Send + Sync + 'static {
    /// Decides whether `principal` may bind the secret `name` to outbound calls (it holds
    /// `secrets:use` or `secrets:reveal`, or it set the current value); `Forbidden` otherwise.
    async fn bind_secret(&self, principal: &crate::Principal, name: &str) -> Result<SecretBinding>;

    /// The latest value of a bound secret, as text; `Forbidden` when the binding no longer
    /// holds (it rested on authorship and someone else has set a new value since).
    async fn read_secret(&self, binding: &SecretBinding) -> Result<crate::SecretString>;
}

/// Checks a secret name: 1–128 characters of `[A-Za-z0-9_.-]`, not starting with a dot.
pub fn check_secret_name(name: &str) -> Result<()> {
    let ok = (1..=NAME_MAX_CHARS).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "name",
            format!(
                "must be 1–{NAME_MAX_CHARS} characters of A-Z, a-z, 0-9, '_', '.', '-', \
                 not starting with '.'"
            ),
        ))
    }
}

/// Checks tags (each 1–64 characters of `[A-Za-z0-9_.:-]`, at most 32) and returns them
/// sorted without duplicates.
pub fn check_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let ok = (1..=TAG_MAX_CHARS).contains(&tag.len())
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if !ok {
            return Err(Error::validation(
                "tags",
                format!(
                    "each tag must be 1–{TAG_MAX_CHARS} characters of A-Z, a-z, 0-9, '_', '.', ':', '-'"
                ),
            ));
        }
        clean.push(tag.clone());
    }
    clean.sort();
    clean.dedup();
    if clean.len() > MAX_TAGS {
        return Err(Error::validation(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(clean)
}

/// Checks a description (at most 1024 characters, no control characters but newlines and
/// tabs) and returns it trimmed, `None` when blank.
pub fn check_description(description: &str) -> Result<Option<String>> {
    let trimmed = description.trim();
    if trimmed.chars().count() > DESCRIPTION_MAX_CHARS
        || trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::validation(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} printable characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "a",
            "OPENAI_API_KEY",
            "db.password",
            "x-1_2.3",
            &"a".repeat(128),
            "a.",
        ] {
            assert!(check_secret_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".hidden",
            "with space",
            "slash/name",
            "ünïcode",
            "colon:name",
            &"a".repeat(129),
        ] {
            assert!(check_secret_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_sorted_and_unique() {
        let tags = check_tags(&["prod".into(), "api:openai".into(), "prod".into()]).unwrap();
        assert_eq!(tags, vec!["api:openai".to_owned(), "prod".to_owned()]);
        assert!(check_tags(&["".into()]).is_err());
        assert!(check_tags(&["a,b".into()]).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        assert!(check_tags(&many).is_err());
    }

    #[test]
    fn descriptions() {
        assert_eq!(check_description("  ").unwrap(), None);
        assert_eq!(
            check_description(" the key\nfor x ").unwrap().as_deref(),
            Some("the key\nfor x")
        );
        assert!(check_description("bell\u{7}").is_err());
        assert!(check_description(&"x".repeat(1025)).is_err());
    }
}
