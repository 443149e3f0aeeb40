use super::*;
use time::macros::datetime;

#[test]
fn pkce_s256_matches_rfc7636_example_only() {
    // RFC 7636 appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    assert!(pkce_matches(verifier, challenge));
    assert!(valid_challenge(challenge));
    assert!(!pkce_matches(
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
        challenge
    ));
    // `plain` would compare the verifier itself: never accepted.
    assert!(!pkce_matches(verifier, verifier));
    assert!(!pkce_matches("short", challenge));
    assert!(!valid_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
    ));
    assert!(!valid_challenge(
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
    ));
}

#[test]
fn redirect_uris_match_byte_for_byte() {
    let registered = vec!["https://app.example/cb".to_owned()];
    assert!(redirect_registered(&registered, "https://app.example/cb"));
    for near in [
        "https://app.example/cb/",
        "https://app.example/c",
        "https://APP.example/cb",
        "https://app.example/cb?x=1",
        "https://app.example/cb#",
        "http://app.example/cb",
    ] {
        assert!(!redirect_registered(&registered, near), "{near}");
    }
}

#[test]
fn scopes_and_prompts_parse_strictly() {
    assert_eq!(
        parse_scopes("openid  email openid").unwrap(),
        ["openid", "email"]
    );
    assert!(parse_scopes("openid \"x\"").is_none());
    assert_eq!(parse_scopes("").unwrap(), Vec::<String>::new());
    assert_eq!(Prompt::parse(None), Some(Prompt::default()));
    let both = Prompt::parse(Some("login consent")).unwrap();
    assert!(both.login && both.consent && !both.none);
    assert!(Prompt::parse(Some("none login")).is_none());
    assert!(Prompt::parse(Some("bogus")).is_none());
}

#[test]
fn amr_and_acr_reflect_the_factors() {
    let pwd = amr(&[AuthMethod::Pwd]);
    assert_eq!(pwd, ["pwd"]);
    assert_eq!(acr(&pwd), "urn:permesi:acr:pwd");
    let two = amr(&[AuthMethod::Pwd, AuthMethod::Otp]);
    assert_eq!(two, ["otp", "pwd", "mfa"]);
    assert_eq!(acr(&two), "urn:permesi:acr:mfa");
    assert_eq!(acr(&amr(&[AuthMethod::Hwk])), "urn:permesi:acr:mfa");
}

#[test]
fn pairwise_subjects_differ_per_application_and_are_stable() {
    let key = MacKey::new([1; 32]);
    let user = Uuid::from_u128(7);
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    assert_eq!(
        subject(SubjectType::Public, &key, a, user),
        user.to_string()
    );
    let sa = subject(SubjectType::Pairwise, &key, a, user);
    assert_eq!(sa, subject(SubjectType::Pairwise, &key, a, user));
    assert_ne!(sa, subject(SubjectType::Pairwise, &key, b, user));
    assert_ne!(
        sa,
        subject(SubjectType::Pairwise, &MacKey::new([2; 32]), a, user)
    );
    assert_eq!(format!("{key:?}"), "MacKey([redacted])");
}

#[test]
fn refresh_state_machine() {
    let now = datetime!(2026-01-01 12:00 UTC);
    let fresh = RefreshState {
        used_at: None,
        revoked: false,
        expires_at: now + Duration::days(1),
        successors: 0,
        successor_used: false,
    };
    assert_eq!(decide_refresh(&fresh, now), RefreshDecision::Rotate);
    let just_used = RefreshState {
        used_at: Some(now - Duration::seconds(5)),
        successors: 1,
        ..fresh
    };
    assert_eq!(decide_refresh(&just_used, now), RefreshDecision::Retry);
    let boundary = RefreshState {
        used_at: Some(now - REFRESH_RETRY_WINDOW),
        ..just_used
    };
    assert_eq!(decide_refresh(&boundary, now), RefreshDecision::Retry);
    let late = RefreshState {
        used_at: Some(now - REFRESH_RETRY_WINDOW - Duration::seconds(1)),
        ..just_used
    };
    assert_eq!(decide_refresh(&late, now), RefreshDecision::Reuse);
    let moved_on = RefreshState {
        successor_used: true,
        ..just_used
    };
    assert_eq!(decide_refresh(&moved_on, now), RefreshDecision::Reuse);
    let forked = RefreshState {
        successors: 2,
        ..just_used
    };
    assert_eq!(decide_refresh(&forked, now), RefreshDecision::Reuse);
    let revoked = RefreshState {
        revoked: true,
        ..fresh
    };
    assert_eq!(decide_refresh(&revoked, now), RefreshDecision::Invalid);
    let expired = RefreshState {
        expires_at: now,
        ..fresh
    };
    assert_eq!(decide_refresh(&expired, now), RefreshDecision::Invalid);
}

