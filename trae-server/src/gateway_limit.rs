//! The gateway: per-client rate limits on incoming requests, refused with 429 before any
//! handler (or the body limit) runs. Groups, keys, windows and header values are decided in
//! [`trae_core::apis::gateway_limit`]; this middleware finds the client and writes the headers.
//!
//! # Where it sits, and how it knows the client
//!
//! It runs inside the request context (so a refusal has a request id, an access-log line and
//! the client IP that context worked out from trusted proxies) and inside CORS (so a browser
//! can read a refusal's headers), and outside the body limit (so a refused request's body is
//! never read). That is before the handlers authenticate, so the middleware verifies the
//! credential itself, as cheaply as the keying needs:
//!
//! - an access token by its signature and expiry alone ([`trae_auth::AccessTokens::verify`],
//!   no database): a valid signature proves the token was issued to that user, which is all
//!   the key needs; whether the session is still live is the handler's question;
//! - an API key through [`Identity::authenticate`] (a database read), but only if the
//!   client's IP bucket is not already used up, so a refused client cannot make us look up
//!   one made-up key after another;
//! - either way once: the verified credential goes into the gateway's
//!   [`trae_core::apis::gateway_limit::CredentialMemo`] (a keyed fingerprint, never the credential),
//!   and later requests with it cost a map lookup.
//!
//! Anything that does not verify (or a database that does not answer) is charged to the IP.
//! Handing the verified principal on to the handlers would save them the second check, but
//! they verify more than the key needs (session liveness, API-key expiry and owner), so they
//! keep doing it themselves.

use std::net::IpAddr;
use std::sync::{Arc, Weak};

use futures_util::FutureExt;
use futures_util::future::Either;
use poem::http::header::HeaderName;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};
use trae_auth::{Credential, Identity, RequestMeta};
use trae_core::apis::gateway_limit::{
    API_KEY_MEMO, GATEWAY_LIMITED, RATELIMIT_POLICY, SWEEP_EVERY,
};
use trae_core::identity::api_key::API_KEY_PREFIX;
use trae_core::{ClientKey, GatewayDecision, GatewayLimiter, Principal, RouteGroup};

use crate::ApiError;

/// Middleware applying a [`GatewayLimiter`] to every request.
#[derive(Debug, Clone)]
pub struct GatewayLimit {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limiter: Arc<GatewayLimiter>,
    identity: Arc<Identity>,
    login_policy: Option<HeaderValue>,
    default_policy: Option<HeaderValue>,
}

impl GatewayLimit {
    /// The gateway over `limiter`, verifying credentials with `identity`. Inside a tokio
    /// runtime it also starts sweeping the limiter every [`SWEEP_EVERY`] (the task ends when
    /// the limiter is dropped).
    pub fn new(limiter: Arc<GatewayLimiter>, identity: Arc<Identity>) -> Self {
        let policy = |group| {
            limiter
                .policy_header(group)
                .and_then(|p| HeaderValue::from_str(p).ok())
        };
        if limiter.is_enabled() {
            spawn_sweeper(Arc::downgrade(&limiter));
        }
        let shared = Shared {
            login_policy: policy(RouteGroup::Login),
            default_policy: policy(RouteGroup::Default),
            limiter,
            identity,
        };
        Self {
            shared: Arc::new(shared),
        }
    }
}

fn spawn_sweeper(limiter: Weak<GatewayLimiter>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no tokio runtime: idle rate-limit buckets will not be swept");
        return;
    };
    runtime.spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.tick().await;
        loop {
            every.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                break;
            };
            // A sweep walks every key; keep it off the request threads.
            let swept = tokio::task::spawn_blocking(move || limiter.sweep()).await;
            if let Ok(n) = swept
                && n > 0
            {
                tracing::debug!(evicted = n, "swept idle rate-limit buckets");
            }
        }
    });
}

