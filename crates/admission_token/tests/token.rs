//! Minting, offline verification (happy path and adversarial), keysets, and interop with
//! pasetors.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use admission_token::{
    KeyStatus, Keyset, KeysetError, KeysetSource, Kid, ManualClock, MintError, TokenVerifier,
    Verifier, VerifierConfig, VerifyError, mint, paserk,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUD, ISS, MemSigner, claims, footer_for, sign_raw, signing_key, t0};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

fn verifier() -> Verifier {
    Verifier::new(VerifierConfig::new(ISS, AUD))
}

async fn token_at(signer: &MemSigner, version: u32, action: &str, now: OffsetDateTime) -> String {
    mint(
        signer,
        version,
        &signer.public(version),
        &claims(action, now, 120),
    )
    .await
    .unwrap()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test]
async fn mint_then_verify() {
    let signer = MemSigner::new(1, 2, t0());
    let keyset = signer.keyset(1);
    let token = token_at(&signer, 1, "signup", t0()).await;
    assert!(token.starts_with("v4.public."));
    let footer = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    assert_eq!(
        footer,
        format!(r#"{{"kid":"{}"}}"#, signer.kid(1)).into_bytes()
    );

    let ok = verifier().verify(&token, "signup", &keyset, t0()).unwrap();
    assert_eq!(ok.kid, signer.kid(1));
    assert_eq!(ok.claims.action, "signup");
    assert_eq!(ok.jti().as_str().len(), 22);
    assert_eq!(ok.expires_at(), t0() + Duration::seconds(120));
    assert_eq!(
        ok.replay_ttl(t0(), Duration::seconds(30)),
        Duration::seconds(150)
    );
    // Signed by the `next` key: accepted (prepublished keys are valid).
    let next = token_at(&signer, 2, "signup", t0()).await;
    assert_eq!(
        verifier()
            .verify(&next, "signup", &keyset, t0())
            .unwrap()
            .kid,
        signer.kid(2)
    );
}

#[tokio::test]
async fn refuses_in_the_documented_order() {
    let signer = MemSigner::new(1, 1, t0());
    let keyset = signer.keyset(1);
    let token = token_at(&signer, 1, "signup", t0()).await;
    let v = verifier();
    let err = |t: &str, action: &str, now| v.verify(t, action, &keyset, now).unwrap_err();

    // Wrong issuer / audience / action.
    let other_iss = Verifier::new(VerifierConfig::new("https://evil", AUD));
    assert_eq!(
        other_iss.verify(&token, "signup", &keyset, t0()),
        Err(VerifyError::WrongIssuer)
    );
    let other_aud = Verifier::new(VerifierConfig::new(ISS, "https://other"));
    assert_eq!(
        other_aud
            .verify(&token, "signup", &keyset, t0())
            .unwrap_err()
            .code(),
        "wrong_audience"
    );
    assert_eq!(err(&token, "login", t0()), VerifyError::WrongAction);

    // Expiry with 30 s leeway: exp + 29 s passes, exp + 30 s fails.
    let exp = t0() + Duration::seconds(120);
    assert!(
        v.verify(&token, "signup", &keyset, exp + Duration::seconds(29))
            .is_ok()
    );
    assert_eq!(
        err(&token, "signup", exp + Duration::seconds(30)),
        VerifyError::Expired
    );
    // iat/nbf in the future beyond leeway.
    assert!(
        v.verify(&token, "signup", &keyset, t0() - Duration::seconds(30))
            .is_ok()
    );
    assert_eq!(
        err(&token, "signup", t0() - Duration::seconds(31)),
        VerifyError::NotYetValid
    );

    // Wrong issuer is reported before expiry: claims checks happen in a fixed order.
    assert_eq!(
        other_iss.verify(&token, "signup", &keyset, exp + Duration::hours(1)),
        Err(VerifyError::WrongIssuer)
    );
}

#[tokio::test]
async fn nbf_in_future_is_refused() {
    let signer = MemSigner::new(1, 1, t0());
    let keyset = signer.keyset(1);
    let mut c = claims("signup", t0(), 120);
    c.nbf = t0() + Duration::seconds(60);
    let token = mint(&signer, 1, &signer.public(1), &c).await.unwrap();
    assert_eq!(
        verifier().verify(&token, "signup", &keyset, t0()),
        Err(VerifyError::NotYetValid)
    );
    assert!(
        verifier()
            .verify(&token, "signup", &keyset, t0() + Duration::seconds(30))
            .is_ok()
    );
}

#[tokio::test]
async fn ttl_too_long_is_refused() {
    let signer = MemSigner::new(1, 1, t0());
    let keyset = signer.keyset(1);
    let max = 600;
    let at_max = mint(&signer, 1, &signer.public(1), &claims("signup", t0(), max))
        .await
        .unwrap();
    assert!(verifier().verify(&at_max, "signup", &keyset, t0()).is_ok());
    let over = mint(
        &signer,
        1,
        &signer.public(1),
        &claims("signup", t0(), max + 1),
    )
    .await
    .unwrap();
    let e = verifier()
        .verify(&over, "signup", &keyset, t0())
        .unwrap_err();
    assert_eq!(
        (e.clone(), e.code()),
        (VerifyError::TtlTooLong, "ttl_too_long")
    );
}

#[test]
fn plus_zero_offset_and_fractional_seconds_accepted() {
    let signer = MemSigner::new(1, 1, t0());
    let keyset = signer.keyset(1);
    let sk = signer.key(1);
    let c = claims("signup", t0(), 120);
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("Z\""));
    let plus = json.replace("Z\"", "+00:00\"");
    let token = sign_raw(&sk, plus.as_bytes(), footer_for(&sk).as_bytes());
    let ok = verifier().verify(&token, "signup", &keyset, t0()).unwrap();
    assert_eq!(ok.claims, c);
    let frac = json.replace("Z\"", ".250Z\"");
    let token = sign_raw(&sk, frac.as_bytes(), footer_for(&sk).as_bytes());
    assert!(verifier().verify(&token, "signup", &keyset, t0()).is_ok());
    // Non-RFC-3339 time is malformed (after the signature check).
    let iat = serde_json::to_value(&c).unwrap()["iat"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json.replacen(&iat, "2027-01-15", 1);
    let token = sign_raw(&sk, bad.as_bytes(), footer_for(&sk).as_bytes());
    assert_eq!(
        verifier().verify(&token, "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
}

#[tokio::test]
async fn tampering_is_refused() {
    let signer = MemSigner::new(1, 2, t0());
    let keyset = signer.keyset(1);
    let token = token_at(&signer, 1, "signup", t0()).await;
    let v = verifier();
    let (head_body, footer_b64) = token.rsplit_once('.').unwrap();
    let body_b64 = head_body.strip_prefix("v4.public.").unwrap();
    let body = URL_SAFE_NO_PAD.decode(body_b64).unwrap();

    // Payload: "signup" -> "signuq" keeps valid JSON; the signature no longer matches.
    let mut tampered = body.clone();
    let pos = tampered.windows(6).position(|w| w == b"signup").unwrap();
    tampered[pos + 5] = b'q';
    let t = format!(
        "v4.public.{}.{footer_b64}",
        URL_SAFE_NO_PAD.encode(&tampered)
    );
    assert_eq!(
        v.verify(&t, "signuq", &keyset, t0()),
        Err(VerifyError::BadSignature)
    );
    // Signature byte.
    let mut tampered = body.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let t = format!(
        "v4.public.{}.{footer_b64}",
        URL_SAFE_NO_PAD.encode(&tampered)
    );
    assert_eq!(
        v.verify(&t, "signup", &keyset, t0()),
        Err(VerifyError::BadSignature)
    );

    // Footer naming another known key: the footer is signed, so the signature fails.
    let other = format!(r#"{{"kid":"{}"}}"#, signer.kid(2));
    let t = format!("{head_body}.{}", URL_SAFE_NO_PAD.encode(other));
    assert_eq!(
        v.verify(&t, "signup", &keyset, t0()),
        Err(VerifyError::BadSignature)
    );
    // Footer with an extra field, without footer, not JSON.
    let extra = format!(r#"{{"kid":"{}","x":1}}"#, signer.kid(1));
    let t = format!("{head_body}.{}", URL_SAFE_NO_PAD.encode(extra));
    assert_eq!(
        v.verify(&t, "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        v.verify(head_body, "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
    let t = format!("{head_body}.{}", URL_SAFE_NO_PAD.encode("kid"));
    assert_eq!(
        v.verify(&t, "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
    // Base64 with padding, or a fourth part (implicit assertions are not a wire thing).
    assert_eq!(
        v.verify(&format!("{token}="), "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        v.verify(&format!("{token}.x"), "signup", &keyset, t0()),
        Err(VerifyError::Malformed)
    );
}

#[tokio::test]
async fn unknown_kid_headers_size_and_retired_key() {
    let signer = MemSigner::new(1, 1, t0());
    let keyset = signer.keyset(1);
    let v = verifier();
    let stranger = MemSigner::new(9, 1, t0());
    let foreign = token_at(&stranger, 1, "signup", t0()).await;
    let e = v.verify(&foreign, "signup", &keyset, t0()).unwrap_err();
    assert_eq!(
        (e.clone(), e.code()),
        (VerifyError::UnknownKid, "unknown_kid")
    );

    let token = token_at(&signer, 1, "signup", t0()).await;
    for header in ["v4.local.", "v3.public.", "v2.public.", "V4.PUBLIC.", ""] {
        let t = token.replacen("v4.public.", header, 1);
        let e = v.verify(&t, "signup", &keyset, t0()).unwrap_err();
        assert_eq!(e, VerifyError::UnsupportedHeader, "{header}");
        assert_eq!(e.code(), "unsupported_header");
    }

    let huge = format!("v4.public.{}", "A".repeat(4096));
    assert_eq!(
        v.verify(&huge, "signup", &keyset, t0()),
        Err(VerifyError::TooLarge)
    );
    let mut c = claims("signup", t0(), 120);
    c.iss = format!("{ISS}{}", "x".repeat(2000));
    let big = mint(&signer, 1, &signer.public(1), &c).await.unwrap();
    assert_eq!(
        v.verify(&big, "signup", &keyset, t0()),
        Err(VerifyError::TooLarge)
    );

    // A retiring key with not_after: accepted until not_after + leeway.
    let signer2 = MemSigner::new(1, 2, t0());
    let not_after = t0() + Duration::seconds(60);
    let ks = Keyset::from_versions(&signer2.all_versions(), 2, Some(not_after)).unwrap();
    let old = token_at(&signer2, 1, "signup", t0()).await;
    assert!(
        v.verify(&old, "signup", &ks, not_after + Duration::seconds(30))
            .is_ok()
    );
    assert_eq!(
        v.verify(&old, "signup", &ks, not_after + Duration::seconds(31)),
        Err(VerifyError::RetiredKey)
    );
}

#[tokio::test]
async fn mint_fails_closed() {
    let mut signer = MemSigner::new(1, 1, t0());
    let c = claims("signup", t0(), 120);
    // Unknown version: the signer's error, no token.
    assert!(matches!(
        mint(&signer, 7, &signer.public(1), &c).await,
        Err(MintError::Signer(_))
    ));
    // A backend that signs with another key than the version's.
    signer.wrong_key = Some(signing_key(42, 1));
    assert!(matches!(
        mint(&signer, 1, &signer.public(1), &c).await,
        Err(MintError::SignatureMismatch)
    ));
    signer.wrong_key = None;
    let mut bad = c.clone();
    bad.exp = bad.iat;
    assert!(matches!(
        mint(&signer, 1, &signer.public(1), &bad).await,
        Err(MintError::InvalidClaims)
    ));
}

#[test]
fn keyset_document_and_validation() {
    let signer = MemSigner::new(1, 3, t0());
    let not_after = t0() + Duration::hours(1);
    let ks = Keyset::from_versions(&signer.all_versions(), 2, Some(not_after)).unwrap();
    let statuses: Vec<_> = ks.entries().iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [KeyStatus::Retiring, KeyStatus::Active, KeyStatus::Next]
    );
    assert_eq!(ks.active_kid(), &signer.kid(2));
    assert_eq!(ks.entries()[0].not_after, Some(not_after));

    let json = ks.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["active_kid"], signer.kid(2).as_str());
    assert_eq!(value["keys"][0]["status"], "retiring");
    assert_eq!(value["keys"][1]["status"], "active");
    assert_eq!(value["keys"][2]["status"], "next");
    assert!(
        value["keys"][0]["paserk"]
            .as_str()
            .unwrap()
            .starts_with("k4.public.")
    );
    assert!(value["keys"][1].get("not_after").is_none());
    let back = Keyset::from_json(&json).unwrap();
    assert_eq!(back.to_json(), json);

    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        f(&mut v);
        Keyset::from_json(&v.to_string()).unwrap_err()
    };
    assert!(matches!(
        mutate(&|v| v["keys"][0]["kid"] = v["keys"][2]["kid"].clone()),
        KeysetError::KidMismatch
    ));
    assert!(matches!(
        mutate(&|v| v["keys"][2] = v["keys"][0].clone()),
        KeysetError::DuplicateKid
    ));
    assert!(matches!(
        mutate(&|v| v["keys"][2]["status"] = "active".into()),
        KeysetError::ActiveKey
    ));
    assert!(matches!(
        mutate(&|v| v["active_kid"] = v["keys"][0]["kid"].clone()),
        KeysetError::ActiveKey
    ));
    assert!(matches!(
        mutate(&|v| v["keys"] = serde_json::json!([])),
        KeysetError::KeyCount
    ));
    assert!(matches!(
        mutate(&|v| v["keys"][1]["status"] = "revoked".into()),
        KeysetError::Json(_)
    ));
    assert!(matches!(
        mutate(&|v| v["keys"][1]["paserk"] = "k4.public.AAAA".into()),
        KeysetError::BadPaserk
    ));
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000));
    assert!(matches!(
        Keyset::from_json(&huge),
        Err(KeysetError::TooLarge)
    ));
    assert!(matches!(
        Keyset::from_versions(&signer.all_versions(), 9, None),
        Err(KeysetError::UnknownVersion(9))
    ));
}

#[test]
fn paserk_ids_match_pasetors() {
    use pasetors::keys::AsymmetricPublicKey;
    use pasetors::paserk::{FormatAsPaserk, Id};
    use pasetors::version4::V4;
    for seed in 0u8..8 {
        let pk = signing_key(seed, 1).verifying_key().to_bytes();
        let theirs = AsymmetricPublicKey::<V4>::from(&pk).unwrap();
        let mut their_paserk = String::new();
        theirs.fmt(&mut their_paserk).unwrap();
        let mut their_id = String::new();
        Id::from(&theirs).fmt(&mut their_id).unwrap();
        assert_eq!(paserk::encode_public(&pk), their_paserk);
        assert_eq!(Kid::from_public_key(&pk).as_str(), their_id);
    }
}

/// Our token, verified by pasetors given only the keyset JSON.
#[tokio::test]
async fn pasetors_verifies_our_token_from_keyset_json() {
    use pasetors::claims::ClaimsValidationRules;
    use pasetors::footer::Footer;
    use pasetors::keys::AsymmetricPublicKey;
    use pasetors::token::UntrustedToken;
    use pasetors::version4::V4;
    use pasetors::{Public, public};

    let signer = MemSigner::new(3, 2, t0());
    let keyset_json = signer.keyset(2).to_json();
    let now = OffsetDateTime::now_utc(); // pasetors checks times against the system clock
    let token = token_at(&signer, 2, "signup", now).await;

    let untrusted = UntrustedToken::<Public, V4>::try_from(token.as_str()).unwrap();
    let mut footer = Footer::new();
    footer.parse_bytes(untrusted.untrusted_footer()).unwrap();
    let kid = footer
        .get_claim("kid")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let doc: serde_json::Value = serde_json::from_str(&keyset_json).unwrap();
    let entry = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    let pk = AsymmetricPublicKey::<V4>::try_from(entry["paserk"].as_str().unwrap()).unwrap();

    let mut rules = ClaimsValidationRules::new();
    rules.validate_issuer_with(ISS);
    rules.validate_audience_with(AUD);
    let trusted = public::verify(&pk, &untrusted, &rules, Some(&footer), None).unwrap();
    let claims = trusted.payload_claims().unwrap();
    assert_eq!(claims.get_claim("action").unwrap(), "signup");
    // And with another key from the set it fails.
    let other = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] != kid.as_str())
        .unwrap();
    let other_pk = AsymmetricPublicKey::<V4>::try_from(other["paserk"].as_str().unwrap()).unwrap();
    assert!(public::verify(&other_pk, &untrusted, &rules, Some(&footer), None).is_err());
}

/// A pasetors-minted token, verified by ours.
#[tokio::test]
async fn we_verify_a_pasetors_token() {
    use pasetors::claims::Claims as PClaims;
    use pasetors::footer::Footer;
    use pasetors::keys::{AsymmetricPublicKey, AsymmetricSecretKey};
    use pasetors::paserk::Id;
    use pasetors::public;
    use pasetors::version4::V4;

    let signer = MemSigner::new(4, 1, t0());
    let sk = signer.key(1);
    let secret_theirs = AsymmetricSecretKey::<V4>::from(&sk.to_keypair_bytes()).unwrap();
    let their_pk = AsymmetricPublicKey::<V4>::from(&sk.verifying_key().to_bytes()).unwrap();

    let now = OffsetDateTime::now_utc();
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut c = PClaims::new().unwrap();
    c.issuer(ISS).unwrap();
    c.audience(AUD).unwrap();
    c.issued_at(&fmt(now)).unwrap();
    c.not_before(&fmt(now)).unwrap();
    c.expiration(&fmt(now + Duration::seconds(120))).unwrap();
    c.token_identifier("AAECAwQFBgcICQoLDA0ODw").unwrap();
    c.add_additional("action", "login").unwrap();
    let mut footer = Footer::new();
    footer.key_id(&Id::from(&their_pk));
    let token = public::sign(&secret_theirs, &c, Some(&footer), None).unwrap();

    let keyset = KeysetSource::inline(&signer.keyset(1).to_json()).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let tv = TokenVerifier::new(VerifierConfig::new(ISS, AUD), keyset, clock);
    let ok = tv.verify(&token, "login").await.unwrap();
    assert_eq!(ok.jti().as_str(), "AAECAwQFBgcICQoLDA0ODw");
    assert_eq!(ok.kid, signer.kid(1));
    assert_eq!(
        tv.verify(&token, "signup").await,
        Err(VerifyError::WrongAction)
    );
}

#[tokio::test]
async fn file_source() {
    let signer = MemSigner::new(5, 1, t0());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paserk.json");
    std::fs::write(&path, signer.keyset(1).to_json()).unwrap();
    let source = KeysetSource::file(&path).unwrap();
    let tv = TokenVerifier::new(
        VerifierConfig::new(ISS, AUD),
        source,
        Arc::new(ManualClock::new(t0())),
    );
    let token = token_at(&signer, 1, "signup", t0()).await;
    assert!(tv.verify(&token, "signup").await.is_ok());
    assert!(KeysetSource::file(dir.path().join("missing.json")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single-character change to a valid token is refused.
    #[test]
    fn any_changed_character_is_refused(idx in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.-]") {
        let signer = MemSigner::new(1, 1, t0());
        let keyset = signer.keyset(1);
        let token = block_on(token_at(&signer, 1, "signup", t0()));
        let i = idx.index(token.len());
        let mut changed = token.clone().into_bytes();
        changed[i] = c.as_bytes()[0];
        let changed = String::from_utf8(changed).unwrap();
        prop_assume!(changed != token);
        prop_assert!(verifier().verify(&changed, "signup", &keyset, t0()).is_err());
    }
}
