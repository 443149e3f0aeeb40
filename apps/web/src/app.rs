//! The app shell: header with product name and navigation, the router, and a footer that shows
//! the build-time configuration.

use leptos::prelude::*;
use leptos_router::{
    components::{A, Route, Router, Routes},
    path,
};

use crate::{
    client, config,
    pages::{
        AcceptInvitationPage, AdminClaimPage, AdminPage, ConsentPage, EnvironmentPage,
        ForgotPasswordPage, LoginPage, NotFound, OrgPage, OrgsPage, ProjectPage, ResetPasswordPage,
        SecurityPage, SignupPage, StatusPage, VerifyEmailPage,
    },
    reauth::{self, ReauthDialog},
    session::{self, Auth},
};

/// Root component.
#[component]
pub fn App() -> impl IntoView {
    session::provide();
    reauth::provide();
    view! {
        <Router>
            <div class="flex min-h-screen flex-col bg-slate-50 text-slate-900">
                <a
                    href="#main"
                    class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded-md focus:bg-white focus:px-3 focus:py-2 focus:text-sm focus:font-medium focus:shadow focus:outline-2 focus:outline-indigo-600"
                >
                    "Skip to content"
                </a>
                <Header />
                <main id="main" tabindex="-1" class="mx-auto w-full max-w-5xl flex-1 px-4 py-6 focus:outline-none sm:px-6 sm:py-10">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=path!("/") view=StatusPage />
                        <Route path=path!("/signup") view=SignupPage />
                        <Route path=path!("/verify-email") view=VerifyEmailPage />
                        <Route path=path!("/login") view=LoginPage />
                        <Route path=path!("/forgot-password") view=ForgotPasswordPage />
                        <Route path=path!("/reset-password") view=ResetPasswordPage />
                        <Route path=path!("/consent") view=ConsentPage />
                        <Route path=path!("/console/me/security") view=SecurityPage />
                        <Route path=path!("/console/orgs") view=OrgsPage />
                        <Route path=path!("/console/orgs/:org") view=OrgPage />
                        <Route path=path!("/console/orgs/:org/projects/:project") view=ProjectPage />
                        <Route path=path!("/console/orgs/:org/projects/:project/environments/:env") view=EnvironmentPage />
                        <Route path=path!("/invitations/accept") view=AcceptInvitationPage />
                        <Route path=path!("/admin") view=AdminPage />
                        <Route path=path!("/admin/claim") view=AdminClaimPage />
                    </Routes>
                </main>
                <Footer />
                <ReauthDialog />
            </div>
        </Router>
    }
}

const NAV_LINK: &str = "block whitespace-nowrap rounded-md px-3 py-2 font-medium text-slate-700 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-indigo-600 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700";

#[component]
fn Header() -> impl IntoView {
    let session = session::use_session();
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            let _ = client::logout().await;
            session.refresh();
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/login");
            }
        });
    };
    view! {
        <header class="border-b border-slate-200 bg-white">
            <div class="mx-auto flex w-full max-w-5xl flex-wrap items-center justify-between gap-x-6 gap-y-2 px-4 py-3 sm:px-6">
                <A
                    href="/"
                    attr:class="flex items-center gap-2 rounded-md text-lg font-semibold tracking-tight text-slate-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                >
                    <span aria-hidden="true" class="grid h-7 w-7 place-items-center rounded-md bg-indigo-600 text-sm font-bold text-white">
                        "p"
                    </span>
                    <span>"permesi"</span>
                    <span class="rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-600">
                        "console"
                    </span>
                </A>
                <nav aria-label="Main" class="-mx-1 max-w-full overflow-x-auto">
                    <ul class="flex flex-wrap items-center gap-1 text-sm">
                        <li><A href="/" exact=true attr:class=NAV_LINK>"Status"</A></li>
                        {move || match session.0.get() {
                            Auth::User(me) => view! {
                                <li><A href="/console/orgs" attr:class=NAV_LINK>"Organizations"</A></li>
                                <li><A href="/console/me/security" attr:class=NAV_LINK>"Security"</A></li>
                                <li><A href="/admin" exact=true attr:class=NAV_LINK>"Admin"</A></li>
                                <li class="hidden max-w-[12rem] truncate px-2 text-slate-500 md:block" data-testid="whoami">{me.email}</li>
                                <li><button type="button" class=NAV_LINK on:click=logout>"Sign out"</button></li>
                            }.into_any(),
                            _ => view! {
                                <li><A href="/login" attr:class=NAV_LINK>"Sign in"</A></li>
                                <li><A href="/signup" attr:class=NAV_LINK>"Sign up"</A></li>
                            }.into_any(),
                        }}
                    </ul>
                </nav>
            </div>
        </header>
    }
}

#[component]
fn Footer() -> impl IntoView {
    view! {
        <footer class="border-t border-slate-200 bg-white">
            <dl class="mx-auto flex w-full max-w-5xl flex-col gap-1 px-4 py-4 text-xs text-slate-500 sm:flex-row sm:flex-wrap sm:gap-x-6 sm:px-6">
                <FooterItem term="genesis" value=config::TOKEN_BASE_URL />
                <FooterItem term="permesi" value=config::API_BASE_URL />
                <FooterItem term="client id" value=config::CLIENT_ID />
            </dl>
        </footer>
    }
}

#[component]
fn FooterItem(term: &'static str, value: &'static str) -> impl IntoView {
    view! {
        <div class="flex min-w-0 gap-1">
            <dt class="font-medium text-slate-600">{term}":"</dt>
            <dd class="truncate font-mono">{value}</dd>
        </div>
    }
}
