//! Identity and access for trae: password hashing, access tokens, refresh-token sessions,
//! API keys, RBAC decisions, user and policy administration and the secrets vault, all over
//! `trae-core`'s ports.
//!
//! [`Identity`] wires every service; storage and HTTP sit on top.

pub mod access_token;
pub mod accounts;
pub mod api_keys;
pub mod error;
pub mod identity;
pub mod master_key;
pub mod opaque_token;
pub mod password;
pub mod policy;
pub mod rbac;
pub mod session_cache;
pub mod sessions;
pub mod signing_key;
pub mod users;
pub mod vault;

pub use access_token::{AccessClaims, AccessTokens, TokenSettings};
pub use accounts::{Accounts, Registration, RequestMeta};
pub use api_keys::{ApiKeys, CreatedKey, NewKey};
pub use error::{AuthError, Result};
pub use identity::{Credential, Identity, IdentityRepos, password_params};
pub use master_key::{MasterKey, MasterKeySource};
pub use opaque_token::{OpaqueToken, TokenHash};
pub use password::{PasswordHasher, PasswordParams, Verification};
pub use policy::{NewRole, Policy, RolePatch};
pub use rbac::Rbac;
pub use session_cache::{SessionCache, SessionState};
pub use sessions::{Authenticated, Sessions, TokenPair};
pub use signing_key::{KeySealer, SigningKeyRotation, SigningKeys};
pub use users::{AdminChange, ProfileChange, Users};
pub use vault::{MasterKeyInfo, RevealedSecret, RotationReport, SecretValue, SetSecret, Vault};
