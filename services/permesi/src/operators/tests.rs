//! The attempt limit and lockout, as a pure function.

use time::{Duration, OffsetDateTime};

use super::*;

fn t(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(minutes)
}

#[test]
fn three_attempts_per_ten_minutes() {
    let now = t(100);
    assert_eq!(attempt_allowed(&[], now), Ok(()));
    let two = [(t(95), true), (t(96), true)];
    assert_eq!(attempt_allowed(&two, now), Ok(()));
    let three = [(t(95), true), (t(96), true), (t(99), false)];
    // The oldest of the three leaves the window at t(105).
    assert_eq!(attempt_allowed(&three, now), Err(300));
    assert_eq!(attempt_allowed(&three, t(105)), Ok(()));
    // Attempts older than the window do not count.
    let old = [(t(80), false), (t(85), true), (t(99), true)];
    assert_eq!(attempt_allowed(&old, now), Ok(()));
}

#[test]
fn three_failures_within_ten_minutes_lock_for_fifteen() {
    let failures = [(t(90), false), (t(92), false), (t(95), false)];
    // Locked from the third failure, for 15 minutes: until t(110).
    assert_eq!(attempt_allowed(&failures, t(96)), Err(14 * 60));
    assert_eq!(attempt_allowed(&failures, t(105)), Err(5 * 60));
    assert_eq!(attempt_allowed(&failures, t(109)), Err(60));
    assert_eq!(attempt_allowed(&failures, t(110)), Ok(()));
    // Spread over more than ten minutes: no lockout, only the rate.
    let spread = [(t(80), false), (t(86), false), (t(95), false)];
    assert_eq!(attempt_allowed(&spread, t(96)), Ok(()));
}

#[test]
fn successes_do_not_lock_and_future_rows_are_ignored() {
    let mixed = [(t(90), false), (t(91), true), (t(92), false)];
    assert_eq!(attempt_allowed(&mixed, t(101)), Ok(()));
    let future = [(t(200), false), (t(201), false), (t(202), false)];
    assert_eq!(attempt_allowed(&future, t(100)), Ok(()));
}
