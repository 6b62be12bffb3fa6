//! Identity and access for trae: password hashing (argon2id), access and refresh tokens,
//! role-based permissions, API keys and secret encryption.
//!
//! The crate is part of the fixed workspace layout; its contents arrive with the identity
//! issue (#3) and the secrets issue (#5). It exports nothing yet.
