//! The page for any route that does not exist.

use leptos::prelude::*;
use leptos_router::components::A;

/// 404 page.
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section aria-labelledby="not-found-title" class="mx-auto max-w-md py-16 text-center">
            <p class="text-sm font-semibold text-indigo-600">"404"</p>
            <h1 id="not-found-title" class="mt-2 text-2xl font-semibold tracking-tight sm:text-3xl">
                "Page not found"
            </h1>
            <p class="mt-3 text-slate-600">"There is nothing at this address in the console."</p>
            <A
                href="/"
                attr:class="mt-6 inline-flex items-center rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
            >
                "Back to status"
            </A>
        </section>
    }
}
