//! The cipher suite, the client KSF parameters, the wire encoding and the size of every message.
//!
//! Everything here is part of the contract with other RFC 9807 clients: changing any of it
//! invalidates every stored registration record (users would have to register again).

use opaque_ke::CipherSuite;
use opaque_ke::Ristretto255;
use opaque_ke::TripleDh;

/// permesi's OPAQUE cipher suite (RFC 9807 §7 "ristretto255-SHA512" with Argon2id as the KSF).
///
/// - OPRF: ristretto255-SHA512 (RFC 9497).
/// - AKE: 3DH over ristretto255 with SHA-512 (HKDF-SHA512, HMAC-SHA512).
/// - KSF: Argon2id, run on the client only, with [`ARGON2_M_COST_KIB`], [`ARGON2_T_COST`],
///   [`ARGON2_P_COST`] (see [`ksf`]).
#[derive(Debug, Clone, Copy)]
pub struct Suite;

impl CipherSuite for Suite {
    type OprfCs = Ristretto255;
    type KeyExchange = TripleDh<Ristretto255, sha2::Sha512>;
    type Ksf = argon2::Argon2<'static>;
}

/// Argon2id memory cost in KiB (64 MiB).
pub const ARGON2_M_COST_KIB: u32 = 65_536;
/// Argon2id iterations.
pub const ARGON2_T_COST: u32 = 3;
/// Argon2id lanes (computed one after another in WASM; the result is the same).
pub const ARGON2_P_COST: u32 = 4;
/// Argon2 salt used by the KSF: 16 zero bytes (the OPRF output is already unique per user and
/// server, so the KSF needs no salt of its own; this is what opaque-ke does).
pub const ARGON2_SALT: [u8; 16] = [0; 16];

/// The KSF with permesi's parameters: Argon2id, version 0x13, m = 65536 KiB, t = 3, p = 4,
/// over the 64-byte OPRF output, salt [`ARGON2_SALT`], 64-byte output.
///
/// Never use `Argon2::default()` (opaque-ke's fallback when no KSF is passed): its parameters
/// differ, and a record made with one cannot be opened with the other.
pub fn ksf() -> argon2::Argon2<'static> {
    ksf_with(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST)
        .expect("permesi's Argon2id parameters are valid")
}

