//! The values the identity API returns: `Principal`, `User`, `TokenPair`, `ApiKey`,
//! `CreatedApiKey`, `Role` and `AuditEntry`.
//!
//! Each wraps the trae-core (or trae-auth) value unchanged; ids come out as `uuid.UUID`, times
//! as timezone-aware UTC datetimes. No `repr` ever shows a token, a key or a password.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use uuid::Uuid;

use crate::convert::json_to_py;

/// `repr()` of a Python string, for the `__repr__` of the classes here.
fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

/// `repr()` of a list of strings.
fn quoted_list<'a>(py: Python<'_>, items: impl IntoIterator<Item = &'a str>) -> PyResult<String> {
    Ok(PyList::new(py, items)?.repr()?.to_cow()?.into_owned())
}

/// `repr()` of an optional string (`None` when absent).
fn quoted_opt(py: Python<'_>, text: Option<&str>) -> PyResult<String> {
    text.map_or_else(|| Ok("None".to_owned()), |text| quoted(py, text))
}

/// Who acts on a call: a signed-in user, an API key, or the system.
///
/// Get one from `store.auth.authenticate(token_or_key)`, or `Principal.system()` for trae
/// itself (what every call uses when given no principal). Read-only; equal when they are the
/// same principal.
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct Principal(pub(crate) trae_core::Principal);

#[pymethods]
impl Principal {
    /// trae itself, holding every permission (what calls without a principal act as).
    #[staticmethod]
    fn system() -> Self {
        Self(trae_core::Principal::System)
    }

    /// "user", "api_key" or "system".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.0 {
            trae_core::Principal::User { .. } => "user",
            trae_core::Principal::ApiKey { .. } => "api_key",
            trae_core::Principal::System => "system",
        }
    }

    /// The user acted for: the user, or the key's owner; `None` for the system.
    #[getter]
    fn user_id(&self) -> Option<Uuid> {
        self.0.user_id()
    }

    /// The user's username, when known.
    #[getter]
    fn username(&self) -> Option<&str> {
        match &self.0 {
            trae_core::Principal::User { username, .. } => username.as_deref(),
            _ => None,
        }
    }

    /// The session of the access token this principal came from, if it came from one.
    #[getter]
    fn session_id(&self) -> Option<Uuid> {
        match &self.0 {
            trae_core::Principal::User { session_id, .. } => *session_id,
            _ => None,
        }
    }

    /// The API key's id, for an API key principal.
    #[getter]
    fn key_id(&self) -> Option<Uuid> {
        match &self.0 {
            trae_core::Principal::ApiKey { key_id, .. } => Some(*key_id),
            _ => None,
        }
    }

    /// The roles of the user (or of the key's owner); empty for the system.
    #[getter]
    fn roles(&self) -> Vec<String> {
        match &self.0 {
            trae_core::Principal::User { roles, .. } => roles.clone(),
            trae_core::Principal::ApiKey { owner_roles, .. } => owner_roles.clone(),
            trae_core::Principal::System => Vec::new(),
        }
    }

    /// An API key's scopes (the most it may do); `None` for other principals.
    #[getter]
    fn scopes(&self) -> Option<Vec<String>> {
        match &self.0 {
            trae_core::Principal::ApiKey { scopes, .. } => {
                Some(scopes.iter().map(|p| p.as_str().to_owned()).collect())
            }
            _ => None,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match &self.0 {
            trae_core::Principal::User {
                user_id,
                username,
                roles,
                ..
            } => format!(
                "Principal(kind='user', user_id=UUID('{user_id}'), username={}, roles={})",
                quoted_opt(py, username.as_deref())?,
                quoted_list(py, roles.iter().map(String::as_str))?,
            ),
            trae_core::Principal::ApiKey {
                key_id,
                owner_id,
                scopes,
                ..
            } => format!(
                "Principal(kind='api_key', key_id=UUID('{key_id}'), user_id=UUID('{owner_id}'), \
                 scopes={})",
                quoted_list(py, scopes.iter().map(|p| p.as_str()))?,
            ),
            trae_core::Principal::System => "Principal(kind='system')".to_owned(),
        })
    }
}

