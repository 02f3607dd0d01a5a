//! The globals a plugin sees beyond the ECMAScript built-ins (SPEC §5): `aether` (frozen, with
//! `fs`, `env`, `fetch`, `process` and `listen`), `console`, `require`, `fetch`, `Headers`, `Response`,
//! `setTimeout`, `clearTimeout`, `TextEncoder`, `TextDecoder`, `atob` and `btoa`, the web
//! globals of web.rs and the stream globals of streams.rs. Nothing else is
//! added, and no helper object is left reachable: native helpers are captured by closures only.
//!
//! Every capability is a [`HostRequest`] through the [`Gate`]; this module only validates
//! arguments (wrong types throw `TypeError`) and converts values. SPEC §5, the grant is checked
//! first: a call whose arguments are wrong but name a target (a path, a variable, a URL, a
//! command, a listen address) is sent as [`HostRequest::Malformed`], so that the host decides
//! (see `StepHost::malformed`): outside the grant, the `PermissionDenied` and its violation;
//! inside, the `TypeError` (see [`grant_first`]). No grant logic is repeated here. `aether.listen` hands the
//! plugin request objects only: the sockets stay in the host.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aether_policy::Capability;
use aether_protocol::{HostError, HostRequest, HostValue};
use rquickjs::convert::Coerced;
use rquickjs::function::{Opt, Rest};
use rquickjs::{Ctx, Exception, Function, IntoJs, Object, Promise, Result, TypedArray, Value};

use crate::engine::Tasks;
use crate::errors::{describe_thrown, describe_value, throw_host_error};
use crate::gate::{Gate, Meter};
use crate::sys;
use crate::tasks::SlowCalls;

/// A function expression of the bindings written in JavaScript, compiled to bytecode once per
/// process (parsing it was most of a trivial step's cost; loading bytecode skips the parser).
pub(crate) struct Script {
    /// The module name it is compiled under.
    pub(crate) name: &'static str,
    /// The function expression, parsed in each sandbox if it could not be compiled.
    pub(crate) source: &'static str,
    /// The same as a module whose default export is the function, for compiling.
    pub(crate) module: &'static str,
    /// `None` if compiling failed. The bytes come only from `module`, compiled by this build's
    /// engine, never from a plugin.
    pub(crate) bytecode: OnceLock<Option<Vec<u8>>>,
}

/// What every sandbox evaluates: `fetch` and the loaders of the lazy globals, which load
/// [`PRELUDE`] (and web.js) on first use.
static STUB: Script = Script {
    name: "aether:stub",
    source: include_str!("stub.js"),
    module: concat!("export default ", include_str!("stub.js"), ";\n"),
    bytecode: OnceLock::new(),
};

/// `TextEncoder`, `TextDecoder`, `Headers`, `Response`, `fetch` and `aether.process.run`'s
/// argument checks; no name is left on the global object besides the classes it defines.
/// (`queueMicrotask` is QuickJS-ng's own built-in.)
static PRELUDE: Script = Script {
    name: "aether:prelude",
    source: include_str!("prelude.js"),
    module: concat!("export default ", include_str!("prelude.js"), ";\n"),
    bytecode: OnceLock::new(),
};

impl Script {
    fn compile(&self) -> Result<Vec<u8>> {
        let runtime = rquickjs::Runtime::new()?;
        let context = rquickjs::Context::full(&runtime)?;
        context.with(|ctx| {
            rquickjs::Module::declare(ctx, self.name, self.module)?
                .write(rquickjs::module::WriteOptions::default())
        })
    }

    pub(crate) fn bytecode(&'static self) -> Option<&'static [u8]> {
        self.bytecode.get_or_init(|| self.compile().ok()).as_deref()
    }

    /// The function in `ctx`: from the process's bytecode, or parsed if there is none.
    pub(crate) fn function<'js>(&'static self, ctx: &Ctx<'js>) -> Result<Function<'js>> {
        match self.bytecode() {
            Some(bytecode) => {
                let (module, _) = sys::load_trusted_module(ctx, bytecode)?.eval()?;
                module.get("default")
            }
            None => ctx.eval(self.source),
        }
    }
}

/// Compiles the scripts' bytecode now, if it is not yet (see [`crate::prepare`]).
pub(crate) fn prepare() {
    STUB.bytecode();
    PRELUDE.bytecode();
    crate::web::prepare();
    crate::streams::prepare();
    crate::intl::prepare();
    crate::wasm::prepare();
}

/// Installs every non-built-in global. `tasks` are the step's timers and slow host calls, run by
/// the engine's event loop.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>, tasks: &Tasks<'_, 'js>) -> Result<()> {
    let timers = tasks.timers;
    let globals = ctx.globals();
    // QuickJS's own `InternalError` (thrown for "out of memory", "interrupted", "stack
    // overflow") is not ECMAScript; SPEC §5 allows the ECMAScript built-ins only. The engine
    // keeps its internal reference, so its errors still work.
    globals.remove("InternalError")?;
    let object_ctor: Object<'js> = globals.get("Object")?;
    let freeze: Function<'js> = object_ctor.get("freeze")?;
    let define_property: Function<'js> = object_ctor.get("defineProperty")?;

