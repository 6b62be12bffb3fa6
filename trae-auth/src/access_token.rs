//! Access tokens: short-lived JWTs (HS256 by default, EdDSA optional) with a fixed set of
//! claims, verified against one configured algorithm, issuer and audience.
//!
//! Expiry and not-before are checked against trae's [`Clock`] rather than inside
//! jsonwebtoken, so tests can move time.

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use trae_core::Clock;
use uuid::Uuid;

use crate::signing_key::{SigningKeys, key_id};
use crate::{AuthError, Result};

/// The `typ` claim of access tokens; anything else is refused where an access token is due.
pub const ACCESS_TYPE: &str = "access";

/// The shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Who issues tokens, for whom, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// How long an access token lives (default 15 minutes).
    pub ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "trae".to_owned(),
            audience: "trae-api".to_owned(),
            ttl: Duration::minutes(15),
            leeway_secs: 5,
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: Uuid,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Token type; always `access`.
    pub typ: String,
    /// The session (login) the token belongs to; revoking it revokes the token.
    pub sid: Uuid,
    /// The user's roles when the token was issued.
    pub roles: Vec<String>,
}

/// How often a node re-reads the database's signing keys, so a rotation made elsewhere
/// reaches it. A retired key verifies this much longer than one access-token lifetime, so no
/// token signed before a node noticed a rotation is refused early.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::seconds(60);

/// The shortest time between two reloads forced by a token naming an unknown key, so tokens
/// with invented `kid`s cannot turn into a database read each.
const FORCED_RELOAD_SPACING: std::time::Duration = std::time::Duration::from_secs(1);

/// The keys in force: one signs, all verify (retired ones until their end).
struct Keys {
    signing: Option<(String, EncodingKey)>,
    verifying: Vec<VerifyingKey>,
    loaded: Option<std::time::Instant>,
    forced: Option<std::time::Instant>,
}

struct VerifyingKey {
    kid: String,
    key: DecodingKey,
    /// After this, the key no longer verifies (a retired key's end).
    until: Option<DateTime<Utc>>,
}

