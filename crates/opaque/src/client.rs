//! The client side, for the CLI, tests, benchmarks and the console (built to WASM).
//!
//! The password is taken as bytes exactly as given (permesi's clients send the UTF-8 of what the
//! user typed, with no trimming or normalization). The KSF is always passed explicitly:
//! [`Params::default`] is permesi's Argon2id (m = 64 MiB, t = 3, p = 4), never opaque-ke's
//! fallback.

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialResponse, Identifiers, RegistrationResponse,
};
use rand::rngs::OsRng;

use crate::suite::{
    ARGON2_M_COST_KIB, ARGON2_P_COST, ARGON2_T_COST, CREDENTIAL_RESPONSE_LEN,
    REGISTRATION_RESPONSE_LEN, SERVER_PUBLIC_KEY_LEN, Suite, b64, ksf_with,
};
use crate::{Error, ExportKey, SessionKey, from_protocol};

/// Client KSF (Argon2id) costs.
///
/// The default is permesi's contract and the only setting a real client may use: a record made
/// with other costs can be opened only with those costs. [`Params::custom`] and
/// [`Params::insecure_fast`] exist for tests and load generators only: a benchmark that runs
/// thousands of logins on 2 cores cannot afford 64 MiB of Argon2 per login on the client side
/// (the server does no password hashing, so the client's KSF would be all that is measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl Default for Params {
    /// permesi's production parameters (see [`crate::suite::ksf`]).
    fn default() -> Self {
        Self {
            m_kib: ARGON2_M_COST_KIB,
            t: ARGON2_T_COST,
            p: ARGON2_P_COST,
        }
    }
}

impl Params {
    /// Other Argon2id costs. For tests and benchmarks only; [`Error::InvalidParams`] if Argon2
    /// rejects them.
    pub fn custom(m_kib: u32, t: u32, p: u32) -> Result<Self, Error> {
        ksf_with(m_kib, t, p).ok_or(Error::InvalidParams)?;
        Ok(Self { m_kib, t, p })
    }

    /// The cheapest useful costs (m = 64 KiB, t = 1, p = 1). Tests and benchmarks only: records
    /// made with it are worthless against offline guessing.
    pub fn insecure_fast() -> Self {
        Self {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    /// Argon2 memory cost in KiB.
    pub fn m_kib(&self) -> u32 {
        self.m_kib
    }

    /// Argon2 iterations.
    pub fn t(&self) -> u32 {
        self.t
    }

    /// Argon2 lanes.
    pub fn p(&self) -> u32 {
        self.p
    }

    fn ksf(self) -> Result<argon2::Argon2<'static>, Error> {
        ksf_with(self.m_kib, self.t, self.p).ok_or(Error::InvalidParams)
    }
}

/// Client state between [`registration_start`] and [`registration_finish`] (in memory only).
pub struct RegistrationState(ClientRegistration<Suite>);

impl core::fmt::Debug for RegistrationState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RegistrationState(<redacted>)")
    }
}

/// Client state between [`login_start`] and [`login_finish`] (in memory only).
pub struct LoginState(ClientLogin<Suite>);

impl core::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LoginState(<redacted>)")
    }
}

/// What [`registration_finish`] produces.
#[derive(Debug)]
pub struct Registration {
    /// The `RegistrationRecord` upload for `signup/finish`, base64url.
    pub upload: String,
    /// The export key (client only).
    pub export_key: ExportKey,
    /// The server static public key the response carried (to pin, if wanted).
    pub server_public_key: [u8; SERVER_PUBLIC_KEY_LEN],
}

/// What [`login_finish`] produces.
#[derive(Debug)]
pub struct Login {
    /// The `KE3` message for `login/finish`, base64url.
    pub finalization: String,
    /// The session key, the same as the server's on success.
    pub session_key: SessionKey,
    /// The export key (client only), the same as at registration.
    pub export_key: ExportKey,
    /// The server static public key, authenticated by the login.
    pub server_public_key: [u8; SERVER_PUBLIC_KEY_LEN],
}

