//! Who is asking: the buyer's signed token on the booking routes.
//!
//! With `buyer_token_key` set, holding, reading a hold and releasing it take
//! `Authorization: Bearer <JWT>` from the site's own login: the buyer is the
//! token's `sub`, who may hold at most its optional `max_quantity` units at
//! a time. Without it, a body's `customer_id` is taken as sent, which only a
//! trusted front end may be allowed to do.
//!
//! The key decides the algorithm (never the token's header), so a token
//! signed with `none`, or with HS256 keyed by a public key, cannot pass.

use crate::error::{BookingError, Token};
use crate::ids::is_valid_id;
use crate::limits::{
    BUYER_TOKEN_BYTES_MAX, BUYER_TOKEN_KEYS_MAX, BUYER_TOKEN_LEEWAY_SECONDS,
    BUYER_TOKEN_SECRET_BYTES_MIN,
};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): what precedes
/// the 32 key bytes in a `-----BEGIN PUBLIC KEY-----` block.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): what precedes the
/// 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const ED25519_KEY_BYTES: usize = 32;
const P256_POINT_BYTES: usize = 65;

/// How the booking routes know the buyer (from `buyer_token_key`).
#[derive(Debug, Clone, Default)]
pub enum BuyerTokens {
    /// No key: a body's `customer_id` is taken as sent (trusted front ends
    /// only).
    #[default]
    Off,
    /// A token signed by one of these keys is required.
    On(BuyerKeys),
    /// A key is set but unusable: the routes answer 500 rather than let
    /// everyone in (the reason went to the operator's log).
    Misconfigured,
}

/// The keys a buyer token may be signed with, and the audience it must name.
#[derive(Debug, Clone)]
pub struct BuyerKeys {
    keys: Vec<(Algorithm, DecodingKey)>,
    audience: Option<String>,
}

/// A verified buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    /// The token's `sub`: the customer id holds are recorded under.
    pub id: String,
    /// The token's `max_quantity`: the most units or seats one hold may take.
    pub max_quantity: Option<u32>,
}

impl Buyer {
    /// With identity on, a hold is its buyer's alone: another buyer (or a
    /// hold placed with no customer) is refused with 403, not 404, so that a
    /// buyer sent the wrong token is told so instead of "no such hold"
    /// (hold ids are unguessable, so this reveals nothing new).
    pub fn owns(&self, customer_id: Option<&str>) -> Result<(), BookingError> {
        if customer_id == Some(self.id.as_str()) {
            Ok(())
        } else {
            Err(BookingError::Forbidden {
                slug: "not-your-hold",
                detail: "this hold belongs to another buyer than the token's sub".into(),
            })
        }
    }
}

/// The claims read from a token; `exp`, `nbf` and `aud` are checked here
/// against the core's clock (the crate's own checks read the system clock).
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    max_quantity: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The token of `Authorization: Bearer <token>`: the scheme in any case,
/// the token as sent (not trimmed, as the static tokens always were).
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
}

impl BuyerTokens {
    /// From the variables `buyer_token_key` and `buyer_token_audience`: an
    /// empty key is [`BuyerTokens::Off`]; an unusable one is an error for the
    /// operator's log (the adapter then uses [`BuyerTokens::Misconfigured`]).
    pub fn from_variables(keys: &str, audience: &str) -> Result<BuyerTokens, String> {
        if keys.trim().is_empty() {
            return Ok(BuyerTokens::Off);
        }
        let keys = keys
            .split(',')
            .map(parse_key)
            .collect::<Result<Vec<_>, String>>()?;
        if keys.len() > BUYER_TOKEN_KEYS_MAX {
            return Err(format!(
                "buyer_token_key lists {} keys; at most {BUYER_TOKEN_KEYS_MAX}",
                keys.len()
            ));
        }
        let audience = Some(audience.trim())
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        Ok(BuyerTokens::On(BuyerKeys { keys, audience }))
    }

    /// The buyer of a request: `None` with identity off; a 401 for a missing
    /// or refused token; a 500 when the key is unusable.
    pub fn buyer(
        &self,
        authorization: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Buyer>, BookingError> {
        let keys = match self {
            BuyerTokens::Off => return Ok(None),
            BuyerTokens::Misconfigured => return Err(BookingError::Disabled(Token::Buyer)),
            BuyerTokens::On(keys) => keys,
        };
        let token = bearer_token(authorization)
            .filter(|t| !t.is_empty())
            .ok_or(BookingError::Unauthorized(Token::Buyer))?;
        keys.verify(token, now_ms).map(Some)
    }
}

impl BuyerKeys {
    fn verify(&self, token: &str, now_ms: u64) -> Result<Buyer, BookingError> {
        let invalid = |why: &str| BookingError::InvalidBuyerToken(why.to_owned());
        if token.len() > BUYER_TOKEN_BYTES_MAX {
            return Err(invalid("it is longer than any login token"));
        }
        crate::token_crypto::install();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("it is not a signed JWT (header.payload.signature)"))?;
        if !self
            .keys
            .iter()
            .any(|(algorithm, _)| *algorithm == header.alg)
        {
            return Err(invalid("its algorithm is not the configured key's"));
        }
        let claims = self
            .keys
            .iter()
            .filter(|(algorithm, _)| *algorithm == header.alg)
            .find_map(|(algorithm, key)| {
                jsonwebtoken::decode::<Claims>(token, key, &signature_only(*algorithm)).ok()
            })
            .ok_or_else(|| invalid("its signature does not verify, or its claims are malformed"))?
            .claims;
        self.check_claims(claims, now_ms).map_err(invalid)
    }