    // aether.fs
    let fs = Object::new(ctx.clone())?;
    for (name, make) in [
        ("readText", ReadKind::ReadText),
        ("readBytes", ReadKind::ReadBytes),
        ("list", ReadKind::List),
        ("stat", ReadKind::Stat),
        ("exists", ReadKind::Exists),
        ("mkdir", ReadKind::Mkdir),
        ("remove", ReadKind::Remove),
    ] {
        fs.set(name, path_fn(ctx, gate, name, make)?)?;
    }
    for (name, kind) in [
        ("writeText", DataKind::WriteText),
        ("writeBytes", DataKind::WriteBytes),
        ("appendText", DataKind::AppendText),
    ] {
        fs.set(name, data_fn(ctx, gate, name, kind)?)?;
    }

    // aether.env
    let env = Object::new(ctx.clone())?;
    let env_gate = Arc::clone(gate);
    let get = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> Result<Value<'js>> {
            let name = target_arg(&ctx, &env_gate, "aether.env.get", "name", name.0, |name| {
                HostRequest::EnvGet { name }
            })?;
            host_call(&ctx, &env_gate, HostRequest::EnvGet { name })
        },
    )?
    .with_name("get")?;
    env.set("get", get)?;

    // aether.secret: a placeholder, never the value (SPEC §5).
    let secret_gate = Arc::clone(gate);
    let secret = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, name: Opt<Value<'js>>| -> Result<Value<'js>> {
            let name = target_arg(
                &ctx,
                &secret_gate,
                "aether.secret",
                "name",
                name.0,
                |name| HostRequest::Secret { name },
            )?;
            host_call(&ctx, &secret_gate, HostRequest::Secret { name })
        },
    )?
    .with_name("secret")?;

    // console
    let console = Object::new(ctx.clone())?;
    for level in ["log", "info", "warn", "error", "debug"] {
        let gate = Arc::clone(gate);
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> Result<Value<'js>> {
                let message = format_console(&ctx, &args.0);
                let request = HostRequest::Log {
                    level: level.to_owned(),
                    message,
                };
                host_call(&ctx, &gate, request)
            },
        )?
        .with_name(level)?;
        console.set(level, f)?;
    }
    globals.set("console", console)?;

    // require: exists only to throw the `module` violation (SPEC §5).
    let require_gate = Arc::clone(gate);
    let require = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, specifier: Opt<Value<'js>>| -> Result<Value<'js>> {
            Err(require(&ctx, &require_gate, specifier.0))
        },
    )?
    .with_name("require")?;
    globals.set("require", require)?;

    install_timers(ctx, timers, "setTimeout", "clearTimeout", false)?;

    // atob / btoa: native, so that using them loads no script; what is not base64 (or not
    // Latin-1) throws an "InvalidCharacterError" DOMException, as in Node.js (HTML §8.3).
    let atob = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, data: Opt<Value<'js>>| -> Result<String> {
            let data = base64_argument(&ctx, "atob", data.0)?;
            base64_decode(&data).ok_or_else(|| {
                invalid_character(
                    &ctx,
                    "atob: the string to be decoded is not correctly encoded",
                )
            })
        },
    )?
    .with_name("atob")?
    .with_length(1)?;
    globals.set("atob", atob)?;
    let btoa = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, data: Opt<Value<'js>>| -> Result<String> {
            let data = base64_argument(&ctx, "btoa", data.0)?;
            base64_encode(&data).ok_or_else(|| {
                invalid_character(
                    &ctx,
                    "btoa: the string contains characters outside of the Latin1 range",
                )
            })
        },
    )?
    .with_name("btoa")?
    .with_length(1)?;
    globals.set("btoa", btoa)?;

    // TextEncoder, TextDecoder (JavaScript, over two native helpers).
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, text: String| -> Result<TypedArray<'js, u8>> {
                crate::web::engine_bytes(&ctx, &text.into_bytes())
            },
        )?,
    )?;
    natives.set(
        "decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             bytes: TypedArray<'js, u8>,
             fatal: bool,
             ignore_bom: bool|
             -> Result<String> {
                let bytes = sys::copy_bytes(&bytes).unwrap_or_default();
                let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
                    Some(rest) if !ignore_bom => rest,
                    _ => &bytes[..],
                };
                if fatal {
                    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| {
                        Exception::throw_type(&ctx, "The encoded data was not valid utf-8")
                    })
                } else {
                    Ok(String::from_utf8_lossy(bytes).into_owned())
                }
            },
        )?,
    )?;
    // TextDecoder's decoders for every WHATWG encoding (encoding.rs).
    crate::encoding::install(ctx, &natives)?;
    natives.set("fetch", fetch_fn(ctx, tasks.calls)?)?;
    natives.set("fetchMalformed", fetch_malformed_fn(ctx, tasks.calls)?)?;
    natives.set("pluginFile", plugin_file_fn(ctx, gate)?)?;
    natives.set("run", run_fn(ctx, tasks.calls)?)?;
    install_listen_natives(ctx, gate, tasks.calls, &natives)?;
    let load = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, natives: Object<'js>| -> Result<Object<'js>> {
            PRELUDE.function(&ctx)?.call((natives,))
        },
    )?;
    natives.set("lazySource", crate::lazy::source_fn(ctx)?)?;
    let web = crate::web::install(ctx, tasks)?;
    let streams = crate::streams::install(ctx, &gate.shared.meter)?;
    let intl = crate::intl::install(ctx)?;
    let wasm = crate::wasm::install(ctx, gate, tasks.wasm)?;
    let exported: Object<'js> = STUB
        .function(ctx)?
        .call((natives, load, web, streams, intl, wasm))?;
    let fetch: Function<'js> = exported.get("fetch")?;
    let process: Object<'js> = exported.get("process")?;
    let listen: Function<'js> = exported.get("listen")?;
    // The lazy globals (lazy.rs), in the order they had as the stub's accessors: the prelude's
    // classes, `fetch`, then the web globals, the stream globals, `Intl` and `WebAssembly`.
    crate::lazy::install(ctx, &exported.get::<_, Function<'js>>("lazy")?)?;
    crate::lazy::define(ctx, crate::lazy::Source::Prelude)?;
    globals.prop(
        "fetch",
        rquickjs::object::Property::from(fetch.clone())
            .writable()
            .configurable(),
    )?;
    crate::lazy::define(ctx, crate::lazy::Source::Web)?;
    crate::lazy::define(ctx, crate::lazy::Source::Streams)?;
    crate::lazy::define(ctx, crate::lazy::Source::Intl)?;
    crate::lazy::define(ctx, crate::lazy::Source::Wasm)?;

    let aether = Object::new(ctx.clone())?;
    aether.set("fs", fs.clone())?;
    aether.set("env", env.clone())?;
    aether.set("fetch", fetch)?;
    aether.set("process", process.clone())?;
    aether.set("listen", listen.clone())?;
    aether.set("secret", secret.clone())?;
    freeze.call::<_, Value>((secret,))?;
    freeze.call::<_, Value>((listen,))?;
    deep_freeze(&freeze, &process)?;
    deep_freeze(&freeze, &fs)?;
    deep_freeze(&freeze, &env)?;
    freeze.call::<_, Value>((aether.clone(),))?;
    let descriptor = Object::new(ctx.clone())?;
    descriptor.set("value", aether)?;
    descriptor.set("writable", false)?;
    descriptor.set("enumerable", false)?;
    descriptor.set("configurable", false)?;
    define_property.call::<_, Value>((globals.clone(), "aether", descriptor))?;

    Ok(())
}

