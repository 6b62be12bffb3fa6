//! The error type of trae-auth.

/// A `Result` whose error is [`AuthError`].
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// What can go wrong hashing, signing or verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A token is malformed, forged, of the wrong kind, or outside its validity window. The
    /// reason is for logs; clients get a generic message.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// Settings or key material are unusable.
    #[error("invalid auth configuration: {0}")]
    Config(String),
    /// Hashing failed or its worker could not run.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl From<AuthError> for trae_core::Error {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Config(m) => Self::Config(m),
            // The reason stays in logs; callers learn only that the credentials failed.
            AuthError::InvalidToken(_) => {
                Self::Unauthenticated("invalid or expired credentials".into())
            }
            AuthError::Hashing(m) => Self::Storage(format!("password hashing failed: {m}")),
        }
    }
}