/// Issues and verifies access tokens with one algorithm, signing with one key and verifying
/// with that key and, after a rotation, the retired ones for their grace.
#[derive(Clone)]
pub struct AccessTokens {
    algorithm: Algorithm,
    keys: Arc<RwLock<Keys>>,
    source: Option<SigningKeys>,
    validation: Validation,
    settings: TokenSettings,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("algorithm", &self.algorithm)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// HS256 with a shared secret of at least 32 bytes.
    pub fn hs256(secret: &[u8], settings: TokenSettings, clock: Arc<dyn Clock>) -> Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AuthError::Config(format!(
                "the JWT secret must be at least {MIN_SECRET_BYTES} bytes, got {}",
                secret.len()
            )));
        }
        let tokens = Self::empty(Algorithm::HS256, None, settings, clock);
        tokens.install_static(
            key_id(secret),
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
        );
        Ok(tokens)
    }

    /// HS256 with the database's sealed signing keys, opened on first use (see
    /// [`crate::signing_key`]) and re-read every [`KEY_RELOAD_INTERVAL`].
    pub fn hs256_from(source: SigningKeys, settings: TokenSettings, clock: Arc<dyn Clock>) -> Self {
        Self::empty(Algorithm::HS256, Some(source), settings, clock)
    }

    /// EdDSA (Ed25519) with a PKCS#8 private key and its public key, both PEM.
    pub fn eddsa(
        private_pem: &[u8],
        public_pem: &[u8],
        settings: TokenSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let encoding = EncodingKey::from_ed_pem(private_pem)
            .map_err(|e| AuthError::Config(format!("Ed25519 private key: {e}")))?;
        let decoding = DecodingKey::from_ed_pem(public_pem)
            .map_err(|e| AuthError::Config(format!("Ed25519 public key: {e}")))?;
        let tokens = Self::empty(Algorithm::EdDSA, None, settings, clock);
        tokens.install_static(key_id(public_pem), encoding, decoding);
        Ok(tokens)
    }

    fn empty(
        algorithm: Algorithm,
        source: Option<SigningKeys>,
        settings: TokenSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // Only the configured algorithm is accepted: this is what defeats `alg: none` and
        // algorithm confusion.
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Checked against our clock in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            algorithm,
            keys: Arc::new(RwLock::new(Keys {
                signing: None,
                verifying: Vec::new(),
                loaded: None,
                forced: None,
            })),
            source,
            validation,
            settings,
            clock,
        }
    }

    fn install_static(&self, kid: String, encoding: EncodingKey, decoding: DecodingKey) {
        let mut keys = self.write();
        keys.verifying = vec![VerifyingKey {
            kid: kid.clone(),
            key: decoding,
            until: None,
        }];
        keys.signing = Some((kid, encoding));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        // Key swaps are whole-value assignments: a panic elsewhere cannot leave them torn.
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings in force.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The database's signing keys, when tokens are signed with them.
    pub fn signing_keys(&self) -> Option<&SigningKeys> {
        self.source.as_ref()
    }

    /// Loads the database's keys when they were never loaded or the last load is older than
    /// [`KEY_RELOAD_INTERVAL`]; nothing for a configured key.
    pub async fn prepare(&self) -> trae_core::Result<()> {
        let stale = {
            let keys = self.read();
            keys.loaded
                .is_none_or(|at| at.elapsed() >= KEY_RELOAD_INTERVAL.to_std().unwrap_or_default())
        };
        if stale && self.source.is_some() {
            self.reload().await?;
        }
        Ok(())
    }

    /// Re-reads the database's keys now (after a rotation, or when a token names a key this
    /// node has not seen).
    pub async fn reload(&self) -> trae_core::Result<()> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let ring = source.load().await?;
        let grace = source.grace();
        let verifying = ring
            .keys
            .iter()
            .map(|k| VerifyingKey {
                kid: k.kid.clone(),
                key: DecodingKey::from_secret(&k.secret),
                until: k.retired_at.map(|at| at + grace),
            })
            .collect();
        let signing = ring
            .current()
            .map(|k| (k.kid.clone(), EncodingKey::from_secret(&k.secret)));
        let mut keys = self.write();
        keys.verifying = verifying;
        keys.signing = signing;
        keys.loaded = Some(std::time::Instant::now());
        Ok(())
    }

    /// [`AccessTokens::verify`], reloading the keys once first when the token names a key
    /// this node does not know yet (another node rotated).
    pub async fn verify_fresh(&self, token: &str) -> trae_core::Result<AccessClaims> {
        self.prepare().await?;
        match self.verify(token) {
            Err(AuthError::InvalidToken("unknown key")) if self.source.is_some() => {
                let due = {
                    let mut keys = self.write();
                    let due = keys
                        .forced
                        .is_none_or(|at| at.elapsed() >= FORCED_RELOAD_SPACING);
                    if due {
                        keys.forced = Some(std::time::Instant::now());
                    }
                    due
                };
                if due {
                    self.reload().await?;
                }
                Ok(self.verify(token)?)
            }
            other => Ok(other?),
        }
    }

    /// Issues a token for `user` in `session` carrying `roles`; returns it with its expiry.
    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        roles: &[String],
    ) -> Result<(String, DateTime<Utc>)> {
        self.issue_until(user, session, roles, None)
    }

    /// [`AccessTokens::issue`], expiring no later than `not_after` (the session's end).
    pub fn issue_until(
        &self,
        user: Uuid,
        session: Uuid,
        roles: &[String],
        not_after: Option<DateTime<Utc>>,
    ) -> Result<(String, DateTime<Utc>)> {
        let now = self.clock.now();
        let full = now + self.settings.ttl;
        let expires = not_after.map_or(full, |cap| cap.min(full));
        let claims = AccessClaims {
            sub: user,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            exp: expires.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            typ: ACCESS_TYPE.to_owned(),
            sid: session,
            roles: roles.to_vec(),
        };
        let keys = self.read();
        let Some((kid, encoding)) = &keys.signing else {
            return Err(AuthError::Config(
                "the signing keys are not loaded yet".into(),
            ));
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, encoding)
            .map_err(|e| AuthError::Config(format!("cannot sign a token: {e}")))?;
        Ok((token, expires))
    }

    /// Verifies a token's signature (with the key its `kid` names; the signing key when it
    /// names none), algorithm, issuer, audience, type and validity window, and that it lives
    /// no longer than the configured lifetime, and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
        let now = self.clock.now();
        let data = {
            let keys = self.read();
            let key = match &header.kid {
                Some(kid) => keys
                    .verifying
                    .iter()
                    .find(|k| &k.kid == kid)
                    .ok_or(AuthError::InvalidToken("unknown key"))?,
                None => {
                    let signing = keys.signing.as_ref().map(|(kid, _)| kid);
                    keys.verifying
                        .iter()
                        .find(|k| Some(&k.kid) == signing)
                        .ok_or(AuthError::InvalidToken("unknown key"))?
                }
            };
            if key.until.is_some_and(|until| now >= until) {
                return Err(AuthError::InvalidToken("retired key"));
            }
            jsonwebtoken::decode::<AccessClaims>(token, &key.key, &self.validation).map_err(
                |e| {
                    use jsonwebtoken::errors::ErrorKind as K;
                    AuthError::InvalidToken(match e.kind() {
                        K::InvalidSignature => "bad signature",
                        K::InvalidAlgorithm | K::InvalidAlgorithmName => "wrong algorithm",
                        K::InvalidIssuer => "wrong issuer",
                        K::InvalidAudience => "wrong audience",
                        K::MissingRequiredClaim(_) => "missing claim",
                        _ => "malformed",
                    })
                },
            )?
        };
        let claims = data.claims;
        if claims.typ != ACCESS_TYPE {
            return Err(AuthError::InvalidToken("not an access token"));
        }
        let now = now.timestamp();
        let leeway = self.settings.leeway_secs;
        if now >= claims.exp + leeway {
            return Err(AuthError::InvalidToken("expired"));
        }
        if now + leeway < claims.nbf {
            return Err(AuthError::InvalidToken("not yet valid"));
        }
        // trae never issues a token living longer than the configured lifetime, so one that
        // does was forged by someone holding a key: refused whatever its signature.
        let ttl = self.settings.ttl.num_seconds();
        if claims.exp - claims.iat > ttl + leeway || claims.exp > now + ttl + leeway {
            return Err(AuthError::InvalidToken(
                "lifetime beyond the configured one",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeZone;
    use trae_core::ManualClock;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn setup() -> (AccessTokens, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
        ));
        let tokens = AccessTokens::hs256(SECRET, TokenSettings::default(), clock.clone()).unwrap();
        (tokens, clock)
    }

    fn parts(token: &str) -> (serde_json::Value, serde_json::Value, String) {
        let mut it = token.split('.');
        let header = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        let payload = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        (
            serde_json::from_slice(&header).unwrap(),
            serde_json::from_slice(&payload).unwrap(),
            it.next().unwrap().to_owned(),
        )
    }

    fn assemble(
        header: &serde_json::Value,
        payload: &serde_json::Value,
        signature: &str,
    ) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            signature
        )
    }

    fn rejected(tokens: &AccessTokens, token: &str) -> &'static str {
        match tokens.verify(token) {
            Err(AuthError::InvalidToken(reason)) => reason,
            other => panic!("accepted or wrong error: {other:?}"),
        }
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let (tokens, _) = setup();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, expires) = tokens.issue(user, session, &["user".into()]).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.sid, claims.typ.as_str()),
            (user, session, "access")
        );
        assert_eq!(claims.roles, ["user"]);
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("trae", "trae-api")
        );
        assert_eq!(claims.exp, expires.timestamp());
        assert_eq!(claims.exp - claims.iat, 15 * 60);
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let (tokens, clock) = setup();
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        clock.advance(Duration::minutes(15) - Duration::seconds(1));
        assert!(tokens.verify(&token).is_ok());
        clock.advance(Duration::seconds(10));
        assert_eq!(rejected(&tokens, &token), "expired");
    }

    #[test]
    fn tokens_from_the_future_are_rejected() {
        let (tokens, clock) = setup();
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        clock.advance(-Duration::minutes(1));
        assert_eq!(rejected(&tokens, &token), "not yet valid");
    }

    #[test]
    fn tampered_payloads_and_signatures_are_rejected() {
        let (tokens, _) = setup();
        let (token, _) = tokens
            .issue(Uuid::now_v7(), Uuid::now_v7(), &["viewer".into()])
            .unwrap();
        let (header, mut payload, signature) = parts(&token);
        payload["roles"] = serde_json::json!(["admin"]);
        assert_eq!(
            rejected(&tokens, &assemble(&header, &payload, &signature)),
            "bad signature"
        );
        let mut bad_sig = signature;
        bad_sig.replace_range(
            0..2,
            if bad_sig.starts_with("AA") {
                "BB"
            } else {
                "AA"
            },
        );
        let (header, payload, _) = parts(&token);
        assert_eq!(
            rejected(&tokens, &assemble(&header, &payload, &bad_sig)),
            "bad signature"
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let (tokens, _) = setup();
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        let (_, payload, _) = parts(&token);
        let none = assemble(
            &serde_json::json!({"alg": "none", "typ": "JWT"}),
            &payload,
            "",
        );
        assert!(tokens.verify(&none).is_err());
    }

    #[test]
    fn other_algorithms_are_rejected_even_with_the_right_key() {
        let (tokens, _) = setup();
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        let (_, claims, _) = parts(&token);
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(rejected(&tokens, &hs512), "wrong algorithm");
    }

    #[test]
    fn wrong_issuer_audience_or_type_are_rejected() {
        let (tokens, clock) = setup();
        let sign = |claims: &serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap()
        };
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        let (_, claims, _) = parts(&token);
        let mut c = claims.clone();
        c["aud"] = "someone-else".into();
        assert_eq!(rejected(&tokens, &sign(&c)), "wrong audience");
        let mut c = claims.clone();
        c["iss"] = "evil".into();
        assert_eq!(rejected(&tokens, &sign(&c)), "wrong issuer");
        let mut c = claims.clone();
        c["typ"] = "refresh".into();
        assert_eq!(rejected(&tokens, &sign(&c)), "not an access token");
        let mut c = claims;
        c.as_object_mut().unwrap().remove("exp");
        assert!(tokens.verify(&sign(&c)).is_err(), "exp is required");
        // A valid token is still valid at this clock: the failures above are the claims'.
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        clock.advance(Duration::seconds(1));
        assert!(tokens.verify(&token).is_ok());
    }

    #[test]
    fn another_secret_cannot_forge_tokens() {
        let (tokens, clock) = setup();
        let other = AccessTokens::hs256(
            b"another secret of thirty-two byt",
            TokenSettings::default(),
            clock,
        )
        .unwrap();
        let (forged, _) = other
            .issue(Uuid::now_v7(), Uuid::now_v7(), &["admin".into()])
            .unwrap();
        assert_eq!(rejected(&tokens, &forged), "unknown key");
        // Naming the real key's id, or none, does not help.
        let (real, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        let (real_header, _, _) = parts(&real);
        let (_, payload, signature) = parts(&forged);
        assert_eq!(
            rejected(&tokens, &assemble(&real_header, &payload, &signature)),
            "bad signature"
        );
        let bare = serde_json::json!({"alg": "HS256", "typ": "JWT"});
        assert_eq!(
            rejected(&tokens, &assemble(&bare, &payload, &signature)),
            "bad signature"
        );
    }

    #[test]
    fn tokens_name_their_key_and_a_long_lifetime_is_refused() {
        let (tokens, clock) = setup();
        let (token, _) = tokens.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        let (header, mut payload, _) = parts(&token);
        assert_eq!(header["kid"], crate::signing_key::key_id(SECRET));
        let sign = |claims: &serde_json::Value| {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(crate::signing_key::key_id(SECRET));
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(SECRET)).unwrap()
        };
        let now = clock.now().timestamp();
        payload["exp"] = (now + 16 * 60).into();
        assert_eq!(
            rejected(&tokens, &sign(&payload)),
            "lifetime beyond the configured one"
        );
        // A forger moving `iat` forward to look short-lived is caught by `exp` − now.
        payload["iat"] = (now + 10 * 365 * 86_400).into();
        payload["exp"] = (now + 10 * 365 * 86_400 + 60).into();
        assert_eq!(
            rejected(&tokens, &sign(&payload)),
            "lifetime beyond the configured one"
        );
        payload["iat"] = now.into();
        payload["exp"] = (now + 15 * 60).into();
        assert!(tokens.verify(&sign(&payload)).is_ok());
    }

    // A throwaway Ed25519 key pair made for this test with `openssl genpkey -algorithm ed25519`.
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBQoAmpOzpOdRBZX75a4S2l5cBtJ34EbIIny8ytfKK3V\n-----END PRIVATE KEY-----\n";
    const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAtEEkIk0JNBUeMOf1Fq+Xz1Ydn010vkvPnnl5FHjWfOA=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn eddsa_tokens_verify_and_refuse_hmac_confusion() {
        let clock = Arc::new(trae_core::SystemClock);
        let tokens = AccessTokens::eddsa(
            ED_PRIVATE.as_bytes(),
            ED_PUBLIC.as_bytes(),
            TokenSettings::default(),
            clock,
        )
        .unwrap();
        let user = Uuid::now_v7();
        let (token, _) = tokens.issue(user, Uuid::now_v7(), &[]).unwrap();
        assert_eq!(parts(&token).0["alg"], "EdDSA");
        assert_eq!(tokens.verify(&token).unwrap().sub, user);
        // The classic confusion: an HS256 token "signed" with the public key as HMAC secret.
        let (_, claims, _) = parts(&token);
        let confused = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(ED_PUBLIC.as_bytes()),
        )
        .unwrap();
        assert_eq!(rejected(&tokens, &confused), "wrong algorithm");
        let err = AccessTokens::eddsa(
            b"junk",
            ED_PUBLIC.as_bytes(),
            TokenSettings::default(),
            Arc::new(trae_core::SystemClock),
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::Config(_)));
    }

    #[test]
    fn short_secrets_are_refused() {
        let clock = Arc::new(trae_core::SystemClock);
        let err = AccessTokens::hs256(b"short", TokenSettings::default(), clock).unwrap_err();
        assert!(matches!(err, AuthError::Config(_)));
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        let (tokens, _) = setup();
        for junk in [
            "",
            "a.b",
            "a.b.c",
            "....",
            "trae_abcdef",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
        ] {
            assert!(tokens.verify(junk).is_err(), "{junk:?}");
        }
    }
}
