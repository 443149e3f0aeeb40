//! OIDC: `/consent?request=ID`. (`/login?request=ID` is the login page, which resumes the
//! authorization at `{api}/oauth/authorize?request=ID` after signing in.)

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_query_map;

use crate::{
    client::{self, ApiError, OauthRequest},
    components::{BTN, BTN2, CARD, ErrorBox, Loading, PageTitle, RequireUser},
};

/// The consent page that `/oauth/authorize` sends the browser to.
#[component]
pub fn ConsentPage() -> impl IntoView {
    view! {
        <div class="mx-auto max-w-md">
            <PageTitle title="Allow access?" />
            <RequireUser>
                <ConsentBody />
            </RequireUser>
        </div>
    }
}

#[component]
fn ConsentBody() -> impl IntoView {
    let id = use_query_map()
        .with_untracked(|q| q.get("request"))
        .unwrap_or_default();
    let request = RwSignal::new(None::<Result<OauthRequest, ApiError>>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    {
        let id = id.clone();
        spawn_local(async move {
            let r = if id.is_empty() {
                Err(ApiError::Local(
                    "This page needs a `request` parameter from /oauth/authorize.".into(),
                ))
            } else {
                client::oauth_request(&id).await
            };
            request.set(Some(r));
        });
    }
    let decide = move |approve: bool| {
        let id = id.clone();
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match client::oauth_consent(&id, approve).await {
                Ok(to) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&to);
                    }
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let deny = decide.clone();
    view! {
        <div class=format!("space-y-4 {CARD}")>
            {move || match request.get() {
                None => view! { <Loading /> }.into_any(),
                Some(Err(e)) => view! { <p role="alert" class="text-sm text-rose-700">{e.to_string()}</p> }.into_any(),
                Some(Ok(r)) => {
                    let name = r.application_name.clone().or(r.client_id.clone()).unwrap_or_else(|| "An application".into());
                    let (approve, deny) = (decide.clone(), deny.clone());
                    view! {
                        <p class="text-sm text-slate-700"><strong data-testid="consent-app">{name}</strong>" wants to:"</p>
                        <ul class="list-disc space-y-1 pl-5 text-sm text-slate-700">
                            {r.scopes.iter().map(|s| view! { <li>{scope_text(s)}</li> }).collect_view()}
                        </ul>
                        <div class="flex flex-col gap-2 sm:flex-row">
                            <button type="button" class=BTN disabled=move || busy.get() on:click=move |_| approve(true)>"Allow"</button>
                            <button type="button" class=BTN2 disabled=move || busy.get() on:click=move |_| deny(false)>"Deny"</button>
                        </div>
                    }.into_any()
                }
            }}
            <ErrorBox error />
        </div>
    }
}

fn scope_text(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are (your account id)".into(),
        "email" => "See your email address".into(),
        "profile" => "See your basic profile".into(),
        "offline_access" => "Stay signed in when you are away (refresh tokens)".into(),
        other => format!("Use the scope `{other}`"),
    }
}