/// `fetch` of an `aether-plugin:/<path>` URL (SPEC §5): the plugin's file as the host's
/// response object, synchronously (the bytes are already in memory, verified; no network).
fn plugin_file_fn<'js>(ctx: &Ctx<'js>, gate: &Arc<Gate>) -> Result<Function<'js>> {
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
fn fetch_fn<'js>(ctx: &Ctx<'js>, calls: &Rc<RefCell<SlowCalls<'js>>>) -> Result<Function<'js>> {
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
fn fetch_malformed_fn<'js>(
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
fn install_listen_natives<'js>(
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

/// An id or status the prelude passed as a number: whole and non-negative, else `u64::MAX`
/// (which names nothing).
fn whole_id(value: f64) -> u64 {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 9_007_199_254_740_992.0
    {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked: a whole number from 0 to 2^53"
        )]
        let id = value as u64;
        id
    } else {
        u64::MAX
    }
}

/// `[[name, value]...]` as pairs; entries that are not pairs are dropped (the prelude's
/// `Headers` only makes pairs).
fn header_pairs(headers: Vec<Vec<String>>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter_map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Some((name, value)),
            Err(_) => None,
        })
        .collect()
}

/// Freezes `object` and every function directly on it.
fn deep_freeze<'js>(freeze: &Function<'js>, object: &Object<'js>) -> Result<()> {
    for value in object.values::<Value>() {
        freeze.call::<_, Value>((value?,))?;
    }
    freeze.call::<_, Value>((object.clone(),))?;
    Ok(())
}

/// One host call from a binding: the reply as a JavaScript value, or the host error thrown.
fn host_call<'js>(ctx: &Ctx<'js>, gate: &Gate, request: HostRequest) -> Result<Value<'js>> {
    match gate.call(request) {
        Ok(value) => host_value(ctx, value),
        Err(error) => Err(throw_host_error(ctx, error)),
    }
}

