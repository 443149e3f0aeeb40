//! Routed pages.

mod not_found;
mod status;

pub use not_found::NotFound;
pub use status::StatusPage;
