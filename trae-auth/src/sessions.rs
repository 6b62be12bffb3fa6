//! Sessions: the token pair a sign-in gets, refresh-token rotation with reuse detection,
//! logout, and authenticating an access token against its (live) session.

use std::fmt;
use std::sync::Arc;

use chrono::Duration;
use trae_core::{
    ActorKind, ActorRef, AuditLog, Clock, Error, Outcome, Principal, RefreshTokenRecord, Result,
    Rotation, Session, SessionRepository, User, UserRepository,
};
use uuid::Uuid;

use crate::accounts::RequestMeta;
use crate::session_cache::{SessionCache, SessionState};
use crate::{AccessTokens, OpaqueToken};

/// The prefix of refresh tokens (API keys start with `trae_`).
pub const REFRESH_PREFIX: &str = "rt_";

/// The one answer to a refresh or access token that does not work.
const INVALID: &str = "invalid or expired credentials";

/// What a sign-in or refresh hands the client.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The opaque token for `/api/auth/refresh`; shown once.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session both belong to.
    pub session_id: Uuid,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// Who an access token proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user, as they are now (current roles, not those the token was issued with).
    pub user: User,
    /// The session the token belongs to.
    pub session_id: Uuid,
}

impl Authenticated {
    /// The user's id.
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }

    /// The principal acting for this session.
    pub fn principal(&self) -> Principal {
        Principal::User {
            user_id: self.user.id,
            username: Some(self.user.username.clone()),
            session_id: Some(self.session_id),
            roles: self.user.roles.clone(),
        }
    }
}

/// Token pairs, rotation, revocation.
#[derive(Clone)]
pub struct Sessions {
    sessions: Arc<dyn SessionRepository>,
    users: Arc<dyn UserRepository>,
    tokens: AccessTokens,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    refresh_ttl: Duration,
    session_ttl: Duration,
    cache: SessionCache,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("refresh_ttl", &self.refresh_ttl)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

fn invalid() -> Error {
    Error::Unauthenticated(INVALID.into())
}

impl Sessions {
    /// The default lifetime of a refresh token.
    pub const DEFAULT_REFRESH_TTL: Duration = Duration::days(30);

    /// The default absolute lifetime of a session.
    pub const DEFAULT_SESSION_TTL: Duration = Duration::days(30);

    /// A service over the given repositories, signing with `tokens`, trusting session checks
    /// for as long as `cache` says. Sessions last [`Sessions::DEFAULT_SESSION_TTL`] unless
    /// [`Sessions::with_session_ttl`] says otherwise.
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        users: Arc<dyn UserRepository>,
        tokens: AccessTokens,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        refresh_ttl: Duration,
        cache: SessionCache,
    ) -> Self {
        Self {
            sessions,
            users,
            tokens,
            audit,
            clock,
            refresh_ttl,
            session_ttl: Self::DEFAULT_SESSION_TTL,
            cache,
        }
    }

    /// This service, ending every new session `ttl` after its sign-in however often it is
    /// refreshed.
    #[must_use]
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The cache of session checks (user changes elsewhere invalidate through it).
    pub fn cache(&self) -> &SessionCache {
        &self.cache
    }

    /// The access-token signer.
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Revokes every live session of a user except `keep`; returns how many.
    pub async fn revoke_all_for_user(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
    ) -> Result<u64> {
        let ended = self
            .sessions
            .revoke_all_for_user(user_id, keep, self.clock.now_micros(), reason)
            .await?;
        self.cache.forget_user(user_id);
        Ok(ended)
    }

    fn refresh_record(&self, session: &Session) -> Result<(String, RefreshTokenRecord)> {
        let token = OpaqueToken::generate(REFRESH_PREFIX)?;
        let now = self.clock.now_micros();
        let record = RefreshTokenRecord {
            hash: token.hash.0,
            session_id: session.id,
            issued_at: now,
            // A refresh token never outlives its session.
            expires_at: (now + self.refresh_ttl).min(session.expires_at),
            used_at: None,
        };
        Ok((token.plaintext, record))
    }

