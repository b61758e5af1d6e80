//! The page going away: on `visibilitychange` to hidden and on `pagehide`,
//! open chunks are sealed and what is queued goes out at once with
//! `fetch(..., { keepalive: true })`, which the browser completes even after
//! the page is gone, within its 64 KiB budget of keepalive bodies.

use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, EventTarget, VisibilityState};

use super::client::Inner;
use super::transport_fetch::FetchSender;
use crate::engine::pipeline::{Action, Batch, Failure};
use crate::wire;

/// Browsers refuse a keepalive request once the bodies of those in flight
/// would pass 64 KiB; a little is left for the request line and headers.
const KEEPALIVE_BUDGET: usize = 63 * 1024;

/// The listeners on the page, removed when dropped.
pub(crate) struct PageHooks {
    document: EventTarget,
    window: EventTarget,
    on_visibility: Closure<dyn FnMut()>,
    on_pagehide: Closure<dyn FnMut()>,
}

impl PageHooks {
    /// Listens on the page, when there is one (not in workers or Node).
    pub(crate) fn install(inner: Weak<Inner>) -> Option<PageHooks> {
        let global = js_sys::global();
        let document = super::js::get(&global, &JsValue::from_str("document"));
        if !document.is_object() {
            return None;
        }
        let document: Document = document.unchecked_into();
        let visible = document.clone();
        let weak = inner.clone();
        let on_visibility = Closure::<dyn FnMut()>::new(move || {
            if visible.visibility_state() == VisibilityState::Hidden {
                if let Some(inner) = weak.upgrade() {
                    send_before_exit(&inner);
                }
            }
        });
        let on_pagehide = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = inner.upgrade() {
                send_before_exit(&inner);
            }
        });
        let window: EventTarget = global.unchecked_into();
        let document: EventTarget = document.into();
        let listen = |target: &EventTarget, name: &str, f: &Closure<dyn FnMut()>| {
            target.add_event_listener_with_callback(name, f.as_ref().unchecked_ref()).is_ok()
        };
        if !listen(&document, "visibilitychange", &on_visibility) || !listen(&window, "pagehide", &on_pagehide) {
            return None;
        }
        Some(PageHooks { document, window, on_visibility, on_pagehide })
    }
}

impl Drop for PageHooks {
    fn drop(&mut self) {
        let _ = self
            .document
            .remove_event_listener_with_callback("visibilitychange", self.on_visibility.as_ref().unchecked_ref());
        let _ = self.window.remove_event_listener_with_callback("pagehide", self.on_pagehide.as_ref().unchecked_ref());
    }
}

/// Seals everything and starts sending all that the pipeline hands out,
/// now, in this event's task: keepalive requests while the budget lasts,
/// ordinary ones beyond it (those may be cancelled with the page).
pub(crate) fn send_before_exit(inner: &Rc<Inner>) {
    if inner.is_stopped() {
        return;
    }
    inner.core.seal_all();
    let sender = FetchSender::plain(&inner.endpoint);
    loop {
        match inner.core.poll() {
            Action::Flush => {
                inner.core.seal_all();
            }
            Action::Send(batch) => send_batch(inner, &sender, batch),
            Action::WaitUntil(_) | Action::Idle => break,
        }
    }
}

/// Starts the requests of one batch: chunks are packed into bodies that
/// fit what is left of the keepalive budget (a batch body is its chunks'
/// encodings one after another), and the batch is acknowledged only when
/// every request was.
fn send_batch(inner: &Rc<Inner>, sender: &FetchSender, batch: Batch) {
    let mut requests = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut reserved = 0;
    let mut start = |body: &mut Vec<u8>, keepalive: bool| {
        if !body.is_empty() {
            requests.push(sender.post_now(std::mem::take(body), keepalive));
        }
    };
    for chunk in &batch.chunks {
        let mut part = Vec::new();
        wire::put_chunk(&mut part, chunk);
        let free = KEEPALIVE_BUDGET.saturating_sub(inner.keepalive_bytes.get() + reserved);
        if body.len() + part.len() > free {
            reserved += body.len();
            start(&mut body, true);
        }
        let free = KEEPALIVE_BUDGET.saturating_sub(inner.keepalive_bytes.get() + reserved);
        if part.len() > free {
            let mut alone = part;
            start(&mut alone, false);
        } else {
            body.extend_from_slice(&part);
        }
    }
    reserved += body.len();
    start(&mut body, true);
    inner.keepalive_bytes.set(inner.keepalive_bytes.get() + reserved);
    let inner = inner.clone();
    spawn_local(async move {
        let mut outcome: Result<(), Failure> = Ok(());
        for request in requests {
            if let Err(failure) = request.await {
                outcome = outcome.and(Err(failure));
            }
        }
        inner.keepalive_bytes.set(inner.keepalive_bytes.get().saturating_sub(reserved));
        inner.finish(batch.id, outcome);
    });
}
