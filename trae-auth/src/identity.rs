//! Identity assembled: every identity service wired over one set of repositories and one
//! configuration, plus the two questions every request asks — who is this (a credential to a
//! [`Principal`]) and may they do this (one permission check).
//!
//! The HTTP server and the Python module both build this, so they share every rule.

use std::fmt;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
pub use trae_core::identity::IdentityRepos;
use trae_core::identity::api_key::API_KEY_PREFIX;
use trae_core::identity::lockout::LockoutPolicy;
use trae_core::{
    ActorRef, AuditEntry, AuditFilter, AuditLog, AuthConfig, Clock, Error, Outcome, Page,
    PageRequest, Permission, Principal, Result, SharedSettings, User,
};

use crate::access_token::KEY_RELOAD_INTERVAL;
use crate::accounts::RequestMeta;
use crate::session_cache::SessionCache;
use crate::signing_key::{KeySealer, SigningKeyRotation, SigningKeys, configured_secret};
use crate::{
    AccessTokens, Accounts, ApiKeys, PasswordHasher, PasswordParams, Policy, Rbac, Sessions,
    TokenPair, TokenSettings, Users,
};

/// A credential as a request presents it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `Authorization: Bearer …`: an access token, or an API key (`trae_…`).
    Bearer(&'a str),
    /// `X-API-Key: …`: an API key only.
    ApiKey(&'a str),
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bearer(_) => "Bearer(***)",
            Self::ApiKey(_) => "ApiKey(***)",
        })
    }
}

/// Every identity service, wired.
#[derive(Clone)]
pub struct Identity {
    /// Registration and sign-in.
    pub accounts: Accounts,
    /// Token pairs, refresh, logout, access-token checks.
    pub sessions: Sessions,
    /// Authorization decisions.
    pub rbac: Rbac,
    /// API keys.
    pub api_keys: ApiKeys,
    /// Profiles and user administration.
    pub users: Users,
    /// Custom roles.
    pub policy: Policy,
    /// The audit log.
    pub audit: AuditLog,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// The access-token settings `config` asks for.
fn token_settings(config: &AuthConfig) -> TokenSettings {
    TokenSettings {
        ttl: Duration::seconds(i64::from(config.access_token_ttl_secs)),
        ..TokenSettings::default()
    }
}

/// The argon2id parameters `config` asks for.
pub fn password_params(config: &AuthConfig) -> PasswordParams {
    PasswordParams {
        m_cost: config.password_memory_kib,
        t_cost: config.password_iterations,
        p_cost: config.password_parallelism,
    }
}

impl Identity {
    /// Wires the services over `repos` as `config` says, signing access tokens with the HS256
    /// `signing_key` and hashing passwords with `params` (normally [`password_params`]).
    pub fn new(
        repos: IdentityRepos,
        config: &AuthConfig,
        signing_key: &[u8],
        params: PasswordParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let tokens = AccessTokens::hs256(signing_key, token_settings(config), clock.clone())?;
        Self::with_tokens(repos, config, tokens, params, clock)
    }

    /// Wires the services over `repos` as `config` says, signing access tokens with `tokens`.
    pub fn with_tokens(
        repos: IdentityRepos,
        config: &AuthConfig,
        tokens: AccessTokens,
        params: PasswordParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        // 0 lets the hasher choose: cores - 1, so a login storm leaves a core to the rest.
        let hasher = PasswordHasher::new(params, config.password_concurrency as usize)?;
        let cache_ttl = StdDuration::from_secs(u64::from(config.session_cache_secs));
        let sessions = Sessions::new(
            repos.sessions.clone(),
            repos.users.clone(),
            tokens,
            repos.audit.clone(),
            clock.clone(),
            Duration::days(i64::from(config.refresh_token_ttl_days)),
            SessionCache::new(cache_ttl),
        )
        .with_session_ttl(Duration::days(i64::from(config.session_ttl_days)));
        let lockout = LockoutPolicy {
            max_failures: config.lockout_max_failures,
            account_max_failures: config.lockout_account_max_failures,
            window: Duration::seconds(i64::from(config.lockout_window_secs)),
            lock_for: Duration::seconds(i64::from(config.lockout_secs)),
        };
        let accounts = Accounts::new(
            repos.users.clone(),
            sessions.clone(),
            hasher,
            repos.audit.clone(),
            clock.clone(),
            lockout,
        )
        .with_registration(config.registration_open);
        let rbac = Rbac::with_cache(repos.roles.clone(), cache_ttl);
        let api_keys = ApiKeys::new(
            repos.api_keys.clone(),
            repos.users.clone(),
            rbac.clone(),
            repos.audit.clone(),
            clock.clone(),
        );
        let users = Users::new(
            repos.users,
            repos.api_keys,
            accounts.clone(),
            sessions.clone(),
            rbac.clone(),
            repos.audit.clone(),
            clock,
        );
        let policy = Policy::new(rbac.clone(), repos.audit.clone());
        Ok(Self {
            accounts,
            sessions,
            rbac,
            api_keys,
            users,
            policy,
            audit: repos.audit,
        })
    }