/// The native half of `aether.process.run` (the prelude checks the arguments):
/// `(command, [args...], stdin: Uint8Array, timeoutMs?, cwd?, problem?)` → a promise of
/// `{code, signal, stdout, stderr}`. With `problem`, the host only checks the command and `cwd`
/// first ([`HostRequest::Malformed`]) and the promise rejects.
fn run_fn<'js>(ctx: &Ctx<'js>, calls: &Rc<RefCell<SlowCalls<'js>>>) -> Result<Function<'js>> {
    let calls = Rc::clone(calls);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              command: String,
              args: Vec<String>,
              stdin: TypedArray<'js, u8>,
              timeout_ms: Opt<Value<'js>>,
              cwd: Opt<Value<'js>>,
              problem: Opt<Value<'js>>|
              -> Result<Promise<'js>> {
            let request = HostRequest::Run {
                command,
                args,
                stdin: sys::copy_bytes(&stdin).unwrap_or_default(),
                timeout_ms: whole_ms(timeout_ms.0),
                cwd: match cwd.0.as_ref().and_then(Value::as_string) {
                    Some(dir) => Some(usv_string(&ctx, dir)?),
                    None => None,
                },
            };
            let request = malformed(&ctx, request, problem.0)?;
            calls.borrow_mut().start(&ctx, request)
        },
    )
}

/// A finite non-negative number of milliseconds (the prelude has checked it), whole.
fn whole_ms(value: Option<Value<'_>>) -> Option<u64> {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a finite non-negative number of milliseconds, saturating"
    )]
    value.and_then(|v| v.as_number()).map(|ms| ms as u64)
}

/// A host reply as the JavaScript value the bindings return.
pub(crate) fn host_value<'js>(ctx: &Ctx<'js>, value: HostValue) -> Result<Value<'js>> {
    let ctx = ctx.clone();
    Ok(match value {
        HostValue::Unit | HostValue::Text { value: None } | HostValue::Module { .. } => {
            Value::new_undefined(ctx)
        }
        HostValue::Bool { value } => Value::new_bool(ctx, value),
        HostValue::Text { value: Some(text) } => text.into_js(&ctx)?,
        HostValue::Bytes { value } => crate::web::engine_bytes(&ctx, &value)?.into_value(),
        HostValue::Names { value } => value.into_js(&ctx)?,
        HostValue::Stat {
            size,
            is_file,
            is_dir,
            mtime_ms,
        } => {
            let stat = Object::new(ctx)?;
            // Sizes past 2^53 lose precision, as JavaScript numbers do.
            #[allow(clippy::cast_precision_loss, reason = "a JavaScript number is an f64")]
            stat.set("size", size as f64)?;
            stat.set("isFile", is_file)?;
            stat.set("isDir", is_dir)?;
            stat.set("mtimeMs", mtime_ms)?;
            stat.into_value()
        }
        HostValue::Response {
            status,
            status_text,
            url,
            redirected,
            headers,
            body,
        } => {
            let response = Object::new(ctx.clone())?;
            response.set("status", status)?;
            response.set("statusText", status_text)?;
            response.set("url", url)?;
            response.set("redirected", redirected)?;
            let pairs: Vec<Vec<String>> = headers.into_iter().map(|(n, v)| vec![n, v]).collect();
            response.set("headers", pairs)?;
            response.set("body", crate::web::engine_bytes(&ctx, &body)?)?;
            response.into_value()
        }
        HostValue::Listener { id } => whole_number(&ctx, id),
        HostValue::Request {
            id,
            method,
            url,
            headers,
            body,
        } => {
            let request = Object::new(ctx.clone())?;
            request.set("id", whole_number(&ctx, id))?;
            request.set("method", method)?;
            request.set("url", url)?;
            let pairs: Vec<Vec<String>> = headers.into_iter().map(|(n, v)| vec![n, v]).collect();
            request.set("headers", pairs)?;
            request.set("body", crate::web::engine_bytes(&ctx, &body)?)?;
            request.into_value()
        }
        HostValue::Exit {
            code,
            signal,
            stdout,
            stderr,
        } => {
            let exit = Object::new(ctx.clone())?;
            // `null`, not `undefined`, when absent (SPEC §5: `code: null, signal: "SIGKILL"`).
            let null = || Value::new_null(ctx.clone());
            exit.set(
                "code",
                code.map_or_else(null, |c| Value::new_int(ctx.clone(), c)),
            )?;
            exit.set(
                "signal",
                signal.map_or_else(|| Ok(null()), |s| s.into_js(&ctx))?,
            )?;
            exit.set("stdout", stdout)?;
            exit.set("stderr", stderr)?;
            exit.into_value()
        }
    })
}

