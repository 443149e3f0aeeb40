//! Passkeys: `navigator.credentials.create/get` through a small JS bridge.
//!
//! webauthn-rs sends options with base64url strings where the browser wants `ArrayBuffer`s,
//! and expects the credential back with base64url fields. The conversion is a dozen lines of
//! JS (below); the Rust side only passes JSON strings. permesi asks for a discoverable
//! (resident) credential where the authenticator can keep one, so a passkey also works without
//! typing the email.

use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::client::ApiError;

#[wasm_bindgen(inline_js = r#"
const toBuf = (s) => {
  s = s.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  const b = atob(s);
  const u = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
  return u.buffer;
};
const toB64u = (buf) => {
  const u = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const ids = (list) => (list || []).map((c) => ({ ...c, id: toBuf(c.id) }));
export async function passkey_create(json) {
  const pk = JSON.parse(json).publicKey;
  pk.challenge = toBuf(pk.challenge);
  pk.user = { ...pk.user, id: toBuf(pk.user.id) };
  if (pk.excludeCredentials) pk.excludeCredentials = ids(pk.excludeCredentials);
  const c = await navigator.credentials.create({ publicKey: pk });
  return JSON.stringify({
    id: c.id, rawId: toB64u(c.rawId), type: c.type,
    response: {
      attestationObject: toB64u(c.response.attestationObject),
      clientDataJSON: toB64u(c.response.clientDataJSON),
      transports: c.response.getTransports ? c.response.getTransports() : undefined,
    },
    extensions: {},
  });
}
export async function passkey_get(json) {
  const pk = JSON.parse(json).publicKey;
  pk.challenge = toBuf(pk.challenge);
  if (pk.allowCredentials) pk.allowCredentials = ids(pk.allowCredentials);
  const c = await navigator.credentials.get({ publicKey: pk });
  const r = c.response;
  return JSON.stringify({
    id: c.id, rawId: toB64u(c.rawId), type: c.type,
    response: {
      authenticatorData: toB64u(r.authenticatorData),
      clientDataJSON: toB64u(r.clientDataJSON),
      signature: toB64u(r.signature),
      userHandle: r.userHandle ? toB64u(r.userHandle) : null,
    },
    extensions: {},
  });
}
export function passkeys_supported() {
  return !!(window.PublicKeyCredential && navigator.credentials);
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn passkey_create(options: String) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn passkey_get(options: String) -> Result<JsValue, JsValue>;
    /// Whether this browser offers WebAuthn.
    pub fn passkeys_supported() -> bool;
}

fn cancelled(e: &JsValue) -> ApiError {
    let name = js_sys::Reflect::get(e, &JsValue::from_str("name"))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    if name == "NotAllowedError" {
        ApiError::Local(
            "No passkey was used: the prompt was cancelled or timed out, or this device has no \
             passkey for the account. Try again, or use a password."
                .to_owned(),
        )
    } else {
        let msg = js_sys::Reflect::get(e, &JsValue::from_str("message"))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        ApiError::Local(format!("Passkey error: {name} {msg}"))
    }
}

fn to_value(v: &JsValue) -> Result<Value, ApiError> {
    serde_json::from_str(&v.as_string().unwrap_or_default())
        .map_err(|e| ApiError::Local(format!("passkey reply unreadable: {e}")))
}

/// Creates a passkey from the server's creation options; returns the credential JSON.
pub async fn create(options: &Value) -> Result<Value, ApiError> {
    let v = passkey_create(options.to_string())
        .await
        .map_err(|e| cancelled(&e))?;
    to_value(&v)
}

/// Signs the server's request options with a passkey; returns the assertion JSON.
pub async fn get(options: &Value) -> Result<Value, ApiError> {
    let v = passkey_get(options.to_string())
        .await
        .map_err(|e| cancelled(&e))?;
    to_value(&v)
}
