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
//! inside, the `TypeError` (see `args::grant_first`). No grant logic is repeated here. `aether.listen` hands the
//! plugin request objects only: the sockets stay in the host.
//!
//! One module per global family: [`fs`] (`aether.fs`), [`env`] (`aether.env`, `aether.secret`),
//! [`net`] (`fetch`, `aether-plugin:` URLs, `aether.listen`), [`process`] (`aether.process`),
//! [`module`] (`require`), [`console`], [`timers`], [`base64`] (`atob`, `btoa`), [`text`]
//! (`TextEncoder`/`TextDecoder` natives); [`args`] holds the argument conversions they share.

mod args;
mod base64;
mod console;
mod env;
mod fs;
mod module;
mod net;
mod process;
mod text;
mod timers;

pub(crate) use timers::{Timers, install_timers};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use aether_protocol::{HostRequest, HostValue};
use rquickjs::{Ctx, Function, IntoJs, Object, Result, Value};

use crate::engine::Tasks;
use crate::errors::throw_host_error;
use crate::gate::Gate;
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
        // Compiling needs only `eval` (JS_Eval) and the regular-expression compiler, as a
        // plugin module's compile (`compiled.rs`): a full context's intrinsics cost more than
        // the stub's compile and were on the zygote's path to ready (issue 23).
        let context = rquickjs::Context::custom::<(
            rquickjs::context::intrinsic::Eval,
            rquickjs::context::intrinsic::RegExpCompiler,
        )>(&runtime)?;
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

    /// The function in `ctx`, for a context that is the only one this process makes with it:
    /// from the process's bytecode if it has been compiled already, else the same module
    /// compiled in `ctx` itself (as [`Script::compile`] would, without a runtime and context
    /// of its own, writing the bytecode and reading it back). The process tier's zygote
    /// prepares one engine and forks it (issue 23): a bytecode copy would serve no other.
    pub(crate) fn function_compiled_here<'js>(
        &'static self,
        ctx: &Ctx<'js>,
    ) -> Result<Function<'js>> {
        match self.bytecode.get() {
            Some(_) => self.function(ctx),
            None => {
                let (module, _) =
                    rquickjs::Module::declare(ctx.clone(), self.name, self.module)?.eval()?;
                module.get("default")
            }
        }
    }
}

/// Whether [`STUB`]'s bytecode has been compiled in this process (or its compile failed).
pub(crate) fn stub_bytecode_compiled() -> bool {
    STUB.bytecode.get().is_some()
}

/// Compiles part `part` of the scripts' bytecode now, if it is not yet; `false` past the last
/// part (see [`crate::prepare_part`]).
pub(crate) fn prepare_part(part: usize) -> bool {
    match part {
        0 => {
            STUB.bytecode();
        }
        1 => {
            PRELUDE.bytecode();
        }
        2 => crate::web::prepare(),
        3 => crate::streams::prepare(),
        4 => crate::intl::prepare(),
        5 => crate::wasm::prepare(),
        _ => return false,
    }
    true
}

/// Where [`install`] takes the bindings' stub from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StubFrom {
    /// The process's bytecode, compiled once for every engine it makes.
    Bytecode,
    /// Compiled in the context itself unless the process has the bytecode already
    /// ([`Script::function_compiled_here`]): for the one engine a process prepares.
    ThisContext,
}

