//! sqlx queries, one module per aggregate; rows never leave this module as rows.

pub mod users;