/// An id as a JavaScript number (ids count up from 0: far below 2^53).
fn whole_number<'js>(ctx: &Ctx<'js>, id: u64) -> Value<'js> {
    #[allow(clippy::cast_precision_loss, reason = "ids stay far below 2^53")]
    Value::new_float(ctx.clone(), id as f64)
}

/// `aether.fs` functions that take only a path.
#[derive(Clone, Copy)]
enum ReadKind {
    ReadText,
    ReadBytes,
    List,
    Stat,
    Exists,
    Mkdir,
    Remove,
}

fn path_fn<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    name: &'static str,
    kind: ReadKind,
) -> Result<Function<'js>> {
    let gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, path: Opt<Value<'js>>| -> Result<Value<'js>> {
            let request = move |path| match kind {
                ReadKind::ReadText => HostRequest::ReadText { path },
                ReadKind::ReadBytes => HostRequest::ReadBytes { path },
                ReadKind::List => HostRequest::List { path },
                ReadKind::Stat => HostRequest::Stat { path },
                ReadKind::Exists => HostRequest::Exists { path },
                ReadKind::Mkdir => HostRequest::Mkdir { path },
                ReadKind::Remove => HostRequest::Remove { path },
            };
            let path = target_arg(&ctx, &gate, name, "path", path.0, request)?;
            host_call(&ctx, &gate, request(path))
        },
    )?
    .with_name(name)
}

/// `aether.fs` functions that take a path and data.
#[derive(Clone, Copy)]
enum DataKind {
    WriteText,
    WriteBytes,
    AppendText,
}

fn data_fn<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    name: &'static str,
    kind: DataKind,
) -> Result<Function<'js>> {
    let gate = Arc::clone(gate);
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, path: Opt<Value<'js>>, data: Opt<Value<'js>>| -> Result<Value<'js>> {
            let request = move |path, data| match kind {
                DataKind::WriteText | DataKind::WriteBytes => HostRequest::Write { path, data },
                DataKind::AppendText => HostRequest::Append { path, data },
            };
            let (path, path_problem) = match path.0.as_ref().and_then(Value::as_string) {
                Some(s) => (Some(usv_string(&ctx, s)?), None),
                None => (
                    named_target(path.0.clone())?,
                    Some(not_a_string(name, "path", path.0.as_ref())),
                ),
            };
            let data = match kind {
                DataKind::WriteText | DataKind::AppendText => {
                    match data.0.as_ref().and_then(Value::as_string) {
                        Some(s) => Ok(usv_string(&ctx, s)?.into_bytes()),
                        None => Err(not_a_string(name, "data", data.0.as_ref())),
                    }
                }
                DataKind::WriteBytes => data
                    .0
                    .and_then(|v| TypedArray::<u8>::from_value(v).ok())
                    .and_then(|a| sys::copy_bytes(&a))
                    .ok_or_else(|| format!("aether.fs.{name}: data must be a Uint8Array")),
            };
            // The path's own problem first, as before.
            match (path, path_problem.map_or(data, Err)) {
                (Some(path), Ok(data)) => host_call(&ctx, &gate, request(path, data)),
                (Some(path), Err(problem)) => {
                    Err(grant_first(&ctx, &gate, request(path, Vec::new()), problem))
                }
                (None, Err(problem)) => Err(Exception::throw_type(&ctx, &problem)),
                (None, Ok(_)) => Err(Exception::throw_type(
                    &ctx,
                    &not_a_string(name, "path", None),
                )),
            }
        },
    )?
    .with_name(name)
}

/// A string argument naming a target (a path or a variable). Anything else is a `TypeError`
/// naming the function and the parameter, thrown after the host has checked the target the
/// value names, if it names one ([`named_target`], [`grant_first`]): `request` makes the call
/// for that target.
fn target_arg<'js>(
    ctx: &Ctx<'js>,
    gate: &Gate,
    function: &str,
    param: &str,
    value: Option<Value<'js>>,
    request: impl FnOnce(String) -> HostRequest,
) -> Result<String> {
    match value.as_ref().and_then(Value::as_string) {
        Some(s) => usv_string(ctx, s),
        None => {
            let problem = not_a_string(function, param, value.as_ref());
            Err(match named_target(value)? {
                Some(target) => grant_first(ctx, gate, request(target), problem),
                None => Exception::throw_type(ctx, &problem),
            })
        }
    }
}

/// The `TypeError` message for a parameter that is not a string.
fn not_a_string(function: &str, param: &str, value: Option<&Value<'_>>) -> String {
    let got = value.map_or("undefined", Value::type_name);
    let function = if function.contains('.') {
        function.to_owned()
    } else {
        format!("aether.fs.{function}")
    };
    format!("{function}: {param} must be a string, got {got}")
}

