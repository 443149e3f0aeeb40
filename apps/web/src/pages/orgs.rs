//! Organizations: `/console/orgs` (list, create), an org (projects, members, invitations), a
//! project (environments, production first) and an environment (applications: redirect URIs,
//! client type, secrets shown once, rotation, OpenID Connect client settings).

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_params_map};
use serde_json::json;

use crate::{
    client::{self, ApiError, Application, Invitation, Member, Named, OidcClientSettings, Org},
    components::{
        BTN, BTN_DANGER, BTN2, ErrorBox, Field, INPUT, LINK, Loading, Notice, PageTitle,
        RequireUser, ShownOnce,
    },
    link,
    pages::security::{Section, load},
};

const ROLES: [&str; 4] = ["viewer", "member", "admin", "owner"];

/// A slug from a name: lowercase ASCII letters, digits and single dashes.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(63).collect()
}

fn param(name: &'static str) -> String {
    use_params_map()
        .with_untracked(|p| p.get(name))
        .unwrap_or_default()
}

/// A "name + slug" creation form; `create(slug, name)` runs on submit.
#[component]
fn CreateNamed<F, Fut>(
    what: &'static str,
    id: &'static str,
    create: F,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView
where
    F: Fn(String, String) -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Result<(), ApiError>> + 'static,
{
    let name = RwSignal::new(String::new());
    let slug = RwSignal::new(String::new());
    let slug_edited = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let name_id = format!("{id}-name");
    let slug_id = format!("{id}-slug");
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        busy.set(true);
        let (s, n) = (slug.get_untracked(), name.get_untracked().trim().to_owned());
        spawn_local(async move {
            let r = create(s, n).await;
            busy.set(false);
            match r {
                Ok(()) => {
                    name.set(String::new());
                    slug.set(String::new());
                    slug_edited.set(false);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="space-y-3 border-t border-slate-200 pt-4" on:submit=submit>
            <h3 class="text-sm font-semibold text-slate-800">{format!("New {what}")}</h3>
            <div class="grid gap-3 sm:grid-cols-2">
                <div class="space-y-1">
                    <label for=name_id.clone() class="block text-sm font-medium text-slate-800">"Name"</label>
                    <input id=name_id class=INPUT required=true prop:value=move || name.get()
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            if !slug_edited.get_untracked() { slug.set(slugify(&v)); }
                            name.set(v);
                        } />
                </div>
                <div class="space-y-1">
                    <label for=slug_id.clone() class="block text-sm font-medium text-slate-800">"Slug (in URLs)"</label>
                    <input id=slug_id class=format!("{INPUT} font-mono") required=true prop:value=move || slug.get()
                        on:input=move |ev| { slug_edited.set(true); slug.set(event_target_value(&ev)); } />
                </div>
            </div>
            {children.map(|c| c())}
            <ErrorBox error />
            <button type="submit" class=BTN disabled=move || busy.get()>{format!("Create {what}")}</button>
        </form>
    }
}

/// `/console/orgs`.
#[component]
pub fn OrgsPage() -> impl IntoView {
    view! {
        <PageTitle title="Organizations" subtitle="Organizations hold projects, environments and applications." />
        <RequireUser><OrgsBody /></RequireUser>
    }
}

#[component]
fn OrgsBody() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let list = load(version, client::orgs);
    let create = move |slug: String, name: String| async move {
        client::create_org(&slug, &name).await?;
        version.update(|v| *v += 1);
        Ok(())
    };
    view! {
        <Section title="Your organizations" id="orgs-title">
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(orgs)) if orgs.is_empty() => view! { <p class="text-sm text-slate-500">"None yet: create the first one below."</p> }.into_any(),
                Some(Ok(orgs)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="org-list">
                        {orgs.into_iter().map(|o: Org| view! {
                            <li class="flex items-center justify-between py-2">
                                <a class=LINK href=format!("/console/orgs/{}", o.slug)>{o.name}</a>
                                <span class="text-xs text-slate-500">{o.role}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <CreateNamed what="organization" id="org" create />
        </Section>
    }
}

/// `/console/orgs/:org`.
#[component]
pub fn OrgPage() -> impl IntoView {
    let org = param("org");
    view! {
        <nav aria-label="Breadcrumb" class="mb-2 text-sm"><A href="/console/orgs" attr:class=LINK>"Organizations"</A></nav>
        <RequireUser>
            <OrgTitle org=org.clone() />
            <OrgBody org=org.clone() />
        </RequireUser>
    }
}

/// The organization's name and the caller's role in it.
#[component]
fn OrgTitle(org: String) -> impl IntoView {
    let o = org.clone();
    let info = load(RwSignal::new(0), move || {
        let o = o.clone();
        async move { client::org(&o).await }
    });
    view! {
        <div class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight sm:text-3xl">
                {move || match info.get() {
                    Some(Ok(o)) => o.name,
                    _ => org.clone(),
                }}
            </h1>
            <p class="mt-1 text-sm text-slate-600">
                {move || match info.get() {
                    Some(Ok(o)) => format!("Organization {} · your role: {}", o.slug, o.role),
                    Some(Err(e)) => e.to_string(),
                    None => "Loading…".to_owned(),
                }}
            </p>
        </div>
    }
}

#[component]
fn OrgBody(org: String) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let o = org.clone();
    let list = load(version, move || {
        let o = o.clone();
        async move { client::projects(&o).await }
    });
    let o = org.clone();
    let create = move |slug: String, name: String| {
        let o = o.clone();
        async move {
            client::create_project(&o, &slug, &name).await?;
            version.update(|v| *v += 1);
            Ok(())
        }
    };
    let create = StoredValue::new(create);
    let o = org.clone();
    view! {
        <div class="space-y-6">
            <Section title="Projects" id="projects-title">
                {move || match list.get() {
                    None => view! { <Loading /> }.into_any(),
                    Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                    Some(Ok(items)) if items.is_empty() => view! { <p class="text-sm text-slate-500">"No project yet."</p> }.into_any(),
                    Some(Ok(items)) => view! {
                        <ul class="divide-y divide-slate-200" data-testid="project-list">
                            {items.into_iter().map(|p: Named| view! {
                                <li class="py-2"><a class=LINK href=format!("/console/orgs/{}/projects/{}", o.clone(), p.slug)>{p.name}</a></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
                <CreateNamed what="project" id="project" create=move |s, n| create.with_value(|c| c(s, n)) />
            </Section>
            <Members org=org.clone() />
        </div>
    }
}

#[component]
fn Members(org: String) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let o = org.clone();
    let members = load(version, move || {
        let o = o.clone();
        async move { client::members(&o).await }
    });
    let o = org.clone();
    let invitations = load(version, move || {
        let o = o.clone();
        async move { client::invitations(&o).await }
    });
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("member".to_owned());
    let org = StoredValue::new(org);
    let act =
        move |f: std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ApiError>>>>| {
            error.set(None);
            notice.set(None);
            spawn_local(async move {
                match f.await {
                    Ok(m) => {
                        notice.set(Some(m));
                        version.update(|v| *v += 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        };
    let invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (o, e, r) = (
            org.get_value(),
            email.get_untracked().trim().to_owned(),
            role.get_untracked(),
        );
        act(Box::pin(async move {
            client::invite(&o, &e, &r).await?;
            email.set(String::new());
            Ok(format!("Invitation sent to {e}."))
        }));
    };
    view! {
        <Section title="Members and invitations" id="members-title">
            {move || match members.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="member-list">
                        {items.into_iter().map(|m: Member| {
                            let (uid, uid2) = (m.user_id.clone(), m.user_id.clone());
                            let select_id = format!("role-{}", m.user_id);
                            view! {
                                <li class="flex flex-col gap-2 py-2 sm:flex-row sm:items-center sm:justify-between">
                                    <span class="truncate text-sm">{m.email.clone().unwrap_or_else(|| m.user_id.clone())}</span>
                                    <div class="flex items-center gap-2">
                                        <label for=select_id.clone() class="sr-only">"Role"</label>
                                        <select id=select_id class=INPUT on:change=move |ev| {
                                            let (o, u, r) = (org.get_value(), uid.clone(), event_target_value(&ev));
                                            act(Box::pin(async move { client::change_role(&o, &u, &r).await?; Ok("Role changed.".into()) }));
                                        }>
                                            {ROLES.iter().map(|r| view! { <option value=*r selected=m.role == *r>{*r}</option> }).collect_view()}
                                        </select>
                                        <button type="button" class=BTN_DANGER on:click=move |_| {
                                            let (o, u) = (org.get_value(), uid2.clone());
                                            act(Box::pin(async move { client::remove_member(&o, &u).await?; Ok("Member removed.".into()) }));
                                        }>"Remove"</button>
                                    </div>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            {move || match invitations.get() {
                Some(Ok(items)) if !items.is_empty() => view! {
                    <h3 class="text-sm font-semibold">"Open invitations"</h3>
                    <ul class="divide-y divide-slate-200">
                        {items.into_iter().map(|i: Invitation| {
                            let id = i.id.clone();
                            view! {
                                <li class="flex flex-col gap-2 py-2 sm:flex-row sm:items-center sm:justify-between">
                                    <span class="text-sm">{format!("{} as {} (until {})", i.email, i.role, crate::pages::security::short(&i.expires_at))}</span>
                                    <button type="button" class=BTN2 on:click=move |_| {
                                        let (o, id) = (org.get_value(), id.clone());
                                        act(Box::pin(async move { client::revoke_invitation(&o, &id).await?; Ok("Invitation revoked.".into()) }));
                                    }>"Revoke"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Some(Err(e)) => view! { <p class="text-sm text-slate-500">{e.to_string()}</p> }.into_any(),
                _ => ().into_any(),
            }}
            <form class="flex flex-col gap-2 border-t border-slate-200 pt-4 sm:flex-row sm:items-end" on:submit=invite>
                <div class="flex-1"><Field label="Invite by email" id="invite-email" kind="email" value=email /></div>
                <div class="space-y-1">
                    <label for="invite-role" class="block text-sm font-medium text-slate-800">"Role"</label>
                    <select id="invite-role" class=INPUT on:change=move |ev| role.set(event_target_value(&ev))>
                        {ROLES.iter().map(|r| view! { <option value=*r selected=*r == "member">{*r}</option> }).collect_view()}
                    </select>
                </div>
                <button type="submit" class=BTN>"Invite"</button>
            </form>
            <ErrorBox error />
            <Notice message=notice />
        </Section>
    }
}

/// `/console/orgs/:org/projects/:project`.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let (org, project) = (param("org"), param("project"));
    view! {
        <nav aria-label="Breadcrumb" class="mb-2 flex gap-2 text-sm">
            <A href="/console/orgs" attr:class=LINK>"Organizations"</A>"/"
            <a class=LINK href=format!("/console/orgs/{org}")>{org.clone()}</a>
        </nav>
        <PageTitle title=format!("Project {project}") subtitle="Each project has exactly one production environment, created first." />
        <RequireUser><ProjectBody org=org.clone() project=project.clone() /></RequireUser>
    }
}

#[component]
fn ProjectBody(org: String, project: String) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let (o, p) = (org.clone(), project.clone());
    let list = load(version, move || {
        let (o, p) = (o.clone(), p.clone());
        async move {
            let mut items = client::environments(&o, &p).await?;
            items.sort_by_key(|e| e.tier.as_deref() != Some("production"));
            Ok(items)
        }
    });
    let tier = RwSignal::new("production".to_owned());
    Effect::new(move |_| {
        if let Some(Ok(items)) = list.get() {
            let has_prod = items
                .iter()
                .any(|e| e.tier.as_deref() == Some("production"));
            tier.set(if has_prod { "staging" } else { "production" }.to_owned());
        }
    });
    let (o, p) = (org.clone(), project.clone());
    let create = StoredValue::new(move |slug: String, name: String| {
        let (o, p, t) = (o.clone(), p.clone(), tier.get_untracked());
        async move {
            client::create_environment(&o, &p, &slug, &name, &t).await?;
            version.update(|v| *v += 1);
            Ok(())
        }
    });
    let base = format!("/console/orgs/{org}/projects/{project}/environments");
    view! {
        <Section title="Environments" id="envs-title">
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! { <p class="text-sm text-slate-500">"No environment yet: create production first."</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="divide-y divide-slate-200" data-testid="env-list">
                        {items.into_iter().map(|e: Named| view! {
                            <li class="flex items-center justify-between py-2">
                                <a class=LINK href=format!("{}/{}", base.clone(), e.slug)>{e.name}</a>
                                <span class="text-xs text-slate-500">{e.tier.unwrap_or_default()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <CreateNamed what="environment" id="env" create=move |s, n| create.with_value(|c| c(s, n))>
                <div class="space-y-1">
                    <label for="env-tier" class="block text-sm font-medium text-slate-800">"Tier"</label>
                    <select id="env-tier" class=INPUT prop:value=move || tier.get() on:change=move |ev| tier.set(event_target_value(&ev))>
                        <option value="production">"production"</option>
                        <option value="staging">"staging"</option>
                        <option value="development">"development"</option>
                    </select>
                </div>
            </CreateNamed>
        </Section>
    }
}

/// `/console/orgs/:org/projects/:project/environments/:env`.
#[component]
pub fn EnvironmentPage() -> impl IntoView {
    let (org, project, env) = (param("org"), param("project"), param("env"));
    view! {
        <nav aria-label="Breadcrumb" class="mb-2 flex flex-wrap gap-2 text-sm">
            <A href="/console/orgs" attr:class=LINK>"Organizations"</A>"/"
            <a class=LINK href=format!("/console/orgs/{org}")>{org.clone()}</a>"/"
            <a class=LINK href=format!("/console/orgs/{org}/projects/{project}")>{project.clone()}</a>
        </nav>
        <PageTitle title=format!("Environment {env}") />
        <RequireUser><EnvBody org=org.clone() project=project.clone() env=env.clone() /></RequireUser>
    }
}

/// The org / project / environment an application lives in.
#[derive(Clone)]
struct Place {
    org: String,
    project: String,
    env: String,
}

#[component]
fn EnvBody(org: String, project: String, env: String) -> impl IntoView {
    let place = StoredValue::new(Place { org, project, env });
    let version = RwSignal::new(0u32);
    let list = load(version, move || {
        let p = place.get_value();
        async move { client::applications(&p.org, &p.project, &p.env).await }
    });
    let secret = RwSignal::new(None::<(String, String)>);
    let client_type = RwSignal::new("confidential".to_owned());
    let redirects = RwSignal::new(String::new());
    let logout_redirects = RwSignal::new(String::new());
    let scopes = RwSignal::new(DEFAULT_SCOPES.to_owned());
    let create = StoredValue::new(move |slug: String, name: String| {
        let p = place.get_value();
        let body = json!({
            "slug": slug, "name": name, "client_type": client_type.get_untracked(),
            "redirect_uris": lines(&redirects.get_untracked()),
            "post_logout_redirect_uris": lines(&logout_redirects.get_untracked()),
            "allowed_scopes": words(&scopes.get_untracked()),
        });
        async move {
            let a = client::create_application(&p.org, &p.project, &p.env, &body).await?;
            if let Some(s) = a.client_secret {
                secret.set(Some((a.application.client_id.clone(), s)));
            }
            redirects.set(String::new());
            logout_redirects.set(String::new());
            version.update(|v| *v += 1);
            Ok(())
        }
    });
    view! {
        <Section title="Applications" id="apps-title">
            {move || secret.get().map(|(id, s)| view! {
                <ShownOnce title=format!("Client secret of {id}") text=s testid="client-secret" />
            })}
            {move || match list.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! { <p class="text-sm text-slate-500">"No application yet."</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <ul class="space-y-3" data-testid="app-list">
                        {items.into_iter().map(|a| view! { <AppCard app=a place=place.get_value() secret version /> }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <CreateNamed what="application" id="app" create=move |s, n| create.with_value(|c| c(s, n))>
                <div class="grid gap-3 sm:grid-cols-2">
                    <div class="space-y-1">
                        <label for="app-client-type" class="block text-sm font-medium text-slate-800">"Client type"</label>
                        <select id="app-client-type" class=INPUT on:change=move |ev| client_type.set(event_target_value(&ev))>
                            <option value="confidential" selected=true>"confidential (server side, with a secret)"</option>
                            <option value="public">"public (browser or mobile, PKCE only)"</option>
                        </select>
                    </div>
                    <div class="space-y-1">
                        <label for="app-redirects" class="block text-sm font-medium text-slate-800">"Redirect URIs (one a line)"</label>
                        <textarea id="app-redirects" rows="2" class=format!("{INPUT} font-mono") prop:value=move || redirects.get()
                            on:input=move |ev| redirects.set(event_target_value(&ev))></textarea>
                    </div>
                    <div class="space-y-1 sm:col-start-2">
                        <label for="app-logout-redirects" class="block text-sm font-medium text-slate-800">"Post-logout redirect URIs (one a line, optional)"</label>
                        <textarea id="app-logout-redirects" rows="2" class=format!("{INPUT} font-mono") prop:value=move || logout_redirects.get()
                            on:input=move |ev| logout_redirects.set(event_target_value(&ev))></textarea>
                    </div>
                    <div class="space-y-1 sm:col-span-2">
                        <label for="app-scopes" class="block text-sm font-medium text-slate-800">"Allowed scopes (space-separated)"</label>
                        <input id="app-scopes" class=format!("{INPUT} font-mono") prop:value=move || scopes.get()
                            on:input=move |ev| scopes.set(event_target_value(&ev)) />
                    </div>
                </div>
            </CreateNamed>
        </Section>
    }
}

/// Scopes a new application may ask for, unless changed in the form.
const DEFAULT_SCOPES: &str = "openid email profile offline_access";

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[component]
fn AppCard(
    app: Application,
    place: Place,
    secret: RwSignal<Option<(String, String)>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let redirects = RwSignal::new(app.redirect_uris.join("\n"));
    let logout_redirects = RwSignal::new(app.post_logout_redirect_uris.join("\n"));
    let scopes = RwSignal::new(app.allowed_scopes.join(" "));
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let place = StoredValue::new(place);
    let slug = StoredValue::new(app.slug.clone());
    let save = move |_| {
        let (p, s) = (place.get_value(), slug.get_value());
        let (uris, logout, sc) = (
            lines(&redirects.get_untracked()),
            lines(&logout_redirects.get_untracked()),
            words(&scopes.get_untracked()),
        );
        error.set(None);
        notice.set(None);
        spawn_local(async move {
            match client::update_application(&p.org, &p.project, &p.env, &s, &uris, &logout, &sc)
                .await
            {
                Ok(_) => notice.set(Some("Saved.".into())),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let rotate = move |_| {
        let ok = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message("Rotate the secret? The current one stops working.")
                    .ok()
            })
            .unwrap_or(false);
        if !ok {
            return;
        }
        let (p, s) = (place.get_value(), slug.get_value());
        spawn_local(async move {
            match client::rotate_secret(&p.org, &p.project, &p.env, &s).await {
                Ok(a) => {
                    if let Some(sec) = a.client_secret {
                        secret.set(Some((a.application.client_id, sec)));
                    }
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let area_id = format!("redirects-{}", app.slug);
    let logout_id = format!("logout-redirects-{}", app.slug);
    let scopes_id = format!("scopes-{}", app.slug);
    let confidential = app.client_type == "confidential";
    view! {
        <li class="space-y-2 rounded-md border border-slate-200 p-3" data-testid="app-card">
            <div class="flex flex-wrap items-baseline justify-between gap-2">
                <p class="font-medium">{app.name.clone()}</p>
                <span class="text-xs text-slate-500">{app.client_type.clone()}</span>
            </div>
            <p class="text-sm">"Client id: "<code data-testid="client-id" class="break-all font-mono">{app.client_id.clone()}</code></p>
            <label for=area_id.clone() class="block text-sm font-medium text-slate-800">"Redirect URIs (one a line)"</label>
            <textarea id=area_id rows="2" class=format!("{INPUT} font-mono") prop:value=move || redirects.get()
                on:input=move |ev| redirects.set(event_target_value(&ev))></textarea>
            <label for=logout_id.clone() class="block text-sm font-medium text-slate-800">"Post-logout redirect URIs (one a line)"</label>
            <textarea id=logout_id rows="1" class=format!("{INPUT} font-mono") prop:value=move || logout_redirects.get()
                on:input=move |ev| logout_redirects.set(event_target_value(&ev))></textarea>
            <label for=scopes_id.clone() class="block text-sm font-medium text-slate-800">"Allowed scopes"</label>
            <input id=scopes_id class=format!("{INPUT} font-mono") prop:value=move || scopes.get()
                on:input=move |ev| scopes.set(event_target_value(&ev)) />
            <div class="flex flex-wrap gap-2">
                <button type="button" class=BTN2 on:click=save>"Save"</button>
                {confidential.then(|| view! { <button type="button" class=BTN_DANGER on:click=rotate>"Rotate secret"</button> })}
            </div>
            <ErrorBox error />
            <Notice message=notice />
            <OidcSettings place=place.get_value() slug=slug.get_value() />
        </li>
    }
}

/// The application's OpenID Connect client settings: subject type, ID token algorithm (those
/// discovery lists) and the Ed25519 keys for `private_key_jwt`. Loaded when first opened.
#[component]
fn OidcSettings(place: Place, slug: String) -> impl IntoView {
    let id = slug.clone();
    let (place, slug) = (StoredValue::new(place), StoredValue::new(slug));
    let opened = RwSignal::new(false);
    let subject = RwSignal::new("public".to_owned());
    let alg = RwSignal::new("EdDSA".to_owned());
    let jwks = RwSignal::new(String::new());
    let algorithms = RwSignal::new(vec!["EdDSA".to_owned()]);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let notice = RwSignal::new(None::<String>);
    let show = move |s: OidcClientSettings| {
        subject.set(s.subject_type);
        alg.set(s.id_token_signed_response_alg);
        jwks.set(
            s.jwks
                .map(|k| serde_json::to_string_pretty(&k).unwrap_or_default())
                .unwrap_or_default(),
        );
    };
    let open = move |_| {
        if opened.get_untracked() {
            return;
        }
        opened.set(true);
        let (p, s) = (place.get_value(), slug.get_value());
        spawn_local(async move {
            if let Ok(list) = client::id_token_algorithms().await {
                algorithms.set(list);
            }
            match client::oidc_client(&p.org, &p.project, &p.env, &s).await {
                Ok(settings) => {
                    show(settings);
                    loaded.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let save = move |_| {
        error.set(None);
        notice.set(None);
        let text = jwks.get_untracked();
        let keys = if text.trim().is_empty() {
            None
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => Some(v),
                Err(e) => {
                    error.set(Some(ApiError::Local(format!(
                        "The key set is not JSON: {e}"
                    ))));
                    return;
                }
            }
        };
        let settings = OidcClientSettings {
            subject_type: subject.get_untracked(),
            id_token_signed_response_alg: alg.get_untracked(),
            jwks: keys,
        };
        let (p, s) = (place.get_value(), slug.get_value());
        spawn_local(async move {
            match client::set_oidc_client(&p.org, &p.project, &p.env, &s, &settings).await {
                Ok(saved) => {
                    show(saved);
                    notice.set(Some("OpenID Connect settings saved.".into()));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let (subject_id, alg_id, jwks_id) = (
        format!("subject-{id}"),
        format!("alg-{id}"),
        format!("jwks-{id}"),
    );
    view! {
        <details class="rounded-md bg-slate-50 p-2" data-testid="oidc-settings" on:toggle=open>
            <summary class="cursor-pointer text-sm font-medium text-slate-800">"OpenID Connect settings"</summary>
            <div class="mt-2 space-y-2">
                {move || (!loaded.get() && error.get().is_none()).then(|| view! { <Loading /> })}
                <div class="grid gap-3 sm:grid-cols-2">
                    <div class="space-y-1">
                        <label for=subject_id.clone() class="block text-sm font-medium text-slate-800">"Subject identifiers"</label>
                        <select id=subject_id class=INPUT prop:value=move || subject.get()
                            on:change=move |ev| subject.set(event_target_value(&ev))>
                            <option value="public">"public (the user id)"</option>
                            <option value="pairwise">"pairwise (a different id per application)"</option>
                        </select>
                    </div>
                    <div class="space-y-1">
                        <label for=alg_id.clone() class="block text-sm font-medium text-slate-800">"ID token algorithm"</label>
                        <select id=alg_id class=INPUT prop:value=move || alg.get()
                            on:change=move |ev| alg.set(event_target_value(&ev))>
                            {move || algorithms.get().into_iter().map(|a| {
                                let selected = a == alg.get_untracked();
                                view! { <option value=a.clone() selected=selected>{a.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                </div>
                <label for=jwks_id.clone() class="block text-sm font-medium text-slate-800">
                    "Client keys for private_key_jwt (a JWK Set of Ed25519 public keys; empty for none)"
                </label>
                <textarea id=jwks_id rows="3" class=format!("{INPUT} font-mono text-xs") prop:value=move || jwks.get()
                    on:input=move |ev| jwks.set(event_target_value(&ev))></textarea>
                <button type="button" class=BTN2 on:click=save disabled=move || !loaded.get()>"Save OpenID Connect settings"</button>
                <ErrorBox error />
                <Notice message=notice />
            </div>
        </details>
    }
}

/// `/invitations/accept#token=…` (or `?token=…` from older mails): the link from an invitation
/// mail. The token is taken from the address bar before the sign-in prompt, and kept in this
/// tab until the invitation is accepted, so it survives the detour through the login page.
#[component]
pub fn AcceptInvitationPage() -> impl IntoView {
    // Taken here, outside `RequireUser`, so the address bar is cleaned at once.
    let _ = link::take_token(link::INVITATION);
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Join an organization" />
            <RequireUser><AcceptBody /></RequireUser>
        </div>
    }
}

#[component]
fn AcceptBody() -> impl IntoView {
    let token = link::take_token(link::INVITATION).unwrap_or_default();
    let result = RwSignal::new(None::<Result<Org, ApiError>>);
    let accept = move |_| {
        let t = token.clone();
        spawn_local(async move {
            let r = client::accept_invitation(&t).await;
            if r.is_ok() {
                link::forget(link::INVITATION);
            }
            result.set(Some(r));
        });
    };
    view! {
        <div class="space-y-3 rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
            {move || match result.get() {
                None => view! {
                    <p class="text-sm text-slate-700">"Accept the invitation with the account you are signed in with?"</p>
                    <button type="button" class=BTN on:click=accept.clone()>"Accept the invitation"</button>
                }.into_any(),
                Some(Ok(o)) => view! {
                    <p class="text-sm">"You joined "<a class=LINK href=format!("/console/orgs/{}", o.slug)>{o.name}</a>"."</p>
                }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
            }}
        </div>
    }
}
