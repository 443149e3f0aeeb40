//! Admission tokens and the client-side crypto of the auth ceremonies, with progress.
//!
//! The proof of work (`crates/pow`) and OPAQUE's Argon2id (`crates/opaque`) run on the main
//! thread in WASM; the solver works in slices and yields to the event loop between them, so
//! the page stays responsive and the progress bar moves.

use std::ops::ControlFlow;

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;

use crate::client::{self, ApiError};

/// Attempts per slice between two yields to the browser.
const SLICE: u64 = 1 << 15;

/// What a long step is doing, for the progress indicator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub label: String,
    /// 0..=100 when known.
    pub percent: Option<u8>,
}

/// The progress of the current step; `None` when idle.
pub type ProgressSignal = RwSignal<Option<Progress>>;

/// Waits for the browser's next macrotask (lets it paint and handle input).
pub async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let cb = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Gets an admission token for `action` from genesis: challenge, solve, redeem.
pub async fn token(action: &str, progress: ProgressSignal) -> Result<String, ApiError> {
    progress.set(Some(Progress {
        label: "Asking for a proof-of-work challenge…".into(),
        percent: None,
    }));
    let reply = client::pow_challenge(action).await?;
    let challenge = pow::Challenge::decode(&reply.challenge)
        .map_err(|e| ApiError::Local(format!("unreadable challenge: {e}")))?;
    // Expected attempts: 2^difficulty; the bar shows the share done, capped below 100 %.
    let expected = 2f64.powi(i32::from(challenge.difficulty().get()));
    let mut start = 0u64;
    let nonce = loop {
        let end = start.saturating_add(SLICE);
        match pow::solve_range(&challenge, start, end, |_| ControlFlow::Continue(())) {
            Ok(nonce) => break nonce,
            Err(pow::PowError::Cancelled) if end < u64::MAX => {
                start = end;
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss
                )]
                let pct = ((start as f64 / expected) * 100.0).min(99.0) as u8;
                progress.set(Some(Progress {
                    label: "Solving the proof of work…".into(),
                    percent: Some(pct),
                }));
                yield_now().await;
            }
            Err(e) => return Err(ApiError::Local(format!("proof of work failed: {e}"))),
        }
    };
    progress.set(Some(Progress {
        label: "Proof of work solved".into(),
        percent: Some(100),
    }));
    client::admission(&reply.challenge, nonce).await
}

/// Shows the Argon2id step, lets the browser paint, then runs `f` (a blocking OPAQUE step).
pub async fn hashing<T>(progress: ProgressSignal, f: impl FnOnce() -> T) -> T {
    progress.set(Some(Progress {
        label: "Hashing the password (Argon2id, a few seconds)…".into(),
        percent: None,
    }));
    yield_now().await;
    yield_now().await;
    f()
}

/// Maps an OPAQUE client error to a message that does not say whether the account exists.
pub fn opaque_error(e: opaque::Error) -> ApiError {
    match e {
        opaque::Error::AuthenticationFailed => {
            ApiError::Local("Wrong email or password.".to_owned())
        }
        other => ApiError::Local(format!("Password processing failed: {other}")),
    }
}
