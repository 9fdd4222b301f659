//! Access tokens: short-lived HS256 JWTs carrying the user, role and organisation.
//!
//! Validation pins the algorithm (so `alg: none` and algorithm swaps fail), and requires
//! `exp`, `iss`, `aud` and `sub`. `sid` names the sign-in (the refresh-token family) the token
//! was issued for, so that ending the sign-in ends its access tokens too (`SignIns`).

use chrono::{DateTime, Utc};
use entity::enums::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Credential, Viewer};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub role: Role,
    pub org: Uuid,
    /// The sign-in; absent only in tokens minted before sign-ins were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // No leeway: a socket is closed at `exp`, and a fresh request with the same token must
        // not be accepted after that (all gateways sign and check; their clocks agree enough).
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl: chrono::Duration::seconds(ttl_secs as i64),
        }
    }

    pub fn issue(&self, viewer: &Viewer, sign_in: Uuid) -> anyhow::Result<IssuedToken> {
        let role = viewer.role().ok_or_else(|| anyhow::anyhow!("access tokens are issued to users only"))?;
        let now = Utc::now();
        let expires_at = now + self.ttl;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: viewer.user_id,
            exp: expires_at.timestamp(),
            iat: now.timestamp(),
            role,
            org: viewer.organisation_id,
            sid: Some(sign_in),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// What a token proves, or why it proves nothing (for the log, not the client).
    pub fn verify(&self, token: &str) -> Result<Credential, String> {
        let claims =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|error| error.to_string())?.claims;
        Ok(Credential {
            viewer: Viewer::user(claims.sub, claims.org, claims.role),
            sign_in: claims.sid,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC),
        })
    }
}

/// The token in an `Authorization: Bearer …` value (scheme case-insensitive).
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", "i-mind", "i-mind-api", 60)
    }

    fn viewer() -> Viewer {
        Viewer::user(Uuid::now_v7(), Uuid::now_v7(), Role::Counsellor)
    }

    #[test]
    fn round_trips() {
        let viewer = viewer();
        let sign_in = Uuid::now_v7();
        let token = keys().issue(&viewer, sign_in).unwrap();
        let credential = keys().verify(&token.token).unwrap();
        assert_eq!((credential.viewer, credential.sign_in), (viewer, Some(sign_in)));
        assert_eq!(credential.expires_at.timestamp(), token.expires_at.timestamp());
    }

    #[test]
    fn rejects_another_audience_or_issuer() {
        let token = keys().issue(&viewer(), Uuid::now_v7()).unwrap().token;
        let other_audience = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "i-mind", "elsewhere", 60);
        assert!(other_audience.verify(&token).is_err());
        let other_issuer = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "mallory", "i-mind-api", 60);
        assert!(other_issuer.verify(&token).is_err());
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
