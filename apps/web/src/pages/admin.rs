//! Operators: `/admin/claim` (claim the platform with an operator token), `/admin` (elevation
//! prompt, user search with disable / enable / end sessions, the audit log with filters).

use leptos::{prelude::*, task::spawn_local};

use crate::{
    client::{self, AdminStatus, AdminUser, ApiError, AuditPage},
    components::{
        BTN, BTN_DANGER, BTN2, ErrorBox, Field, INPUT, LINK, Loading, Notice, PageTitle,
        RequireUser,
    },
    pages::security::{Section, load, short},
};

/// `/admin/claim`.
#[component]
pub fn AdminClaimPage() -> impl IntoView {
    view! {
        <div class="mx-auto max-w-lg">
            <PageTitle title="Claim the platform" subtitle="The first operator claims permesi with a one-time operator token (just operator-token)." />
            <RequireUser><TokenForm claim=true /></RequireUser>
        </div>
    }
}

/// A form that sends an operator token to `claim` or `elevate`.
#[component]
fn TokenForm(
    claim: bool,
    #[prop(optional)] status: Option<RwSignal<Option<Result<AdminStatus, ApiError>>>>,
) -> impl IntoView {
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        busy.set(true);
        let t = token.get_untracked().trim().to_owned();
        spawn_local(async move {
            let r = if claim {
                client::admin_claim(&t).await
            } else {
                client::admin_elevate(&t).await
            };
            busy.set(false);
            match r {
                Ok(s) => {
                    token.set(String::new());
                    notice.set(Some(if claim {
                        "Claimed: you are an operator now.".into()
                    } else {
                        "Elevated.".into()
                    }));
                    if let Some(st) = status {
                        st.set(Some(Ok(s)));
                    } else if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href("/admin");
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="space-y-3" on:submit=submit>
            <Field label="Operator token" id=if claim { "claim-token" } else { "elevate-token" } kind="password" value=token
                hint="Print one with: just operator-token" />
            <ErrorBox error />
            <Notice message=notice />
            <button type="submit" class=BTN disabled=move || busy.get()>{if claim { "Claim" } else { "Elevate" }}</button>
        </form>
    }
}

/// `/admin`.
#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <PageTitle title="Admin" subtitle="Platform operators: users and the audit log. Every action here is audited." />
        <RequireUser><AdminBody /></RequireUser>
    }
}

#[component]
fn AdminBody() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let status = load(version, client::admin_status);
    view! {
        {move || match status.get() {
            None => view! { <Loading /> }.into_any(),
            Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
            Some(Ok(s)) if !s.operator => view! {
                <div class="space-y-2 text-sm">
                    <p>"You are not a platform operator."</p>
                    {(!s.claimed).then(|| view! { <a class=LINK href="/admin/claim">"Claim the platform"</a> })}
                </div>
            }.into_any(),
            Some(Ok(s)) => {
                let elevated = s.elevated_until.is_some();
                view! {
                    <div class="space-y-6">
                        <Section title="Elevation" id="elevation-title">
                            {match s.elevated_until.clone() {
                                Some(t) => view! { <p class="text-sm" data-testid="elevated">{format!("Elevated until {}.", short(&t))}</p> }.into_any(),
                                None => view! { <p class="text-sm text-slate-600">"Operator actions need a fresh elevation with an operator token."</p> }.into_any(),
                            }}
                            {(!elevated).then(|| view! { <TokenForm claim=false status /> })}
                        </Section>
                        {elevated.then(|| view! { <Users /> <Audit /> })}
                    </div>
                }.into_any()
            }
        }}
    }
}