/// A user account. Read-only; equal when every field is equal, hashed by id.
///
/// Attributes: `id` (`uuid.UUID`), `username` (canonical, lowercase), `email` (lowercase),
/// `full_name` (or `None`), `roles` (sorted role names), `is_active`, `created_at`,
/// `updated_at` and `last_login_at` (timezone-aware UTC datetimes, the last one `None` before
/// the first sign-in). Never a password or its hash.
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct User(pub(crate) trae_core::User);

impl From<trae_core::User> for User {
    fn from(user: trae_core::User) -> Self {
        Self(user)
    }
}

impl Hash for User {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal users have equal ids, so this agrees with `eq`.
        self.0.id.hash(state);
    }
}

#[pymethods]
impl User {
    /// The user's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The canonical (lowercase) username.
    #[getter]
    fn username(&self) -> &str {
        &self.0.username
    }

    /// The canonical (lowercase) email address.
    #[getter]
    fn email(&self) -> &str {
        &self.0.email
    }

    /// The display name, or `None`.
    #[getter]
    fn full_name(&self) -> Option<&str> {
        self.0.full_name.as_deref()
    }

    /// The role names, sorted (a new list on each access).
    #[getter]
    fn roles(&self) -> Vec<String> {
        self.0.roles.clone()
    }

    /// Whether the user may sign in.
    #[getter]
    fn is_active(&self) -> bool {
        self.0.is_active
    }

    /// When the user was created (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the user was last changed (timezone-aware, UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// When the user last signed in (timezone-aware, UTC), or `None`.
    #[getter]
    fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_login_at
    }

    /// The user as a new dict of its attributes, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let u = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("id", u.id)?;
        dict.set_item("username", &u.username)?;
        dict.set_item("email", &u.email)?;
        dict.set_item("full_name", &u.full_name)?;
        dict.set_item("roles", &u.roles)?;
        dict.set_item("is_active", u.is_active)?;
        dict.set_item("created_at", u.created_at)?;
        dict.set_item("updated_at", u.updated_at)?;
        dict.set_item("last_login_at", u.last_login_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let u = &self.0;
        Ok(format!(
            "User(id=UUID('{}'), username={}, email={}, roles={}, is_active={})",
            u.id,
            quoted(py, &u.username)?,
            quoted(py, &u.email)?,
            quoted_list(py, u.roles.iter().map(String::as_str))?,
            if u.is_active { "True" } else { "False" },
        ))
    }
}

/// What a sign-in or a refresh hands out: an access token and a refresh token.
///
/// Attributes: `access_token` (for `Authorization: Bearer`, and for
/// `store.auth.authenticate`), `refresh_token` (for `store.auth.refresh`; each works once),
/// `token_type` (`"bearer"`), `expires_in` (seconds the access token stays valid),
/// `session_id` (`uuid.UUID`) and `user` (the signed-in `User` after `login`, `None` after
/// `refresh`). The `repr` never shows the tokens.
#[pyclass(frozen, module = "trae")]
pub(crate) struct TokenPair {
    pair: trae_auth::TokenPair,
    user: Option<trae_core::User>,
}

impl TokenPair {
    /// A pair as Python sees it, with the user it was issued to when known.
    pub(crate) fn new(pair: trae_auth::TokenPair, user: Option<trae_core::User>) -> Self {
        Self { pair, user }
    }
}

#[pymethods]
impl TokenPair {
    /// The access token (a JWT) for `Authorization: Bearer`.
    #[getter]
    fn access_token(&self) -> &str {
        &self.pair.access_token
    }

    /// The refresh token for `store.auth.refresh`; it works once.
    #[getter]
    fn refresh_token(&self) -> &str {
        &self.pair.refresh_token
    }

