//! `fetch` (its native half: the prelude normalizes the arguments), `aether-plugin:` URLs, and
//! `aether.listen`'s natives. Every request goes to the host; no socket reaches the plugin.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use aether_protocol::HostRequest;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Object, Promise, Result, TypedArray, Value};

use super::args::{header_pairs, malformed, usv_string, whole_id, whole_ms};
use super::host_call;
use crate::gate::Gate;
use crate::sys;
use crate::tasks::SlowCalls;

/// `fetch` of an `aether-plugin:/<path>` URL (SPEC §5): the plugin's file as the host's
/// response object, synchronously (the bytes are already in memory, verified; no network).
pub(super) fn plugin_file_fn<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<Function<'js>> {
    let gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, url: String| -> Result<Value<'js>> {
            host_call(&ctx, &gate, HostRequest::PluginFile { url })
        },
    )
}

/// The native half of `fetch` (the JavaScript half in the prelude normalizes the arguments):
/// `(url, method, [[name, value]...], body?: Uint8Array, redirect, timeoutMs?)` → a promise of
/// `{status, statusText, url, redirected, headers: [[name, value]...], body: Uint8Array}`.
pub(super) fn fetch_fn<'js>(
    ctx: &Ctx<'js>,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
) -> Result<Function<'js>> {
    let calls = Rc::clone(calls);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              url: rquickjs::String<'js>,
              method: String,
              headers: Vec<Vec<String>>,
              body: Opt<Value<'js>>,
              redirect: String,
              timeout_ms: Opt<Value<'js>>|
              -> Result<Promise<'js>> {
            // WebIDL USVString, as `fetch` takes its input: lone surrogates become U+FFFD, so
            // the URL is checked against the grant like any other (SPEC §5, the grant first).
            let url = usv_string(&ctx, &url)?;
            let headers = header_pairs(headers);
            let body = body
                .0
                .and_then(|v| TypedArray::<u8>::from_value(v).ok())
                .and_then(|a| sys::copy_bytes(&a));
            let timeout_ms = whole_ms(timeout_ms.0);
            let request = HostRequest::Fetch {
                url,
                method,
                headers,
                body,
                redirect,
                timeout_ms,
            };
            calls.borrow_mut().start(&ctx, request)
        },
    )
}

/// The native half of a `fetch` whose other arguments the prelude found wrong: `(url,
/// problem)` → a promise that rejects, after the host has checked the URL first
/// ([`HostRequest::Malformed`]).
pub(super) fn fetch_malformed_fn<'js>(
    ctx: &Ctx<'js>,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
) -> Result<Function<'js>> {
    let calls = Rc::clone(calls);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              url: rquickjs::String<'js>,
              problem: rquickjs::String<'js>|
              -> Result<Promise<'js>> {
            let request = HostRequest::Fetch {
                url: usv_string(&ctx, &url)?,
                method: String::new(),
                headers: Vec::new(),
                body: None,
                redirect: String::new(),
                timeout_ms: None,
            };
            let request = malformed(&ctx, request, Some(problem.into_value()))?;
            calls.borrow_mut().start(&ctx, request)
        },
    )
}

/// The native half of `aether.listen` (the prelude checks the arguments and builds the server
/// and request objects): `listen(hostname?, port, problem?)` → a listener id, thrown
/// `PermissionDenied` when ungranted (with `problem`, the port was not one: pass 0; the host
/// checks the hostname first and throws, see [`HostRequest::Malformed`]); `accept(id)` → a promise of `{id, method, url, headers, body}` or
/// `undefined` once closed; `respond(id, status, [[name, value]...], body)`; `close(id)`.
pub(super) fn install_listen_natives<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
    natives: &Object<'js>,
) -> Result<()> {
    let listen_gate = Arc::clone(gate);
    natives.set(
        "listen",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  hostname: Opt<Value<'js>>,
                  port: u16,
                  problem: Opt<Value<'js>>|
                  -> Result<Value<'js>> {
                let hostname = match hostname.0.and_then(|v| v.as_string().cloned()) {
                    Some(s) => usv_string(&ctx, &s)?,
                    None => aether_policy::DEFAULT_LISTEN_HOSTNAME.to_owned(),
                };
                let request = malformed(&ctx, HostRequest::Listen { hostname, port }, problem.0)?;
                host_call(&ctx, &listen_gate, request)
            },
        )?,
    )?;
    let calls = Rc::clone(calls);
    natives.set(
        "accept",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, listener: f64| -> Result<Promise<'js>> {
                let request = HostRequest::Accept {
                    listener: whole_id(listener),
                };
                calls.borrow_mut().start(&ctx, request)
            },
        )?,
    )?;
    let respond_gate = Arc::clone(gate);
    natives.set(
        "respond",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  request: f64,
                  status: f64,
                  headers: Vec<Vec<String>>,
                  body: TypedArray<'js, u8>|
                  -> Result<Value<'js>> {
                let request = HostRequest::Respond {
                    request: whole_id(request),
                    // Out of range becomes 0, which the host refuses with a TypeError.
                    status: u16::try_from(whole_id(status)).unwrap_or(0),
                    headers: header_pairs(headers),
                    body: sys::copy_bytes(&body).unwrap_or_default(),
                };
                host_call(&ctx, &respond_gate, request)
            },
        )?,
    )?;
    let close_gate = Arc::clone(gate);
    natives.set(
        "close",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, listener: f64| -> Result<Value<'js>> {
                let request = HostRequest::CloseListener {
                    listener: whole_id(listener),
                };
                host_call(&ctx, &close_gate, request)
            },
        )?,
    )?;
    Ok(())
}
