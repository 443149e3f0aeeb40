//! Minting: PAE built here, signature from any [`keys::Signer`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use keys::{KeysError, Signer};

use crate::claims::Claims;
use crate::pae::pae;
use crate::paserk::Kid;
use crate::verify::{Footer, HEADER};

/// Why a token could not be minted. No token is ever returned on error (fail closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The signer failed.
    #[error("signer failed: {0}")]
    Signer(#[from] KeysError),
    /// `exp` is not after `iat`, or `nbf` is after `exp`.
    #[error("invalid claims")]
    InvalidClaims,
    /// The public key given is not a valid Ed25519 point.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The signature does not verify under the public key given: the signer used another key
    /// than the version named, or a fault corrupted it.
    #[error("signature does not match the public key")]
    SignatureMismatch,
}

/// Whether [`mint_with`] checks the signature against `public_key` before returning a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify every signature: for signers outside this process (Vault Transit), where the key
    /// that signed is not the one in memory. Costs one Ed25519 verification per token.
    Verify,
    /// Trust the signer: it signs with the in-process key `public_key` was derived from (the
    /// local backend). A mismatch would still be refused by every verifier.
    Trusted,
}

/// Mints a `v4.public` token: `v4.public.` + base64url(claims || sig) + `.` +
/// base64url(`{"kid":"k4.pid..."}`), with `sig = signer.sign(version, PAE(header, claims,
/// footer, ""))`. The kid is computed from `public_key`, which must be that version's key; the
/// signature is checked against it before the token is returned.
pub async fn mint<S: Signer + ?Sized>(
    signer: &S,
    version: u32,
    public_key: &[u8; 32],
    claims: &Claims,
) -> Result<String, MintError> {
    mint_with(signer, version, public_key, claims, SignatureCheck::Verify).await
}

/// [`mint`], with the self-check chosen by the caller.
pub async fn mint_with<S: Signer + ?Sized>(
    signer: &S,
    version: u32,
    public_key: &[u8; 32],
    claims: &Claims,
    check: SignatureCheck,
) -> Result<String, MintError> {
    if claims.exp <= claims.iat || claims.nbf > claims.exp {
        return Err(MintError::InvalidClaims);
    }
    let verifying_key =
        VerifyingKey::from_bytes(public_key).map_err(|_| MintError::InvalidPublicKey)?;
    let footer = Footer {
        kid: Kid::from_public_key(public_key),
    }
    .to_json();
    let message = serde_json::to_vec(claims).unwrap_or_else(|_| unreachable!("claims serialize"));
    let m2 = pae(&[HEADER.as_bytes(), &message, footer.as_bytes(), b""]);
    let sig = signer.sign(version, &m2).await?;
    if check == SignatureCheck::Verify {
        verifying_key
            .verify_strict(&m2, &Signature::from_bytes(&sig))
            .map_err(|_| MintError::SignatureMismatch)?;
    }

    let mut body = message;
    body.extend_from_slice(&sig);
    let mut token = String::with_capacity(HEADER.len() + (body.len() + footer.len()) * 4 / 3 + 8);
    token.push_str(HEADER);
    URL_SAFE_NO_PAD.encode_string(&body, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(footer.as_bytes(), &mut token);
    Ok(token)
}
