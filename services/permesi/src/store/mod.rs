//! sqlx queries, one module per aggregate; rows never leave this module as rows.

pub mod applications;
pub mod constraints;
pub mod oauth;
pub mod orgs;
pub mod password_resets;
pub mod projects;
pub mod retention;
pub mod users;
