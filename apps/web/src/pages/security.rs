//! `/console/me/security`: passkeys, TOTP, recovery codes, sessions, the password, and
//! deleting the account. Every change goes through [`crate::reauth::Reauth::run`]: when the API wants a
//! recent sign-in, the "Confirm it's you" dialog asks for it and the change is retried.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    admission::{self, ProgressSignal},
    client::{self, ApiError, MfaStatus, PasskeyLine, SessionLine, TotpEnrolment},
    components::{
        BTN, BTN_DANGER, BTN2, CARD, ErrorBox, Field, INPUT, Loading, Notice, PageTitle,
        ProgressBox, RequireUser, ShownOnce, focus_id,
    },
    reauth::use_reauth,
    session::{Auth, use_session},
    webauthn,
};

/// Loads `fetch()` into a signal now and whenever `version` changes; a 401 marks the session
/// as ended.
pub fn load<T, F, Fut>(version: RwSignal<u32>, fetch: F) -> RwSignal<Option<Result<T, ApiError>>>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + 'static,
{
    let data = RwSignal::new(None);
    let session = use_session();
    Effect::new(move |_| {
        version.track();
        let fut = fetch();
        spawn_local(async move {
            let result = fut.await;
            // The session ended meanwhile (signed out elsewhere, expired, ended by an
            // operator): show the sign-in prompt instead of the error.
            if result.as_ref().is_err_and(ApiError::is_unauthenticated) {
                session.0.set(Auth::Anonymous);
            }
            data.set(Some(result));
        });
    });
    data
}

/// A section of the page.
#[component]
pub fn Section(title: &'static str, id: &'static str, children: Children) -> impl IntoView {
    view! {
        <section aria-labelledby=id class=format!("space-y-4 {CARD}")>
            <h2 id=id class="text-lg font-semibold">{title}</h2>
            {children()}
        </section>
    }
}

/// The security page.
#[component]
pub fn SecurityPage() -> impl IntoView {
    view! {
        <PageTitle title="Security" subtitle="How you sign in to permesi." />
        <RequireUser>
            <SecurityBody />
        </RequireUser>
    }
}

#[component]
fn SecurityBody() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let mfa = load(version, client::mfa_status);
    view! {
        <div class="space-y-6">
            <Passkeys on_change=move || version.update(|v| *v += 1) />
            <Totp mfa version />
            <Sessions />
            <Consents />
            <Password />
            <DeleteAccount />
        </div>
    }
}

