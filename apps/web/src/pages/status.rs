//! `/`: the status page. Probes `/health` and `/ready` of genesis and permesi from
//! the browser and shows each answer, with a refresh button.

use leptos::{prelude::*, task::spawn_local};

use crate::{
    api,
    components::{Badge, badge_classes},
    config,
    status::{self, Health, Overall, Readiness, Tone},
    url,
};

/// Status page.
#[component]
pub fn StatusPage() -> impl IntoView {
    let genesis = RwSignal::new(None::<Health>);
    let permesi = RwSignal::new(None::<Health>);
    let genesis_ready = RwSignal::new(None::<Readiness>);
    let ready = RwSignal::new(None::<Readiness>);
    let checked_at = RwSignal::new(None::<String>);

    let busy = move || {
        genesis.with(Option::is_none)
            || permesi.with(Option::is_none)
            || genesis_ready.with(Option::is_none)
            || ready.with(Option::is_none)
    };
    let summary = move || {
        status::overall(&[
            (genesis.get().as_ref(), genesis_ready.get().as_ref()),
            (permesi.get().as_ref(), ready.get().as_ref()),
        ])
    };

    let refresh = move || {
        genesis.set(None);
        permesi.set(None);
        ready.set(None);
        genesis_ready.set(None);
        probe_health(url::join(config::TOKEN_BASE_URL, "/health"), genesis);
        probe_health(url::join(config::API_BASE_URL, "/health"), permesi);
        probe_ready(url::join(config::TOKEN_BASE_URL, "/ready"), genesis_ready);
        probe_ready(url::join(config::API_BASE_URL, "/ready"), ready);
    };
    refresh();

    Effect::new(move |_| {
        if !busy() {
            checked_at.set(Some(now_clock()));
        }
    });

    view! {
        <div class="space-y-6">
            <div class="flex flex-col gap-4 sm:flex-row sm:items-end sm:justify-between">
                <div>
                    <h1 class="text-2xl font-semibold tracking-tight sm:text-3xl">"Service status"</h1>
                    <p class="mt-1 text-sm text-slate-600">
                        "Health of the permesi stack, as seen from this browser."
                    </p>
                </div>
                <RefreshButton busy=Signal::derive(busy) on_refresh=refresh />
            </div>

            <Summary summary=Signal::derive(summary) checked_at />

            {move || (summary() == Overall::Down).then(down_hint)}

            <div class="grid gap-4 md:grid-cols-2">
                <ServiceCard
                    name="genesis"
                    role="Edge admission: proof of work and admission tokens"
                    base=config::TOKEN_BASE_URL
                >
                    <HealthRow path="/health" state=genesis />
                    <ReadyRow state=genesis_ready />
                </ServiceCard>
                <ServiceCard
                    name="permesi"
                    role="Core identity: accounts, sessions, OIDC, tenancy"
                    base=config::API_BASE_URL
                >
                    <HealthRow path="/health" state=permesi />
                    <ReadyRow state=ready />
                </ServiceCard>
            </div>
        </div>
    }
}

/// Fetches a `/ready` report into `target`.
fn probe_ready(url: String, target: RwSignal<Option<Readiness>>) {
    spawn_local(async move {
        let outcome = status::interpret_ready(api::get(&url).await);
        // The page may have been left while the request ran; then there is nothing to set.
        let _ = target.try_set(Some(outcome));
    });
}

/// The refresh button. While probes run it is `aria-disabled` (not `disabled`), so keyboard
/// focus stays on it, and clicks are ignored.
#[component]
fn RefreshButton(busy: Signal<bool>, on_refresh: impl Fn() + 'static) -> impl IntoView {
    view! {
        <button
            type="button"
            // aria-disabled rather than disabled, so keyboard focus stays on the button.
            aria-disabled=move || busy.get().to_string()
            on:click=move |_| {
                if !busy.get() {
                    on_refresh();
                }
            }
            class="inline-flex w-full items-center justify-center gap-2 rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:cursor-wait aria-disabled:opacity-70 sm:w-auto"
        >
            <svg
                aria-hidden="true"
                viewBox="0 0 20 20"
                fill="currentColor"
                class=move || if busy.get() { "h-4 w-4 animate-spin" } else { "h-4 w-4" }
            >
                <path
                    fill-rule="evenodd"
                    d="M15.312 11.424a5.5 5.5 0 0 1-9.201 2.466l-.312-.311h2.433a.75.75 0 0 0 0-1.5H3.989a.75.75 0 0 0-.75.75v4.242a.75.75 0 0 0 1.5 0v-2.43l.31.31a7 7 0 0 0 11.712-3.138.75.75 0 0 0-1.449-.39Zm1.23-3.723a.75.75 0 0 0 .219-.53V2.929a.75.75 0 0 0-1.5 0V5.36l-.31-.31A7 7 0 0 0 3.239 8.188a.75.75 0 1 0 1.448.389A5.5 5.5 0 0 1 13.89 6.11l.311.31h-2.432a.75.75 0 0 0 0 1.5h4.243a.75.75 0 0 0 .53-.219Z"
                    clip-rule="evenodd"
                ></path>
            </svg>
            {move || if busy.get() { "Checking…" } else { "Refresh" }}
        </button>
    }
}

/// The summary banner, announced to screen readers when it changes.
#[component]
fn Summary(summary: Signal<Overall>, checked_at: RwSignal<Option<String>>) -> impl IntoView {
    view! {
        <div
            role="status"
            aria-live="polite"
            class=move || {
                format!(
                    "flex flex-wrap items-center justify-between gap-x-4 gap-y-1 rounded-xl px-4 py-3 ring-1 ring-inset {}",
                    badge_classes(summary.get().tone()),
                )
            }
        >
            <p class="font-semibold">{move || summary.get().headline()}</p>
            <p class="text-xs opacity-80">
                {move || checked_at.get().map(|t| format!("Last checked at {t}"))}
            </p>
        </div>
    }
}

