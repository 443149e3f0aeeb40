//! Behavioural tests of permesi's OPAQUE contract, through the public API only: a client and a
//! server exchanging the base64url strings that travel on the wire.

use opaque::client::{self, Params};
use opaque::server::{self, LoginState, RegistrationRecord, ServerKeys};
use opaque::suite::{self, b64};
use opaque::{Error, SessionKey};

const SEED: [u8; 32] = [0x42; 32];
const CID: &[u8] = b"blind-index-of-alice@example.com";
const PASSWORD: &[u8] = b"correct horse battery staple";

fn fast() -> Params {
    Params::insecure_fast()
}

fn signup(keys: &ServerKeys, cid: &[u8], password: &[u8], params: Params) -> RegistrationRecord {
    let (state, request) = client::registration_start(password).expect("blind");
    let response = server::registration_start(keys, &request, cid).expect("evaluate");
    let reg = client::registration_finish_with(state, &response, password, params).expect("seal");
    server::registration_finish(&reg.upload).expect("record")
}

/// Runs a login up to the client's finish; returns the server state, the KE2 and the client's
/// result.
fn run_login(
    keys: &ServerKeys,
    record: Option<&RegistrationRecord>,
    cid: &[u8],
    password: &[u8],
) -> (LoginState, String, Result<client::Login, Error>) {
    let (state, request) = client::login_start(password).expect("KE1");
    let (response, server_state) =
        server::login_start(keys, record.map(|r| &r.as_bytes()[..]), &request, cid).expect("KE2");
    let result = client::login_finish_with(state, &response, password, fast());
    (server_state, response, result)
}

/// A finalization an attacker can send without the password: any 64 bytes.
fn forged_finalization() -> String {
    b64::encode(&[0xa5; suite::CREDENTIAL_FINALIZATION_LEN])
}

#[test]
fn signup_then_login_with_production_argon2_agrees_on_the_session_key() {
    let keys = ServerKeys::from_seed(&SEED);
    let (state, request) = client::registration_start(PASSWORD).unwrap();
    let response = server::registration_start(&keys, &request, CID).unwrap();
    let reg = client::registration_finish(state, &response, PASSWORD).unwrap();
    assert_eq!(reg.server_public_key, keys.public_key());
    let record = server::registration_finish(&reg.upload).unwrap();

    let (state, request) = client::login_start(PASSWORD).unwrap();
    let (response, server_state) =
        server::login_start(&keys, Some(record.as_bytes()), &request, CID).unwrap();
    let login = client::login_finish(state, &response, PASSWORD).unwrap();
    let server_key = server::login_finish(server_state, &login.finalization).unwrap();
    assert_eq!(server_key, login.session_key);
    assert_eq!(login.export_key, reg.export_key);
    assert_eq!(login.server_public_key, keys.public_key());

    // The KSF is really part of the credential: the same password with other Argon2 costs
    // does not open the envelope.
    let (_, _, cheap) = run_login(&keys, Some(&record), CID, PASSWORD);
    assert_eq!(cheap.unwrap_err(), Error::AuthenticationFailed);
}

#[test]
fn two_logins_give_different_session_keys() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let mut keys_seen: Vec<SessionKey> = Vec::new();
    for _ in 0..2 {
        let (state, _, result) = run_login(&keys, Some(&record), CID, PASSWORD);
        let login = result.unwrap();
        let key = server::login_finish(state, &login.finalization).unwrap();
        assert_eq!(key, login.session_key);
        keys_seen.push(key);
    }
    assert_ne!(keys_seen[0], keys_seen[1]);
}

#[test]
fn wrong_password_fails_on_both_sides_with_authentication_failed() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (state, _, result) = run_login(&keys, Some(&record), CID, b"correct horse battery stapler");
    assert_eq!(result.unwrap_err(), Error::AuthenticationFailed);
    // A client that cannot open the envelope can only forge KE3.
    assert_eq!(
        server::login_finish(state, &forged_finalization()).unwrap_err(),
        Error::AuthenticationFailed
    );
}

