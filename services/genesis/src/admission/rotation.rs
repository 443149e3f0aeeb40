//! Which signing key version is active, which are prepublished, which are still published
//! after retirement. Pure: versions and a clock in, a plan out.
//!
//! A new version is published as `next` for `prepublish` before it signs anything, so every
//! verifier's cached keyset (TTL 5 minutes by default) knows it before the first token it signs.
//! A version that stopped signing stays published as `retiring` until the last token it signed
//! has expired (`retire_after` = longest token TTL + leeway after its successor took over).

use admission_token::KeyStatus;
use keys::VerifyingKeyVersion;
use time::{Duration, OffsetDateTime};

/// Rotation timing.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// How long a new version is published before it signs.
    pub prepublish: Duration,
    /// How long a version stays published after its successor started signing.
    pub retire_after: Duration,
}

/// One published version and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The key version.
    pub key: VerifyingKeyVersion,
    /// `active`, `next` or `retiring`.
    pub status: KeyStatus,
    /// For a retiring key: when verifiers stop accepting it.
    pub not_after: Option<OffsetDateTime>,
}

/// The keys to publish and the one to sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlan {
    /// The version that signs new tokens.
    pub active: VerifyingKeyVersion,
    /// Every version to publish, oldest first.
    pub published: Vec<Published>,
}

/// Plans the keyset at `now`. `None` when there are no versions at all.
pub fn plan(
    versions: &[VerifyingKeyVersion],
    policy: RotationPolicy,
    now: OffsetDateTime,
) -> Option<KeyPlan> {
    let mut versions = versions.to_vec();
    versions.sort_by_key(|v| v.version);
    let first = versions.first()?.clone();
    // When a version starts signing: the first one at once, later ones after prepublication.
    let activation = |i: usize| {
        if i == 0 {
            versions[0].created_at
        } else {
            versions[i].created_at + policy.prepublish
        }
    };
    let active_index = (0..versions.len())
        .rev()
        .find(|&i| activation(i) <= now)
        .unwrap_or(0);
    let mut published = Vec::new();
    for (i, key) in versions.iter().enumerate() {
        let (status, not_after) = match i.cmp(&active_index) {
            std::cmp::Ordering::Equal => (KeyStatus::Active, None),
            std::cmp::Ordering::Greater => (KeyStatus::Next, None),
            std::cmp::Ordering::Less => {
                let not_after = activation(i + 1) + policy.retire_after;
                if not_after <= now {
                    continue;
                }
                (KeyStatus::Retiring, Some(not_after))
            }
        };
        published.push(Published {
            key: key.clone(),
            status,
            not_after,
        });
    }
    let active = versions.get(active_index).cloned().unwrap_or(first);
    Some(KeyPlan { active, published })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: u32, created_at: OffsetDateTime) -> VerifyingKeyVersion {
        VerifyingKeyVersion {
            version,
            public_key: [u8::try_from(version).unwrap(); 32],
            created_at,
        }
    }

    const POLICY: RotationPolicy = RotationPolicy {
        prepublish: Duration::minutes(10),
        retire_after: Duration::minutes(3),
    };

    fn statuses(plan: &KeyPlan) -> Vec<(u32, KeyStatus)> {
        plan.published
            .iter()
            .map(|p| (p.key.version, p.status))
            .collect()
    }

    #[test]
    fn a_single_key_is_active_at_once() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let plan = plan(&[v(1, t0)], POLICY, t0).unwrap();
        assert_eq!(plan.active.version, 1);
        assert_eq!(statuses(&plan), [(1, KeyStatus::Active)]);
        assert!(super::plan(&[], POLICY, t0).is_none());
    }

    #[test]
    fn a_rotated_key_is_prepublished_then_activated_then_the_old_one_retires() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let t1 = t0 + Duration::days(30);
        let keys = [v(1, t0), v(2, t1)];

        // During prepublication the old key still signs; the new one is `next`.
        let p = plan(
            &keys,
            POLICY,
            t1 + Duration::minutes(10) - Duration::seconds(1),
        )
        .unwrap();
        assert_eq!(p.active.version, 1);
        assert_eq!(statuses(&p), [(1, KeyStatus::Active), (2, KeyStatus::Next)]);

        // Exactly at the end of prepublication the new key signs; the old one retires with a
        // deadline of activation + retire_after.
        let activation = t1 + Duration::minutes(10);
        let p = plan(&keys, POLICY, activation).unwrap();
        assert_eq!(p.active.version, 2);
        assert_eq!(
            statuses(&p),
            [(1, KeyStatus::Retiring), (2, KeyStatus::Active)]
        );
        assert_eq!(
            p.published[0].not_after,
            Some(activation + Duration::minutes(3))
        );

        // One second before the deadline it is still published; at the deadline it is gone.
        let p = plan(
            &keys,
            POLICY,
            activation + Duration::minutes(3) - Duration::seconds(1),
        );
        assert_eq!(p.unwrap().published.len(), 2);
        let p = plan(&keys, POLICY, activation + Duration::minutes(3)).unwrap();
        assert_eq!(statuses(&p), [(2, KeyStatus::Active)]);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let keys = [
            v(3, t0 + Duration::days(2)),
            v(1, t0),
            v(2, t0 + Duration::days(1)),
        ];
        let p = plan(&keys, POLICY, t0 + Duration::days(3)).unwrap();
        assert_eq!(p.active.version, 3);
        assert_eq!(statuses(&p), [(3, KeyStatus::Active)]);
    }
}
