//! `/api/auth`: registration, sign-in, token refresh, logout, who am I, and API keys.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_auth::{Identity, NewKey, Registration, RequestMeta, TokenPair};
use trae_core::PageRequest;
use uuid::Uuid;

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use super::users::{NoContent, UserBody};
use crate::ApiError;
use crate::credentials::Auth;

/// A new account. Every self-registered user gets the `user` role; a `roles` field is refused.
#[derive(Clone, Object)]
#[oai(rename = "Registration", deny_unknown_fields)]
pub struct RegisterBody {
    /// 3–32 characters of `[a-z0-9_.-]` (case-insensitive).
    pub username: String,
    /// Email address.
    pub email: String,
    /// At least 10 characters, not containing the username, not a common password.
    pub password: String,
    /// Display name.
    pub full_name: Option<String>,
}

impl std::fmt::Debug for RegisterBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterBody")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Credentials to sign in with.
#[derive(Clone, Object)]
#[oai(rename = "Login", deny_unknown_fields)]
pub struct LoginBody {
    /// Username or email.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginBody")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A refresh token to exchange.
#[derive(Clone, Object)]
#[oai(rename = "Refresh", deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshBody(***)")
    }
}

/// A new token pair.
#[derive(Clone, Object)]
#[oai(rename = "TokenPair")]
pub struct TokenPairBody {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The opaque token for `/api/auth/refresh`; each works once.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenPairBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPairBody(***)")
    }
}

impl From<TokenPair> for TokenPairBody {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer".into(),
            expires_in: pair.expires_in,
        }
    }
}

/// What a sign-in returns.
#[derive(Clone, Object)]
#[oai(rename = "LoginResult")]
pub struct LoginResultBody {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// The opaque token for `/api/auth/refresh`.
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The signed-in user.
    pub user: UserBody,
}

impl std::fmt::Debug for LoginResultBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginResultBody(***)")
    }
}

/// An API key to make.
#[derive(Debug, Clone, Object)]
#[oai(rename = "NewApiKey", deny_unknown_fields)]
pub struct NewKeyBody {
    /// What the key is for, 1–64 characters.
    pub name: String,
    /// Permissions it may use, each one you hold; all of yours when absent.
    pub scopes: Option<Vec<String>>,
    /// Days until it expires (1–3650); never when absent.
    pub expires_in_days: Option<u32>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiKey")]
pub struct KeyBody {
    /// Identifier.
    pub id: Uuid,
    /// What it is for.
    pub name: String,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// The most it may do; your current permissions limit it further.
    pub scopes: BTreeSet<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<trae_core::ApiKey> for KeyBody {
    fn from(k: trae_core::ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.into_iter().map(String::from).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new API key: `key` is shown this once.
#[derive(Clone, Object)]
#[oai(rename = "CreatedApiKey")]
pub struct CreatedKeyBody {
    /// The key; send it as `X-API-Key` or `Authorization: Bearer`. Never shown again.
    pub key: String,
    /// The key's record.
    #[oai(flatten)]
    pub record: KeyBody,
}

impl std::fmt::Debug for CreatedKeyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKeyBody")
            .field("id", &self.record.id)
            .finish_non_exhaustive()
    }
}

/// `Cache-Control` of every answer carrying tokens: no cache, shared or private, keeps them.
const NO_STORE: &str = "no-store";

/// `Pragma` of every answer carrying tokens, for HTTP/1.0 caches (RFC 6749, 5.1).
const NO_CACHE: &str = "no-cache";

/// A sign-in's tokens, never to be cached.
#[derive(Debug, ApiResponse)]
pub enum SignedIn {
    /// Signed in, with `Cache-Control: no-store` and `Pragma: no-cache`.
    #[oai(status = 200)]
    Ok(
        Json<LoginResultBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// A refreshed token pair, never to be cached.
#[derive(Debug, ApiResponse)]
pub enum Refreshed {
    /// A new pair, with `Cache-Control: no-store` and `Pragma: no-cache`.
    #[oai(status = 200)]
    Ok(
        Json<TokenPairBody>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

/// A created user.
#[derive(Debug, ApiResponse)]
pub enum UserCreated {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<UserBody>),
}

/// A created key.
#[derive(Debug, ApiResponse)]
pub enum KeyCreated {
    /// Made; the key is in the body this once.
    #[oai(status = 201)]
    Created(Json<CreatedKeyBody>),
}

/// The `/api/auth` router.
#[derive(Debug, Clone)]
pub struct AuthApi {
    identity: Identity,
}

impl AuthApi {
    /// A router over the identity services.
    pub fn new(identity: Identity) -> Self {
        Self { identity }
    }
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Open unless the server closed registration (403). The new user has the `user` role.
    #[oai(
        path = "/api/auth/register",
        method = "post",
        operation_id = "register"
    )]
    async fn register(
        &self,
        body: JsonBody<RegisterBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<UserCreated, ApiError> {
        let b = body.0;
        let user = self
            .identity
            .accounts
            .register(
                Registration {
                    username: b.username,
                    email: b.email,
                    password: b.password,
                    full_name: b.full_name,
                },
                &meta,
            )
            .await?;
        Ok(UserCreated::Created(Json(user.into())))
    }

    /// Sign in
    ///
    /// Unknown users and wrong passwords get the same 401. After repeated failures the
    /// account locks for a while: 429 with `Retry-After`, whatever the password.
    #[oai(path = "/api/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        body: JsonBody<LoginBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<SignedIn, ApiError> {
        let (user, pair) = self
            .identity
            .login(&body.0.username, &body.0.password, &meta)
            .await?;
        let tokens = LoginResultBody {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "bearer".into(),
            expires_in: pair.expires_in,
            user: user.into(),
        };
        Ok(SignedIn::Ok(Json(tokens), NO_STORE.into(), NO_CACHE.into()))
    }

    /// Refresh tokens
    ///
    /// Each refresh token works once. Presenting a used one again ends the whole session.
    #[oai(path = "/api/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        body: JsonBody<RefreshBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Refreshed, ApiError> {
        let pair = self
            .identity
            .sessions
            .refresh(&body.0.refresh_token, &meta)
            .await?;
        Ok(Refreshed::Ok(
            Json(pair.into()),
            NO_STORE.into(),
            NO_CACHE.into(),
        ))
    }