/// Argon2id with the given costs, or `None` when argon2 rejects them.
pub(crate) fn ksf_with(m_kib: u32, t: u32, p: u32) -> Option<argon2::Argon2<'static>> {
    let params = argon2::Params::new(m_kib, t, p, None).ok()?;
    Some(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// `RegistrationRequest`: blinded element (Noe = 32).
pub const REGISTRATION_REQUEST_LEN: usize = 32;
/// `RegistrationResponse`: evaluated element (Noe = 32) || server public key (Npk = 32).
pub const REGISTRATION_RESPONSE_LEN: usize = 64;
/// `RegistrationRecord` (the upload): client public key (Npk = 32) || masking key (Nh = 64) ||
/// envelope (nonce Nn = 32 || auth tag Nm = 64).
pub const REGISTRATION_UPLOAD_LEN: usize = 192;
/// The stored registration record is the upload, byte for byte.
pub const REGISTRATION_RECORD_LEN: usize = REGISTRATION_UPLOAD_LEN;
/// `KE1`: blinded element (32) || client nonce (32) || client ephemeral public key (32).
pub const CREDENTIAL_REQUEST_LEN: usize = 96;
/// `KE2`: evaluated element (32) || masking nonce (32) || masked response (Npk + Nn + Nm = 128)
/// || server nonce (32) || server ephemeral public key (32) || server MAC (64).
pub const CREDENTIAL_RESPONSE_LEN: usize = 320;
/// `KE3`: client MAC (Nm = 64).
pub const CREDENTIAL_FINALIZATION_LEN: usize = 64;
/// The server's login state between start and finish: session key (64) || expected client
/// MAC (64). Kept server side only.
pub const LOGIN_STATE_LEN: usize = 128;
/// Session key (Nx = 64).
pub const SESSION_KEY_LEN: usize = 64;
/// Export key (Nh = 64), client side only.
pub const EXPORT_KEY_LEN: usize = 64;
/// Server static public key (Npk = 32).
pub const SERVER_PUBLIC_KEY_LEN: usize = 32;

/// The wire encoding: base64url without padding (RFC 4648 §5), strict, with the size checked
/// before any decoding.
pub mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::Error;

    /// Encodes bytes as base64url without padding.
    pub fn encode(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Length of the unpadded base64url encoding of `n` bytes.
    pub const fn encoded_len(n: usize) -> usize {
        (n * 4).div_ceil(3)
    }

    /// Decodes exactly `N` bytes. Anything else (wrong length, padding, standard alphabet,
    /// whitespace, non-canonical trailing bits) is [`Error::Malformed`]; the length is checked
    /// before decoding, so oversized input costs nothing.
    pub fn decode_exact<const N: usize>(s: &str) -> Result<[u8; N], Error> {
        if s.len() != encoded_len(N) {
            return Err(Error::Malformed);
        }
        let mut out = [0u8; N];
        match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut out) {
            Ok(n) if n == N => Ok(out),
            _ => Err(Error::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use opaque_ke::generic_array::typenum::Unsigned;
    use opaque_ke::{
        CredentialFinalizationLen, CredentialRequestLen, CredentialResponseLen,
        RegistrationRequestLen, RegistrationResponseLen, RegistrationUploadLen,
        ServerRegistrationLen,
    };

    use super::*;

    #[test]
    fn message_lengths_match_opaque_ke_for_this_suite() {
        assert_eq!(
            RegistrationRequestLen::<Suite>::USIZE,
            REGISTRATION_REQUEST_LEN
        );
        assert_eq!(
            RegistrationResponseLen::<Suite>::USIZE,
            REGISTRATION_RESPONSE_LEN
        );
        assert_eq!(
            RegistrationUploadLen::<Suite>::USIZE,
            REGISTRATION_UPLOAD_LEN
        );
        assert_eq!(
            ServerRegistrationLen::<Suite>::USIZE,
            REGISTRATION_RECORD_LEN
        );
        assert_eq!(CredentialRequestLen::<Suite>::USIZE, CREDENTIAL_REQUEST_LEN);
        assert_eq!(
            CredentialResponseLen::<Suite>::USIZE,
            CREDENTIAL_RESPONSE_LEN
        );
        assert_eq!(
            CredentialFinalizationLen::<Suite>::USIZE,
            CREDENTIAL_FINALIZATION_LEN
        );
    }

    #[test]
    fn message_lengths_are_rfc_9807_for_ristretto255_sha512() {
        // RFC 9807: Noe = Npk = Nn = 32, Nh = Nm = Nx = 64, Envelope = Nn + Nm.
        let (noe, npk, nn, nh, nm) = (32, 32, 32, 64, 64);
        let envelope = nn + nm;
        assert_eq!(REGISTRATION_REQUEST_LEN, noe);
        assert_eq!(REGISTRATION_RESPONSE_LEN, noe + npk);
        assert_eq!(REGISTRATION_RECORD_LEN, npk + nh + envelope);
        assert_eq!(CREDENTIAL_REQUEST_LEN, noe + nn + npk);
        assert_eq!(
            CREDENTIAL_RESPONSE_LEN,
            noe + nn + (npk + envelope) + nn + npk + nm
        );
        assert_eq!(CREDENTIAL_FINALIZATION_LEN, nm);
    }

    #[test]
    fn ksf_is_argon2id_with_the_documented_costs() {
        let ksf = ksf();
        let p = ksf.params();
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (65_536, 3, 4),
            "documented in README.md"
        );
        // Known answer: Argon2id v0x13 over a fixed 64-byte input with the zero salt, via the
        // same path opaque-ke uses (`hash_password_into`), so a change of algorithm, version or
        // salt is caught. Cheap costs keep the test fast; the costs are checked above.
        let cheap = ksf_with(64, 1, 1).unwrap();
        let mut out = [0u8; 64];
        cheap
            .hash_password_into(&[7u8; 64], &ARGON2_SALT, &mut out)
            .unwrap();
        let mut again = [0u8; 64];
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password_into(&[7u8; 64], &[0u8; 16], &mut again)
        .unwrap();
        assert_eq!(out, again);
        let argon2i = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(64, 1, 1, None).unwrap(),
        );
        let mut other = [0u8; 64];
        argon2i
            .hash_password_into(&[7u8; 64], &[0u8; 16], &mut other)
            .unwrap();
        assert_ne!(out, other);
    }

    #[test]
    fn b64_round_trips_and_is_url_safe_without_padding() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let s = b64::encode(&bytes[..32]);
        assert_eq!(s.len(), 43);
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        let back: [u8; 32] = b64::decode_exact(&s).unwrap();
        assert_eq!(back[..], bytes[..32]);
        assert_eq!(b64::encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn b64_encoded_lengths_of_each_message() {
        assert_eq!(b64::encoded_len(REGISTRATION_REQUEST_LEN), 43);
        assert_eq!(b64::encoded_len(REGISTRATION_RESPONSE_LEN), 86);
        assert_eq!(b64::encoded_len(REGISTRATION_UPLOAD_LEN), 256);
        assert_eq!(b64::encoded_len(CREDENTIAL_REQUEST_LEN), 128);
        assert_eq!(b64::encoded_len(CREDENTIAL_RESPONSE_LEN), 427);
        assert_eq!(b64::encoded_len(CREDENTIAL_FINALIZATION_LEN), 86);
    }

    #[test]
    fn b64_rejects_wrong_sizes_and_non_canonical_forms() {
        use crate::Error;
        let good = b64::encode(&[1u8; 32]);
        // One character short, one too many, far too long.
        assert_eq!(b64::decode_exact::<32>(&good[..42]), Err(Error::Malformed));
        assert_eq!(
            b64::decode_exact::<32>(&format!("{good}A")),
            Err(Error::Malformed)
        );
        assert_eq!(
            b64::decode_exact::<32>(&"A".repeat(1 << 20)),
            Err(Error::Malformed)
        );
        // Padding, standard alphabet, whitespace.
        assert_eq!(
            b64::decode_exact::<32>(&format!("{}=", &good[..42])),
            Err(Error::Malformed)
        );
        let std_alphabet = format!("+/{}", &good[2..]);
        assert_eq!(
            b64::decode_exact::<32>(&std_alphabet),
            Err(Error::Malformed)
        );
        assert_eq!(
            b64::decode_exact::<32>(&format!(" {}", &good[1..])),
            Err(Error::Malformed)
        );
        // Non-zero trailing bits in the last character (43 chars carry 258 bits for 256).
        let mut chars: Vec<char> = good.chars().collect();
        chars[42] = 'B';
        let tampered: String = chars.into_iter().collect();
        assert_eq!(b64::decode_exact::<32>(&tampered), Err(Error::Malformed));
        assert_eq!(b64::decode_exact::<32>(""), Err(Error::Malformed));
    }
}
