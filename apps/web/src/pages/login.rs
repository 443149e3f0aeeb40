//! `/login`: email first; a passkey is offered first, the password form on request; then the
//! MFA step (TOTP or a recovery code) when the account has one. With `?request=ID` (sent here
//! by `/oauth/authorize`) a successful login resumes the authorization; with `?next=/path` it
//! returns to that page of the console (same origin only, see [`next_target`]).

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    NavigateOptions,
    hooks::{use_navigate, use_query_map},
};

use crate::{
    admission::{self, ProgressSignal},
    client::{self, ApiError, LoginOutcome},
    components::{BTN, BTN2, CARD, ErrorBox, Field, LINK, PageTitle, ProgressBox, focus_id},
    session::use_session,
    url, webauthn,
};

/// Where a successful login goes without `next=` (or with one that is refused).
const DEFAULT_PAGE: &str = "/console/me/security";

/// The page `next` names, when it is a path on the console's own origin: the pure check
/// ([`url::is_local_path`]: one `/`, then neither `/` nor `\`), then the browser's URL parser
/// against the current origin must keep that origin. Returns the parsed path, query and
/// fragment, so what is followed is what was checked.
fn next_target(next: &str) -> Option<String> {
    if !url::is_local_path(next) {
        return None;
    }
    let origin = web_sys::window()?.location().origin().ok()?;
    let parsed = web_sys::Url::new_with_base(next, &origin).ok()?;
    let path = parsed.pathname();
    (parsed.origin() == origin && url::is_local_path(&path))
        .then(|| format!("{path}{}{}", parsed.search(), parsed.hash()))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Email,
    Password,
    Mfa(Vec<String>),
}

