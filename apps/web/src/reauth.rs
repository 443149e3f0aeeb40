//! Step-up re-authentication, in one place.
//!
//! Sensitive changes (password, passkeys, authenticator app, recovery codes, deleting the
//! account) need a session that proved a factor in the last 10 minutes; otherwise the API
//! answers `403 reauthentication_required`. [`Reauth::run`] wraps such an action: on that
//! answer it opens the "Confirm it's you" dialog ([`ReauthDialog`], mounted once by the app
//! shell), waits for the user to confirm with the password (OPAQUE, the login's client steps)
//! or a passkey, and runs the action again. Cancelling gives the caller an error to show.

use std::future::Future;

use leptos::{prelude::*, task::spawn_local};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::{
    admission::{self, Progress, ProgressSignal},
    client::{self, ApiError},
    components::{BTN, BTN2, ErrorBox, Field, ProgressBox, focus_id},
    session::{Auth, use_session},
    webauthn,
};

/// What the caller shows when the user closes the dialog.
const CANCELLED: &str = "Not changed: confirm it's you to make this change.";

/// The dialog's state, shared through context.
#[derive(Clone, Copy)]
pub struct Reauth {
    open: RwSignal<bool>,
    /// Resolvers of the actions waiting for the dialog (each gets `true` when confirmed).
    waiting: StoredValue<Vec<js_sys::Function>, LocalStorage>,
}

impl std::fmt::Debug for Reauth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reauth").finish_non_exhaustive()
    }
}

/// Creates the context (the app shell does, once).
pub fn provide() {
    provide_context(Reauth {
        open: RwSignal::new(false),
        waiting: StoredValue::new_local(Vec::new()),
    });
}

/// The context provided by the app shell.
pub fn use_reauth() -> Reauth {
    expect_context::<Reauth>()
}

impl Reauth {
    /// Runs `action`; when the API asks for a recent sign-in, asks the user to confirm it's
    /// them and runs `action` once more. `action` must be safe to start again from the top
    /// (each run begins a new ceremony).
    pub async fn run<T, F, Fut>(self, action: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        match action().await {
            Err(e) if e.is_reauthentication_required() => {
                if self.confirm().await {
                    action().await
                } else {
                    Err(ApiError::Local(CANCELLED.to_owned()))
                }
            }
            other => other,
        }
    }

    /// Opens the dialog and waits for it to close; `true` when the user confirmed.
    async fn confirm(self) -> bool {
        let waiting = self.waiting;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            waiting.update_value(|w| w.push(resolve));
        });
        self.open.set(true);
        JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// Closes the dialog and wakes every action that waits for it.
    fn close(self, confirmed: bool) {
        self.open.set(false);
        let waiting = self
            .waiting
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        for resolve in waiting {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::from_bool(confirmed));
        }
    }
}