    /// Always "bearer".
    #[getter]
    fn token_type(&self) -> &'static str {
        "bearer"
    }

    /// Seconds until the access token expires.
    #[getter]
    fn expires_in(&self) -> i64 {
        self.pair.expires_in
    }

    /// The session both tokens belong to.
    #[getter]
    fn session_id(&self) -> Uuid {
        self.pair.session_id
    }

    /// The signed-in user after `login`; `None` after `refresh`.
    #[getter]
    fn user(&self) -> Option<User> {
        self.user.clone().map(User)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let user = self.user.as_ref().map(|u| u.username.as_str());
        Ok(format!(
            "TokenPair(token_type='bearer', expires_in={}, session_id=UUID('{}'), user={})",
            self.pair.expires_in,
            self.pair.session_id,
            quoted_opt(py, user)?,
        ))
    }
}

/// An API key as its owner sees it: never the key itself. Read-only; equal when every field is
/// equal, hashed by id.
///
/// Attributes: `id`, `owner_id` (`uuid.UUID`), `name`, `prefix` (the key's first characters,
/// to recognise it), `scopes` (sorted permission names), `created_at`, `last_used_at`,
/// `expires_at` and `revoked_at` (timezone-aware UTC datetimes or `None`).
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ApiKey(pub(crate) trae_core::ApiKey);

impl From<trae_core::ApiKey> for ApiKey {
    fn from(key: trae_core::ApiKey) -> Self {
        Self(key)
    }
}

impl Hash for ApiKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

#[pymethods]
impl ApiKey {
    /// The key's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// The user the key acts for.
    #[getter]
    fn owner_id(&self) -> Uuid {
        self.0.owner_id
    }

    /// What the key is for.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// The key's first characters, e.g. "trae_Ab3dEf9", to recognise it.
    #[getter]
    fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The most the key may do, sorted; the owner's current permissions limit it further.
    #[getter]
    fn scopes(&self) -> Vec<String> {
        self.0
            .scopes
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    /// When the key was made (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the key was last used (to the minute), or `None`.
    #[getter]
    fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When the key stops working, or `None` for never.
    #[getter]
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// When the key was revoked, or `None`.
    #[getter]
    fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// The key as a new dict of its attributes, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let k = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("id", k.id)?;
        dict.set_item("owner_id", k.owner_id)?;
        dict.set_item("name", &k.name)?;
        dict.set_item("prefix", &k.prefix)?;
        dict.set_item("scopes", self.scopes())?;
        dict.set_item("created_at", k.created_at)?;
        dict.set_item("last_used_at", k.last_used_at)?;
        dict.set_item("expires_at", k.expires_at)?;
        dict.set_item("revoked_at", k.revoked_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let k = &self.0;
        Ok(format!(
            "ApiKey(id=UUID('{}'), name={}, prefix={}, scopes={}, revoked={})",
            k.id,
            quoted(py, &k.name)?,
            quoted(py, &k.prefix)?,
            quoted_list(py, k.scopes.iter().map(|p| p.as_str()))?,
            if k.revoked_at.is_some() {
                "True"
            } else {
                "False"
            },
        ))
    }
}

/// A new API key: `key` is the key itself, shown this once and never retrievable again;
/// `record` is its `ApiKey`. The `repr` never shows the key.
#[pyclass(frozen, module = "trae")]
pub(crate) struct CreatedApiKey(trae_auth::CreatedKey);

impl From<trae_auth::CreatedKey> for CreatedApiKey {
    fn from(created: trae_auth::CreatedKey) -> Self {
        Self(created)
    }
}

#[pymethods]
impl CreatedApiKey {
    /// The key (`trae_…`): pass it to `store.auth.authenticate`, or send it as `X-API-Key`.
    #[getter]
    fn key(&self) -> &str {
        &self.0.secret
    }

    /// The stored record of the key.
    #[getter]
    fn record(&self) -> ApiKey {
        ApiKey(self.0.key.clone())
    }

    /// The key's identifier (`record.id`).
    #[getter]
    fn id(&self) -> Uuid {
        self.0.key.id
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "CreatedApiKey(record={})",
            ApiKey(self.0.key.clone()).__repr__(py)?
        ))
    }
}

/// A role and the permissions it grants. Read-only; equal when every field is equal.
///
/// Attributes: `name`, `description`, `built_in` (defined by trae; cannot be changed or
/// deleted) and `permissions` (sorted names; empty for `admin`, which holds every permission).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct Role(pub(crate) trae_core::identity::permission::Role);