/// The login page.
// One view with three steps that share their signals; splitting it would only pass them around.
#[allow(clippy::too_many_lines)]
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let request = query.with_untracked(|q| q.get("request"));
    let next = query.with_untracked(|q| q.get("next"));
    let session = use_session();
    let navigate = use_navigate();

    let step = RwSignal::new(Step::Email);
    // `/oauth/authorize` passes the relying party's `login_hint` along.
    let email = RwSignal::new(
        query
            .with_untracked(|q| q.get("login_hint"))
            .unwrap_or_default(),
    );
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let recovery = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // Password attempts used up for now (`429 too_many_attempts`).
    let locked = RwSignal::new(None::<client::Lockout>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);

    let outcome = {
        let (request, next) = (request.clone(), next.clone());
        move |r: Result<LoginOutcome, ApiError>| {
            progress.set(None);
            busy.set(false);
            match r {
                Ok(LoginOutcome::Done) => {
                    session.refresh();
                    if let Some(id) = request.clone() {
                        if let Some(w) = web_sys::window() {
                            let _ = w.location().set_href(&client::oauth_resume_url(&id));
                        }
                    } else {
                        let target = next
                            .as_deref()
                            .and_then(next_target)
                            .unwrap_or_else(|| DEFAULT_PAGE.to_owned());
                        navigate(&target, NavigateOptions::default());
                    }
                }
                Ok(LoginOutcome::Mfa(methods)) => {
                    code.set(String::new());
                    recovery.set(!methods.iter().any(|m| m == "totp"));
                    step.set(Step::Mfa(methods));
                }
                // The password step's lockout gets its own message with the ways around it.
                Err(e) => match e.too_many_attempts() {
                    Some(wait) if step.get_untracked() == Step::Password => {
                        locked.set(Some(wait));
                    }
                    _ => error.set(Some(e)),
                },
            }
        }
    };

    let passkey = {
        let outcome = outcome.clone();
        move |with_email: bool| {
            error.set(None);
            locked.set(None);
            busy.set(true);
            let e = email.get_untracked().trim().to_owned();
            let outcome = outcome.clone();
            spawn_local(async move {
                let r = passkey_login(with_email.then_some(e), progress).await;
                outcome(r);
            });
        }
    };

    let on_email = {
        let passkey = passkey.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if webauthn::passkeys_supported() {
                passkey(true);
            } else {
                step.set(Step::Password);
            }
        }
    };

    let on_password = {
        let outcome = outcome.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            locked.set(None);
            busy.set(true);
            let (e, p) = (
                email.get_untracked().trim().to_owned(),
                password.get_untracked(),
            );
            let outcome = outcome.clone();
            spawn_local(async move {
                let r = password_login(&e, &p, progress).await;
                outcome(r);
            });
        }
    };

    let on_mfa = {
        let outcome = outcome.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            error.set(None);
            busy.set(true);
            let (c, rec) = (
                code.get_untracked().trim().to_owned(),
                recovery.get_untracked(),
            );
            let outcome = outcome.clone();
            spawn_local(async move {
                let r = async {
                    let token = admission::token("mfa", progress).await?;
                    client::mfa(&token, rec, &c)
                        .await
                        .map(|()| LoginOutcome::Done)
                }
                .await;
                outcome(r);
            });
        }
    };

    // Keyboard users land in the first field of each step.
    Effect::new(move |_| match step.get() {
        Step::Email => {}
        Step::Password => focus_id("password"),
        Step::Mfa(_) => focus_id("mfa-code"),
    });
    Effect::new(move |prev: Option<bool>| {
        let r = recovery.get();
        if prev.is_some() {
            focus_id("mfa-code");
        }
        r
    });

    let passkey_only = passkey.clone();
    let passkey_locked = passkey.clone();
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle
                title="Sign in"
                subtitle=if request.is_some() { "Sign in to continue to the application." } else { "Sign in to the permesi console." }
            />
            <div class=format!("space-y-4 {CARD}")>
                {move || match step.get() {
                    Step::Email => {
                        let passkey_only = passkey_only.clone();
                        view! {
                            <form class="space-y-4" on:submit=on_email.clone()>
                                <Field label="Email" id="email" kind="email" value=email autocomplete="username webauthn" autofocus=true />
                                <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>"Continue with a passkey"</button>
                                <button type="button" class=format!("w-full {BTN2}") disabled=move || busy.get()
                                    on:click=move |_| { error.set(None); step.set(Step::Password); }>
                                    "Use a password instead"
                                </button>
                                <button type="button" class=format!("w-full text-sm {LINK}") disabled=move || busy.get()
                                    on:click=move |_| passkey_only(false)>
                                    "Sign in with a passkey without typing an email"
                                </button>
                            </form>
                        }.into_any()
                    }
                    Step::Password => view! {
                        <form class="space-y-4" on:submit=on_password.clone()>
                            <Field label="Email" id="email" kind="email" value=email autocomplete="username" />
                            <Field label="Password" id="password" kind="password" value=password autocomplete="current-password" autofocus=true />
                            <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>
                                {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                            </button>
                            <button type="button" class=format!("w-full {BTN2}") on:click=move |_| { error.set(None); step.set(Step::Email); }>
                                "Back"
                            </button>
                            <p class="text-center text-sm"><a class=LINK href="/forgot-password">"Forgot your password?"</a></p>
                        </form>
                    }.into_any(),
                    Step::Mfa(methods) => {
                        let has_totp = methods.iter().any(|m| m == "totp");
                        let has_recovery = methods.iter().any(|m| m == "recovery_code");
                        view! {
                            <form class="space-y-4" on:submit=on_mfa.clone()>
                                <h2 class="text-lg font-semibold">"Two-step verification"</h2>
                                {move || if recovery.get() {
                                    view! { <Field label="Recovery code" id="mfa-code" value=code autocomplete="one-time-code" autofocus=true /> }.into_any()
                                } else {
                                    view! { <Field label="Code from your authenticator app" id="mfa-code" value=code autocomplete="one-time-code" inputmode="numeric" autofocus=true /> }.into_any()
                                }}
                                <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>"Verify"</button>
                                {(has_totp && has_recovery).then(|| view! {
                                    <button type="button" class=format!("w-full {BTN2}") on:click=move |_| { code.set(String::new()); recovery.update(|r| *r = !*r); }>
                                        {move || if recovery.get() { "Use an authenticator code" } else { "Use a recovery code" }}
                                    </button>
                                })}
                            </form>
                        }.into_any()
                    }
                }}
                <ProgressBox progress />
                <ErrorBox error />
                {move || locked.get().map(|wait| {
                    let passkey_locked = passkey_locked.clone();
                    view! {
                        <div role="alert" data-testid="locked" class="space-y-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                            <p class="font-medium">"Too many attempts"</p>
                            <p>{format!(
                                "Password sign-in for this account is paused after too many attempts. Try again {}, or:",
                                client::wait_text(wait.retry_after),
                            )}</p>
                            <ul class="list-inside list-disc space-y-1">
                                <li>
                                    <button type="button" class=LINK disabled=move || busy.get()
                                        on:click=move |_| passkey_locked(!email.get_untracked().trim().is_empty())>
                                        "Sign in with a passkey"
                                    </button>
                                </li>
                                <li><a class=LINK href="/forgot-password">"Reset your password"</a></li>
                            </ul>
                        </div>
                    }
                })}
                <p class="text-center text-sm text-slate-600">
                    "No account yet? " <a class=LINK href="/signup">"Create one"</a>
                </p>
            </div>
        </div>
    }
}

async fn password_login(
    email: &str,
    password: &str,
    progress: ProgressSignal,
) -> Result<LoginOutcome, ApiError> {
    let token = admission::token("login", progress).await?;
    let (state, request) =
        opaque::client::login_start(password.as_bytes()).map_err(admission::opaque_error)?;
    let (login_id, response) = client::login_start(&token, email, &request).await?;
    let login = admission::hashing(progress, || {
        opaque::client::login_finish(state, &response, password.as_bytes())
    })
    .await
    .map_err(admission::opaque_error)?;
    progress.set(Some(admission::Progress {
        label: "Signing in…".into(),
        percent: None,
    }));
    client::login_finish(&login_id, &login.finalization).await
}

async fn passkey_login(
    email: Option<String>,
    progress: ProgressSignal,
) -> Result<LoginOutcome, ApiError> {
    let token = admission::token("passkey_login", progress).await?;
    let email = email.filter(|e| !e.is_empty());
    let ceremony = client::passkey_login_start(&token, email.as_deref()).await?;
    progress.set(Some(admission::Progress {
        label: "Waiting for your passkey…".into(),
        percent: None,
    }));
    let credential = webauthn::get(&ceremony.options).await?;
    client::passkey_login_finish(&ceremony.ceremony_id, credential).await
}
