//! Forgotten passwords: `/forgot-password` asks for a reset link, `/reset-password?token=…`
//! (the link) registers a new password with OPAQUE in this browser.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;

use crate::{
    admission::{self, ProgressSignal},
    client::{self, ApiError},
    components::{BTN, CARD, ErrorBox, Field, LINK, PageTitle, ProgressBox},
    pages::signup::MIN_PASSWORD,
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

/// `/reset-password?token=…`: the link from the reset mail.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let token = use_query_map()
        .with_untracked(|q| q.get("token"))
        .unwrap_or_default();
    let token = StoredValue::new(token);
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let done = RwSignal::new(false);
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
                Ok(()) => done.set(true),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Choose a new password" subtitle="It never leaves this browser: permesi uses OPAQUE. Resetting signs you out everywhere." />
            {move || if done.get() {
                view! {
                    <div class=format!("space-y-3 {CARD}") data-testid="reset-done">
                        <p class="text-sm text-emerald-800">"Your password was changed. Sign in with the new one."</p>
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

async fn reset(token: &str, password: &str, progress: ProgressSignal) -> Result<(), ApiError> {
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