    /// `exp` (required), `nbf`, `aud` and `sub`, with the leeway on times.
    fn check_claims(&self, claims: Claims, now_ms: u64) -> Result<Buyer, &'static str> {
        let now_seconds = (now_ms / 1_000) as f64;
        let leeway_seconds = BUYER_TOKEN_LEEWAY_SECONDS as f64;
        let exp = claims.exp.ok_or("it has no exp")?;
        if now_seconds > exp + leeway_seconds {
            return Err("it has expired");
        }
        if claims
            .nbf
            .is_some_and(|nbf| now_seconds + leeway_seconds < nbf)
        {
            return Err("it is not valid yet (nbf)");
        }
        if let Some(expected) = &self.audience {
            let named = match &claims.aud {
                Some(Audience::One(aud)) => aud == expected,
                Some(Audience::Many(auds)) => auds.contains(expected),
                None => false,
            };
            if !named {
                return Err("its aud does not name this app (buyer_token_audience)");
            }
        }
        let id = claims.sub.ok_or("it has no sub")?;
        if !is_valid_id(&id) {
            return Err("its sub does not match the customer id rule");
        }
        Ok(Buyer {
            id,
            max_quantity: claims.max_quantity,
        })
    }
}

/// The crate checks the signature and the header's algorithm only; the
/// claims are checked by [`BuyerKeys::check_claims`].
fn signature_only(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// One key of `buyer_token_key`: `HS256:<secret>`, `EdDSA:<base64 of the
/// 32 key bytes>`, `ES256:<base64 of the 65-byte point>`, or a PEM public
/// key (Ed25519 or P-256). A bare value is refused rather than guessed: a
/// public key taken for an HS256 secret would let anyone sign.
fn parse_key(text: &str) -> Result<(Algorithm, DecodingKey), String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return pem_key(text);
    }
    let Some((kind, material)) = text.split_once(':') else {
        return Err(
            "a buyer_token_key entry needs a prefix (HS256:, EdDSA:, ES256:) or a PEM public key"
                .into(),
        );
    };
    match kind.trim().to_ascii_uppercase().as_str() {
        "HS256" if material.len() >= BUYER_TOKEN_SECRET_BYTES_MIN => Ok((
            Algorithm::HS256,
            DecodingKey::from_secret(material.as_bytes()).map_err(|e| e.to_string())?,
        )),
        "HS256" => Err(format!(
            "an HS256 buyer_token_key needs at least {BUYER_TOKEN_SECRET_BYTES_MIN} bytes"
        )),
        "EDDSA" | "ED25519" => raw_key(Algorithm::EdDSA, &decode_base64(material)?),
        "ES256" => raw_key(Algorithm::ES256, &decode_base64(material)?),
        other => Err(format!(
            "buyer_token_key prefix {other:?} is not one of HS256, EdDSA, ES256"
        )),
    }
}

/// A PEM `PUBLIC KEY` block: its DER names the algorithm.
fn pem_key(text: &str) -> Result<(Algorithm, DecodingKey), String> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = decode_base64(&body)?;
    if let Some(key) = der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        raw_key(Algorithm::EdDSA, key)
    } else if let Some(point) = der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        raw_key(Algorithm::ES256, point)
    } else {
        Err("a PEM buyer_token_key must be an Ed25519 or P-256 public key".into())
    }
}

/// The key bytes of a public key, checked for their length.
fn raw_key(algorithm: Algorithm, bytes: &[u8]) -> Result<(Algorithm, DecodingKey), String> {
    match algorithm {
        Algorithm::EdDSA if bytes.len() == ED25519_KEY_BYTES => {
            Ok((algorithm, DecodingKey::from_ed_der(bytes)))
        }
        Algorithm::ES256 if bytes.len() == P256_POINT_BYTES && bytes[0] == 0x04 => {
            Ok((algorithm, DecodingKey::from_ec_der(bytes)))
        }
        _ => Err(format!(
            "a {algorithm:?} buyer_token_key has the wrong length ({} bytes)",
            bytes.len()
        )),
    }
}

/// Standard base64, with or without padding (as `openssl` and key tools
/// print it), or its URL-safe form (as JWKs carry keys).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let text = text.trim().trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| "a buyer_token_key is not valid base64".to_owned())
}

#[cfg(test)]
#[path = "table_tests/identity.rs"]
mod table_tests;
