//! The forms `buyer_token_key` accepts, and the ones it refuses rather than
//! guess (a public key must never be taken for an HS256 secret).

use super::*;

const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAjRheHOEaKNdny/hBkQeNltMMzGVNajW2UT0j9Pv8nP4=
-----END PUBLIC KEY-----";
const ED25519_RAW: &str = "M1PcSOFeumRydOSPpN83EFFPxu3n2wMHuXfowwM+Czc=";
const P256_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEdduVIreMonUNrBjGFr2+C/rIwQxo
76n4B1VYHudcpVVkGY5e/wUMy2nz5/y5K/Jih03vaor/q4B7xQm9j2A4ew==
-----END PUBLIC KEY-----";

fn algorithms(variable: &str) -> Result<Vec<Algorithm>, String> {
    match BuyerTokens::from_variables(variable, "")? {
        BuyerTokens::On(keys) => Ok(keys.keys.iter().map(|(a, _)| *a).collect()),
        BuyerTokens::Off => Ok(Vec::new()),
        BuyerTokens::Misconfigured => Err("misconfigured".into()),
    }
}

#[test]
fn key_forms_name_their_algorithm() {
    let secret = "HS256:0123456789abcdef0123456789abcdef";
    let two = format!("{secret}, EdDSA:{ED25519_RAW}");
    let table: [(&str, &str, Option<Vec<Algorithm>>); 12] = [
        ("empty: off", "", Some(vec![])),
        ("blank: off", "  \n", Some(vec![])),
        ("HS256 secret", secret, Some(vec![Algorithm::HS256])),
        ("HS256 secret too short", "HS256:0123456789abcdef", None),
        ("Ed25519 PEM", ED25519_PEM, Some(vec![Algorithm::EdDSA])),
        ("P-256 PEM", P256_PEM, Some(vec![Algorithm::ES256])),
        (
            "raw Ed25519",
            &two[secret.len() + 2..],
            Some(vec![Algorithm::EdDSA]),
        ),
        (
            "two keys (a rotation)",
            &two,
            Some(vec![Algorithm::HS256, Algorithm::EdDSA]),
        ),
        ("a bare value is not guessed", ED25519_RAW, None),
        ("unknown prefix", "RS256:abcd", None),
        ("not base64", "EdDSA:%%%%", None),
        ("Ed25519 of the wrong length", "EdDSA:AAAA", None),
    ];
    for (name, variable, expected) in table {
        assert_eq!(algorithms(variable).ok(), expected, "{name}");
    }
}

#[test]
fn at_most_a_few_keys() {
    let secret = "HS256:0123456789abcdef0123456789abcdef";
    let five = [secret; 5].join(",");
    assert!(algorithms(&five).is_err());
    assert_eq!(algorithms(&[secret; 4].join(",")).map(|a| a.len()), Ok(4));
}

#[test]
fn bearer_scheme_in_any_case() {
    let table = [
        (Some("Bearer abc"), Some("abc")),
        (Some("bearer abc"), Some("abc")),
        (Some("Basic abc"), None),
        (Some("Bearer"), None),
        (None, None),
    ];
    for (header, expected) in table {
        assert_eq!(bearer_token(header), expected, "{header:?}");
    }
}