/// Starts `GET url` and stores the interpreted answer in `state`.
fn probe_health(url: String, state: RwSignal<Option<Health>>) {
    spawn_local(async move {
        let outcome = status::interpret_health(api::get(&url).await);
        let _ = state.try_set(Some(outcome));
    });
}

/// Local wall-clock time as `HH:MM:SS`.
fn now_clock() -> String {
    let now = js_sys::Date::new_0();
    status::clock(now.get_hours(), now.get_minutes(), now.get_seconds())
}

/// The origin this page was loaded from, for the CORS hint.
fn page_origin() -> Option<String> {
    web_sys::window().and_then(|w| w.location().origin().ok())
}

/// What to do when nothing answers.
fn down_hint() -> impl IntoView {
    let origin = page_origin().unwrap_or_else(|| "this page's origin".to_owned());
    view! {
        <div class="rounded-xl border border-slate-200 bg-white px-4 py-3 text-sm text-slate-700">
            <p class="font-medium text-slate-900">"No service answered."</p>
            <p class="mt-1">
                "Start the stack (" <code class="rounded bg-slate-100 px-1 font-mono text-xs">"just start"</code>
                ") and check that genesis and permesi allow CORS requests from "
                <code class="break-all rounded bg-slate-100 px-1 font-mono text-xs">{origin}</code> "."
            </p>
        </div>
    }
}

#[component]
fn ServiceCard(
    name: &'static str,
    role: &'static str,
    base: &'static str,
    children: Children,
) -> impl IntoView {
    let heading_id = format!("service-{name}");
    let labelled_by = heading_id.clone();
    view! {
        <section
            aria-labelledby=labelled_by
            class="min-w-0 rounded-xl border border-slate-200 bg-white shadow-sm"
        >
            <header class="border-b border-slate-100 px-4 py-3 sm:px-5">
                <h2 id=heading_id class="text-base font-semibold text-slate-900">
                    {name}
                </h2>
                <p class="text-sm text-slate-600">{role}</p>
                <p class="mt-1 truncate font-mono text-xs text-slate-500" title=base>
                    {url::origin(base)}
                </p>
                {(!url::is_http_base(base))
                    .then(|| {
                        view! {
                            <p class="mt-1 text-xs font-medium text-rose-700">
                                "Configured base URL is not an absolute http(s) URL; rebuild with a valid one."
                            </p>
                        }
                    })}
            </header>
            <div class="divide-y divide-slate-100 px-4 sm:px-5">{children()}</div>
        </section>
    }
}

/// One probe: the request on the left, the badge on the right, details underneath.
#[component]
fn ProbeLine(
    path: &'static str,
    #[prop(into)] badge: Signal<(Tone, String)>,
    #[prop(into)] detail: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <div class="flex items-start justify-between gap-3">
            <div class="min-w-0">
                <p class="font-mono text-sm text-slate-800">
                    <span class="text-slate-500">"GET "</span>
                    {path}
                </p>
                {move || {
                    detail
                        .get()
                        .map(|d| view! { <p class="mt-1 break-words text-sm text-slate-600">{d}</p> })
                }}
            </div>
            {move || {
                let (tone, label) = badge.get();
                view! { <Badge tone label /> }
            }}
        </div>
    }
}

#[component]
fn HealthRow(path: &'static str, state: RwSignal<Option<Health>>) -> impl IntoView {
    let badge = Signal::derive(move || {
        state.with(|h| h.as_ref().map_or_else(pending, |h| (h.tone(), h.label())))
    });
    let detail = Signal::derive(move || {
        state.with(|h| h.as_ref().and_then(Health::detail).map(str::to_owned))
    });
    view! {
        <div class="py-3">
            <ProbeLine path badge detail />
        </div>
    }
}

#[component]
fn ReadyRow(state: RwSignal<Option<Readiness>>) -> impl IntoView {
    let badge = Signal::derive(move || {
        state.with(|r| r.as_ref().map_or_else(pending, |r| (r.tone(), r.label())))
    });
    let detail = Signal::derive(move || {
        state.with(|r| r.as_ref().and_then(Readiness::detail).map(str::to_owned))
    });
    let checks =
        move || state.with(|r| r.as_ref().map(|r| r.checks().to_vec()).unwrap_or_default());
    view! {
        <div class="py-3">
            <ProbeLine path="/ready" badge detail />
            {move || {
                let checks = checks();
                (!checks.is_empty())
                    .then(|| {
                        view! {
                            <ul aria-label="Readiness checks" class="mt-3 space-y-1.5">
                                {checks
                                    .into_iter()
                                    .map(|check| {
                                        let detail = check.state.detail().map(str::to_owned);
                                        let tone = check.state.tone();
                                        let label = check.state.label().to_owned();
                                        view! {
                                            <li class="flex items-start justify-between gap-3 rounded-md bg-slate-50 px-3 py-2 text-sm">
                                                <div class="min-w-0">
                                                    <span class="font-medium text-slate-800">{check.name}</span>
                                                    {detail
                                                        .map(|d| {
                                                            view! {
                                                                <p class="mt-0.5 break-words text-xs text-rose-700">{d}</p>
                                                            }
                                                        })}
                                                </div>
                                                <Badge tone label />
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                    })
            }}
        </div>
    }
}

fn pending() -> (Tone, String) {
    (Tone::Pending, "Checking…".to_owned())
}
