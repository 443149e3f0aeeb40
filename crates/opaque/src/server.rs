//! The server side: pure, synchronous, no storage, no clock.
//!
//! The service keeps two things for this module: registration records (returned by
//! [`registration_finish`], stored per account) and login states (returned by [`login_start`],
//! kept for [`LOGIN_STATE_TTL`] at most and taken exactly once, e.g. Valkey `GETDEL`, before
//! [`login_finish`]). Every function that takes a message from the client decodes and checks its
//! size first and returns [`Error::Malformed`] before any account-dependent work.

use hkdf::Hkdf;
use opaque_ke::generic_array::GenericArray;
use opaque_ke::key_exchange::group::Group;
use opaque_ke::{
    CredentialFinalization, CredentialRequest, RegistrationRequest, RegistrationUpload,
    Ristretto255, ServerLogin, ServerLoginParameters, ServerRegistration, ServerSetup,
};
use rand::rngs::OsRng;
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::suite::{
    CREDENTIAL_FINALIZATION_LEN, CREDENTIAL_REQUEST_LEN, LOGIN_STATE_LEN, REGISTRATION_RECORD_LEN,
    REGISTRATION_REQUEST_LEN, REGISTRATION_UPLOAD_LEN, SERVER_PUBLIC_KEY_LEN, Suite, b64,
};
use crate::{Error, SessionKey, from_protocol};

/// How long the service should keep a login state before it expires unused. Long enough for a
/// browser to run Argon2 (64 MiB) on a slow phone, short enough that a stolen `login_id` is
/// useless soon after.
pub const LOGIN_STATE_TTL: core::time::Duration = core::time::Duration::from_mins(2);

/// HKDF-SHA512 salt for deriving the server setup from the seed. Versioned: a new derivation
/// gets a new label, and records made under the old one stay with the old one.
const SETUP_SALT: &[u8] = b"permesi/opaque/server-setup/v1";
const INFO_OPRF_SEED: &[u8] = b"oprf-seed";
const INFO_SERVER_KEYPAIR: &[u8] = b"server-keypair";
const INFO_FAKE_RECORD_KEYPAIR: &[u8] = b"fake-record-keypair";

/// The server's long-term OPAQUE secrets (opaque-ke's `ServerSetup`): the OPRF seed, the AKE
/// static key pair, and the public key put in fake records.
#[derive(Clone)]
pub struct ServerKeys {
    setup: ServerSetup<Suite>,
}

impl ServerKeys {
    /// Derives the whole setup deterministically from a 32-byte seed, so every replica with the
    /// same seed (from the `SecretStore`) answers identically and every record stays valid.
    ///
    /// Derivation (`PRK = HKDF-Extract(salt = "permesi/opaque/server-setup/v1", IKM = seed)`,
    /// SHA-512):
    /// - `oprf_seed = HKDF-Expand(PRK, "oprf-seed", 64)`: opaque-ke derives each account's OPRF
    ///   key from it and the credential identifier (RFC 9807 `CreateRegistrationResponse`).
    /// - server static key pair = RFC 9807 `DeriveDiffieHellmanKeyPair(HKDF-Expand(PRK,
    ///   "server-keypair", 32))`.
    /// - fake-record public key = the same with `"fake-record-keypair"`.
    ///
    /// The three are laid out in opaque-ke's documented `ServerSetup` serialization and
    /// deserialized, so the result does not depend on how opaque-ke consumes an RNG (which a
    /// `ServerSetup::new(&mut seeded_rng)` would, silently changing keys on an upgrade). A
    /// known-answer test pins the derived public key and an OPRF evaluation.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha512>::new(Some(SETUP_SALT), seed);
        let mut bytes = Zeroizing::new([0u8; 64 + 32 + 32]);
        hk.expand(INFO_OPRF_SEED, &mut bytes[..64])
            .expect("64 bytes is a valid HKDF-SHA512 length");
        let server_sk = derive_scalar(&hk, INFO_SERVER_KEYPAIR);
        bytes[64..96].copy_from_slice(&Ristretto255::serialize_sk(&server_sk));
        let fake_sk = derive_scalar(&hk, INFO_FAKE_RECORD_KEYPAIR);
        let fake_record_pk = Ristretto255::public_key(&fake_sk);
        bytes[96..].copy_from_slice(&Ristretto255::serialize_pk(&fake_record_pk));
        let setup = ServerSetup::<Suite>::deserialize(&bytes[..])
            .expect("a derived non-zero scalar and a valid point always deserialize");
        Self { setup }
    }

    /// The server's static public key (sent in every registration response; other clients may
    /// pin it).
    pub fn public_key(&self) -> [u8; SERVER_PUBLIC_KEY_LEN] {
        let mut out = [0u8; SERVER_PUBLIC_KEY_LEN];
        out.copy_from_slice(&self.setup.keypair().public().serialize());
        out
    }
}

fn derive_scalar(hk: &Hkdf<Sha512>, info: &[u8]) -> <Ristretto255 as Group>::Sk {
    let mut seed = Zeroizing::new(GenericArray::default());
    hk.expand(info, &mut seed)
        .expect("32 bytes is a valid HKDF-SHA512 length");
    // Fails only if 256 derivation attempts in a row give zero: probability about 2^-64000.
    Ristretto255::derive_scalar(*seed).expect("DeriveKeyPair finds a non-zero scalar")
}