/// The "Confirm it's you" dialog: the password, or a passkey when the account has one.
#[component]
pub fn ReauthDialog() -> impl IntoView {
    let reauth = use_reauth();
    let session = use_session();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let has_passkeys = RwSignal::new(false);

    // Each time it opens: a clean form, the page behind it inert (focus and clicks stay in the
    // dialog), focus in the password field, and the passkey button when the account has
    // passkeys and the browser can use them.
    Effect::new(move |_| {
        let open = reauth.open.get();
        set_background_inert(open);
        if !open {
            return;
        }
        password.set(String::new());
        error.set(None);
        progress.set(None);
        busy.set(false);
        has_passkeys.set(false);
        focus_id("reauth-password");
        offer_passkey(has_passkeys);
    });

    let finish = move |r: Result<(), ApiError>| {
        progress.set(None);
        busy.set(false);
        match r {
            Ok(()) => reauth.close(true),
            Err(e) => error.set(Some(e)),
        }
    };
    let with_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        error.set(None);
        busy.set(true);
        let p = password.get_untracked();
        spawn_local(async move { finish(confirm_with_password(&p, progress).await) });
    };
    let with_passkey = move |_| {
        error.set(None);
        busy.set(true);
        spawn_local(async move { finish(confirm_with_passkey(progress).await) });
    };
    let cancel = move || {
        if !busy.get_untracked() {
            reauth.close(false);
        }
    };
    let email = move || match session.0.get() {
        Auth::User(me) => me.email,
        _ => String::new(),
    };

    view! {
        <Show when=move || reauth.open.get()>
            <div
                class="fixed inset-0 z-50 flex items-end justify-center bg-slate-900/50 p-4 sm:items-center"
                on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { cancel() }
            >
                <div
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="reauth-title"
                    aria-describedby="reauth-text"
                    data-testid="reauth-dialog"
                    class="w-full max-w-md space-y-4 rounded-lg bg-white p-6 shadow-xl"
                >
                    <div class="space-y-1">
                        <h2 id="reauth-title" class="text-lg font-semibold">"Confirm it's you"</h2>
                        <p id="reauth-text" class="text-sm text-slate-700">
                            {move || if has_passkeys.get() {
                                "This change needs a recent sign-in. Enter your password or use a passkey to continue."
                            } else {
                                "This change needs a recent sign-in. Enter your password to continue."
                            }}
                        </p>
                        <p class="text-xs text-slate-500">"Signed in as "{email}</p>
                    </div>
                    <form class="space-y-4" on:submit=with_password aria-busy=move || busy.get().to_string()>
                        // For password managers: the account the password belongs to.
                        <input type="email" name="username" autocomplete="username" class="hidden" readonly tabindex="-1" prop:value=email />
                        <Field label="Password" id="reauth-password" kind="password" value=password autocomplete="current-password" />
                        <ProgressBox progress />
                        <ErrorBox error />
                        <div class="flex flex-col gap-2 sm:flex-row sm:flex-wrap">
                            <button type="submit" class=BTN disabled=move || busy.get()>"Confirm"</button>
                            {move || has_passkeys.get().then(|| view! {
                                <button type="button" class=BTN2 disabled=move || busy.get() on:click=with_passkey>"Use a passkey"</button>
                            })}
                            <button type="button" class=BTN2 disabled=move || busy.get() on:click=move |_| cancel()>"Cancel"</button>
                        </div>
                    </form>
                </div>
            </div>
        </Show>
    }
}

/// Sets `has_passkeys` when the account has a passkey and this browser can use one.
fn offer_passkey(has_passkeys: RwSignal<bool>) {
    if webauthn::passkeys_supported() {
        spawn_local(async move {
            if let Ok(s) = client::mfa_status().await {
                has_passkeys.set(s.passkeys > 0);
            }
        });
    }
}

/// Makes the page behind the dialog inert (or live again).
fn set_background_inert(inert: bool) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    for selector in ["body > div > header", "#main", "body > div > footer"] {
        if let Ok(Some(el)) = document.query_selector(selector) {
            let _ = if inert {
                el.set_attribute("inert", "")
            } else {
                el.remove_attribute("inert")
            };
        }
    }
}

/// The OPAQUE steps of a login, for the signed-in account.
async fn confirm_with_password(password: &str, progress: ProgressSignal) -> Result<(), ApiError> {
    let (state, request) =
        opaque::client::login_start(password.as_bytes()).map_err(admission::opaque_error)?;
    progress.set(Some(Progress {
        label: "Checking…".into(),
        percent: None,
    }));
    let (reauth_id, response) = client::reauth_password_start(&request)
        .await
        .map_err(explain)?;
    let login = admission::hashing(progress, || {
        opaque::client::login_finish(state, &response, password.as_bytes())
    })
    .await
    .map_err(|e| match e {
        opaque::Error::AuthenticationFailed => wrong_password(),
        other => admission::opaque_error(other),
    })?;
    client::reauth_password_finish(&reauth_id, &login.finalization)
        .await
        .map_err(explain)
}

async fn confirm_with_passkey(progress: ProgressSignal) -> Result<(), ApiError> {
    let ceremony = client::reauth_passkey_start().await.map_err(explain)?;
    progress.set(Some(Progress {
        label: "Waiting for your passkey…".into(),
        percent: None,
    }));
    let credential = webauthn::get(&ceremony.options).await?;
    client::reauth_passkey_finish(&ceremony.ceremony_id, credential)
        .await
        .map_err(explain)
}

fn wrong_password() -> ApiError {
    ApiError::Local("Wrong password.".to_owned())
}

/// The dialog's wording for the API's refusals.
fn explain(e: ApiError) -> ApiError {
    if let Some(wait) = e.too_many_attempts() {
        return ApiError::Local(format!(
            "Too many password attempts: try again {}, or use a passkey.",
            client::wait_text(wait.retry_after)
        ));
    }
    match e.code() {
        Some("authentication_failed") => wrong_password(),
        Some("no_passkeys") => {
            ApiError::Local("This account has no passkey: confirm with your password.".to_owned())
        }
        _ => e,
    }
}