/// The target a non-string argument names, for the grant check that comes before its
/// `TypeError` (SPEC §5): a `Uint8Array` (Node's `Buffer` paths) its bytes as UTF-8, invalid
/// sequences as U+FFFD; a number, bigint or boolean its `String()`. Anything else (`undefined`,
/// `null`, a symbol, an object) names nothing. No plugin code runs.
fn named_target(value: Option<Value<'_>>) -> Result<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.is_number() || value.is_big_int() || value.is_bool() {
        return Ok(Some(value.get::<Coerced<String>>()?.0));
    }
    Ok(TypedArray::<u8>::from_value(value)
        .ok()
        .and_then(|a| sys::copy_bytes(&a))
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// SPEC §5, the grant is checked first: `request` (a call as far as it names a target) goes to
/// the host as [`HostRequest::Malformed`] with `problem`. The error to throw: the host's
/// `PermissionDenied` (its violation recorded) when the target is outside the grant, else the
/// `TypeError` for `problem`.
fn grant_first<'js>(
    ctx: &Ctx<'js>,
    gate: &Gate,
    request: HostRequest,
    problem: String,
) -> rquickjs::Error {
    let error = match gate.call(HostRequest::Malformed {
        request: Box::new(request),
        problem: problem.clone(),
    }) {
        Err(error) => error,
        Ok(_) => HostError::Failed {
            type_error: true,
            message: problem,
        },
    };
    throw_host_error(ctx, error)
}

/// `request`, or [`HostRequest::Malformed`] around it when the prelude passed a `problem` (a
/// string: what it found wrong with the call's other arguments).
fn malformed<'js>(
    ctx: &Ctx<'js>,
    request: HostRequest,
    problem: Option<Value<'js>>,
) -> Result<HostRequest> {
    Ok(match problem.as_ref().and_then(Value::as_string) {
        Some(problem) => HostRequest::Malformed {
            request: Box::new(request),
            problem: usv_string(ctx, problem)?,
        },
        None => request,
    })
}

/// The text of `s` as WebIDL's USVString conversion gives it: each lone surrogate becomes
/// U+FFFD, as Node's `fs` (UTF-8 encoding of a path), the URL parser and `TextEncoder` do. So
/// a path, variable name or URL that is not well-formed UTF-16 still names one target, which
/// the host checks against the grant first (SPEC §5), instead of failing the conversion with
/// no violation recorded.
///
/// It calls the realm's `String.prototype.toWellFormed`, looked up at each call: a captured
/// function would be held where QuickJS's collector cannot see it (a leak the runtime asserts
/// on at exit). A plugin that replaces it only changes which target its own argument names;
/// the host checks whatever target arrives.
fn usv_string<'js>(ctx: &Ctx<'js>, s: &rquickjs::String<'js>) -> Result<String> {
    match s.to_string() {
        Err(rquickjs::Error::Utf8(_)) => {
            let string: Object<'js> = ctx.globals().get("String")?;
            let prototype: Object<'js> = string.get("prototype")?;
            let to_well_formed: Function<'js> = prototype.get("toWellFormed")?;
            let fixed: rquickjs::String<'js> =
                to_well_formed.call((rquickjs::function::This(s.clone()),))?;
            fixed.to_string()
        }
        other => other,
    }
}

/// `require(x)` always throws the `module` `PermissionDenied` (SPEC §5). It still tells the host
/// (`HostRequest::Require`) so that the host records the attempt; whatever the host replies,
/// the call throws, with the host's denial message when it gave one.
fn require<'js>(ctx: &Ctx<'js>, gate: &Gate, specifier: Option<Value<'js>>) -> rquickjs::Error {
    let specifier = match specifier {
        Some(v) => describe_value(ctx, &v),
        None => "undefined".into(),
    };
    let reply = gate.call(HostRequest::Require {
        specifier: specifier.clone(),
    });
    let error = match reply {
        Err(denied @ HostError::PermissionDenied { .. }) => denied,
        Err(limit @ HostError::LimitExceeded { .. }) => limit,
        _ => HostError::PermissionDenied {
            capability: Capability::Module,
            message: format!(
                "module denied for `{specifier}`: `require` is not available to plugins\n\nhint: use `import` with a relative specifier inside the plugin directory"
            ),
            target: specifier,
        },
    };
    throw_host_error(ctx, error)
}

/// `console.*` formatting: strings as they are, errors with their stack, other objects as JSON
/// when they can be, everything else through `String()`; arguments separated by spaces.
fn format_console<'js>(ctx: &Ctx<'js>, args: &[Value<'js>]) -> String {
    let mut line = String::new();
    for (i, value) in args.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if let Some(s) = value.as_string() {
            line.push_str(&s.to_string().unwrap_or_default());
        } else if value.is_error() {
            line.push_str(&describe_thrown(ctx, value));
        } else if let Some(f) = value.as_function() {
            let name: String = f.get("name").unwrap_or_default();
            if name.is_empty() {
                line.push_str("[Function (anonymous)]");
            } else {
                line.push_str(&format!("[Function: {name}]"));
            }
        } else if value.is_big_int() {
            line.push_str(&describe_value(ctx, value));
            line.push('n');
        } else if value.is_object() {
            match ctx.json_stringify(value.clone()) {
                Ok(Some(json)) => line.push_str(&json.to_string().unwrap_or_default()),
                _ => {
                    ctx.catch();
                    line.push_str(&describe_value(ctx, value));
                }
            }
        } else {
            line.push_str(&describe_value(ctx, value));
        }
    }
    line
}