#[component]
fn Users() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let users = RwSignal::new(None::<Result<Vec<AdminUser>, ApiError>>);
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let search = move || {
        let e = email.get_untracked();
        spawn_local(async move { users.set(Some(client::admin_users(e.trim()).await)) });
    };
    search();
    let act = move |id: String, action: &'static str| {
        error.set(None);
        notice.set(None);
        spawn_local(async move {
            match client::admin_user_action(&id, action).await {
                Ok(n) => {
                    notice.set(Some(format!("Done: {n} session(s) ended.")));
                    search();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <Section title="Users" id="users-title">
            <form class="flex flex-col gap-2 sm:flex-row sm:items-end" on:submit=move |ev| { ev.prevent_default(); search(); }>
                <div class="flex-1"><Field label="Email contains" id="user-search" value=email required=false /></div>
                <button type="submit" class=BTN2>"Search"</button>
            </form>
            <ErrorBox error />
            <Notice message=notice />
            {move || match users.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="user-list">
                        {list.into_iter().map(|u| {
                            let (a, b) = (u.id.clone(), u.id.clone());
                            let disabled = u.status == "disabled";
                            view! {
                                <li class="flex flex-col gap-2 py-2 sm:flex-row sm:items-center sm:justify-between">
                                    <div class="min-w-0 text-sm">
                                        <p class="truncate font-medium">{u.email.clone()}</p>
                                        <p class="text-xs text-slate-500">{format!("{} · {}{} · since {}", u.status,
                                            if u.email_verified { "verified" } else { "unverified" },
                                            if u.operator { " · operator" } else { "" }, short(&u.created_at))}</p>
                                    </div>
                                    <div class="flex gap-2">
                                        <button type="button" class=BTN2 on:click=move |_| act(a.clone(), "sessions/end")>"End sessions"</button>
                                        <button type="button" class=BTN_DANGER on:click=move |_| act(b.clone(), if disabled { "enable" } else { "disable" })>
                                            {if disabled { "Enable" } else { "Disable" }}
                                        </button>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </Section>
    }
}

const FILTERS: [(&str, &str); 6] = [
    ("action", "Action (auth.login)"),
    ("outcome", "Outcome"),
    ("actor_id", "Actor id"),
    ("target_kind", "Target kind"),
    ("target_id", "Target id"),
    ("org_id", "Organization id"),
];

#[component]
fn Audit() -> impl IntoView {
    let values: Vec<RwSignal<String>> = FILTERS
        .iter()
        .map(|_| RwSignal::new(String::new()))
        .collect();
    let values = StoredValue::new(values);
    let before = RwSignal::new(None::<i64>);
    let page = RwSignal::new(None::<Result<AuditPage, ApiError>>);
    let query = move || {
        let mut f: Vec<(&str, String)> = FILTERS
            .iter()
            .zip(values.get_value())
            .map(|((k, _), v)| (*k, v.get_untracked()))
            .collect();
        if let Some(b) = before.get_untracked() {
            f.push(("before", b.to_string()));
        }
        page.set(None);
        spawn_local(async move { page.set(Some(client::admin_audit(&f).await)) });
    };
    query();
    view! {
        <Section title="Audit log" id="audit-title">
            <form class="grid gap-3 sm:grid-cols-3" on:submit=move |ev| { ev.prevent_default(); before.set(None); query(); }>
                {FILTERS.iter().zip(values.get_value()).map(|((k, label), v)| view! {
                    <div class="space-y-1">
                        <label for=format!("audit-{k}") class="block text-xs font-medium text-slate-700">{*label}</label>
                        <input id=format!("audit-{k}") class=INPUT prop:value=move || v.get() on:input=move |ev| v.set(event_target_value(&ev)) />
                    </div>
                }).collect_view()}
                <div class="sm:col-span-3"><button type="submit" class=BTN2>"Filter"</button></div>
            </form>
            {move || match page.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(p)) => {
                    let next = p.next_before;
                    view! {
                        <div class="overflow-x-auto">
                            <table class="min-w-full text-left text-xs" data-testid="audit-table">
                                <thead class="border-b border-slate-200 text-slate-600">
                                    <tr><th class="py-1 pr-3">"#"</th><th class="pr-3">"When"</th><th class="pr-3">"Action"</th><th class="pr-3">"Outcome"</th><th class="pr-3">"Actor"</th><th>"Detail"</th></tr>
                                </thead>
                                <tbody class="divide-y divide-slate-100">
                                    {p.entries.into_iter().map(|e| view! {
                                        <tr class="align-top">
                                            <td class="py-1 pr-3 font-mono">{e.seq}</td>
                                            <td class="whitespace-nowrap pr-3">{short(&e.occurred_at)}</td>
                                            <td class="pr-3 font-mono">{e.action}</td>
                                            <td class="pr-3">{e.outcome}</td>
                                            <td class="pr-3 font-mono">{format!("{} {}", e.actor_kind, e.actor_id.unwrap_or_default())}</td>
                                            <td class="max-w-xs break-all font-mono text-slate-600">{e.detail.to_string()}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        {next.map(|n| view! {
                            <button type="button" class=BTN2 on:click=move |_| { before.set(Some(n)); query(); }>"Older entries"</button>
                        })}
                    }.into_any()
                }
            }}
        </Section>
    }
}
