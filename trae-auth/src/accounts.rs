//! Accounts: registration and password sign-in, with lockout and an audit entry for every
//! attempt.
//!
//! The rules come from trae-core (identity checks, the lockout transitions); this service
//! adds the crypto (argon2id) and the order of operations that keeps the guarantees: a locked
//! account refuses whatever the password, and a wrong password, an unknown user and a locked
//! account fail with the same error at the same cost (one hash).

use std::fmt;
use std::sync::Arc;

use trae_core::identity::lockout::{FailureOutcome, LockoutPolicy, address_key};
use trae_core::identity::{
    canonical_email, canonical_username, check_password_policy, clean_full_name,
};
use trae_core::{
    ActorKind, ActorRef, AuditLog, Clock, Error, Outcome, Result, User, UserRepository,
};
use uuid::Uuid;

use crate::{PasswordHasher, Sessions};

/// The role every self-registered user gets, and the only one.
pub const DEFAULT_ROLE: &str = "user";

/// The one answer to bad credentials, whichever part was wrong.
pub const BAD_CREDENTIALS: &str = "invalid username or password";

pub use trae_core::identity::audit::RequestMeta;

/// What a person registers with.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// Desired username.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Password in clear; hashed before anything is stored.
    pub password: String,
    /// Display name.
    pub full_name: Option<String>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("full_name", &self.full_name)
            .finish_non_exhaustive()
    }
}

/// Registration and password sign-in.
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserRepository>,
    sessions: Sessions,
    hasher: PasswordHasher,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    lockout: LockoutPolicy,
    registration_open: bool,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("lockout", &self.lockout)
            .field("registration_open", &self.registration_open)
            .finish_non_exhaustive()
    }
}

fn bad_credentials() -> Error {
    Error::Unauthenticated(BAD_CREDENTIALS.into())
}

fn user_actor(user: &User) -> ActorRef {
    ActorRef {
        kind: ActorKind::User,
        id: Some(user.id),
        name: Some(user.username.clone()),
    }
}

impl Accounts {
    /// A service over `users` (and their `sessions`, which a password change revokes),
    /// hashing with `hasher`, auditing to `audit`.
    /// Registration is open until [`Accounts::with_registration`] closes it.
    pub fn new(
        users: Arc<dyn UserRepository>,
        sessions: Sessions,
        hasher: PasswordHasher,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        lockout: LockoutPolicy,
    ) -> Self {
        Self {
            users,
            sessions,
            hasher,
            audit,
            clock,
            lockout,
            registration_open: true,
        }
    }

