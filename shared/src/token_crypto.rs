//! The signature checks buyer tokens may use (HS256, EdDSA, ES256), given to
//! `jsonwebtoken` as its crypto provider. The crate's own `rust_crypto`
//! provider links RSA, P-384 and every signer into each component that
//! verifies a token (the hold component grew from 401 KB to 942 KB); with
//! this one, which links only three verifiers, it is 576 KB. `jsonwebtoken`
//! still does the parsing, the algorithm check against the key and the
//! claims decoding.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use sha2::Sha256;

/// Verification only: a signer is never asked for (the app signs nothing).
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes [`PROVIDER`] the process's provider before the first check (a
/// no-op after that; if another provider was installed first, that one
/// verifies, which `jsonwebtoken` guards by the same algorithm list).
pub fn install() {
    let _ = PROVIDER.install_default();
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let bytes = key.try_get_as_bytes()?;
    match (algorithm, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(Hs256(
            Hmac::new_from_slice(bytes).map_err(|_| ErrorKind::InvalidKeyFormat)?,
        ))),
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => {
            let bytes: &[u8; 32] = bytes.try_into().map_err(|_| ErrorKind::InvalidEddsaKey)?;
            Ok(Box::new(EdDsa(
                ed25519_dalek::VerifyingKey::from_bytes(bytes)
                    .map_err(|_| ErrorKind::InvalidEddsaKey)?,
            )))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec) => Ok(Box::new(Es256(
            p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
        ))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct Hs256(Hmac<Sha256>);
struct EdDsa(ed25519_dalek::VerifyingKey);
struct Es256(p256::ecdsa::VerifyingKey);

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant time (the `hmac` crate compares with `subtle`).
        mac.verify_slice(signature).map_err(Error::from_source)
    }
}

impl Verifier<Vec<u8>> for EdDsa {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), Error> {
        let signature = ed25519_dalek::Signature::from_slice(signature)?;
        // Strict: refuses the malleable and small-order forms plain
        // verification lets through.
        self.0
            .verify_strict(message, &signature)
            .map_err(Error::from_source)
    }
}

impl Verifier<Vec<u8>> for Es256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), Error> {
        let signature =
            p256::ecdsa::Signature::from_slice(signature).map_err(Error::from_source)?;
        self.0
            .verify(message, &signature)
            .map_err(Error::from_source)
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for EdDsa {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}