#[test]
fn unknown_account_is_indistinguishable_and_fails_with_the_same_error() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (known_state, known_response, _) = run_login(&keys, Some(&record), CID, b"wrong");
    let unknown_cid = b"blind-index-of-nobody@example.com";
    let (unknown_state, unknown_response, client_result) =
        run_login(&keys, None, unknown_cid, PASSWORD);

    assert_eq!(unknown_response.len(), known_response.len());
    assert_eq!(
        unknown_response.len(),
        b64::encoded_len(suite::CREDENTIAL_RESPONSE_LEN)
    );
    assert_eq!(known_state.as_bytes().len(), unknown_state.as_bytes().len());
    // The client sees the same failure as for a wrong password.
    assert_eq!(client_result.unwrap_err(), Error::AuthenticationFailed);

    let known_err = server::login_finish(known_state, &forged_finalization()).unwrap_err();
    let unknown_err = server::login_finish(unknown_state, &forged_finalization()).unwrap_err();
    assert_eq!(known_err, Error::AuthenticationFailed);
    assert_eq!(unknown_err, known_err);
    assert_eq!(unknown_err.code(), known_err.code());
}

#[test]
fn unknown_account_oprf_evaluation_is_stable_like_a_real_one() {
    // A real account answers the same blinded element with the same evaluated element every
    // time (the OPRF key is derived from the credential identifier). The fake path must too,
    // or two probes with the same KE1 would reveal that the account does not exist.
    let keys = ServerKeys::from_seed(&SEED);
    let (_, request) = client::login_start(PASSWORD).unwrap();
    let cid = b"blind-index-of-nobody@example.com";
    let evaluated = |resp: &str| b64_decode_ke2(resp)[..32].to_vec();
    let (a, _) = server::login_start(&keys, None, &request, cid).unwrap();
    let (b, _) = server::login_start(&keys, None, &request, cid).unwrap();
    assert_eq!(evaluated(&a), evaluated(&b));
    // ...while the rest of KE2 is fresh each time, as for a real account.
    assert_ne!(a[43..], b[43..]);
}

fn b64_decode_ke2(s: &str) -> [u8; suite::CREDENTIAL_RESPONSE_LEN] {
    b64::decode_exact(s).expect("KE2 decodes")
}

#[test]
fn the_same_seed_gives_interchangeable_keys_and_another_seed_does_not() {
    let replica_a = ServerKeys::from_seed(&SEED);
    let replica_b = ServerKeys::from_seed(&SEED);
    let other = ServerKeys::from_seed(&[0x43; 32]);
    assert_eq!(replica_a.public_key(), replica_b.public_key());
    assert_ne!(replica_a.public_key(), other.public_key());

    let record = signup(&replica_a, CID, PASSWORD, fast());
    let (state, _, result) = run_login(&replica_b, Some(&record), CID, PASSWORD);
    let login = result.unwrap();
    assert_eq!(
        server::login_finish(state, &login.finalization).unwrap(),
        login.session_key
    );

    let (state, _, result) = run_login(&other, Some(&record), CID, PASSWORD);
    assert_eq!(result.unwrap_err(), Error::AuthenticationFailed);
    assert_eq!(
        server::login_finish(state, &forged_finalization()).unwrap_err(),
        Error::AuthenticationFailed
    );
}

#[test]
fn a_record_only_works_under_its_own_credential_identifier() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (_, _, result) = run_login(&keys, Some(&record), b"blind-index-of-mallory", PASSWORD);
    assert_eq!(result.unwrap_err(), Error::AuthenticationFailed);
}

#[test]
fn login_state_is_bound_to_its_own_login() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (state_1, _, result_1) = run_login(&keys, Some(&record), CID, PASSWORD);
    let (state_2, _, result_2) = run_login(&keys, Some(&record), CID, PASSWORD);
    let (login_1, login_2) = (result_1.unwrap(), result_2.unwrap());
    // Crossed: each finalization against the other login's state.
    assert_eq!(
        server::login_finish(state_2, &login_1.finalization).unwrap_err(),
        Error::AuthenticationFailed
    );
    // The state survives a round trip through the store; the right pairing works.
    let stored = state_1.as_bytes().to_vec();
    assert_eq!(stored.len(), suite::LOGIN_STATE_LEN);
    let restored = LoginState::from_bytes(&stored).unwrap();
    assert_eq!(
        server::login_finish(restored, &login_1.finalization).unwrap(),
        login_1.session_key
    );
    drop(login_2);
}

#[test]
fn tampered_finalization_fails() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (state, _, result) = run_login(&keys, Some(&record), CID, PASSWORD);
    let mut fin: [u8; 64] = b64::decode_exact(&result.unwrap().finalization).unwrap();
    fin[63] ^= 1;
    assert_eq!(
        server::login_finish(state, &b64::encode(&fin)).unwrap_err(),
        Error::AuthenticationFailed
    );
}

