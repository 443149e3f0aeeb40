//! Who is signed in: one context, loaded from `GET /v1/auth/session` at start and after each
//! login or logout.

use leptos::{prelude::*, task::spawn_local};

use crate::client::{self, Me};

/// The console's view of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Not known yet (first load).
    Loading,
    /// No session.
    Anonymous,
    /// Signed in.
    User(Me),
}

/// Shared session state.
#[derive(Clone, Copy)]
pub struct SessionCtx(pub RwSignal<Auth>);

impl SessionCtx {
    /// Re-reads the session from the API.
    pub fn refresh(self) {
        spawn_local(async move {
            let next = match client::session().await {
                Ok(Some(s)) => Auth::User(s.user),
                _ => Auth::Anonymous,
            };
            self.0.set(next);
        });
    }
}

/// Creates the context and starts loading it.
pub fn provide() -> SessionCtx {
    let ctx = SessionCtx(RwSignal::new(Auth::Loading));
    provide_context(ctx);
    ctx.refresh();
    ctx
}

/// The context provided by the app shell.
pub fn use_session() -> SessionCtx {
    expect_context::<SessionCtx>()
}