/// Signup step 1: blinds the password. Returns the state and the `RegistrationRequest`
/// (base64url) for `signup/start`.
pub fn registration_start(password: &[u8]) -> Result<(RegistrationState, String), Error> {
    let result =
        ClientRegistration::<Suite>::start(&mut OsRng, password).map_err(|e| from_protocol(&e))?;
    Ok((
        RegistrationState(result.state),
        b64::encode(&result.message.serialize()),
    ))
}

/// Signup step 2 with permesi's KSF: unblinds, runs Argon2id, seals the envelope.
pub fn registration_finish(
    state: RegistrationState,
    response_b64: &str,
    password: &[u8],
) -> Result<Registration, Error> {
    registration_finish_with(state, response_b64, password, Params::default())
}

/// [`registration_finish`] with other KSF costs (tests and benchmarks only).
pub fn registration_finish_with(
    state: RegistrationState,
    response_b64: &str,
    password: &[u8],
    params: Params,
) -> Result<Registration, Error> {
    let bytes = b64::decode_exact::<REGISTRATION_RESPONSE_LEN>(response_b64)?;
    let response =
        RegistrationResponse::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let ksf = params.ksf()?;
    let result = state
        .0
        .finish(
            &mut OsRng,
            password,
            response,
            ClientRegistrationFinishParameters::new(Identifiers::default(), Some(&ksf)),
        )
        .map_err(|e| from_protocol(&e))?;
    Ok(Registration {
        upload: b64::encode(&result.message.serialize()),
        export_key: ExportKey::from_slice(&result.export_key).ok_or(Error::Internal)?,
        server_public_key: public_key_bytes(&result.server_s_pk.serialize())?,
    })
}

/// Login step 1: blinds the password and makes `KE1`. Returns the state and the request
/// (base64url) for `login/start`.
pub fn login_start(password: &[u8]) -> Result<(LoginState, String), Error> {
    let result =
        ClientLogin::<Suite>::start(&mut OsRng, password).map_err(|e| from_protocol(&e))?;
    Ok((
        LoginState(result.state),
        b64::encode(&result.message.serialize()),
    ))
}

/// Login step 2 with permesi's KSF: unblinds, runs Argon2id, opens the envelope and makes `KE3`.
/// A wrong password and an unknown account both give [`Error::AuthenticationFailed`] here.
pub fn login_finish(
    state: LoginState,
    response_b64: &str,
    password: &[u8],
) -> Result<Login, Error> {
    login_finish_with(state, response_b64, password, Params::default())
}

/// [`login_finish`] with other KSF costs (tests and benchmarks only).
pub fn login_finish_with(
    state: LoginState,
    response_b64: &str,
    password: &[u8],
    params: Params,
) -> Result<Login, Error> {
    let bytes = b64::decode_exact::<CREDENTIAL_RESPONSE_LEN>(response_b64)?;
    let response =
        CredentialResponse::<Suite>::deserialize(&bytes).map_err(|_| Error::Malformed)?;
    let ksf = params.ksf()?;
    let result = state
        .0
        .finish(
            &mut OsRng,
            password,
            response,
            ClientLoginFinishParameters::new(None, Identifiers::default(), Some(&ksf)),
        )
        .map_err(|e| from_protocol(&e))?;
    Ok(Login {
        finalization: b64::encode(&result.message.serialize()),
        session_key: SessionKey::from_slice(&result.session_key).ok_or(Error::Internal)?,
        export_key: ExportKey::from_slice(&result.export_key).ok_or(Error::Internal)?,
        server_public_key: public_key_bytes(&result.server_s_pk.serialize())?,
    })
}

fn public_key_bytes(bytes: &[u8]) -> Result<[u8; SERVER_PUBLIC_KEY_LEN], Error> {
    <[u8; SERVER_PUBLIC_KEY_LEN]>::try_from(bytes).map_err(|_| Error::Internal)
}