#[test]
fn malformed_or_oversized_messages_are_rejected_as_malformed() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (_, reg_request) = client::registration_start(PASSWORD).unwrap();
    let (_, login_request) = client::login_start(PASSWORD).unwrap();
    let huge = "A".repeat(1 << 20);
    let identity = b64::encode(&[0u8; 32]); // ristretto255 identity: not a valid blinded element
    let not_a_point = b64::encode(&[0xff; 32]);

    for bad in [
        "",
        "!!!!",
        huge.as_str(),
        &reg_request[..42],
        &format!("{reg_request}A"),
        &format!("{reg_request}="),
        identity.as_str(),
        not_a_point.as_str(),
    ] {
        assert_eq!(
            server::registration_start(&keys, bad, CID),
            Err(Error::Malformed),
            "{bad:.50}"
        );
    }
    for bad in [
        huge.as_str(),
        &login_request[1..],
        &format!("{login_request}AAAA"),
    ] {
        for rec in [Some(&record.as_bytes()[..]), None] {
            assert_eq!(
                server::login_start(&keys, rec, bad, CID).unwrap_err(),
                Error::Malformed,
                "{bad:.50}"
            );
        }
    }
    // KE1 whose blinded element is the identity.
    let mut ke1: [u8; 96] = b64::decode_exact(&login_request).unwrap();
    ke1[..32].fill(0);
    assert_eq!(
        server::login_start(&keys, None, &b64::encode(&ke1), CID).unwrap_err(),
        Error::Malformed
    );
    // Upload whose client public key is not a point.
    let mut upload = [0u8; suite::REGISTRATION_UPLOAD_LEN];
    upload.copy_from_slice(record.as_bytes());
    upload[..32].fill(0xff);
    assert_eq!(
        server::registration_finish(&b64::encode(&upload)).unwrap_err(),
        Error::Malformed
    );
    assert_eq!(
        server::registration_finish(&huge).unwrap_err(),
        Error::Malformed
    );

    let (state, _, _) = run_login(&keys, Some(&record), CID, PASSWORD);
    assert_eq!(
        server::login_finish(state, &huge).unwrap_err(),
        Error::Malformed
    );

    // The client rejects bad server messages the same way.
    let (state, _) = client::login_start(PASSWORD).unwrap();
    assert_eq!(
        client::login_finish(state, &huge, PASSWORD).unwrap_err(),
        Error::Malformed
    );
    let (state, _) = client::registration_start(PASSWORD).unwrap();
    assert_eq!(
        client::registration_finish(state, "AAAA", PASSWORD).unwrap_err(),
        Error::Malformed
    );
}

#[test]
fn corrupt_stored_data_is_a_server_fault_not_an_auth_failure() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (_, request) = client::login_start(PASSWORD).unwrap();
    let short = &record.as_bytes()[..100];
    assert_eq!(
        server::login_start(&keys, Some(short), &request, CID).unwrap_err(),
        Error::CorruptData
    );
    assert_eq!(
        RegistrationRecord::from_bytes(short).unwrap_err(),
        Error::CorruptData
    );
    assert_eq!(
        RegistrationRecord::from_bytes(record.as_bytes()).unwrap(),
        record
    );
    assert_eq!(
        LoginState::from_bytes(&[0; 127]).unwrap_err(),
        Error::CorruptData
    );
    assert_eq!(
        LoginState::from_bytes(&[0; 129]).unwrap_err(),
        Error::CorruptData
    );
}

