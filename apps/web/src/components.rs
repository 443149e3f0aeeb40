//! Small shared view pieces.

use leptos::prelude::*;

use crate::status::Tone;

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