    /// Sign out
    ///
    /// Ends the session: its access and refresh tokens stop working at once.
    #[oai(path = "/api/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(&self, auth: Auth, meta: Data<&RequestMeta>) -> Result<NoContent, ApiError> {
        self.identity.logout(auth.principal(), &meta).await?;
        Ok(NoContent::Done)
    }

    /// Who am I
    #[oai(path = "/api/auth/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: Auth) -> Result<Json<UserBody>, ApiError> {
        Ok(Json(self.identity.users.me(auth.principal()).await?.into()))
    }

    /// Make an API key
    ///
    /// Scopes must be permissions you hold; the key never does more than you currently can.
    #[oai(
        path = "/api/auth/api-keys",
        method = "post",
        operation_id = "create_api_key"
    )]
    async fn create_key(
        &self,
        auth: Auth,
        body: JsonBody<NewKeyBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<KeyCreated, ApiError> {
        let b = body.0;
        let created = self
            .identity
            .api_keys
            .create(
                auth.principal(),
                NewKey {
                    name: b.name,
                    scopes: b.scopes,
                    expires_in_days: b.expires_in_days,
                },
                &meta,
            )
            .await?;
        Ok(KeyCreated::Created(Json(CreatedKeyBody {
            key: created.secret,
            record: created.key.into(),
        })))
    }

    /// List your API keys
    #[oai(
        path = "/api/auth/api-keys",
        method = "get",
        operation_id = "list_api_keys"
    )]
    async fn list_keys(
        &self,
        auth: Auth,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<KeyBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let keys = self.identity.api_keys.list(auth.principal()).await?;
        let total = keys.len() as u64;
        let items = keys
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit() as usize)
            .map(Into::into)
            .collect();
        Ok(Json(Page {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    }

    /// Revoke one of your API keys
    #[oai(
        path = "/api/auth/api-keys/:id",
        method = "delete",
        operation_id = "revoke_api_key"
    )]
    async fn revoke_key(
        &self,
        auth: Auth,
        id: Path<Uuid>,
        meta: Data<&RequestMeta>,
    ) -> Result<NoContent, ApiError> {
        self.identity
            .api_keys
            .revoke(auth.principal(), id.0, &meta)
            .await?;
        Ok(NoContent::Done)
    }
}