impl<E: Endpoint> Middleware<E> for GatewayLimit {
    type Output = GatewayLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        GatewayLimitEndpoint {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The endpoint [`GatewayLimit`] wraps.
#[derive(Debug)]
pub struct GatewayLimitEndpoint<E> {
    inner: E,
    shared: Arc<Shared>,
}

impl Shared {
    /// Who `req` is charged to (see the module documentation).
    async fn client_of(&self, req: &Request, group: RouteGroup) -> ClientKey {
        let ip = ClientKey::of_ip(
            req.data::<RequestMeta>()
                .and_then(|m| m.ip.as_deref())
                .and_then(|ip| ip.parse::<IpAddr>().ok()),
        );
        if group == RouteGroup::Login {
            return ip;
        }
        // The order the handlers' `Auth` scheme tries them in.
        if let Some(key) = header(req, "x-api-key")
            && let Some(client) = self.api_key(key, group, &ip).await
        {
            return client;
        }
        if let Some(token) = header(req, "authorization").and_then(bearer) {
            let client = if token.starts_with(API_KEY_PREFIX) {
                self.api_key(token, group, &ip).await
            } else {
                self.access_token(token)
            };
            if let Some(client) = client {
                return client;
            }
        }
        ip
    }

    /// Who `req` is charged to when that needs no database read: always on the login group,
    /// and for requests without an API key (an access token verifies by its signature).
    /// `None` when an API key must be looked up ([`Self::client_of`]).
    fn client_now(&self, req: &Request, group: RouteGroup) -> Option<ClientKey> {
        let ip = || {
            ClientKey::of_ip(
                req.data::<RequestMeta>()
                    .and_then(|m| m.ip.as_deref())
                    .and_then(|ip| ip.parse::<IpAddr>().ok()),
            )
        };
        if group == RouteGroup::Login {
            return Some(ip());
        }
        if header(req, "x-api-key").is_some() {
            return None;
        }
        match header(req, "authorization").and_then(bearer) {
            Some(token) if token.starts_with(API_KEY_PREFIX) => None,
            Some(token) => Some(self.access_token(token).unwrap_or_else(ip)),
            None => Some(ip()),
        }
    }

    fn access_token(&self, token: &str) -> Option<ClientKey> {
        let memo = self.limiter.credentials();
        let fingerprint = memo.fingerprint(token);
        if let Some(client) = memo.get(fingerprint) {
            return Some(client);
        }
        let claims = self.identity.sessions.tokens().verify(token).ok()?;
        let client = ClientKey::User(claims.sub);
        if let Some(until) = chrono::DateTime::from_timestamp(claims.exp, 0) {
            memo.put(fingerprint, client, until);
        }
        Some(client)
    }

    async fn api_key(&self, key: &str, group: RouteGroup, ip: &ClientKey) -> Option<ClientKey> {
        let memo = self.limiter.credentials();
        let fingerprint = memo.fingerprint(key);
        if let Some(client) = memo.get(fingerprint) {
            return Some(client);
        }
        if self.limiter.is_exhausted(group, ip) {
            return None;
        }
        match self.identity.authenticate(Credential::ApiKey(key)).await {
            Ok(Principal::ApiKey { key_id, .. }) => {
                let client = ClientKey::ApiKey(key_id);
                memo.put_for(fingerprint, client, API_KEY_MEMO);
                Some(client)
            }
            _ => None,
        }
    }

    fn policy_header(&self, group: RouteGroup) -> Option<&HeaderValue> {
        match group {
            RouteGroup::Login => self.login_policy.as_ref(),
            RouteGroup::Default => self.default_policy.as_ref(),
            RouteGroup::Exempt => None,
        }
    }
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer …` value (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn refusal(retry_after_secs: u64) -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; retry in {retry_after_secs} s"),
    )
    .into_response()
}

impl<E: Endpoint> GatewayLimitEndpoint<E> {
    /// Charges `client` and passes `req` on, or refuses it; either way with the headers.
    fn admit(
        &self,
        group: RouteGroup,
        client: ClientKey,
        req: Request,
    ) -> impl Future<Output = Result<Response>> + Send + '_ {
        let decision = self.shared.limiter.check(group, &client);
        let answer = match decision {
            GatewayDecision::Limited {
                retry_after_secs, ..
            } => {
                metrics::counter!(GATEWAY_LIMITED, "group" => group.as_str()).increment(1);
                Either::Left(std::future::ready(refusal(retry_after_secs)))
            }
            _ => Either::Right(self.inner.call(req).map(|result| match result {
                Ok(output) => output.into_response(),
                // Rendered here (as the request context would) so the headers can be added.
                Err(err) => {
                    let mut response = crate::error::render(&err);
                    if let Some(pattern) = err.data::<PathPattern>() {
                        response.set_data(pattern.clone());
                    }
                    response
                }
            })),
        };
        answer.map(move |mut response| {
            let headers = response.headers_mut();
            for (name, value) in decision.headers() {
                headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
            }
            if let Some(policy) = self.shared.policy_header(group) {
                headers.insert(HeaderName::from_static(RATELIMIT_POLICY), policy.clone());
            }
            Ok(response)
        })
    }
}

impl<E: Endpoint> Endpoint for GatewayLimitEndpoint<E> {
    type Output = Response;

    // Not an `async fn`: without an API key to look up, the inner future is passed on with
    // a closure adding the headers, so this layer adds almost nothing to the request's
    // future; the lookup (a database read) gets a future of its own.
    fn call(&self, req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        let shared = &*self.shared;
        let group = RouteGroup::of(req.uri().path());
        if !shared.limiter.limits(group) {
            let unlimited = self
                .inner
                .call(req)
                .map(|result| result.map(IntoResponse::into_response));
            return Either::Left(Either::Left(unlimited));
        }
        match shared.client_now(&req, group) {
            Some(client) => Either::Left(Either::Right(self.admit(group, client, req))),
            None => Either::Right(Box::pin(async move {
                let client = shared.client_of(&req, group).await;
                self.admit(group, client, req).await
            })),
        }
    }
}
