//! The one place database refusals of tenancy writes become API errors: unique violations by
//! constraint name, the environment rules by their SQLSTATE (`0007_tenancy.sql`).

use crate::error::Error;

/// Unique indexes and the conflict code each stands for.
const UNIQUE: &[(&str, &str)] = &[
    ("orgs_slug_live", "slug_taken"),
    ("projects_slug_live", "slug_taken"),
    ("environments_slug_live", "slug_taken"),
    ("applications_slug_live", "slug_taken"),
    ("environments_one_production", "production_exists"),
    ("org_invitations_open", "invitation_pending"),
    ("org_members_pkey", "already_member"),
];

/// SQLSTATEs raised by the tenancy triggers.
const RULES: &[(&str, &str)] = &[
    ("PT001", "production_first"),
    ("PT002", "production_in_use"),
];

/// Maps a failed tenancy write: a rule of the schema is a 409 with its code, a check
/// violation (input the service should have refused first) a 422, anything else 503.
pub fn tenancy(e: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &e {
        let code = db.code();
        let code = code.as_deref().unwrap_or("");
        if let Some((_, rule)) = RULES.iter().find(|(state, _)| *state == code) {
            return Error::Conflict(rule);
        }
        if db.is_unique_violation() {
            let name = db.constraint().unwrap_or("");
            let rule = UNIQUE
                .iter()
                .find(|(constraint, _)| *constraint == name)
                .map_or("conflict", |(_, rule)| *rule);
            return Error::Conflict(rule);
        }
        if db.is_check_violation() {
            return Error::Invalid("invalid_value");
        }
    }
    Error::from(e)
}
