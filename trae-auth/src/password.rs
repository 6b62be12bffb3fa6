//! Password hashing with argon2id, off the async executor and bounded in concurrency.
//!
//! Each hash costs `m_cost` KiB of memory and tens of milliseconds of CPU, so hashing runs on
//! tokio's blocking pool behind a semaphore (default: one permit per core): a login storm
//! queues instead of stalling other requests or exhausting memory. Verifying for an unknown
//! user still costs one hash against a dummy, so response time does not reveal which
//! usernames exist.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use crate::{AuthError, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl PasswordParams {
    /// OWASP's minimum recommendation for argon2id: 19 MiB, two iterations, one lane.
    pub const OWASP: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// The cheapest parameters argon2 allows; for tests only.
    pub const INSECURE_FOR_TESTS: Self = Self {
        m_cost: 8,
        t_cost: 1,
        p_cost: 1,
    };

    fn argon2(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map_err(|e| AuthError::Config(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Whether the password matched.
    pub matches: bool,
    /// A fresh hash at the current parameters, when the password matched but the stored hash
    /// used other parameters (or another algorithm); store it in place of the old one.
    pub upgraded_hash: Option<String>,
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    permits: Arc<Semaphore>,
    dummy: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `concurrency` hashes at once (0 means the
    /// number of cores).
    pub fn new(params: PasswordParams, concurrency: usize) -> Result<Self> {
        let argon2 = params.argon2()?;
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        // A real hash at the real parameters, so verifying against it costs what a real
        // verification costs.
        let dummy = argon2
            .hash_password(b"trae: no such user")
            .map_err(|e| AuthError::Hashing(e.to_string()))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy: dummy.into(),
        })
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> PasswordParams {
        self.params
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params;
        let password = password.to_owned();
        self.run(move || {
            params
                .argon2()?
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Hashing(e.to_string()))
        })
        .await
    }

    /// Checks `password` against `stored`; with `stored` absent (unknown user) it checks
    /// against a dummy hash and never matches, taking the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verification> {
        let params = self.params;
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let password = password.to_owned();
        self.run(move || {
            let argon2 = params.argon2()?;
            let Ok(parsed) = PasswordHash::new(&stored) else {
                // An unreadable stored hash never matches; spend the time anyway.
                let _ = argon2.hash_password(password.as_bytes());
                return Ok(Verification {
                    matches: false,
                    upgraded_hash: None,
                });
            };
            let matches = known
                && argon2
                    .verify_password(password.as_bytes(), stored.as_str())
                    .is_ok();
            let current = Params::try_from(&parsed).ok().is_some_and(|p| {
                p.m_cost() == params.m_cost
                    && p.t_cost() == params.t_cost
                    && p.p_cost() == params.p_cost
            }) && parsed.algorithm.as_str() == "argon2id";
            let upgraded_hash = if matches && !current {
                Some(
                    argon2
                        .hash_password(password.as_bytes())
                        .map_err(|e| AuthError::Hashing(e.to_string()))?
                        .to_string(),
                )
            } else {
                None
            };
            Ok(Verification {
                matches,
                upgraded_hash,
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Hashing("the hasher is shut down".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AuthError::Hashing(format!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(params: PasswordParams) -> PasswordHasher {
        PasswordHasher::new(params, 2).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let a = h.hash("correct horse battery").await.unwrap();
        let b = h.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "every hash has its own salt");
        assert!(
            h.verify("correct horse battery", Some(&a))
                .await
                .unwrap()
                .matches
        );
        assert!(
            !h.verify("correct horse batterY", Some(&a))
                .await
                .unwrap()
                .matches
        );
    }

    #[tokio::test]
    async fn owasp_parameters_are_the_default() {
        let h = PasswordHasher::new(PasswordParams::default(), 1).unwrap();
        let hash = h.hash("correct horse battery").await.unwrap();
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
    }

    #[tokio::test]
    async fn unknown_users_never_match() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let v = h.verify("trae: no such user", None).await.unwrap();
        assert!(
            !v.matches,
            "even the dummy's own password does not log anyone in"
        );
    }

    #[tokio::test]
    async fn garbage_hashes_never_match() {
        let h = hasher(PasswordParams::INSECURE_FOR_TESTS);
        let v = h
            .verify("anything at all", Some("not-a-phc-string"))
            .await
            .unwrap();
        assert_eq!(
            v,
            Verification {
                matches: false,
                upgraded_hash: None
            }
        );
    }

    #[tokio::test]
    async fn hashes_at_old_parameters_are_upgraded_on_match_only() {
        let old = hasher(PasswordParams {
            m_cost: 16,
            t_cost: 1,
            p_cost: 1,
        });
        let new = hasher(PasswordParams {
            m_cost: 32,
            t_cost: 2,
            p_cost: 1,
        });
        let stored = old.hash("correct horse battery").await.unwrap();
        let wrong = new
            .verify("wrong password here", Some(&stored))
            .await
            .unwrap();
        assert_eq!(wrong.upgraded_hash, None);
        let right = new
            .verify("correct horse battery", Some(&stored))
            .await
            .unwrap();
        assert!(right.matches);
        let upgraded = right
            .upgraded_hash
            .expect("re-hashed at the new parameters");
        assert!(upgraded.contains("m=32,t=2,p=1"), "{upgraded}");
        let again = new
            .verify("correct horse battery", Some(&upgraded))
            .await
            .unwrap();
        assert_eq!(again.upgraded_hash, None, "current hashes are left alone");
    }

    #[test]
    fn impossible_parameters_are_a_config_error() {
        let err = PasswordHasher::new(
            PasswordParams {
                m_cost: 1,
                t_cost: 1,
                p_cost: 1,
            },
            1,
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)), "{err}");
    }
}