/// `atob`'s or `btoa`'s argument as WebIDL converts it to a string: a `TypeError` when it is
/// missing or a Symbol; lone surrogates become U+FFFD (which neither function accepts).
fn base64_argument<'js>(ctx: &Ctx<'js>, who: &str, value: Option<Value<'js>>) -> Result<String> {
    let Some(value) = value else {
        return Err(Exception::throw_type(
            ctx,
            &format!("{who}: 1 argument required, but only 0 present"),
        ));
    };
    let text = value.get::<Coerced<rquickjs::String<'js>>>()?.0;
    usv_string(ctx, &text)
}

/// Throws the realm's `DOMException` named "InvalidCharacterError" (code 5), as HTML has `atob`
/// and `btoa` do. The class is read from the global object only here, so that the web globals
/// (web.js) load on the first failure, not on every use; a plugin that replaced `DOMException`
/// gets what its replacement makes (or, if it is no constructor, an `Error` of that name).
fn invalid_character(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    if let Ok(class) = ctx
        .globals()
        .get::<_, rquickjs::function::Constructor>("DOMException")
    {
        return match class.construct::<_, Value>((message, "InvalidCharacterError")) {
            Ok(error) => ctx.throw(error),
            Err(e) => e,
        };
    }
    let built = Exception::from_message(ctx.clone(), message).and_then(|e| {
        e.as_object().set("name", "InvalidCharacterError")?;
        Ok(e)
    });
    match built {
        Ok(e) => e.throw(),
        Err(e) => e,
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `btoa`: `None` if a character is above U+00FF.
fn base64_encode(text: &str) -> Option<String> {
    let bytes = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()?;
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    Some(out)
}

/// `atob` (WHATWG forgiving-base64 decode): `None` if the input is not valid base64.
fn base64_decode(text: &str) -> Option<String> {
    let mut data: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0C' | b'\r'))
        .collect();
    if !text.is_ascii() {
        return None;
    }
    if data.len().is_multiple_of(4) {
        for _ in 0..2 {
            if data.last() == Some(&b'=') {
                data.pop();
            }
        }
    }
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = String::with_capacity(data.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for b in data {
        let v = BASE64.iter().position(|&c| c == b)?;
        buffer = buffer << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(char::from((buffer >> bits) as u8));
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `set(callback, delay, ...args)` and `clear(id)` as globals named `set` and `clear`, on the
/// step's timers: `setTimeout`/`clearTimeout`, and (with `repeat`) `setInterval`/`clearInterval`
/// (HTML: they share one list of ids, and either clear function cancels either kind).
pub(crate) fn install_timers<'js>(
    ctx: &Ctx<'js>,
    timers: &Rc<RefCell<Timers<'js>>>,
    set: &'static str,
    clear: &'static str,
    repeat: bool,
) -> Result<()> {
    let globals = ctx.globals();
    let set_timers = Rc::clone(timers);
    let set_function = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              callback: Opt<Value<'js>>,
              delay: Opt<Value<'js>>,
              args: Rest<Value<'js>>|
              -> Result<u32> {
            let Some(callback) = callback.0.and_then(|v| v.into_function()) else {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("{set}: the callback must be a function (strings are not evaluated)"),
                ));
            };
            let delay = match delay.0 {
                Some(v) if !v.is_undefined() => v.get::<Coerced<f64>>()?.0,
                _ => 0.0,
            };
            set_timers
                .borrow_mut()
                .add(callback, delay, args.0, repeat)
                .ok_or_else(|| Exception::throw_internal(&ctx, "out of memory"))
        },
    )?
    .with_name(set)?;
    globals.set(set, set_function)?;
    let clear_timers = Rc::clone(timers);
    let clear_function = Function::new(ctx.clone(), move |id: Opt<Value<'js>>| {
        if let Some(id) = id.0.and_then(|v| v.as_number()) {
            clear_timers.borrow_mut().cancel(id);
        }
    })?
    .with_name(clear)?;
    globals.set(clear, clear_function)?;
    Ok(())
}

