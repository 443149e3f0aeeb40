//! The app shell: header with product name and navigation, the router, and a footer that shows
//! the build-time configuration.

use leptos::prelude::*;
use leptos_router::{
    components::{A, Route, Router, Routes},
    path,
};

use crate::{
    config,
    pages::{NotFound, StatusPage},
};

/// Root component.
#[component]
pub fn App() -> impl IntoView {
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
                    </Routes>
                </main>
                <Footer />
            </div>
        </Router>
    }
}

/// Sections that will exist; shown greyed out until their pages land.
const UPCOMING: [&str; 3] = ["Sign in", "Organizations", "Admin"];

#[component]
fn Header() -> impl IntoView {
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
                <nav aria-label="Main" class="-mx-1 overflow-x-auto">
                    <ul class="flex items-center gap-1 text-sm">
                        <li>
                            <A
                                href="/"
                                exact=true
                                attr:class="block rounded-md px-3 py-2 font-medium text-slate-700 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-indigo-600 aria-[current=page]:bg-indigo-50 aria-[current=page]:text-indigo-700"
                            >
                                "Status"
                            </A>
                        </li>
                        {UPCOMING
                            .iter()
                            .map(|name| {
                                view! {
                                    <li>
                                        <span
                                            aria-disabled="true"
                                            title="Coming soon"
                                            class="block cursor-not-allowed whitespace-nowrap rounded-md px-3 py-2 text-slate-400"
                                        >
                                            {*name}
                                        </span>
                                    </li>
                                }
                            })
                            .collect_view()}
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