    async fn pair(
        &self,
        user: &User,
        session: &Session,
        refresh_token: String,
    ) -> Result<TokenPair> {
        self.tokens.prepare().await?;
        let (access_token, expires) =
            self.tokens
                .issue_until(user.id, session.id, &user.roles, Some(session.expires_at))?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: (expires - self.clock.now()).num_seconds().max(0),
            session_id: session.id,
        })
    }

    async fn audit(
        &self,
        user_id: Uuid,
        action: &str,
        outcome: Outcome,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> Result<()> {
        self.audit
            .record(meta.audit_entry(
                ActorRef {
                    kind: ActorKind::User,
                    id: Some(user_id),
                    name: None,
                },
                action,
                Some(format!("user:{user_id}")),
                outcome,
                details,
            ))
            .await
            .map(|_| ())
    }

    /// Starts a session for a user who just signed in.
    pub async fn start(&self, user: &User) -> Result<TokenPair> {
        // Load the signing keys before writing anything, so a node that cannot sign leaves
        // no session behind.
        self.tokens.prepare().await?;
        let now = self.clock.now_micros();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.id,
            created_at: now,
            revoked_at: None,
            revoked_reason: None,
            expires_at: now + self.session_ttl,
        };
        let (refresh_token, record) = self.refresh_record(&session)?;
        self.sessions.create(&session, &record).await?;
        self.pair(user, &session, refresh_token).await
    }

    /// Exchanges a refresh token for a new pair. A token presented twice revokes its whole
    /// session.
    pub async fn refresh(&self, refresh_token: &str, meta: &RequestMeta) -> Result<TokenPair> {
        let hash = OpaqueToken::digest(refresh_token.trim());
        let Some((record, session)) = self.sessions.find_refresh(&hash.0).await? else {
            return Err(invalid());
        };
        let now = self.clock.now_micros();
        if !session.is_live(now) || now >= record.expires_at {
            return Err(invalid());
        }
        if record.used_at.is_some() {
            return Err(self.reuse(&session, meta).await);
        }
        let user = match self.users.get(session.user_id).await? {
            Some(stored) if stored.user.is_active => stored.user,
            _ => {
                self.sessions
                    .revoke(session.id, now, "user inactive")
                    .await?;
                self.cache.revoke(session.id);
                return Err(invalid());
            }
        };
        let (next_plain, next) = self.refresh_record(&session)?;
        match self.sessions.rotate(&hash.0, &next, now).await? {
            Rotation::Rotated => self.pair(&user, &session, next_plain).await,
            Rotation::AlreadyUsed => Err(self.reuse(&session, meta).await),
        }
    }

    async fn reuse(&self, session: &Session, meta: &RequestMeta) -> Error {
        let now = self.clock.now_micros();
        let revoked = self
            .sessions
            .revoke(session.id, now, "refresh token reuse")
            .await;
        self.cache.revoke(session.id);
        let audited = self
            .audit(
                session.user_id,
                "auth.refresh_reuse",
                Outcome::Denied,
                meta,
                serde_json::json!({ "session": session.id }),
            )
            .await;
        match (revoked, audited) {
            (Err(e), _) | (_, Err(e)) => e,
            _ => invalid(),
        }
    }

    /// Ends a session: its refresh token and access tokens stop working.
    pub async fn logout(&self, auth: &Authenticated, meta: &RequestMeta) -> Result<()> {
        self.end_session(auth.user.id, auth.session_id, meta).await
    }

    /// Ends `user_id`'s session `session_id` (a logout).
    pub async fn end_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.sessions
            .revoke(session_id, self.clock.now_micros(), "logout")
            .await?;
        self.cache.revoke(session_id);
        self.audit(
            user_id,
            "auth.logout",
            Outcome::Success,
            meta,
            serde_json::json!({ "session": session_id }),
        )
        .await
    }

    /// Checks an access token: signature, claims, and that its session is live (not revoked,
    /// not past its lifetime in the database) and its user active (from the cache when
    /// checked within its TTL).
    pub async fn authenticate(&self, access_token: &str) -> Result<Authenticated> {
        let claims = self.tokens.verify_fresh(access_token).await?;
        let state = match self.cache.get(claims.sid) {
            Some(state) => state,
            None => {
                let state = self.check_session(claims.sid).await?;
                self.cache.put(claims.sid, state.clone());
                state
            }
        };
        match state {
            SessionState::Live(user) if user.id == claims.sub => Ok(Authenticated {
                user,
                session_id: claims.sid,
            }),
            _ => Err(invalid()),
        }
    }

    async fn check_session(&self, session_id: Uuid) -> Result<SessionState> {
        let Some(session) = self.sessions.get(session_id).await? else {
            return Ok(SessionState::Dead);
        };
        if !session.is_live(self.clock.now_micros()) {
            return Ok(SessionState::Dead);
        }
        Ok(match self.users.get(session.user_id).await? {
            Some(stored) if stored.user.is_active => SessionState::Live(stored.user),
            _ => SessionState::Dead,
        })
    }
}