/// The step's pending `setTimeout` callbacks. Holds JavaScript values: the engine clears it
/// before the context is torn down.
///
/// Its own memory counts toward the plugin's ceiling ([`Meter`]): each pending timer is charged
/// [`Timers::charge`] bytes while it waits. Before, a plugin calling `setTimeout(f, 1e9)` in a
/// loop with one shared callback grew a Rust `Vec` outside the ceiling to 1.79 GB in 8 s under a
/// 64 MiB limit (issue 16). Adding, cancelling and taking a timer cost O(log n).
pub(crate) struct Timers<'js> {
    next_id: u32,
    /// Pending timers by due time, then id (first scheduled first on ties within a due time).
    queue: BTreeMap<(Instant, u32), Timer<'js>>,
    /// Each pending timer's due time, to cancel by id.
    due_of: HashMap<u32, Instant>,
    meter: Arc<Meter>,
}

#[derive(Clone)]
pub(crate) struct Timer<'js> {
    pub(crate) callback: Function<'js>,
    pub(crate) args: Vec<Value<'js>>,
    /// `Some` for `setInterval`: the timer is due again this long after each run.
    pub(crate) every: Option<Duration>,
}

impl<'js> Timers<'js> {
    pub(crate) fn new(meter: Arc<Meter>) -> Self {
        Self {
            next_id: 1,
            queue: BTreeMap::new(),
            due_of: HashMap::new(),
            meter,
        }
    }

    /// The bytes a pending timer with `args` arguments is charged: its entry in both maps with
    /// their per-entry overhead, and its argument vector.
    fn charge(args: usize) -> usize {
        const MAP_OVERHEAD: usize = 64;
        std::mem::size_of::<((Instant, u32), Timer<'_>)>()
            + std::mem::size_of::<(u32, Instant)>()
            + 2 * MAP_OVERHEAD
            + args * std::mem::size_of::<Value<'_>>()
    }

    /// Schedules `callback`, once or (`repeat`) every `delay_ms` until cancelled; `None` when its
    /// bytes do not fit under the ceiling (the plugin is then being stopped for memory).
    pub(crate) fn add(
        &mut self,
        callback: Function<'js>,
        delay_ms: f64,
        args: Vec<Value<'js>>,
        repeat: bool,
    ) -> Option<u32> {
        let charge = Self::charge(args.len());
        if !self.meter.admit(charge) {
            return None;
        }
        self.meter.add(charge);
        // Ids are unique among pending timers: skip those still in use after a wrap-around.
        let mut id = self.next_id;
        while self.due_of.contains_key(&id) {
            id = id.wrapping_add(1).max(1);
        }
        self.next_id = id.wrapping_add(1).max(1);
        // NaN and negative delays mean 0; anything past a day is as good as never for a step.
        let delay = if delay_ms.is_finite() && delay_ms > 0.0 {
            Duration::from_secs_f64(delay_ms.min(86_400_000.0) / 1000.0)
        } else {
            Duration::ZERO
        };
        // A repeating timer waits at least 1 ms between runs, as Node.js's do: at 0 it would
        // always be due, and the event loop would never reach finished host calls.
        let every = repeat.then(|| delay.max(Duration::from_millis(1)));
        let due = Instant::now() + delay;
        self.queue.insert(
            (due, id),
            Timer {
                callback,
                args,
                every,
            },
        );
        self.due_of.insert(id, due);
        Some(id)
    }

    pub(crate) fn cancel(&mut self, id: f64) {
        // Ids are integers in 1..=u32::MAX; anything else names no timer.
        if !(id >= 1.0 && id <= f64::from(u32::MAX) && id.fract() == 0.0) {
            return;
        }
        let id = id as u32;
        if let Some(timer) = self
            .due_of
            .remove(&id)
            .and_then(|due| self.queue.remove(&(due, id)))
        {
            self.meter.sub(Self::charge(timer.args.len()));
        }
    }

    /// When the earliest timer is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(due, _)| *due)
    }

    /// Removes and returns the earliest timer due by `now`. A repeating one is scheduled again
    /// (same id, same charge) before it runs, so that its callback can cancel it.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Timer<'js>> {
        let entry = self.queue.first_entry().filter(|e| e.key().0 <= now)?;
        let ((_, id), timer) = entry.remove_entry();
        if let Some(every) = timer.every {
            let due = now + every;
            self.queue.insert((due, id), timer.clone());
            self.due_of.insert(id, due);
            return Some(timer);
        }
        self.due_of.remove(&id);
        self.meter.sub(Self::charge(timer.args.len()));
        Some(timer)
    }

    pub(crate) fn clear(&mut self) {
        for timer in std::mem::take(&mut self.queue).into_values() {
            self.meter.sub(Self::charge(timer.args.len()));
        }
        self.due_of.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_latin1() {
        for text in ["", "a", "ab", "abc", "abcd", "h\u{e9}llo\u{ff}\u{0}"] {
            let encoded = base64_encode(text).expect("latin1");
            assert_eq!(base64_decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(base64_encode("hello").as_deref(), Some("aGVsbG8="));
        assert_eq!(base64_decode(" aGVs bG8 ").as_deref(), Some("hello"));
        assert_eq!(base64_encode("\u{100}"), None);
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("a*=="), None);
    }
}
