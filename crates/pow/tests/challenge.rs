//! Behaviour and property tests for challenges, MACs and the solver.

use std::ops::ControlFlow;

use pow::work::{leading_zero_bits, work_hash};
use pow::{Action, Challenge, Difficulty, MAX_ENCODED_LEN, PowError, PowSecret, solve};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};

fn secret() -> PowSecret {
    PowSecret::new([7u8; 32]).expect("secret")
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
}

fn issue(seed: u64, action: &str, bits: u8) -> Challenge {
    let mut rng = StdRng::seed_from_u64(seed);
    Challenge::issue(
        &secret(),
        Action::new(action).expect("action"),
        Difficulty::new(bits).expect("difficulty"),
        Duration::minutes(5),
        now(),
        &mut rng,
    )
    .expect("issue")
}

fn solve_it(c: &Challenge) -> u64 {
    solve(c, |_| ControlFlow::Continue(())).expect("solution")
}

#[test]
fn happy_path_issue_encode_decode_solve_verify() {
    let c = issue(1, "signup", 10);
    let wire = c.encode();
    assert!(wire.len() <= MAX_ENCODED_LEN);
    let decoded = Challenge::decode(&wire).expect("decode");
    assert_eq!(decoded, c);
    let nonce = solve_it(&decoded);
    decoded
        .verify(&secret(), "signup", nonce, now())
        .expect("verifies");
    assert!(leading_zero_bits(&work_hash(&c.to_bytes(), nonce)) >= 10);
}

#[test]
fn verification_order_and_errors() {
    let c = issue(2, "login", 8);
    let nonce = solve_it(&c);
    let other = PowSecret::new([8u8; 32]).expect("secret");
    assert_eq!(
        c.verify(&other, "login", nonce, now()),
        Err(PowError::BadMac)
    );
    assert_eq!(
        c.verify(&secret(), "signup", nonce, now()),
        Err(PowError::WrongAction)
    );
    let at_expiry = now() + Duration::minutes(5);
    assert_eq!(
        c.verify(&secret(), "login", nonce, at_expiry),
        Err(PowError::Expired)
    );
    let just_before = at_expiry - Duration::seconds(1);
    assert_eq!(c.verify(&secret(), "login", nonce, just_before), Ok(()));
    let too_early = now() - Duration::seconds(31);
    assert_eq!(
        c.verify(&secret(), "login", nonce, too_early),
        Err(PowError::NotYetValid)
    );
    assert_eq!(
        c.verify(&secret(), "login", nonce, now() - Duration::seconds(30)),
        Ok(())
    );
    // The solver returns the first nonce that works, so every smaller one fails.
    if nonce > 0 {
        assert_eq!(
            c.verify(&secret(), "login", nonce - 1, now()),
            Err(PowError::InsufficientWork)
        );
    }
}

#[test]
fn bounds_on_construction() {
    assert_eq!(Difficulty::new(0), Err(PowError::InvalidDifficulty));
    assert!(Difficulty::new(1).is_ok());
    assert!(Difficulty::new(32).is_ok());
    assert_eq!(Difficulty::new(33), Err(PowError::InvalidDifficulty));
    assert_eq!(
        PowSecret::new([0u8; 31]).err(),
        Some(PowError::SecretTooShort)
    );
    assert!(Action::new("a".repeat(64)).is_ok());
    assert_eq!(Action::new("a".repeat(65)), Err(PowError::InvalidAction));
    assert_eq!(Action::new(""), Err(PowError::InvalidAction));
    assert_eq!(Action::new("Signup"), Err(PowError::InvalidAction));
    assert_eq!(Action::new("sign up"), Err(PowError::InvalidAction));
    let mk = |ttl| {
        Challenge::issue(
            &secret(),
            Action::new("x").expect("action"),
            Difficulty::new(4).expect("d"),
            ttl,
            now(),
            &mut StdRng::seed_from_u64(3),
        )
    };
    assert_eq!(mk(Duration::ZERO).err(), Some(PowError::InvalidTtl));
    assert_eq!(
        mk(Duration::hours(1) + Duration::seconds(1)).err(),
        Some(PowError::InvalidTtl)
    );
    assert!(mk(Duration::hours(1)).is_ok());
}

#[test]
fn decoder_bounds_and_layout() {
    assert_eq!(
        Challenge::decode(&"A".repeat(MAX_ENCODED_LEN + 1)),
        Err(PowError::TooLong)
    );
    assert_eq!(Challenge::decode("not base64!"), Err(PowError::Malformed));
    assert_eq!(Challenge::decode(""), Err(PowError::Malformed));
    let c = issue(4, "signup", 4);
    let mut bytes = c.to_bytes();
    bytes.push(0);
    assert_eq!(
        Challenge::from_bytes(&bytes),
        Err(PowError::Malformed),
        "trailing byte"
    );
    let mut bytes = c.to_bytes();
    bytes.pop();
    assert_eq!(
        Challenge::from_bytes(&bytes),
        Err(PowError::Malformed),
        "truncated"
    );
    let mut bytes = c.to_bytes();
    bytes[0] = 2;
    assert_eq!(
        Challenge::from_bytes(&bytes),
        Err(PowError::UnsupportedVersion)
    );
    let mut bytes = c.to_bytes();
    bytes[33] = 33; // difficulty byte
    assert_eq!(
        Challenge::from_bytes(&bytes),
        Err(PowError::InvalidDifficulty)
    );
    let mut bytes = c.to_bytes();
    bytes[33] = 0;
    assert_eq!(
        Challenge::from_bytes(&bytes),
        Err(PowError::InvalidDifficulty)
    );
    // Padding characters are not part of the wire form.
    assert_eq!(
        Challenge::decode(&format!("{}=", c.encode())),
        Err(PowError::Malformed)
    );
}

