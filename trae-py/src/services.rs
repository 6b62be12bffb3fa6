//! The identity API: `store.auth`, `store.users`, `store.api_keys`, `store.policy` and
//! `store.audit`, blocking (`trae.Auth`, …) and for asyncio (`trae.aio.Auth`, …).
//!
//! Both APIs come from one definition, [`identity_services!`], expanded twice: once running
//! each call with [`blocking`] (the GIL released while it waits) and once with [`awaitable`]
//! (an asyncio future). Every method converts its arguments, calls one trae-auth service and
//! wraps the answer; who may do what, and every other rule, is decided in trae-auth.
//!
//! Calls without a `principal` act as the store's principal: the system (`Principal.system()`,
//! every permission) for `trae.Store(...)`, the user for `store.as_user(...)`, whose handle
//! refuses any other principal; audit entries record who acted. Python calls carry no client IP or request id.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyInt;
use trae_auth::{
    AdminChange, Credential, NewKey, NewRole, ProfileChange, Registration, RequestMeta, RolePatch,
};
use trae_core::{AuditFilter, UserFilter};

use crate::args;
use crate::handle::{Handle, Nothing, awaitable, blocking};
use crate::identity::{ApiKey, AuditEntry, CreatedApiKey, Principal, Role, TokenPair, User};
use crate::types::PageOut;

