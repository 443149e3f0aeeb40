//! Sign up (`/signup`), email verification (`/verify-email#token=`) and resending the link.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;

use crate::{
    admission::{self, ProgressSignal},
    client::{self, ApiError},
    components::{BTN, BTN2, CARD, ErrorBox, Field, LINK, Notice, PageTitle, ProgressBox},
    link,
};

/// The shortest password the console accepts (the server never sees it).
pub(crate) const MIN_PASSWORD: usize = 12;

/// `/signup`.
#[component]
pub fn SignupPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let sent_to = RwSignal::new(None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let (e, p, c) = (email.get().trim().to_owned(), password.get(), confirm.get());
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
            let result = signup(&e, &p, progress).await;
            progress.set(None);
            busy.set(false);
            match result {
                Ok(()) => sent_to.set(Some(e)),
                Err(err) => error.set(Some(err)),
            }
        });
    };

    let deleted = use_query_map().with_untracked(|q| q.get("deleted").is_some());
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Create your account" subtitle="Your password never leaves this browser: permesi uses OPAQUE." />
            {deleted.then(|| view! {
                <p role="status" data-testid="account-deleted" class="mb-4 rounded-md bg-emerald-50 p-3 text-sm text-emerald-800">
                    "Your account was deleted."
                </p>
            })}
            {move || match sent_to.get() {
                Some(addr) => view! { <CheckEmail email=addr /> }.into_any(),
                None => view! {
                    <form class=format!("space-y-4 {CARD}") on:submit=submit aria-busy=move || busy.get().to_string()>
                        <Field label="Email" id="email" kind="email" value=email autocomplete="email" autofocus=true />
                        <Field label="Password" id="password" kind="password" value=password autocomplete="new-password" hint="At least 12 characters." />
                        <Field label="Confirm password" id="confirm" kind="password" value=confirm autocomplete="new-password" />
                        <ErrorBox error />
                        <ProgressBox progress />
                        <button type="submit" class=format!("w-full {BTN}") disabled=move || busy.get()>
                            {move || if busy.get() { "Creating account…" } else { "Create account" }}
                        </button>
                        <p class="text-center text-sm text-slate-600">
                            "Already have an account? " <a class=LINK href="/login">"Sign in"</a>
                        </p>
                    </form>
                }.into_any(),
            }}
        </div>
    }
}

async fn signup(email: &str, password: &str, progress: ProgressSignal) -> Result<(), ApiError> {
    let token = admission::token("signup", progress).await?;
    let (state, request) =
        opaque::client::registration_start(password.as_bytes()).map_err(admission::opaque_error)?;
    progress.set(Some(admission::Progress {
        label: "Registering…".into(),
        percent: None,
    }));
    let (signup_id, response) = client::signup_start(&token, email, &request).await?;
    let reg = admission::hashing(progress, || {
        opaque::client::registration_finish(state, &response, password.as_bytes())
    })
    .await
    .map_err(admission::opaque_error)?;
    client::signup_finish(&signup_id, email, &reg.upload).await
}

/// "Check your email", with a resend button.
#[component]
fn CheckEmail(email: String) -> impl IntoView {
    view! {
        <div class=format!("space-y-4 {CARD}") data-testid="check-email">
            <h2 class="text-lg font-semibold">"Check your email"</h2>
            <p class="text-sm text-slate-700">
                "If " <strong class="break-all">{email.clone()}</strong>
                " can receive mail, a verification link is on its way. Open it in this browser to activate the account."
            </p>
            <Resend email=email />
        </div>
    }
}

/// Resends the verification mail for `email`.
#[component]
fn Resend(email: String) -> impl IntoView {
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let resend = move |_| {
        let email = email.clone();
        busy.set(true);
        error.set(None);
        notice.set(None);
        spawn_local(async move {
            let r = async {
                let token = admission::token("resend_verification", progress).await?;
                client::resend_verification(&token, &email).await
            }
            .await;
            progress.set(None);
            busy.set(false);
            match r {
                Ok(()) => notice.set(Some(
                    "If the address has an unverified account, a new link was sent.".into(),
                )),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="space-y-2">
            <button type="button" class=BTN2 on:click=resend disabled=move || busy.get()>"Resend the link"</button>
            <ProgressBox progress />
            <ErrorBox error />
            <Notice message=notice />
        </div>
    }
}

/// `/verify-email#token=…` (or `?token=…` from older mails): the link from the verification mail.
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let token = link::take_token(link::VERIFY_EMAIL).unwrap_or_default();
    let error = RwSignal::new(None::<ApiError>);
    let progress: ProgressSignal = RwSignal::new(None);
    let done = RwSignal::new(false);
    let resend_email = RwSignal::new(String::new());

    if token.is_empty() {
        error.set(Some(ApiError::Local(
            "This link has no token. Open the link from the email as it is.".into(),
        )));
    } else {
        spawn_local(async move {
            let r = async {
                let admission = admission::token("verify_email", progress).await?;
                client::verify_email(&admission, &token).await
            }
            .await;
            progress.set(None);
            match r {
                Ok(()) => {
                    link::forget(link::VERIFY_EMAIL);
                    done.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    }

    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Verify your email" />
            <div class=format!("space-y-4 {CARD}")>
                <ProgressBox progress />
                {move || done.get().then(|| view! {
                    <div data-testid="verified" class="space-y-3">
                        <p class="text-sm text-emerald-800">"Your email address is verified. You can sign in now."</p>
                        <a href="/login" class=BTN>"Sign in"</a>
                    </div>
                })}
                <ErrorBox error />
                {move || error.get().is_some().then(|| view! {
                    <div class="space-y-2 border-t border-slate-200 pt-4">
                        <p class="text-sm text-slate-700">"Links expire. Ask for a new one:"</p>
                        <Field label="Email" id="resend-email" kind="email" value=resend_email autocomplete="email" />
                        {move || {
                            let e = resend_email.get();
                            (!e.trim().is_empty()).then(|| view! { <Resend email=e.trim().to_owned() /> })
                        }}
                    </div>
                })}
            </div>
        </div>
    }
}