#[test]
fn serde_uses_the_compact_string() {
    let c = issue(5, "signup", 4);
    let json = serde_json::to_string(&c).expect("json");
    assert_eq!(json, format!("\"{}\"", c.encode()));
    let back: Challenge = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, c);
    assert!(serde_json::from_str::<Challenge>("\"AAAA\"").is_err());
}

#[test]
fn solver_can_be_cancelled() {
    let c = issue(6, "signup", 32);
    let mut calls: u32 = 0;
    let out = solve(&c, |attempts| {
        calls += 1;
        assert_eq!(attempts, u64::from(calls) * pow::PROGRESS_INTERVAL);
        if calls == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    // A 32-bit solution within 3*2^14 attempts is possible but very unlikely for this seed.
    assert_eq!(out, Err(PowError::Cancelled));
    assert_eq!(calls, 3);
}

#[test]
fn debug_redacts_secret() {
    assert_eq!(format!("{:?}", secret()), "PowSecret(<redacted>)");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn solution_found_by_solver_verifies(seed in any::<u64>(), bits in 1u8..=10) {
        let c = issue(seed, "signup", bits);
        let nonce = solve_it(&c);
        prop_assert_eq!(c.verify_solution(nonce), Ok(()));
        prop_assert_eq!(c.verify(&secret(), "signup", nonce, now()), Ok(()));
    }

    #[test]
    fn smaller_nonce_than_first_solution_fails(seed in any::<u64>(), bits in 4u8..=10, pick in any::<u64>()) {
        let c = issue(seed, "signup", bits);
        let nonce = solve_it(&c);
        prop_assume!(nonce > 0);
        let other = pick % nonce;
        prop_assert_eq!(c.verify_solution(other), Err(PowError::InsufficientWork));
    }

    #[test]
    fn changed_nonce_verifies_only_if_its_hash_has_the_work(seed in any::<u64>(), flip in 0u32..64) {
        let c = issue(seed, "signup", 8);
        let nonce = solve_it(&c);
        let changed = nonce ^ (1u64 << flip);
        let enough = leading_zero_bits(&work_hash(&c.to_bytes(), changed)) >= 8;
        prop_assert_eq!(c.verify_solution(changed).is_ok(), enough);
    }

    #[test]
    fn changed_challenge_byte_is_refused(seed in any::<u64>(), idx in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let c = issue(seed, "signup", 6);
        let nonce = solve_it(&c);
        let mut bytes = c.to_bytes();
        let i = idx.index(bytes.len());
        bytes[i] ^= xor;
        // Either the layout no longer parses, or the MAC (or work) check refuses it.
        if let Ok(tampered) = Challenge::from_bytes(&bytes) {
            prop_assert!(tampered.verify(&secret(), "signup", nonce, now()).is_err());
            prop_assert!(tampered.verify_mac(&secret()).is_err());
        }
    }

    #[test]
    fn tampered_mac_is_refused(seed in any::<u64>(), idx in 0usize..32, xor in 1u8..=255) {
        let c = issue(seed, "login", 4);
        let mut bytes = c.to_bytes();
        let at = bytes.len() - 32 + idx;
        bytes[at] ^= xor;
        let tampered = Challenge::from_bytes(&bytes).expect("layout still valid");
        prop_assert_eq!(tampered.verify_mac(&secret()), Err(PowError::BadMac));
    }

    #[test]
    fn encode_decode_roundtrip(seed in any::<u64>(), bits in 1u8..=32, action in "[a-z0-9_.:-]{1,64}", ttl in 1i64..=3600) {
        let mut rng = StdRng::seed_from_u64(seed);
        let c = Challenge::issue(
            &secret(),
            Action::new(action.clone()).expect("action"),
            Difficulty::new(bits).expect("difficulty"),
            Duration::seconds(ttl),
            now(),
            &mut rng,
        ).expect("issue");
        let wire = c.encode();
        prop_assert!(wire.len() <= MAX_ENCODED_LEN);
        let back = Challenge::decode(&wire).expect("decode");
        prop_assert_eq!(&back, &c);
        prop_assert_eq!(back.action().as_str(), action.as_str());
        prop_assert_eq!(back.difficulty().get(), bits);
        prop_assert_eq!(back.expires_at() - back.issued_at(), Duration::seconds(ttl));
        prop_assert_eq!(back.verify_mac(&secret()), Ok(()));
    }

    #[test]
    fn decoder_never_panics_on_garbage(s in "[A-Za-z0-9_-]{0,300}") {
        let _ = Challenge::decode(&s);
    }
}
