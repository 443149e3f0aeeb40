//! Forgotten passwords: `/forgot-password` asks for a reset link, `/reset-password#token=…`
//! (the link) registers a new password with OPAQUE in this browser, then lists the sign-in
//! methods still on the account (a reset does not remove passkeys or the authenticator app).

use leptos::{prelude::*, task::spawn_local};

use crate::{
    admission::{self, ProgressSignal},
    client::{self, ApiError, RemainingFactors},
    components::{BTN, CARD, ErrorBox, Field, LINK, PageTitle, ProgressBox},
    link,
    pages::{security::short, signup::MIN_PASSWORD},
};

/// `/forgot-password`.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let sent = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let e = email.get().trim().to_owned();
        busy.set(true);
        spawn_local(async move {
            let r = async {
                let token = admission::token("password_reset", progress).await?;
                client::request_password_reset(&token, &e).await
            }
            .await;
            progress.set(None);
            busy.set(false);
            match r {
                Ok(()) => sent.set(true),
                Err(err) => error.set(Some(err)),
            }
        });
    };
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Reset your password" subtitle="We send a link to your email address; it works once, for 30 minutes." />
            {move || if sent.get() {
                view! {
                    <div class=format!("space-y-3 {CARD}") data-testid="reset-sent">
                        <h2 class="text-lg font-semibold">"Check your email"</h2>
                        <p class="text-sm text-slate-700">"If the address has an account, a reset link is on its way."</p>
                        <a class=LINK href="/login">"Back to sign in"</a>
                    </div>
                }.into_any()
            } else {
                view! {
                    <form class=format!("space-y-4 {CARD}") on:submit=submit aria-busy=move || busy.get().to_string()>
                        <Field label="Email" id="email" kind="email" value=email autocomplete="email" autofocus=true />
                        <ErrorBox error />
                        <ProgressBox progress />
                        <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>"Send a reset link"</button>
                        <p class="text-center text-sm"><a class=LINK href="/login">"Back to sign in"</a></p>
                    </form>
                }.into_any()
            }}
        </div>
    }
}

/// `/reset-password#token=…` (or `?token=…` from older mails): the link from the reset mail.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let token = StoredValue::new(link::take_token(link::RESET_PASSWORD).unwrap_or_default());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    // `Some` once the password is reset: the factors left (`None` inside when not told).
    let done = RwSignal::new(None::<Option<RemainingFactors>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let (p, c) = (password.get(), confirm.get());
        if p.chars().count() < MIN_PASSWORD {
            error.set(Some(ApiError::Local(format!(
                "Use at least {MIN_PASSWORD} characters for the password."
            ))));
            return;
        }
        if p != c {
            error.set(Some(ApiError::Local("The passwords do not match.".into())));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let r = reset(&token.get_value(), &p, progress).await;
            progress.set(None);
            busy.set(false);
            match r {
                Ok(factors) => {
                    link::forget(link::RESET_PASSWORD);
                    done.set(Some(factors));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Choose a new password" subtitle="It never leaves this browser: permesi uses OPAQUE. Resetting signs you out everywhere." />
            {move || if let Some(factors) = done.get() {
                view! {
                    <div class=format!("space-y-4 {CARD}") data-testid="reset-done">
                        <p class="text-sm text-emerald-800">"Your password was changed. Sign in with the new one."</p>
                        {factors.map(|f| view! { <Factors factors=f /> })}
                        <a href="/login" class=BTN>"Sign in"</a>
                    </div>
                }.into_any()
            } else if token.get_value().is_empty() {
                view! {
                    <div class=format!("space-y-3 {CARD}")>
                        <p role="alert" class="text-sm text-rose-700">"This link has no token. Open the link from the email as it is."</p>
                        <a class=LINK href="/forgot-password">"Ask for a new link"</a>
                    </div>
                }.into_any()
            } else {
                view! {
                    <form class=format!("space-y-4 {CARD}") on:submit=submit aria-busy=move || busy.get().to_string()>
                        <Field label="New password" id="password" kind="password" value=password autocomplete="new-password" hint="At least 12 characters." autofocus=true />
                        <Field label="Confirm the new password" id="confirm" kind="password" value=confirm autocomplete="new-password" />
                        <ErrorBox error />
                        <ProgressBox progress />
                        <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>"Set the new password"</button>
                        {move || error.get().is_some().then(|| view! {
                            <p class="text-center text-sm"><a class=LINK href="/forgot-password">"Ask for a new link"</a></p>
                        })}
                    </form>
                }.into_any()
            }}
        </div>
    }
}

/// The sign-in methods a reset left on the account, so an unknown one stands out.
#[component]
fn Factors(factors: RemainingFactors) -> impl IntoView {
    if !factors.totp && factors.passkeys.is_empty() {
        return view! {
            <p class="text-sm text-slate-700" data-testid="reset-factors">
                "Your account has no passkey and no authenticator app: the new password is how you sign in."
            </p>
        }
        .into_any();
    }
    view! {
        <div class="space-y-2 rounded-md border border-slate-200 bg-slate-50 p-3 text-sm" data-testid="reset-factors">
            <p class="text-slate-800">
                "These sign-in methods are still on your account. If you don't recognise one, remove it in Security settings after you log in."
            </p>
            <ul class="list-inside list-disc space-y-1 text-slate-700">
                {factors.passkeys.into_iter().map(|p| view! {
                    <li>
                        "Passkey "<span class="font-medium">{p.name}</span>
                        <span class="text-slate-500">{format!(" (added {})", short(&p.created_at))}</span>
                    </li>
                }).collect_view()}
                {factors.totp.then(|| view! { <li>"Authenticator app (TOTP) codes"</li> })}
            </ul>
        </div>
    }
    .into_any()
}

async fn reset(
    token: &str,
    password: &str,
    progress: ProgressSignal,
) -> Result<Option<RemainingFactors>, ApiError> {
    let (state, request) =
        opaque::client::registration_start(password.as_bytes()).map_err(admission::opaque_error)?;
    let (reset_id, response) = client::password_reset_start(token, &request).await?;
    let reg = admission::hashing(progress, || {
        opaque::client::registration_finish(state, &response, password.as_bytes())
    })
    .await
    .map_err(admission::opaque_error)?;
    client::password_reset_finish(&reset_id, &reg.upload).await
}