#[test]
fn successors_are_derived_and_distinct() {
    let key = MacKey::new([9; 32]);
    let a = refresh_successor(&key, "token-a");
    assert_eq!(*a, *refresh_successor(&key, "token-a"));
    assert_ne!(*a, *refresh_successor(&key, "token-b"));
    assert_eq!(a.len(), 43);
}

fn assertion(header: &serde_json::Value, claims: &serde_json::Value) -> jose::Parsed {
    let input = jose::signing_input(header, claims);
    jose::parse(&format!("{input}.c2ln")).unwrap()
}

#[test]
fn client_assertions_need_eddsa_and_tight_claims() {
    let now = datetime!(2026-01-01 12:00 UTC);
    let t = now.unix_timestamp();
    let jwks = serde_json::json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": jose::b64(&[3; 32]), "kid": "k1"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r1"},
    ]});
    let good = serde_json::json!({"iss": "c", "sub": "c", "aud": "https://op/oauth/token",
                                  "exp": t + 60, "jti": "j1"});
    let parsed = assertion(&serde_json::json!({"alg": "EdDSA", "kid": "k1"}), &good);
    assert_eq!(client_key(&jwks, &parsed), Some([3; 32]));
    let (jti, _) = check_assertion_claims(&parsed, "c", &["https://op/oauth/token"], now).unwrap();
    assert_eq!(jti, "j1");
    // alg confusion: none, HMAC with the public key as secret, RSA names, unknown kid.
    for header in [
        serde_json::json!({"alg": "none", "kid": "k1"}),
        serde_json::json!({"alg": "HS256", "kid": "k1"}),
        serde_json::json!({"alg": "RS256", "kid": "r1"}),
        serde_json::json!({"alg": "EdDSA", "kid": "r1"}),
        serde_json::json!({"alg": "EdDSA", "kid": "nope"}),
    ] {
        assert!(
            client_key(&jwks, &assertion(&header, &good)).is_none(),
            "{header}"
        );
    }
    let bad_claims = [
        serde_json::json!({"iss": "x", "sub": "c", "aud": "https://op/oauth/token", "exp": t + 60, "jti": "j"}),
        serde_json::json!({"iss": "c", "sub": "c", "aud": "https://evil/", "exp": t + 60, "jti": "j"}),
        serde_json::json!({"iss": "c", "sub": "c", "aud": "https://op/oauth/token", "exp": t - 1, "jti": "j"}),
        serde_json::json!({"iss": "c", "sub": "c", "aud": "https://op/oauth/token", "exp": t + 301, "jti": "j"}),
        serde_json::json!({"iss": "c", "sub": "c", "aud": "https://op/oauth/token", "exp": t + 60}),
    ];
    for claims in bad_claims {
        let parsed = assertion(&serde_json::json!({"alg": "EdDSA"}), &claims);
        assert!(
            check_assertion_claims(&parsed, "c", &["https://op/oauth/token"], now).is_none(),
            "{claims}"
        );
    }
}

#[test]
fn token_forms_and_basic_credentials_do_not_print_their_secrets() {
    let form = super::provider::TokenForm {
        grant_type: Some("authorization_code".into()),
        client_id: Some("client-1".into()),
        client_secret: Some("secret-value-1".into()),
        code: Some("code-value-2".into()),
        code_verifier: Some("verifier-value-3".into()),
        refresh_token: Some("refresh-value-4".into()),
        client_assertion: Some("assertion-value-5".into()),
        token: Some("token-value-6".into()),
        ..Default::default()
    };
    let basic = super::provider::BasicCredentials {
        client_id: "client-1".into(),
        secret: zeroize::Zeroizing::new("secret-value-7".into()),
    };
    let printed = format!("{form:?} {basic:?}");
    assert!(printed.contains("client-1"), "{printed}");
    assert!(!printed.contains("-value-"), "{printed}");
}
