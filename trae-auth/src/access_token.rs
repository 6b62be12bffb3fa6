//! Access tokens: short-lived JWTs (HS256 by default, EdDSA optional) with a fixed set of
//! claims, verified against one configured algorithm, issuer and audience.
//!
//! Expiry and not-before are checked against trae's [`Clock`] rather than inside
//! jsonwebtoken, so tests can move time.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use trae_core::Clock;
use uuid::Uuid;

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

/// Issues and verifies access tokens with one key and one algorithm.
#[derive(Clone)]
pub struct AccessTokens {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
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
        Ok(Self::with_keys(
            Algorithm::HS256,
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
            settings,
            clock,
        ))
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
        Ok(Self::with_keys(
            Algorithm::EdDSA,
            encoding,
            decoding,
            settings,
            clock,
        ))
    }

    fn with_keys(
        algorithm: Algorithm,
        encoding: EncodingKey,
        decoding: DecodingKey,
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
            encoding,
            decoding,
            validation,
            settings,
            clock,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Issues a token for `user` in `session` carrying `roles`; returns it with its expiry.
    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        roles: &[String],
    ) -> Result<(String, DateTime<Utc>)> {
        let now = self.clock.now();
        let expires = now + self.settings.ttl;
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
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .map_err(|e| AuthError::Config(format!("cannot sign a token: {e}")))?;
        Ok((token, expires))
    }

    /// Verifies a token's signature, algorithm, issuer, audience, type and validity window,
    /// and returns its claims.
    pub fn verify(&self, token: &str) -> Result<AccessClaims> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                AuthError::InvalidToken(match e.kind() {
                    K::InvalidSignature => "bad signature",
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => "wrong algorithm",
                    K::InvalidIssuer => "wrong issuer",
                    K::InvalidAudience => "wrong audience",
                    K::MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                })
            })?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYPE {
            return Err(AuthError::InvalidToken("not an access token"));
        }
        let now = self.clock.now().timestamp();
        let leeway = self.settings.leeway_secs;
        if now >= claims.exp + leeway {
            return Err(AuthError::InvalidToken("expired"));
        }
        if now + leeway < claims.nbf {
            return Err(AuthError::InvalidToken("not yet valid"));
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
        assert_eq!(rejected(&tokens, &forged), "bad signature");
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