/// Where a call from Python comes from, for the audit log: nowhere in particular.
fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// Defines the five identity service classes, each method running its work with `$run`.
macro_rules! identity_services {
    (
        run: $run:path,
        module: $module:tt,
        classes: ($Auth:ident, $Users:ident, $ApiKeys:ident, $Policy:ident, $Audit:ident),
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "Registration, sign-in, tokens and credentials (`store.auth`)", $doc
        )]
        #[pyclass(frozen, name = "Auth", module = $module)]
        pub(crate) struct $Auth {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Auth {
            /// Registers a new account with the `user` role and returns the `User`.
            ///
            /// `username`: 3–32 characters of a-z, 0-9, `_`, `.`, `-` (case-insensitive).
            /// `password`: at least 10 characters, not containing the username, not a common
            /// one. Raises `ValidationError` for a broken rule and `Conflict` when the
            /// username or email is taken.
            #[pyo3(signature = (username, email, password, full_name = None))]
            fn register<'py>(
                &self,
                py: Python<'py>,
                username: String,
                email: String,
                password: String,
                full_name: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let input = Registration {
                    username,
                    email,
                    password,
                    full_name,
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity.accounts.register(input, &meta()).await.map(User)
                })
            }

            /// Signs in with a username (or email) and password and starts a session;
            /// returns a `TokenPair` whose `user` is the signed-in `User`.
            ///
            /// `client_ip`: the address the attempt came from (a web application passes its
            /// client's); failures are counted per account and address, so a lockout from
            /// one address does not lock the account for others. Raises `AuthError` with one
            /// message for every refusal: an unknown user, a wrong password, and an account
            /// locked after repeated failures (whatever the password) look alike.
            #[pyo3(signature = (username, password, *, client_ip = None))]
            fn login<'py>(
                &self,
                py: Python<'py>,
                username: String,
                password: String,
                client_ip: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let ip = client_ip
                        .map(|ip| {
                            ip.trim()
                                .parse::<std::net::IpAddr>()
                                .map(|ip| ip.to_string())
                                .map_err(|_| {
                                    trae_core::Error::validation(
                                        "client_ip",
                                        "is not an IP address",
                                    )
                                })
                        })
                        .transpose()?;
                    let meta = RequestMeta {
                        ip,
                        request_id: None,
                    };
                    let identity = handle.identity().await?;
                    let (user, pair) = identity.login(&username, &password, &meta).await?;
                    Ok(TokenPair::new(pair, Some(user)))
                })
            }

            /// Makes a new access-token signing key and returns its id; the previous key
            /// keeps verifying for one access-token lifetime, so nobody is signed out. Only
            /// the system may (raises `PermissionDenied` otherwise); raises `ConfigError`
            /// when the key comes from `TRAE_JWT_SECRET`. Audited.
            #[pyo3(signature = (principal = None))]
            fn rotate_signing_key<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let rotation = identity.rotate_signing_key(&principal, &meta()).await?;
                    Ok(rotation.new_kid)
                })
            }

            /// Exchanges a refresh token for a new `TokenPair` (its `user` is `None`).
            ///
            /// Each refresh token works once: presenting a used one again ends the whole
            /// session, and raises `AuthError` like any token that does not work.
            fn refresh<'py>(
                &self,
                py: Python<'py>,
                refresh_token: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let pair = identity.sessions.refresh(&refresh_token, &meta()).await?;
                    Ok(TokenPair::new(pair, None))
                })
            }

            /// Ends the session of an access token: it and its refresh token stop working.
            ///
            /// Raises `AuthError` when the token does not work (already logged out, expired,
            /// not an access token).
            fn logout<'py>(
                &self,
                py: Python<'py>,
                access_token: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let auth = identity.sessions.authenticate(&access_token).await?;
                    identity.logout(&auth.principal(), &meta()).await?;
                    Ok(Nothing)
                })
            }

            /// The `Principal` an access token or an API key (`trae_…`) stands for.
            ///
            /// Raises `AuthError` for anything that does not work: a forged, expired or
            /// logged-out token, a revoked or expired key, a refresh token.
            fn authenticate<'py>(
                &self,
                py: Python<'py>,
                token: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .authenticate(Credential::Bearer(&token))
                        .await
                        .map(Principal)
                })
            }

            /// Returns `None` when `principal` holds `permission` (e.g. "pets:write"), else
            /// raises `PermissionDenied`; `ValidationError` for a malformed permission name.
            fn authorize<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
                permission: &str,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                let permission = args::permission(permission);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity.authorize(&principal, &permission?).await?;
                    Ok(Nothing)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Auth backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!("Profiles and user administration (`store.users`)", $doc)]
        #[pyclass(frozen, name = "Users", module = $module)]
        pub(crate) struct $Users {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Users {
            /// The `User` a principal acts for (a user, or an API key's owner).
            fn me<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                $run(py, async move {
                    handle.identity().await?.users.me(&principal).await.map(User)
                })
            }

            /// Changes the signed-in user's own email or display name and returns the `User`.
            ///
            /// Arguments left `None` keep their value; `full_name=""` clears the name.
            #[pyo3(signature = (principal, email = None, full_name = None))]
            fn update_me<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
                email: Option<String>,
                full_name: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                let change = ProfileChange {
                    email,
                    full_name: full_name.map(Some),
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .users
                        .update_me(&principal, change, &meta())
                        .await
                        .map(User)
                })
            }

            /// Changes the signed-in user's own password after checking the current one.
            ///
            /// Their other sessions end; the one `principal` came from stays. Raises
            /// `ValidationError` (field `current_password`) when `current` is wrong, and
            /// `PermissionDenied` for a principal that is not a signed-in user.
            fn change_password<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
                current: String,
                new: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .users
                        .change_password(&principal, &current, &new, &meta())
                        .await?;
                    Ok(Nothing)
                })
            }

            /// One `Page` of users, by username (needs `users:admin`).
            ///
            /// `query` matches part of a username or email; `role` and `is_active` filter.
            #[pyo3(
                signature = (principal = None, *, query = None, role = None, is_active = None,
                             limit = None, offset = None),
                text_signature = "($self, principal=None, *, query=None, role=None, \
                                  is_active=None, limit=50, offset=0)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn list<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
                query: Option<String>,
                role: Option<String>,
                is_active: Option<bool>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                let filter = UserFilter {
                    query,
                    role,
                    is_active,
                };
                let page = args::page(limit, offset);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let page = identity.users.list(&principal, &filter, page?).await?;
                    Ok(PageOut(page.map(User)))
                })
            }

            /// The user with this id (needs `users:admin`); raises `NotFound` when there is
            /// none.
            #[pyo3(signature = (id, principal = None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    handle.identity().await?.users.get(&principal, id?).await.map(User)
                })
            }

            /// Creates a user with the given roles and returns it (needs `users:admin` and
            /// every permission the roles grant).
            ///
            /// The rules of `auth.register` apply; `roles` must name existing roles, at least
            /// one.
            #[pyo3(signature = (username, email, password, roles, full_name = None, principal = None))]
            #[allow(clippy::too_many_arguments)]
            fn create<'py>(
                &self,
                py: Python<'py>,
                username: String,
                email: String,
                password: String,
                roles: Vec<String>,
                full_name: Option<String>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                let input = Registration {
                    username,
                    email,
                    password,
                    full_name,
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .users
                        .create(&principal, input, roles, &meta())
                        .await
                        .map(User)
                })
            }

            /// Changes a user as an administrator and returns it (needs `users:admin`).
            ///
            /// Arguments left `None` keep their value; `full_name=""` clears the name;
            /// `roles` replaces every role; `is_active=False` also ends the user's sessions
            /// and revokes their API keys; `unlock=True` clears failed sign-ins and any lock.
            /// Raises `Conflict` for a change that would leave no active admin.
            #[pyo3(signature = (id, principal = None, *, email = None, full_name = None,
                                roles = None, is_active = None, unlock = false))]
            #[allow(clippy::too_many_arguments)]
            fn update<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
                email: Option<String>,
                full_name: Option<String>,
                roles: Option<Vec<String>>,
                is_active: Option<bool>,
                unlock: bool,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                let change = AdminChange {
                    email,
                    full_name: full_name.map(Some),
                    roles,
                    is_active,
                    unlock,
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .users
                        .update(&principal, id?, change, &meta())
                        .await
                        .map(User)
                })
            }

            /// Deletes a user with their sessions and API keys (needs `users:admin`).
            ///
            /// Raises `NotFound` when there is none, `Conflict` for the last active admin.
            #[pyo3(signature = (id, principal = None))]
            fn delete<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity.users.delete(&principal, id?, &meta()).await?;
                    Ok(Nothing)
                })
            }

            /// Ends every session of a user and returns how many ended (needs
            /// `users:admin`).
            #[pyo3(signature = (id, principal = None))]
            fn revoke_sessions<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let id = args::id(id)?;
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .users
                        .revoke_sessions(&principal, id?, &meta())
                        .await
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Users backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!("A signed-in user's API keys (`store.api_keys`)", $doc)]
        #[pyclass(frozen, name = "ApiKeys", module = $module)]
        pub(crate) struct $ApiKeys {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $ApiKeys {
            /// Makes an API key for the signed-in user and returns a `CreatedApiKey`, whose
            /// `key` is shown this once.
            ///
            /// `scopes`: permissions the key may use, each one the user holds (all of theirs
            /// when `None`). `expires_in_days`: 1–3650, or `None` for never. Raises
            /// `PermissionDenied` for a scope the user lacks or a principal that is not a
            /// signed-in user.
            #[pyo3(signature = (principal, name, scopes = None, expires_in_days = None))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
                name: String,
                scopes: Option<Vec<String>>,
                expires_in_days: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                let days = expires_in_days
                    .map(|days| args::int::<u32>("expires_in_days", days))
                    .transpose();
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let input = NewKey {
                        name,
                        scopes,
                        expires_in_days: days?,
                    };
                    identity
                        .api_keys
                        .create(&principal, input, &meta())
                        .await
                        .map(CreatedApiKey::from)
                })
            }

            /// The signed-in user's keys (revoked ones too), newest first, as `ApiKey`s.
            fn list<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                $run(py, async move {
                    let keys = handle.identity().await?.api_keys.list(&principal).await?;
                    Ok(keys.into_iter().map(ApiKey).collect::<Vec<_>>())
                })
            }

            /// Revokes one of the signed-in user's keys; another user's key, or one already
            /// revoked, is `NotFound`.
            fn revoke<'py>(
                &self,
                py: Python<'py>,
                principal: PyRef<'py, Principal>,
                id: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = principal.0.clone();
                let id = args::id(id)?;
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity.api_keys.revoke(&principal, id?, &meta()).await?;
                    Ok(Nothing)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.ApiKeys backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!(
            "Roles and the permissions they grant (`store.policy`; every call needs \
             `policy:admin`)",
            $doc
        )]
        #[pyclass(frozen, name = "Policy", module = $module)]
        pub(crate) struct $Policy {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Policy {
            /// Every role, built-in and custom, by name, as `Role`s.
            #[pyo3(signature = (principal = None))]
            fn roles<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let roles = handle.identity().await?.policy.roles(&principal).await?;
                    Ok(roles.into_iter().map(Role).collect::<Vec<_>>())
                })
            }

            /// The role with this name; raises `NotFound` when there is none.
            #[pyo3(signature = (name, principal = None))]
            fn role<'py>(
                &self,
                py: Python<'py>,
                name: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    handle.identity().await?.policy.role(&principal, &name).await.map(Role)
                })
            }

            /// Every permission trae checks, as names such as "pets:read".
            #[pyo3(signature = (principal = None))]
            fn permissions<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let all = handle.identity().await?.policy.permissions(&principal).await?;
                    Ok(all.into_iter().map(String::from).collect::<Vec<_>>())
                })
            }

            /// Creates a custom role granting `permissions` (names from `permissions()`, each
            /// one the principal holds) and returns it.
            ///
            /// `name`: 2–32 characters of a-z, 0-9, `_`, `-`, starting with a letter. Raises
            /// `Conflict` when the name is taken.
            #[pyo3(
                signature = (name, description = String::new(), permissions = None,
                             principal = None),
                text_signature = "($self, name, description='', permissions=None, \
                                  principal=None)"
            )]
            fn create_role<'py>(
                &self,
                py: Python<'py>,
                name: String,
                description: String,
                permissions: Option<Vec<String>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                let input = NewRole {
                    name,
                    description,
                    permissions: permissions.unwrap_or_default(),
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .policy
                        .create_role(&principal, input, &meta())
                        .await
                        .map(Role)
                })
            }

            /// Changes a custom role's description or permissions (the complete new set) and
            /// returns it; arguments left `None` keep their value.
            ///
            /// Raises `Conflict` for a built-in role and `NotFound` for an unknown one.
            #[pyo3(signature = (name, description = None, permissions = None, principal = None))]
            fn update_role<'py>(
                &self,
                py: Python<'py>,
                name: String,
                description: Option<String>,
                permissions: Option<Vec<String>>,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                let patch = RolePatch {
                    description,
                    permissions,
                };
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .policy
                        .update_role(&principal, &name, patch, &meta())
                        .await
                        .map(Role)
                })
            }

            /// Deletes a custom role; raises `Conflict` for a built-in role or one a user
            /// still holds, `NotFound` for an unknown one.
            #[pyo3(signature = (name, principal = None))]
            fn delete_role<'py>(
                &self,
                py: Python<'py>,
                name: String,
                principal: Option<PyRef<'py, Principal>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                $run(py, async move {
                    let identity = handle.identity().await?;
                    identity
                        .policy
                        .delete_role(&principal, &name, &meta())
                        .await?;
                    Ok(Nothing)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Policy backend='{}'>", $module, self.handle.backend())
            }
        }

        #[doc = concat!("The audit log (`store.audit`; reading needs `audit:read`)", $doc)]
        #[pyclass(frozen, name = "Audit", module = $module)]
        pub(crate) struct $Audit {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Audit {
            /// One `Page` of audit entries, newest first.
            ///
            /// `actor`: a user's or key's id, or a name; `action`: e.g. "auth.login";
            /// `since` (inclusive) and `until` (exclusive): timezone-aware datetimes.
            #[pyo3(
                signature = (principal = None, *, actor = None, action = None, since = None,
                             until = None, limit = None, offset = None),
                text_signature = "($self, principal=None, *, actor=None, action=None, \
                                  since=None, until=None, limit=50, offset=0)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn list<'py>(
                &self,
                py: Python<'py>,
                principal: Option<PyRef<'py, Principal>>,
                actor: Option<&Bound<'py, PyAny>>,
                action: Option<String>,
                since: Option<&Bound<'py, PyAny>>,
                until: Option<&Bound<'py, PyAny>>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                let principal = self.handle.acting(py, principal)?;
                let actor = args::actor(actor)?;
                let since = args::utc("since", since)?;
                let until = args::utc("until", until)?;
                let page = args::page(limit, offset);
                $run(py, async move {
                    let identity = handle.identity().await?;
                    let filter = AuditFilter {
                        actor,
                        action,
                        since: since?,
                        until: until?,
                    };
                    let page = identity.audit_entries(&principal, filter, page?).await?;
                    Ok(PageOut(page.map(AuditEntry::from)))
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Audit backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

identity_services! {
    run: blocking,
    module: "trae",
    classes: (Auth, Users, ApiKeys, Policy, Audit),
    doc: ".",
}

identity_services! {
    run: awaitable,
    module: "trae.aio",
    classes: (AsyncAuth, AsyncUsers, AsyncApiKeys, AsyncPolicy, AsyncAudit),
    doc: "; the methods of the blocking class, each returning an awaitable.",
}

/// The identity service objects of one store, made once when it opens.
pub(crate) struct Services<A, U, K, P, L> {
    /// `store.auth`.
    pub(crate) auth: Py<A>,
    /// `store.users`.
    pub(crate) users: Py<U>,
    /// `store.api_keys`.
    pub(crate) api_keys: Py<K>,
    /// `store.policy`.
    pub(crate) policy: Py<P>,
    /// `store.audit`.
    pub(crate) audit: Py<L>,
}

/// The blocking services of a `trae.Store`.
pub(crate) type SyncServices = Services<Auth, Users, ApiKeys, Policy, Audit>;

/// The asyncio services of a `trae.aio.Store`.
pub(crate) type AsyncServices =
    Services<AsyncAuth, AsyncUsers, AsyncApiKeys, AsyncPolicy, AsyncAudit>;

impl SyncServices {
    /// The blocking services over `handle`.
    pub(crate) fn new(py: Python<'_>, handle: &Arc<Handle>) -> PyResult<Self> {
        let h = || Arc::clone(handle);
        Ok(Self {
            auth: Py::new(py, Auth { handle: h() })?,
            users: Py::new(py, Users { handle: h() })?,
            api_keys: Py::new(py, ApiKeys { handle: h() })?,
            policy: Py::new(py, Policy { handle: h() })?,
            audit: Py::new(py, Audit { handle: h() })?,
        })
    }
}

impl AsyncServices {
    /// The asyncio services over `handle`.
    pub(crate) fn new(py: Python<'_>, handle: &Arc<Handle>) -> PyResult<Self> {
        let h = || Arc::clone(handle);
        Ok(Self {
            auth: Py::new(py, AsyncAuth { handle: h() })?,
            users: Py::new(py, AsyncUsers { handle: h() })?,
            api_keys: Py::new(py, AsyncApiKeys { handle: h() })?,
            policy: Py::new(py, AsyncPolicy { handle: h() })?,
            audit: Py::new(py, AsyncAudit { handle: h() })?,
        })
    }
}