#[test]
fn every_message_has_its_documented_size() {
    let keys = ServerKeys::from_seed(&SEED);
    let len = |s: &str| -> usize { s.len() };
    let (state, request) = client::registration_start(PASSWORD).unwrap();
    assert_eq!(
        len(&request),
        b64::encoded_len(suite::REGISTRATION_REQUEST_LEN)
    );
    let response = server::registration_start(&keys, &request, CID).unwrap();
    assert_eq!(
        len(&response),
        b64::encoded_len(suite::REGISTRATION_RESPONSE_LEN)
    );
    let reg = client::registration_finish_with(state, &response, PASSWORD, fast()).unwrap();
    assert_eq!(
        len(&reg.upload),
        b64::encoded_len(suite::REGISTRATION_UPLOAD_LEN)
    );
    let record = server::registration_finish(&reg.upload).unwrap();
    assert_eq!(record.as_bytes().len(), suite::REGISTRATION_RECORD_LEN);
    // The stored record is the upload, byte for byte.
    assert_eq!(b64::encode(record.as_bytes()), reg.upload);

    let (state, request) = client::login_start(PASSWORD).unwrap();
    assert_eq!(
        len(&request),
        b64::encoded_len(suite::CREDENTIAL_REQUEST_LEN)
    );
    let (response, server_state) =
        server::login_start(&keys, Some(record.as_bytes()), &request, CID).unwrap();
    assert_eq!(
        len(&response),
        b64::encoded_len(suite::CREDENTIAL_RESPONSE_LEN)
    );
    assert_eq!(server_state.as_bytes().len(), suite::LOGIN_STATE_LEN);
    let login = client::login_finish_with(state, &response, PASSWORD, fast()).unwrap();
    assert_eq!(
        len(&login.finalization),
        b64::encoded_len(suite::CREDENTIAL_FINALIZATION_LEN)
    );
    assert_eq!(login.session_key.as_bytes().len(), suite::SESSION_KEY_LEN);
    assert_eq!(login.export_key.as_bytes().len(), suite::EXPORT_KEY_LEN);
}

/// Known answers: they pin the seed derivation (HKDF labels, DeriveDiffieHellmanKeyPair) and the
/// OPRF key derivation, so an upgrade of opaque-ke or a change here that would silently
/// invalidate every stored record fails this test instead.
#[test]
fn known_answers_for_the_seed_derivation_and_the_suite() {
    let keys = ServerKeys::from_seed(&SEED);
    assert_eq!(
        hex(&keys.public_key()),
        "6e2d544ad24c005fa4bce8e4031de971360dc62c0e51cf8a3db4d1ad06879801"
    );
    // The ristretto255 base point as a blinded element: the response is its evaluation under
    // the OPRF key derived for credential identifier "kat" (32 bytes) || the server public key.
    let base_point = unhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76");
    let request = b64::encode(&base_point);
    assert_eq!(
        request.len(),
        43,
        "a registration request is one 32-byte element"
    );
    let response = server::registration_start(&keys, &request, b"kat").unwrap();
    assert_eq!(
        response,
        "quh1dpYBSvMeUR-R72h-61qk-kzgKl0uxbDMX4ICyBVuLVRK0kwAX6S86OQDHelxNg3GLA5Rz4o9tNGtBoeYAQ"
    );
    let bytes: [u8; 64] = b64::decode_exact(&response).unwrap();
    assert_eq!(bytes[32..], keys.public_key());
}

#[test]
fn debug_output_never_shows_secrets() {
    let keys = ServerKeys::from_seed(&SEED);
    let record = signup(&keys, CID, PASSWORD, fast());
    let (state, _, result) = run_login(&keys, Some(&record), CID, PASSWORD);
    let login = result.unwrap();
    let shown = format!("{keys:?} {record:?} {state:?} {login:?}");
    assert!(shown.contains("RegistrationRecord(<redacted>)"));
    assert!(shown.contains("LoginState(<redacted>)"));
    assert!(shown.contains("SessionKey(<redacted>)"));
    assert!(shown.contains("ExportKey(<redacted>)"));
    // Nothing of the record, the state or the keys, in hex or as a byte list.
    for secret in [
        &record.as_bytes()[..],
        &state.as_bytes()[..],
        &login.session_key.as_bytes()[..],
    ] {
        assert!(!shown.contains(&hex(&secret[..8])));
        assert!(
            !shown.contains(
                &format!("{:?}", &secret[..8])
                    .trim_end_matches(']')
                    .to_string()
            )
        );
    }
}

#[test]
fn params_reject_what_argon2_rejects() {
    assert_eq!(Params::custom(1, 1, 1).unwrap_err(), Error::InvalidParams);
    assert_eq!(Params::custom(64, 0, 1).unwrap_err(), Error::InvalidParams);
    let p = Params::custom(256, 2, 1).unwrap();
    assert_eq!((p.m_kib(), p.t(), p.p()), (256, 2, 1));
    let d = Params::default();
    assert_eq!(
        (d.m_kib(), d.t(), d.p()),
        (
            suite::ARGON2_M_COST_KIB,
            suite::ARGON2_T_COST,
            suite::ARGON2_P_COST
        )
    );
    assert_ne!(Params::insecure_fast(), Params::default());
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}
