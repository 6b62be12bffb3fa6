//! Values every node sharing a database must agree on (the sealed JWT signing keys, later the
//! vault's key-check value). The first node to need one creates it; everyone reads the same
//! row; changes are compare-and-swap so two nodes never overwrite each other.

use async_trait::async_trait;

use crate::Result;

/// Storage of shared settings.
#[async_trait]
pub trait SharedSettings: Send + Sync + 'static {
    /// The value stored under `key`, storing `candidate` first when there is none. Concurrent
    /// callers all get the value that won.
    async fn get_or_insert(&self, key: &str, candidate: &str) -> Result<String>;
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<String>>;
    /// Replaces the value under `key` with `new` only if it is still `expected`; false when
    /// another writer changed it first (or it does not exist).
    async fn compare_and_swap(&self, key: &str, expected: &str, new: &str) -> Result<bool>;
}