impl core::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerKeys")
            .field("public_key", &b64::encode(&self.public_key()))
            .finish_non_exhaustive()
    }
}

/// A registration record: what the service stores for an account (RFC 9807 `RegistrationRecord`,
/// [`REGISTRATION_RECORD_LEN`] bytes). Not a password hash, but together with the seed it allows
/// an offline dictionary attack, so treat it as a secret.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RegistrationRecord([u8; REGISTRATION_RECORD_LEN]);

impl RegistrationRecord {
    /// Checks stored bytes (size and group elements); [`Error::CorruptData`] otherwise.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let arr =
            <[u8; REGISTRATION_RECORD_LEN]>::try_from(bytes).map_err(|_| Error::CorruptData)?;
        ServerRegistration::<Suite>::deserialize(&arr).map_err(|_| Error::CorruptData)?;
        Ok(Self(arr))
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; REGISTRATION_RECORD_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for RegistrationRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RegistrationRecord(<redacted>)")
    }
}

/// The server's state between [`login_start`] and [`login_finish`] ([`LOGIN_STATE_LEN`] bytes:
/// the session key and the MAC the client must send). Single use: keep it server side only, for
/// at most [`LOGIN_STATE_TTL`], and delete it when it is read. It is not `Clone`.
#[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct LoginState([u8; LOGIN_STATE_LEN]);

impl LoginState {
    /// Restores a state read back from the service's store; [`Error::CorruptData`] if the size
    /// is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        <[u8; LOGIN_STATE_LEN]>::try_from(bytes)
            .map(Self)
            .map_err(|_| Error::CorruptData)
    }

    /// The bytes to keep (encrypt them at rest if the store is shared).
    pub fn as_bytes(&self) -> &[u8; LOGIN_STATE_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LoginState(<redacted>)")
    }
}

/// Signup step 1: evaluates the client's blinded password under this account's OPRF key.
///
/// `credential_identifier` is the account's stable opaque id (permesi: a keyed blind index of the
/// normalized email, never the email); login must use the same bytes. Returns the
/// `RegistrationResponse`, base64url.
pub fn registration_start(
    keys: &ServerKeys,
    request_b64: &str,
    credential_identifier: &[u8],
) -> Result<String, Error> {
    let bytes = b64::decode_exact::<REGISTRATION_REQUEST_LEN>(request_b64)?;
    let request =
        RegistrationRequest::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let result = ServerRegistration::<Suite>::start(&keys.setup, request, credential_identifier)
        .map_err(|e| from_protocol(&e))?;
    Ok(b64::encode(&result.message.serialize()))
}

/// Signup step 2: checks the client's upload and returns the record to store.
pub fn registration_finish(upload_b64: &str) -> Result<RegistrationRecord, Error> {
    let bytes = b64::decode_exact::<REGISTRATION_UPLOAD_LEN>(upload_b64)?;
    let upload = RegistrationUpload::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let record = ServerRegistration::<Suite>::finish(upload);
    let mut out = [0u8; REGISTRATION_RECORD_LEN];
    out.copy_from_slice(&record.serialize());
    Ok(RegistrationRecord(out))
}

/// Login step 1 (KE1 → KE2). `record` is the stored record, or `None` when no account has this
/// credential identifier: opaque-ke then answers from a fake record (random masking key, the
/// fake-record public key), so the response has the same size, the same OPRF evaluation under
/// the identifier's key and the same work as for a real account, and its finish always fails
/// with [`Error::AuthenticationFailed`].
///
/// Returns the `KE2` message (base64url) and the state to keep until [`login_finish`].
pub fn login_start(
    keys: &ServerKeys,
    record: Option<&[u8]>,
    request_b64: &str,
    credential_identifier: &[u8],
) -> Result<(String, LoginState), Error> {
    let bytes = b64::decode_exact::<CREDENTIAL_REQUEST_LEN>(request_b64)?;
    let request = CredentialRequest::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let record = record
        .map(|r| ServerRegistration::<Suite>::deserialize(r).map_err(|_| Error::CorruptData))
        .transpose()?;
    let result = ServerLogin::start(
        &mut OsRng,
        &keys.setup,
        record,
        request,
        credential_identifier,
        ServerLoginParameters::default(),
    )
    .map_err(|e| from_protocol(&e))?;
    let mut state = [0u8; LOGIN_STATE_LEN];
    state.copy_from_slice(&result.state.serialize());
    Ok((b64::encode(&result.message.serialize()), LoginState(state)))
}

/// Login step 2 (KE3): checks the client's MAC against the state of this very login (consumed)
/// and returns the session key. Wrong password, unknown account and a state from another login
/// all give [`Error::AuthenticationFailed`]; the comparison is constant time.
pub fn login_finish(state: LoginState, finalization_b64: &str) -> Result<SessionKey, Error> {
    let bytes = b64::decode_exact::<CREDENTIAL_FINALIZATION_LEN>(finalization_b64)?;
    let finalization =
        CredentialFinalization::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let server_login =
        ServerLogin::<Suite>::deserialize(&state.0).map_err(|_| Error::CorruptData)?;
    drop(state);
    let result = server_login
        .finish(finalization, ServerLoginParameters::default())
        .map_err(|e| from_protocol(&e))?;
    SessionKey::from_slice(&result.session_key).ok_or(Error::Internal)
}
