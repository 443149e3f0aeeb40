//! The token of an emailed link (email verification, password reset, invitation).
//!
//! Links carry it in the fragment (`/reset-password#token=…`), which browsers never send to a
//! server; links mailed before that carry it in the query. The page takes it out of the address
//! bar at once (`history.replaceState`) so it does not linger in the history, a bookmark or a
//! screenshot, and keeps it in this tab's `sessionStorage` until it has been used: a reload
//! still works, and the invitation link survives the detour through the login page.

use wasm_bindgen::JsValue;

use crate::url;

/// Storage key of the verification link's token.
pub const VERIFY_EMAIL: &str = "permesi.link.verify_email";
/// Storage key of the password reset link's token.
pub const RESET_PASSWORD: &str = "permesi.link.reset_password";
/// Storage key of the invitation link's token.
pub const INVITATION: &str = "permesi.link.invitation";

/// The link's token: from the address bar (then removed from it), else the one kept for `key`.
pub fn take_token(key: &str) -> Option<String> {
    let window = web_sys::window()?;
    let storage = window.session_storage().ok().flatten();
    let location = window.location();
    let hash = location.hash().unwrap_or_default();
    let search = location.search().unwrap_or_default();
    if let Some(token) = url::link_param(&hash, &search, "token") {
        if let (Ok(path), Ok(history)) = (location.pathname(), window.history()) {
            let clean = format!(
                "{path}{}{}",
                url::without_param(&search, "token"),
                url::without_param(&hash, "token")
            );
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&clean));
        }
        if let Some(s) = &storage {
            let _ = s.set_item(key, &token);
        }
        return Some(token);
    }
    storage
        .and_then(|s| s.get_item(key).ok().flatten())
        .filter(|t| !t.is_empty())
}

/// Drops the kept token once the link has done its job.
pub fn forget(key: &str) {
    if let Some(s) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = s.remove_item(key);
    }
}