/// Installs every non-built-in global. `tasks` are the step's timers and slow host calls, run by
/// the engine's event loop.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    tasks: &Tasks<'_, 'js>,
    stub: StubFrom,
) -> Result<()> {
    let timers = tasks.timers;
    let globals = ctx.globals();
    // QuickJS's own `InternalError` (thrown for "out of memory", "interrupted", "stack
    // overflow") is not ECMAScript; SPEC §5 allows the ECMAScript built-ins only. The engine
    // keeps its internal reference, so its errors still work.
    globals.remove("InternalError")?;
    let object_ctor: Object<'js> = globals.get("Object")?;
    let freeze: Function<'js> = object_ctor.get("freeze")?;
    let define_property: Function<'js> = object_ctor.get("defineProperty")?;

    let fs = fs::object(ctx, gate)?;
    let env = env::object(ctx, gate)?;
    // aether.secret: a placeholder, never the value (SPEC §5).
    let secret = env::secret_fn(ctx, gate)?;
    console::install(ctx, gate)?;
    // require: exists only to throw the `module` violation (SPEC §5).
    module::install(ctx, gate)?;
    install_timers(ctx, timers, "setTimeout", "clearTimeout", false)?;
    base64::install(ctx)?;

    // The prelude's native helpers are made when it first loads, as web.js's are: a sandbox
    // that never uses `fetch`, a text codec, a process or a listener does not pay for them.
    // `hooks` is what stub.js gives the prelude besides them (`define`, the stream loaders).
    let prelude_gate = Arc::clone(gate);
    let prelude_calls = Rc::clone(tasks.calls);
    let load = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, hooks: Object<'js>| -> Result<Object<'js>> {
            let natives = prelude_natives(&ctx, &prelude_gate, &prelude_calls)?;
            for hook in hooks.props::<String, Value<'js>>() {
                let (name, value) = hook?;
                natives.set(name, value)?;
            }
            PRELUDE.function(&ctx)?.call((natives,))
        },
    )?;
    let natives = Object::new(ctx.clone())?;
    natives.set("lazySource", crate::lazy::source_fn(ctx)?)?;
    let web = crate::web::install(ctx, tasks, &gate.shared)?;
    let streams = crate::streams::install(ctx, &gate.shared.meter)?;
    let intl = crate::intl::install(ctx)?;
    let wasm = crate::wasm::install(ctx, gate, tasks.wasm)?;
    let stub = match stub {
        StubFrom::Bytecode => STUB.function(ctx)?,
        StubFrom::ThisContext => STUB.function_compiled_here(ctx)?,
    };
    let exported: Object<'js> = stub.call((natives, load, web, streams, intl, wasm))?;
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

/// The native helpers of the prelude (prelude.js): `TextEncoder`'s and `TextDecoder`'s codecs,
/// the native halves of `fetch`, `aether.process.run` and `aether.listen`, and `fetch` of the
/// plugin's own files.
fn prelude_natives<'js>(
    ctx: &Ctx<'js>,
    gate: &Arc<Gate>,
    calls: &Rc<RefCell<SlowCalls<'js>>>,
) -> Result<Object<'js>> {
    let natives = Object::new(ctx.clone())?;
    text::install_natives(ctx, &natives)?;
    natives.set("fetch", net::fetch_fn(ctx, calls)?)?;
    natives.set("fetchMalformed", net::fetch_malformed_fn(ctx, calls)?)?;
    natives.set("pluginFile", net::plugin_file_fn(ctx, gate)?)?;
    natives.set("run", process::run_fn(ctx, calls)?)?;
    net::install_listen_natives(ctx, gate, calls, &natives)?;
    Ok(natives)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script of the bindings compiles in the minimal context `Script::compile` uses (a
    /// script that did not would be parsed in every sandbox instead, silently slower).
    #[test]
    fn every_script_compiles_to_bytecode_without_the_full_intrinsics() {
        for (name, source) in [
            ("stub", include_str!("stub.js")),
            ("prelude", include_str!("prelude.js")),
            ("web", include_str!("web.js")),
            ("intl", include_str!("intl.js")),
            ("wasm", include_str!("wasm.js")),
        ] {
            let script = Script {
                name,
                source,
                module: format!("export default {source};\n").leak(),
                bytecode: OnceLock::new(),
            };
            assert!(script.compile().is_ok(), "{name}");
        }
        assert!(crate::streams::STREAMS.compile().is_ok(), "streams");
        assert!(STUB.bytecode().is_some());
        assert!(PRELUDE.bytecode().is_some());
    }
}
