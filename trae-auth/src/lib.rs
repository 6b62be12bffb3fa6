//! Identity and access for trae: password hashing, access tokens, opaque secrets (refresh
//! tokens and API keys) and, as the identity issue (#3) lands, RBAC decisions and API keys.
//!
//! Everything here is pure computation over `trae-core` types; storage and HTTP sit on top.

pub mod access_token;
pub mod accounts;
pub mod api_keys;
pub mod error;
pub mod opaque_token;
pub mod password;
pub mod rbac;
pub mod sessions;
pub mod signing_key;

pub use access_token::{AccessClaims, AccessTokens, TokenSettings};
pub use accounts::{Accounts, Registration, RequestMeta};
pub use api_keys::{ApiKeys, CreatedKey, NewKey};
pub use error::{AuthError, Result};
pub use opaque_token::{OpaqueToken, TokenHash};
pub use password::{PasswordHasher, PasswordParams, Verification};
pub use rbac::Rbac;
pub use sessions::{Authenticated, Sessions, TokenPair};
