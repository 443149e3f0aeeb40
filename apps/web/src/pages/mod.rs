//! Routed pages, one module per area.

mod admin;
mod login;
mod not_found;
mod oidc;
mod orgs;
mod reset;
mod security;
mod signup;
mod status;

pub use admin::{AdminClaimPage, AdminPage};
pub use login::LoginPage;
pub use not_found::NotFound;
pub use oidc::ConsentPage;
pub use orgs::{AcceptInvitationPage, EnvironmentPage, OrgPage, OrgsPage, ProjectPage};
pub use reset::{ForgotPasswordPage, ResetPasswordPage};
pub use security::SecurityPage;
pub use signup::{SignupPage, VerifyEmailPage};
pub use status::StatusPage;