    /// Wires the services over `repos` as `config` says, with OWASP-or-stronger password
    /// parameters from `config` and the signing key `jwt_secret` or, when that is `None`, the
    /// keys kept in `settings` sealed by `sealer`'s master key (so every node on one database
    /// agrees and a copy of the database alone cannot sign). Those keys are opened on first
    /// use, so a process that never signs nor checks a token needs no master key.
    pub fn open(
        repos: IdentityRepos,
        config: &AuthConfig,
        jwt_secret: Option<&str>,
        settings: Arc<dyn SharedSettings>,
        sealer: Arc<dyn KeySealer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let token_settings = token_settings(config);
        let tokens = match jwt_secret {
            Some(secret) => {
                AccessTokens::hs256(&configured_secret(secret)?, token_settings, clock.clone())?
            }
            None => {
                // A retired key verifies for the longest a token it signed can still live:
                // one lifetime after the last node noticed the rotation, plus clock skew.
                let grace = token_settings.ttl
                    + KEY_RELOAD_INTERVAL
                    + Duration::seconds(token_settings.leeway_secs);
                let keys = SigningKeys::new(settings, sealer, clock.clone(), grace);
                AccessTokens::hs256_from(keys, token_settings, clock.clone())
            }
        };
        Self::with_tokens(repos, config, tokens, password_params(config), clock)
    }

    /// Makes a new access-token signing key; the current one keeps verifying for one
    /// access-token lifetime (and the minute other nodes take to notice), so nobody is signed
    /// out. Only the system (the operator's CLI, a Python store without a user) may rotate;
    /// the rotation is audited. Fails when the key comes from `TRAE_JWT_SECRET`.
    pub async fn rotate_signing_key(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<SigningKeyRotation> {
        if !matches!(principal, Principal::System) {
            self.audit
                .record(meta.audit_entry(
                    principal.actor(),
                    "auth.signing_key_rotate",
                    None,
                    Outcome::Denied,
                    serde_json::json!({}),
                ))
                .await?;
            return Err(Error::Forbidden(
                "only the operator (the system principal) may rotate the signing key".into(),
            ));
        }
        let tokens = self.sessions.tokens();
        let Some(keys) = tokens.signing_keys() else {
            return Err(Error::Config(
                "the signing key comes from TRAE_JWT_SECRET; rotate it by changing the \
                 variable on every node (which signs everyone out)"
                    .into(),
            ));
        };
        let rotation = keys.rotate().await?;
        tokens.reload().await?;
        self.audit
            .record(meta.audit_entry(
                ActorRef::system(),
                "auth.signing_key_rotate",
                Some(format!("signing_key:{}", rotation.new_kid)),
                Outcome::Success,
                // Not named like "…key…": the audit log would redact those. Ids are not secret.
                serde_json::json!({
                    "new_kid": rotation.new_kid,
                    "retired_kid": rotation.retired_kid,
                    "retired_valid_until": rotation.retired_key_valid_until,
                }),
            ))
            .await?;
        Ok(rotation)
    }

    /// The principal a credential stands for; `Unauthenticated` for anything that does not
    /// work. An access token is never taken as an API key nor the other way round, and a
    /// refresh token is neither.
    pub async fn authenticate(&self, credential: Credential<'_>) -> Result<Principal> {
        match credential {
            Credential::Bearer(token) if token.trim().starts_with(API_KEY_PREFIX) => {
                self.api_keys.authenticate(token).await
            }
            Credential::Bearer(token) => Ok(self.sessions.authenticate(token).await?.principal()),
            Credential::ApiKey(key) => self.api_keys.authenticate(key).await,
        }
    }

    /// Signs a user in with a password and starts a session.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<(User, TokenPair)> {
        let user = self.accounts.sign_in(login, password, meta).await?;
        let pair = self.sessions.start(&user).await?;
        Ok((user, pair))
    }

    /// Ends the session a principal's access token belongs to. API keys have no session: they
    /// are revoked instead.
    pub async fn logout(&self, principal: &Principal, meta: &RequestMeta) -> Result<()> {
        match principal {
            Principal::User {
                user_id,
                session_id: Some(session_id),
                ..
            } => self.sessions.end_session(*user_id, *session_id, meta).await,
            _ => Err(Error::Forbidden(
                "only an access token's session can be logged out; revoke API keys instead".into(),
            )),
        }
    }

    /// `Ok` when `principal` holds `permission`; the one check every endpoint makes.
    pub async fn authorize(&self, principal: &Principal, permission: &Permission) -> Result<()> {
        self.rbac.authorize(principal, permission).await
    }

    /// Audit entries, newest first (needs `audit:read`).
    pub async fn audit_entries(
        &self,
        principal: &Principal,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        self.rbac
            .authorize(
                principal,
                &Permission::from_static(trae_core::identity::permission::AUDIT_READ),
            )
            .await?;
        if let (Some(since), Some(until)) = (filter.since, filter.until)
            && since > until
        {
            return Err(Error::validation("since", "must not be after until"));
        }
        self.audit.list(filter, page).await
    }
}