    /// Opens or closes self-registration.
    #[must_use]
    pub fn with_registration(mut self, open: bool) -> Self {
        self.registration_open = open;
        self
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    async fn audit(
        &self,
        actor: ActorRef,
        action: &str,
        target: Option<String>,
        outcome: Outcome,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record(meta.audit_entry(actor, action, target, outcome, details))
            .await
            .map(|_| ())
    }

    /// Registers a new user with the default role only.
    pub async fn register(&self, input: Registration, meta: &RequestMeta) -> Result<User> {
        if !self.registration_open {
            return Err(Error::Forbidden(
                "registration is closed; ask an administrator for an account".into(),
            ));
        }
        self.create(input, vec![DEFAULT_ROLE.to_owned()], None, meta)
            .await
    }

    /// Creates a user with `roles` after checking every identity rule. `creator` is who
    /// made the account (audited as `user.create`); none means self-registration
    /// (`user.register`). Deciding whether the creator may grant the roles is the caller's job.
    pub(crate) async fn create(
        &self,
        input: Registration,
        mut roles: Vec<String>,
        creator: Option<ActorRef>,
        meta: &RequestMeta,
    ) -> Result<User> {
        let username = canonical_username(&input.username)?;
        let email = canonical_email(&input.email)?;
        let full_name = clean_full_name(input.full_name.as_deref())?;
        check_password_policy(&input.password, &username)?;
        roles.sort();
        roles.dedup();
        let hash = self.hasher.hash(&input.password).await?;
        let now = self.clock.now_micros();
        let user = User {
            id: Uuid::now_v7(),
            username,
            email,
            full_name,
            roles,
            is_active: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.users.insert(&user, &hash).await?;
        let action = if creator.is_some() {
            "user.create"
        } else {
            "user.register"
        };
        self.audit(
            creator.unwrap_or_else(|| user_actor(&user)),
            action,
            Some(format!("user:{}", user.id)),
            Outcome::Success,
            meta,
            serde_json::json!({ "username": user.username, "roles": user.roles }),
        )
        .await?;
        Ok(user)
    }

    /// Checks a username (or email) and password from the client address in `meta`. Every
    /// refusal is the same `Unauthenticated` error, costing one hash: a wrong password, an
    /// unknown name, an inactive account and a locked one (for this address, or account-wide)
    /// look alike to the caller, so lockout neither tells which names exist nor, being
    /// counted per address first, lets a stranger lock someone out from elsewhere.
    pub async fn sign_in(&self, login: &str, password: &str, meta: &RequestMeta) -> Result<User> {
        let login = login.trim().to_lowercase();
        let failure = |reason: &str| serde_json::json!({ "reason": reason });
        let anonymous = ActorRef {
            kind: ActorKind::Anonymous,
            id: None,
            name: Some(login.chars().take(254).collect()),
        };
        let Some(mut stored) = self.users.find_by_login(&login).await? else {
            // Costs one hash, like a real check, so timing does not reveal unknown names.
            self.hasher.verify(password, None).await?;
            self.audit(
                anonymous,
                "auth.login",
                None,
                Outcome::Failure,
                meta,
                failure("unknown user"),
            )
            .await?;
            return Err(bad_credentials());
        };
        let target = Some(format!("user:{}", stored.user.id));
        let address = address_key(meta.ip.as_deref());
        let now = self.clock.now_micros();
        // The hash is checked even for a locked account, so a lock costs what a wrong
        // password costs and timing does not tell them apart.
        let verification = self
            .hasher
            .verify(password, Some(&stored.password_hash))
            .await?;
        if stored.login.locked_for(&address, now).is_some() {
            self.audit(
                anonymous,
                "auth.login",
                target,
                Outcome::Denied,
                meta,
                failure("locked"),
            )
            .await?;
            return Err(bad_credentials());
        }
        if verification.matches && stored.user.is_active {
            self.users
                .record_login(stored.user.id, now, verification.upgraded_hash.as_deref())
                .await?;
            stored.user.last_login_at = Some(now);
            self.audit(
                user_actor(&stored.user),
                "auth.login",
                target,
                Outcome::Success,
                meta,
                serde_json::json!({ "hash_upgraded": verification.upgraded_hash.is_some() }),
            )
            .await?;
            return Ok(stored.user);
        }
        let reason = if verification.matches {
            "inactive"
        } else {
            "wrong password"
        };
        // Count the failure; another attempt may have raced us, so re-read and retry.
        let mut outcome = FailureOutcome::Counted;
        for _ in 0..8 {
            let (state, result) = stored.login.after_failure(&self.lockout, &address, now);
            if self
                .users
                .swap_login_state(stored.user.id, stored.login_version, &state)
                .await?
            {
                outcome = result;
                break;
            }
            match self.users.get(stored.user.id).await? {
                Some(fresh) => stored = fresh,
                None => break,
            }
        }
        self.audit(
            anonymous.clone(),
            "auth.login",
            target.clone(),
            Outcome::Failure,
            meta,
            failure(reason),
        )
        .await?;
        let (until, scope) = match outcome {
            FailureOutcome::Counted => return Err(bad_credentials()),
            FailureOutcome::AddressLocked(until) => (until, "address"),
            FailureOutcome::AccountLocked(until) => (until, "account"),
        };
        self.audit(
            anonymous,
            "auth.lockout",
            target,
            Outcome::Success,
            meta,
            serde_json::json!({ "locked_until": until, "scope": scope, "address": address }),
        )
        .await?;
        Err(bad_credentials())
    }

    /// Changes a user's own password after checking the current one, and ends every other
    /// session of theirs (`keep_session` survives, so the caller stays signed in).
    pub async fn change_password(
        &self,
        user_id: Uuid,
        keep_session: Option<Uuid>,
        current: &str,
        new: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let stored = self
            .users
            .get(user_id)
            .await?
            .filter(|s| s.user.is_active)
            .ok_or_else(|| Error::not_found("user", user_id))?;
        check_password_policy(new, &stored.user.username)?;
        if !self
            .hasher
            .verify(current, Some(&stored.password_hash))
            .await?
            .matches
        {
            return Err(Error::validation(
                "current_password",
                "is not the current password",
            ));
        }
        let hash = self.hasher.hash(new).await?;
        let now = self.clock.now_micros();
        self.users.set_password(user_id, &hash, now).await?;
        let ended = self
            .sessions
            .revoke_all_for_user(user_id, keep_session, "password changed")
            .await?;
        self.audit(
            user_actor(&stored.user),
            "user.password_change",
            Some(format!("user:{user_id}")),
            Outcome::Success,
            meta,
            serde_json::json!({ "sessions_ended": ended }),
        )
        .await
    }
}