/// Deletes the account after the address is typed again and a confirmation dialog.
#[component]
fn DeleteAccount() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let session = use_session();
    let reauth = use_reauth();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let ok = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(
                    "Delete your account for good? Your sessions, passkeys, second factor and \
                     memberships go with it.",
                )
                .ok()
            })
            .unwrap_or(false);
        if !ok {
            return;
        }
        busy.set(true);
        let typed = email.get_untracked();
        spawn_local(async move {
            let r = reauth.run(|| client::delete_account(&typed)).await;
            busy.set(false);
            match r {
                Ok(()) => {
                    session.0.set(Auth::Anonymous);
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href("/signup?deleted=1");
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Delete account" id="delete-title">
            <p class="text-sm text-slate-700">
                "Deleting the account ends every session and removes your passkeys, authenticator app, \
                 memberships and consents. An organization you are the only owner of must get another \
                 owner (or be deleted) first. The audit log keeps its entries, which name the account by \
                 id only. If you signed in more than 10 minutes ago, you confirm it's you first."
            </p>
            <form class="space-y-4" on:submit=submit>
                <Field label="Type your email address to confirm" id="delete-email" kind="email" value=email autocomplete="off" />
                <ErrorBox error />
                <button type="submit" class=BTN_DANGER disabled=move || busy.get()>"Delete my account"</button>
            </form>
        </Section>
    }
}

#[component]
fn Passkeys(on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = load(version, client::passkeys);
    let name = RwSignal::new("My passkey".to_owned());
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let reauth = use_reauth();
    let reload = move || {
        version.update(|v| *v += 1);
        on_change();
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        notice.set(None);
        busy.set(true);
        let n = name.get_untracked().trim().to_owned();
        spawn_local(async move {
            let n = &n;
            let r = reauth
                .run(move || async move {
                    let c = client::passkey_register_start().await?;
                    let cred = webauthn::create(&c.options).await?;
                    client::passkey_register_finish(&c.ceremony_id, n, cred).await
                })
                .await;
            busy.set(false);
            match r {
                Ok(()) => {
                    notice.set(Some("Passkey added.".into()));
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Passkeys" id="passkeys-title">
            <p class="text-sm text-slate-600">"Sign in with your device's screen lock or a security key, no password needed."</p>
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(keys)) if keys.is_empty() => view! { <p class="text-sm text-slate-500">"No passkey yet."</p> }.into_any(),
                Some(Ok(keys)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="passkey-list">
                        {keys.into_iter().map(|k| view! { <PasskeyRow key=k error reload /> }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <form class="flex flex-col gap-2 sm:flex-row sm:items-end" on:submit=add>
                <div class="flex-1"><Field label="Name of the new passkey" id="passkey-name" value=name /></div>
                <button type="submit" class=BTN disabled=move || busy.get()>"Add a passkey"</button>
            </form>
            <ErrorBox error />
            <Notice message=notice />
        </Section>
    }
}

#[component]
fn PasskeyRow(
    key: PasskeyLine,
    error: RwSignal<Option<ApiError>>,
    reload: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let reauth = use_reauth();
    let editing = RwSignal::new(false);
    let name = RwSignal::new(key.name.clone());
    let id = key.id.clone();
    let id2 = key.id.clone();
    let input_id = format!("rename-{}", key.id);
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (id, n) = (id.clone(), name.get_untracked());
        spawn_local(async move {
            match reauth.run(|| client::passkey_rename(&id, n.trim())).await {
                Ok(()) => {
                    editing.set(false);
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let remove = move |_| {
        let id = id2.clone();
        let ok = web_sys::window()
            .and_then(|w| w.confirm_with_message("Delete this passkey?").ok())
            .unwrap_or(false);
        if !ok {
            return;
        }
        spawn_local(async move {
            match reauth.run(|| client::passkey_delete(&id)).await {
                Ok(()) => reload(),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let used = key.last_used_at.clone().map_or_else(
        || "never used".to_owned(),
        |t| format!("last used {}", short(&t)),
    );
    view! {
        <li class="flex flex-col gap-2 py-3 sm:flex-row sm:items-center sm:justify-between">
            {move || if editing.get() {
                let input_id = input_id.clone();
                view! {
                    <form class="flex flex-1 gap-2" on:submit=rename.clone()>
                        <label for=input_id.clone() class="sr-only">"New name"</label>
                        <input id=input_id class=INPUT prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                        <button type="submit" class=BTN2>"Save"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <div>
                        <p class="font-medium" data-testid="passkey-name">{move || name.get()}</p>
                        <p class="text-xs text-slate-500">{format!("added {}, {}", short(&key.created_at), used)}</p>
                    </div>
                }.into_any()
            }}
            <div class="flex gap-2">
                <button type="button" class=BTN2 on:click=move |_| editing.update(|e| *e = !*e)>
                    {move || if editing.get() { "Cancel" } else { "Rename" }}
                </button>
                <button type="button" class=BTN_DANGER on:click=remove>"Delete"</button>
            </div>
        </li>
    }
}

/// `2026-11-23T13:44:10.123Z` → `2026-11-23 13:44`.
pub fn short(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

#[component]
fn Totp(
    mfa: RwSignal<Option<Result<MfaStatus, ApiError>>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let enrolment = RwSignal::new(None::<TotpEnrolment>);
    let code = RwSignal::new(String::new());
    let codes = RwSignal::new(None::<Vec<String>>);
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let reauth = use_reauth();
    let run = move |f: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Option<String>, ApiError>>>,
    >| {
        error.set(None);
        notice.set(None);
        busy.set(true);
        spawn_local(async move {
            let r = f.await;
            busy.set(false);
            match r {
                Ok(n) => {
                    notice.set(n);
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let start = move |_| {
        run(Box::pin(async move {
            enrolment.set(Some(reauth.run(client::totp_enrol).await?));
            focus_id("totp-code");
            codes.set(None);
            Ok(None)
        }));
    };
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let c = code.get_untracked().trim().to_owned();
        run(Box::pin(async move {
            codes.set(Some(reauth.run(|| client::totp_confirm(&c)).await?));
            enrolment.set(None);
            code.set(String::new());
            Ok(Some("Authenticator app enabled.".into()))
        }));
    };
    let disable = move |_| {
        run(Box::pin(async move {
            reauth.run(client::totp_disable).await?;
            codes.set(None);
            Ok(Some("Authenticator app disabled.".into()))
        }));
    };
    let regenerate = move |_| {
        run(Box::pin(async move {
            codes.set(Some(reauth.run(client::regenerate_recovery_codes).await?));
            Ok(Some(
                "New recovery codes: the old ones no longer work.".into(),
            ))
        }));
    };
    view! {
        <Section title="Authenticator app (TOTP) and recovery codes" id="totp-title">
            {move || match mfa.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(s)) if s.totp => view! {
                    <div class="space-y-3">
                        <p class="text-sm" data-testid="totp-on">"On. "{format!("{} recovery codes left.", s.recovery_codes_left)}</p>
                        <div class="flex flex-wrap gap-2">
                            <button type="button" class=BTN2 on:click=regenerate disabled=move || busy.get()>"Regenerate recovery codes"</button>
                            <button type="button" class=BTN_DANGER on:click=disable disabled=move || busy.get()>"Disable"</button>
                        </div>
                    </div>
                }.into_any(),
                Some(Ok(_)) => match enrolment.get() {
                    None => view! {
                        <div class="space-y-2">
                            <p class="text-sm text-slate-600" data-testid="totp-off">"Off. Add a code from an authenticator app to each sign-in."</p>
                            <button type="button" class=BTN on:click=start disabled=move || busy.get()>"Set up an authenticator app"</button>
                        </div>
                    }.into_any(),
                    Some(en) => view! {
                        <div class="space-y-3">
                            <p class="text-sm text-slate-700">"Scan this QR code with your authenticator app, or type the key."</p>
                            <div class="h-48 w-48 bg-white [&>svg]:h-full [&>svg]:w-full" role="img" aria-label="QR code of the TOTP key" inner_html=en.qr_svg.clone()></div>
                            <p class="text-sm">"Key: "<code data-testid="totp-secret" class="break-all font-mono">{en.secret.clone()}</code></p>
                            <form class="flex flex-col gap-2 sm:flex-row sm:items-end" on:submit=confirm>
                                <div class="flex-1"><Field label="Code from the app" id="totp-code" value=code autocomplete="one-time-code" inputmode="numeric" /></div>
                                <button type="submit" class=BTN disabled=move || busy.get()>"Confirm"</button>
                            </form>
                        </div>
                    }.into_any(),
                },
            }}
            {move || codes.get().map(|c| view! { <ShownOnce title="Recovery codes" text=c.join("\n") testid="recovery-codes" /> })}
            <ErrorBox error />
            <Notice message=notice />
        </Section>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = load(version, client::sessions);
    let error = RwSignal::new(None::<ApiError>);
    let reauth = use_reauth();
    let end = move |id: String| {
        spawn_local(async move {
            match reauth.run(|| client::end_session(&id)).await {
                Ok(()) => version.update(|v| *v += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Sessions" id="sessions-title">
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(lines)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="session-list">
                        {lines.into_iter().map(|s: SessionLine| {
                            let id = s.id.clone();
                            view! {
                                <li class="flex flex-col gap-2 py-3 sm:flex-row sm:items-center sm:justify-between">
                                    <div class="min-w-0">
                                        <p class="truncate text-sm font-medium">
                                            {s.user_agent.clone().unwrap_or_else(|| "Unknown browser".into())}
                                            {s.current.then(|| view! { <span class="ml-2 rounded bg-indigo-50 px-1.5 py-0.5 text-xs text-indigo-700">"this browser"</span> })}
                                        </p>
                                        <p class="text-xs text-slate-500">
                                            {format!("{} · signed in {} with {} · last seen {}",
                                                s.client_ip.clone().unwrap_or_default(), short(&s.created_at),
                                                s.auth_methods.join(" + "), short(&s.last_seen_at))}
                                        </p>
                                    </div>
                                    {(!s.current).then(|| view! {
                                        <button type="button" class=BTN_DANGER on:click=move |_| end(id.clone())>"End"</button>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <ErrorBox error />
        </Section>
    }
}

/// Applications signed in to with this account (OIDC consents).
#[component]
fn Consents() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = load(version, client::consents);
    let error = RwSignal::new(None::<ApiError>);
    let reauth = use_reauth();
    let withdraw = move |id: String| {
        spawn_local(async move {
            match reauth.run(|| client::withdraw_consent(&id)).await {
                Ok(()) => version.update(|v| *v += 1),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Connected applications" id="consents-title">
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! { <p class="text-sm text-slate-500">"No application has access to your account."</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="consent-list">
                        {items.into_iter().map(|c| {
                            let id = c.client_id.clone();
                            view! {
                                <li class="flex flex-col gap-2 py-3 sm:flex-row sm:items-center sm:justify-between">
                                    <div class="min-w-0">
                                        <p class="font-medium">{c.application.clone()}</p>
                                        <p class="text-xs text-slate-500">{format!("{} · since {}", c.scopes.join(" "), short(&c.granted_at))}</p>
                                    </div>
                                    <button type="button" class=BTN_DANGER on:click=move |_| withdraw(id.clone())>"Remove access"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <ErrorBox error />
        </Section>
    }
}

#[component]
fn Password() -> impl IntoView {
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let progress: ProgressSignal = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let reauth = use_reauth();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        notice.set(None);
        let (p, c) = (password.get_untracked(), confirm.get_untracked());
        if p.chars().count() < 12 {
            error.set(Some(ApiError::Local("Use at least 12 characters.".into())));
            return;
        }
        if p != c {
            error.set(Some(ApiError::Local("The passwords do not match.".into())));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let p = &p;
            let r = reauth
                .run(move || async move {
                    let (state, request) = opaque::client::registration_start(p.as_bytes())
                        .map_err(admission::opaque_error)?;
                    let (id, response) = client::password_start(&request).await?;
                    let reg = admission::hashing(progress, || {
                        opaque::client::registration_finish(state, &response, p.as_bytes())
                    })
                    .await
                    .map_err(admission::opaque_error)?;
                    client::password_finish(&id, &reg.upload).await
                })
                .await;
            progress.set(None);
            busy.set(false);
            match r {
                Ok(()) => {
                    password.set(String::new());
                    confirm.set(String::new());
                    notice.set(Some("Password changed.".into()));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Password" id="password-title">
            <form class="space-y-4" on:submit=submit>
                <Field label="New password" id="new-password" kind="password" value=password autocomplete="new-password" hint="At least 12 characters." />
                <Field label="Confirm the new password" id="new-password-confirm" kind="password" value=confirm autocomplete="new-password" />
                <ProgressBox progress />
                <ErrorBox error />
                <Notice message=notice />
                <button type="submit" class=BTN disabled=move || busy.get()>"Change password"</button>
            </form>
        </Section>
    }
}