impl From<trae_core::identity::permission::Role> for Role {
    fn from(role: trae_core::identity::permission::Role) -> Self {
        Self(role)
    }
}

#[pymethods]
impl Role {
    /// The role's name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }

    /// What the role is for.
    #[getter]
    fn description(&self) -> &str {
        &self.0.description
    }

    /// Whether trae defines the role (built-in roles cannot be changed or deleted).
    #[getter]
    fn built_in(&self) -> bool {
        self.0.built_in
    }

    /// The permissions the role grants, sorted (empty for `admin`, which holds all).
    #[getter]
    fn permissions(&self) -> Vec<String> {
        self.0
            .permissions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = &self.0;
        Ok(format!(
            "Role(name={}, built_in={}, permissions={})",
            quoted(py, &r.name)?,
            if r.built_in { "True" } else { "False" },
            quoted_list(py, r.permissions.iter().map(|p| p.as_str()))?,
        ))
    }
}

/// One entry of the audit log: who did what to what, when, and how it ended. Read-only.
///
/// Attributes: `id` (`uuid.UUID`), `at` (timezone-aware UTC), `actor_kind` ("user",
/// "api_key", "system" or "anonymous"), `actor_id` (`uuid.UUID` or `None`), `actor_name`,
/// `action` (e.g. "auth.login"), `target` (e.g. "user:<id>"), `outcome` ("success",
/// "failure" or "denied"), `ip`, `request_id` and `details` (a new dict on each access;
/// secrets are redacted before they are stored).
#[pyclass(frozen, module = "trae")]
pub(crate) struct AuditEntry(trae_core::AuditEntry);

impl From<trae_core::AuditEntry> for AuditEntry {
    fn from(entry: trae_core::AuditEntry) -> Self {
        Self(entry)
    }
}

#[pymethods]
impl AuditEntry {
    /// The entry's identifier.
    #[getter]
    fn id(&self) -> Uuid {
        self.0.id
    }

    /// When it was recorded (timezone-aware, UTC).
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// "user", "api_key", "system" or "anonymous".
    #[getter]
    fn actor_kind(&self) -> &'static str {
        self.0.actor.kind.as_str()
    }

    /// The acting user's or key's id, or `None`.
    #[getter]
    fn actor_id(&self) -> Option<Uuid> {
        self.0.actor.id
    }

    /// A name for the actor when known (for a failed sign-in, the login tried).
    #[getter]
    fn actor_name(&self) -> Option<&str> {
        self.0.actor.name.as_deref()
    }

    /// What was done, e.g. "auth.login".
    #[getter]
    fn action(&self) -> &str {
        &self.0.action
    }

    /// What it was done to, e.g. "user:<id>", or `None`.
    #[getter]
    fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }

    /// "success", "failure" or "denied".
    #[getter]
    fn outcome(&self) -> &'static str {
        self.0.outcome.as_str()
    }

    /// The client's IP address, or `None` (always `None` for calls from Python).
    #[getter]
    fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }

    /// The request id, or `None` (always `None` for calls from Python).
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// More about the action, as a new dict (secrets redacted).
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0.details)
    }

    /// The entry as a new dict of its attributes, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("id", e.id)?;
        dict.set_item("at", e.at)?;
        dict.set_item("actor_kind", e.actor.kind.as_str())?;
        dict.set_item("actor_id", e.actor.id)?;
        dict.set_item("actor_name", &e.actor.name)?;
        dict.set_item("action", &e.action)?;
        dict.set_item("target", &e.target)?;
        dict.set_item("outcome", e.outcome.as_str())?;
        dict.set_item("ip", &e.ip)?;
        dict.set_item("request_id", &e.request_id)?;
        dict.set_item("details", json_to_py(py, &e.details)?)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let e = &self.0;
        Ok(format!(
            "AuditEntry(at={}, action={}, outcome={}, actor={}, target={})",
            quoted(py, &e.at.to_rfc3339())?,
            quoted(py, &e.action)?,
            quoted(py, e.outcome.as_str())?,
            quoted_opt(py, e.actor.name.as_deref())?,
            quoted_opt(py, e.target.as_deref())?,
        ))
    }
}
