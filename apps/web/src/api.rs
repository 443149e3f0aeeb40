//! Browser side of the service probes: `fetch` a URL with a time limit and hand back the raw
//! [`HttpReply`] for [`crate::status`] to interpret.

use std::{cell::Cell, rc::Rc};

use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Request, RequestCache, RequestCredentials, RequestInit, RequestMode, Response,
};

use crate::status::{FetchError, HttpReply};

/// How long a probe waits for an answer (headers and body) before giving up.
pub const TIMEOUT_SECONDS: u32 = 5;

/// `GET url` from the browser, without cookies and without the HTTP cache.
pub async fn get(url: &str) -> Result<HttpReply, FetchError> {
    let window = web_sys::window().ok_or_else(|| FetchError::Network("no window".to_owned()))?;
    let controller = AbortController::new().map_err(|e| network(&e))?;

    let init = RequestInit::new();
    init.set_method("GET");
    init.set_mode(RequestMode::Cors);
    init.set_cache(RequestCache::NoStore);
    init.set_credentials(RequestCredentials::Omit);
    init.set_signal(Some(&controller.signal()));
    let request = Request::new_with_str_and_init(url, &init).map_err(|e| network(&e))?;
    request
        .headers()
        .set("Accept", "application/json")
        .map_err(|e| network(&e))?;

    let timed_out = Rc::new(Cell::new(false));
    let on_timeout = {
        let timed_out = Rc::clone(&timed_out);
        Closure::<dyn FnMut()>::new(move || {
            timed_out.set(true);
            controller.abort();
        })
    };
    let timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            on_timeout.as_ref().unchecked_ref(),
            i32::try_from(TIMEOUT_SECONDS * 1000).unwrap_or(i32::MAX),
        )
        .map_err(|e| network(&e))?;

    let result = fetch_text(&window, &request).await;
    window.clear_timeout_with_handle(timer);
    drop(on_timeout);

    result.map_err(|e| {
        if timed_out.get() {
            FetchError::Timeout {
                seconds: TIMEOUT_SECONDS,
            }
        } else {
            network(&e)
        }
    })
}

async fn fetch_text(window: &web_sys::Window, request: &Request) -> Result<HttpReply, JsValue> {
    let response: Response = JsFuture::from(window.fetch_with_request(request))
        .await?
        .dyn_into()?;
    let body = JsFuture::from(response.text()?).await?;
    Ok(HttpReply {
        status: response.status(),
        body: body.as_string().unwrap_or_default(),
    })
}

/// Turns a JS exception into a [`FetchError::Network`] with its message.
fn network(error: &JsValue) -> FetchError {
    let detail = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .or_else(|| error.as_string())
        .unwrap_or_default();
    FetchError::Network(detail)
}
