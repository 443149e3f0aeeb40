//! Small shared view pieces.

use leptos::prelude::*;

use crate::{
    admission::ProgressSignal,
    client::ApiError,
    session::{Auth, use_session},
    status::Tone,
};

/// Tailwind classes for a badge of the given tone.
pub fn badge_classes(tone: Tone) -> &'static str {
    match tone {
        Tone::Pending => "bg-slate-100 text-slate-700 ring-slate-300",
        Tone::Good => "bg-emerald-50 text-emerald-800 ring-emerald-600/30",
        Tone::Warn => "bg-amber-50 text-amber-900 ring-amber-600/30",
        Tone::Bad => "bg-rose-50 text-rose-800 ring-rose-600/30",
        Tone::Neutral => "bg-slate-50 text-slate-700 ring-slate-400/30",
    }
}

/// Tailwind classes for the dot inside a badge.
pub fn dot_classes(tone: Tone) -> &'static str {
    match tone {
        Tone::Pending => "bg-slate-400 animate-pulse",
        Tone::Good => "bg-emerald-500",
        Tone::Warn => "bg-amber-500",
        Tone::Bad => "bg-rose-500",
        Tone::Neutral => "bg-slate-400",
    }
}

/// A pill with a coloured dot and a text label.
#[component]
pub fn Badge(tone: Tone, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <span class=format!(
            "inline-flex shrink-0 items-center gap-1.5 whitespace-nowrap rounded-full px-2.5 py-0.5 text-xs font-medium ring-1 ring-inset {}",
            badge_classes(tone),
        )>
            <span aria-hidden="true" class=format!("h-1.5 w-1.5 rounded-full {}", dot_classes(tone))></span>
            {label}
        </span>
    }
}

/// Moves the keyboard focus to the element with `id` once the browser has rendered it (for
/// inputs that appear after a step of a form, where `autofocus` does not apply).
pub fn focus_id(id: &'static str) {
    use wasm_bindgen::JsCast;
    leptos::task::spawn_local(async move {
        crate::admission::yield_now().await;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
}

/// Classes of a primary button.
pub const BTN: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white shadow-sm hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-not-allowed disabled:opacity-60";
/// Classes of a secondary button.
pub const BTN2: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-white px-3 py-2 text-sm font-medium text-slate-800 shadow-sm ring-1 ring-inset ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-not-allowed disabled:opacity-60";
/// Classes of a destructive button.
pub const BTN_DANGER: &str = "inline-flex items-center justify-center gap-2 rounded-md bg-white px-3 py-2 text-sm font-medium text-rose-700 shadow-sm ring-1 ring-inset ring-rose-300 hover:bg-rose-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-rose-600 disabled:cursor-not-allowed disabled:opacity-60";
/// Classes of a text input.
pub const INPUT: &str = "block w-full rounded-md border-0 bg-white px-3 py-2 text-slate-900 shadow-sm ring-1 ring-inset ring-slate-300 placeholder:text-slate-400 focus:ring-2 focus:ring-inset focus:ring-indigo-600 sm:text-sm";
/// Classes of a card.
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-4 shadow-sm sm:p-6";
/// Classes of an in-text link.
pub const LINK: &str = "font-medium text-indigo-700 underline-offset-2 hover:underline focus-visible:outline-2 focus-visible:outline-indigo-600";

/// A labelled input bound to a signal.
#[component]
pub fn Field(
    label: &'static str,
    id: &'static str,
    value: RwSignal<String>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(default = true)] required: bool,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] autofocus: bool,
    #[prop(optional)] inputmode: Option<&'static str>,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <div class="space-y-1">
            <label for=id class="block text-sm font-medium text-slate-800">{label}</label>
            <input
                id=id
                name=id
                type=kind
                class=INPUT
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                inputmode=inputmode
                aria-describedby=hint.map(|_| hint_id.clone())
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            {hint.map(|h| view! { <p id=hint_id.clone() class="text-xs text-slate-500">{h}</p> })}
        </div>
    }
}

/// An error message (`role="alert"`) when the signal holds one.
#[component]
pub fn ErrorBox(error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! {
                <div role="alert" data-testid="error" class="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800">
                    {e.to_string()}
                </div>
            }
        })
    }
}

/// A success notice (`role="status"`).
#[component]
pub fn Notice(message: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        message.get().map(|m| {
            view! {
                <div role="status" class="rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
                    {m}
                </div>
            }
        })
    }
}

/// The progress of a long step (proof of work, Argon2id, a request).
#[component]
pub fn ProgressBox(progress: ProgressSignal) -> impl IntoView {
    move || {
        progress.get().map(|p| {
            view! {
                <div role="status" aria-live="polite" data-testid="progress" class="space-y-1 text-sm text-slate-700">
                    <p>{p.label.clone()}</p>
                    {match p.percent {
                        Some(v) => view! {
                            <progress class="h-2 w-full accent-indigo-600" max="100" value=v.to_string()>{format!("{v}%")}</progress>
                        }.into_any(),
                        None => view! { <progress class="h-2 w-full accent-indigo-600"></progress> }.into_any(),
                    }}
                </div>
            }
        })
    }
}

/// "Loading…" placeholder.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p role="status" class="animate-pulse text-sm text-slate-500">"Loading…"</p> }
}

/// A page title with an optional subtitle.
#[component]
pub fn PageTitle(
    #[prop(into)] title: String,
    #[prop(optional, into)] subtitle: Option<String>,
) -> impl IntoView {
    view! {
        <div class="mb-6">
            <h1 class="text-2xl font-semibold tracking-tight sm:text-3xl">{title}</h1>
            {subtitle.map(|s| view! { <p class="mt-1 text-sm text-slate-600">{s}</p> })}
        </div>
    }
}

/// Renders `children` for a signed-in user; otherwise a sign-in prompt that comes back here.
#[component]
pub fn RequireUser(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    move || match session.0.get() {
        Auth::Loading => view! { <Loading /> }.into_any(),
        Auth::Anonymous => {
            let here = web_sys::window()
                .and_then(|w| w.location().pathname().ok())
                .unwrap_or_default();
            let href = format!("/login?next={}", crate::client::enc(&here));
            view! {
                <div class=CARD>
                    <p class="text-sm text-slate-700">"You need to sign in to see this page."</p>
                    <a href=href class=format!("mt-4 {BTN}")>"Sign in"</a>
                </div>
            }
            .into_any()
        }
        Auth::User(_) => children().into_any(),
    }
}

/// A value shown once (a secret, recovery codes) with a warning.
#[component]
pub fn ShownOnce(
    #[prop(into)] title: String,
    #[prop(into)] text: String,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <div class="rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
            <p class="font-medium text-amber-900">{title}</p>
            <p class="text-amber-800">"Copy it now: it will not be shown again."</p>
            <pre data-testid=testid class="mt-2 overflow-x-auto whitespace-pre-wrap break-all rounded bg-white p-2 font-mono text-slate-900 ring-1 ring-amber-200">
                {text}
            </pre>
        </div>
    }
}
