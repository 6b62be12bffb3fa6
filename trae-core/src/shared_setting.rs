//! Values every node sharing a database must agree on (the JWT signing key, later the vault's
//! key-check value). The first node to need one creates it; everyone reads the same row.

use async_trait::async_trait;

use crate::Result;

/// Storage of shared settings.
#[async_trait]
pub trait SharedSettings: Send + Sync + 'static {
    /// The value stored under `key`, storing `candidate` first when there is none. Concurrent
    /// callers all get the value that won.
    async fn get_or_insert(&self, key: &str, candidate: &str) -> Result<String>;
}
