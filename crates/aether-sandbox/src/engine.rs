//! One step on the engine thread: a fresh runtime and context, the bindings, the entry module,
//! `await default(input, context)`, an event loop for promise jobs and timers, and the result
//! serialized as JSON.
//!
//! The engine reports to the supervisor *before* tearing the runtime down, so that freeing a big
//! heap never counts against the step's time.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use rquickjs::context::intrinsic::{
    Date, Eval, Json, MapSet, Promise as PromiseIntrinsic, Proxy, RegExp, RegExpCompiler,
    TypedArrays, WeakRef,
};
use rquickjs::function::Rest;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Module, Persistent, Promise, Runtime, Value};
use serde_json::value::RawValue;

use crate::bindings::{self, Timers};
use crate::errors::{describe_thrown, take_exception};
use crate::gate::{Gate, Kill, Meter, Shared};
use crate::sys::{self, MeteredAllocator};
use crate::tasks::SlowCalls;
use crate::{StepError, StepSpec, loader};

/// The ECMAScript built-ins a plugin gets. Left out on purpose: QuickJS's `performance` (a
/// clock at full resolution, which sharpens timing side channels) and `DOMException`: web.rs
/// defines both as SPEC §5 describes them.
type Intrinsics = (
    Date,
    Eval,
    RegExpCompiler,
    RegExp,
    Json,
    Proxy,
    MapSet,
    TypedArrays,
    PromiseIntrinsic,
    WeakRef,
);

/// What the engine thread sends the supervisor.
pub(crate) struct Report {
    pub(crate) result: Result<Box<RawValue>, StepError>,
    pub(crate) cpu: Duration,
}

/// What [`run`] does with the engine once it has reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Teardown {
    /// Frees it (a thread that runs more steps, in a process that lives on).
    Free,
    /// Leaves it allocated: the process ends after this one step, freeing it all at once.
    Leave,
}

/// A runtime and context made before the step is known (in the zygote, before it forks), with
/// the built-ins and the bindings installed over an unarmed [`Gate`]: no limit or interrupt
/// handler yet, no host (every binding fails closed until the step arms the gate), and no
/// JavaScript run in it but the bindings' own.
pub(crate) struct Prepared {
    /// The meter its allocator counts on, without a ceiling until the step sets it.
    pub(crate) meter: Arc<Meter>,
    /// The gate every binding (and the module loader) holds, over [`Prepared::meter`]; the
    /// step arms it with its host and deadline, once.
    pub(crate) gate: Arc<Gate>,
    runtime: Runtime,
    context: Context,
    /// The state the bindings' closures share with the step's event loop.
    state: Persistent<StepState<'static>>,
    /// The module loader's CommonJS runtime slot.
    cjs: crate::cjs::RuntimeSlot,
}

/// The step's state the bindings' closures hold and the event loop runs: timers, slow host
/// calls, WebAssembly. Held as a [`Persistent`] between the bindings' installation before the
/// step and the step itself (see `sys.rs` for its `JsLifetime`).
pub(crate) struct StepState<'js> {
    pub(crate) timers: Rc<RefCell<Timers<'js>>>,
    pub(crate) calls: Rc<RefCell<SlowCalls<'js>>>,
    pub(crate) wasm: crate::wasm::Slot<'js>,
}

impl<'js> StepState<'js> {
    fn new(gate: &Arc<Gate>) -> Self {
        Self {
            timers: Rc::new(RefCell::new(Timers::new(Arc::clone(&gate.shared.meter)))),
            calls: Rc::new(RefCell::new(SlowCalls::new(gate))),
            wasm: crate::wasm::Slot::default(),
        }
    }

    fn tasks(&self) -> Tasks<'_, 'js> {
        Tasks {
            timers: &self.timers,
            calls: &self.calls,
            wasm: &self.wasm,
        }
    }
}

thread_local! {
    /// The engine [`prepare`] made on this thread, for the one step [`take_prepared`] gives it
    /// to. Never dropped: a process that did not use it exits with it.
    static PREPARED: RefCell<Option<std::mem::ManuallyDrop<Prepared>>> = const { RefCell::new(None) };
}

/// Makes a runtime and context with the built-ins and the bindings on this thread for its next
/// step (or that of a process forked from it), if there is none yet. If the bindings cannot be
/// installed (never with this build's), nothing is kept and the step makes its own engine.
pub(crate) fn prepare() {
    PREPARED.with_borrow_mut(|slot| {
        if slot.is_some() {
            return;
        }
        let meter = Arc::new(Meter::new(u64::MAX));
        let Ok(runtime) = Runtime::new_with_alloc(MeteredAllocator::new(Arc::clone(&meter))) else {
            return;
        };
        let Ok(context) = Context::custom::<Intrinsics>(&runtime) else {
            return;
        };
        let gate = Arc::new(Gate::unarmed(Arc::new(Shared::unarmed(Arc::clone(&meter)))));
        let (resolver, loader, cjs) = loader::host_loader(Arc::clone(&gate));
        runtime.set_loader(resolver, loader);
        let installed = context.with(|ctx| -> rquickjs::Result<_> {
            let state = StepState::new(&gate);
            bindings::install(&ctx, &gate, &state.tasks(), bindings::StubFrom::ThisContext)?;
            Ok(Persistent::save(&ctx, state))
        });
        let Ok(state) = installed else {
            // Half installed: not for a step. Never freed (as a prepared engine never is).
            std::mem::forget((context, runtime));
            return;
        };
        *slot = Some(std::mem::ManuallyDrop::new(Prepared {
            meter,
            gate,
            runtime,
            context,
            state,
            cjs,
        }));
    });
}

/// The engine [`prepare`] made on this thread, once.
pub(crate) fn take_prepared() -> Option<Prepared> {
    PREPARED
        .with_borrow_mut(Option::take)
        .map(std::mem::ManuallyDrop::into_inner)
}

/// The engine's body: runs the step, reports, then frees the engine or leaves it. `prepared`
/// is an engine made on this thread whose gate is `gate`, armed for this step.
pub(crate) fn run(
    spec: StepSpec,
    gate: Arc<Gate>,
    report: SyncSender<Report>,
    teardown: Teardown,
    prepared: Option<Prepared>,
) {
    let shared = Arc::clone(&gate.shared);
    shared.set_engine_clock(sys::current_thread_cpu_clock());
    let cpu_start = sys::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or_default();

    let (engine, installed) = match start(&spec, &gate, prepared) {
        Ok((runtime, context, cjs, installed)) => (Ok((runtime, context, cjs)), installed),
        Err(error) => (Err(error), None),
    };
    let result = match &engine {
        Ok((_, context, cjs)) => context.with(|ctx| {
            // The bindings installed before the step (over this gate), or none yet.
            let (state, installed) = match installed.map(|state| state.restore(&ctx)) {
                Some(Ok(state)) => (state, true),
                Some(Err(e)) => {
                    return Err(StepError::Engine {
                        message: format!("cannot take the prepared bindings: {e}"),
                    });
                }
                None => (StepState::new(&gate), false),
            };
            let result = step(&ctx, &spec, &gate, &state.tasks(), installed);
            // All three hold JavaScript values: release them before the context goes.
            state.timers.borrow_mut().clear();
            state.calls.borrow_mut().clear();
            cjs.borrow_mut().take();
            // WebAssembly's store and the buffers over its memories go with the step.
            state.wasm.borrow_mut().take();
            result
        }),
        Err(error) => Err(error.clone()),
    };
    // A kill overrides whatever the plugin made of it (e.g. it caught the out-of-memory error).
    let result = match shared.killed() {
        Some(kill) => Err(kill_error(kill, &spec)),
        None => result,
    };

    let cpu = sys::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
        .unwrap_or_default()
        .saturating_sub(cpu_start);
    // The supervisor may have given up on us: then nobody listens, which is fine.
    let _ = report.send(Report { result, cpu });
    match teardown {
        Teardown::Free => drop(engine),
        Teardown::Leave => std::mem::forget(engine),
    }
}

fn kill_error(kill: Kill, spec: &StepSpec) -> StepError {
    match kill {
        Kill::Memory => StepError::Memory {
            limit: spec.limits.memory.bytes(),
        },
        Kill::Timeout => StepError::Timeout {
            limit: spec.limits.timeout,
        },
    }
}

/// The prepared bindings' state, kept for the step's context.
type Installed = Persistent<StepState<'static>>;

/// A fresh runtime and context (or the prepared ones, with their bindings' state) with the
/// step's limits, the host module loader and the interrupt handler.
fn start(
    spec: &StepSpec,
    gate: &Arc<Gate>,
    prepared: Option<Prepared>,
) -> Result<(Runtime, Context, crate::cjs::RuntimeSlot, Option<Installed>), StepError> {
    let shared = &gate.shared;
    let failed = |what: &str, e: rquickjs::Error| match shared.killed() {
        Some(kill) => kill_error(kill, spec),
        None => StepError::Engine {
            message: format!("{what}: {e}"),
        },
    };
    let (runtime, context, installed) = match prepared {
        Some(Prepared {
            runtime,
            context,
            state,
            cjs,
            gate: prepared_gate,
            ..
        }) => {
            // The bindings and the loader hold the prepared gate: the step's must be it.
            if !Arc::ptr_eq(&prepared_gate, gate) {
                // Never freed, as a prepared engine never is (its bindings hold that gate).
                std::mem::forget((state, context, runtime));
                return Err(StepError::Engine {
                    message: "the prepared engine was handed another step's gate".to_owned(),
                });
            }
            // Made higher up this thread's stack (or before a fork): the stack limit counts from
            // here,
            // and `Math.random` draws its own numbers, not those of every copy of the context.
            context.with(|ctx| {
                sys::update_stack_top(&ctx);
                sys::reseed_random(&ctx);
            });
            (runtime, Some(context), Some((state, cjs)))
        }
        None => (
            Runtime::new_with_alloc(MeteredAllocator::new(Arc::clone(&shared.meter)))
                .map_err(|e| failed("cannot create the runtime", e))?,
            None,
            None,
        ),
    };
    runtime.set_max_stack_size(crate::js_stack(&spec.limits));
    let interrupt = Arc::clone(shared);
    // Returning `true` raises an uncatchable error; it keeps returning `true` once the plugin
    // is killed, so catching that error only gets the plugin interrupted again.
    runtime.set_interrupt_handler(Some(Box::new(move || {
        let stop = interrupt.killed().is_some();
        if stop {
            interrupt.meter.refill_grace();
        }
        stop
    })));
    if let Some((state, cjs)) = installed {
        // The loader was set with the bindings, over the same gate.
        let Some(context) = context else {
            return Err(StepError::Engine {
                message: "the prepared engine has no context".to_owned(),
            });
        };
        return Ok((runtime, context, cjs, Some(state)));
    }
    let (resolver, loader, cjs) = loader::host_loader(Arc::clone(gate));
    runtime.set_loader(resolver, loader);
    let context = match context {
        Some(context) => context,
        None => Context::custom::<Intrinsics>(&runtime)
            .map_err(|e| failed("cannot create the context", e))?,
    };
    Ok((runtime, context, cjs, None))
}

/// How a promise the engine waits for ended, when not fulfilled.
enum Unsettled<'js> {
    /// Rejected with this value (or a timer callback threw it).
    Rejected(Value<'js>),
    /// No job, no timer: it can never settle.
    Stalled,
    /// The plugin was killed (the caller reports the kill).
    Killed,
}

/// What the event loop runs besides promise jobs.
pub(crate) struct Tasks<'a, 'js> {
    pub(crate) timers: &'a Rc<RefCell<Timers<'js>>>,
    pub(crate) calls: &'a Rc<RefCell<SlowCalls<'js>>>,
    /// The sandbox's WebAssembly (wasm.rs), made on first use of `WebAssembly`.
    pub(crate) wasm: &'a crate::wasm::Slot<'js>,
}

fn step<'js>(
    ctx: &Ctx<'js>,
    spec: &StepSpec,
    gate: &Arc<Gate>,
    tasks: &Tasks<'_, 'js>,
    installed: bool,
) -> Result<Box<RawValue>, StepError> {
    let shared = &gate.shared;
    let engine_error = |ctx: &Ctx<'js>, e: rquickjs::Error| StepError::Engine {
        message: take_exception(ctx, e),
    };
    if !installed {
        bindings::install(ctx, gate, tasks, bindings::StubFrom::Bytecode)
            .map_err(|e| engine_error(ctx, e))?;
    }
    let input = ctx
        .json_parse(spec.input.get())
        .map_err(|e| engine_error(ctx, e))?;
    let context = to_js(ctx, &spec.context).map_err(|e| engine_error(ctx, e))?;

    let module_error = |message: String| StepError::Module {
        specifier: spec.main.clone(),
        message,
    };
    let namespace = Module::import(ctx, spec.main.as_str())
        .map_err(|e| module_error(take_exception(ctx, e)))?;
    let namespace = match drive(ctx, &namespace, tasks, shared) {
        Ok(namespace) => namespace,
        Err(Unsettled::Rejected(error)) => return Err(module_error(describe_thrown(ctx, &error))),
        Err(Unsettled::Stalled) => {
            return Err(module_error(
                "its top-level `await` never settles".to_owned(),
            ));
        }
        Err(Unsettled::Killed) => return Err(module_error("stopped".to_owned())),
    };
    let entry = namespace
        .as_object()
        .and_then(|ns| ns.get::<_, Value>("default").ok())
        .and_then(|v| v.into_function())
        .ok_or_else(|| module_error("it has no default export function".to_owned()))?;

    let returned: Value<'js> = entry
        .call((input, context))
        .map_err(|e| StepError::Thrown {
            message: take_exception(ctx, e),
        })?;
    let value = match returned.as_promise() {
        None => returned,
        Some(promise) => match drive(ctx, promise, tasks, shared) {
            Ok(value) => value,
            Err(Unsettled::Rejected(error)) => {
                return Err(StepError::Thrown {
                    message: describe_thrown(ctx, &error),
                });
            }
            Err(Unsettled::Stalled) => {
                return Err(StepError::Thrown {
                    message: "the default export's promise never settles (no pending job or timer)"
                        .to_owned(),
                });
            }
            Err(Unsettled::Killed) => {
                return Err(StepError::Engine {
                    message: "stopped".to_owned(),
                });
            }
        },
    };

    // `undefined` (and functions, symbols) serialize to nothing: the output is then `null`.
    match ctx.json_stringify(value) {
        Ok(None) => Ok(RawValue::NULL.to_owned()),
        Ok(Some(json)) => {
            // Kept as the text `JSON.stringify` wrote (SPEC §4); the check only confirms it is
            // one JSON value and, unlike parsing into Rust values, accepts lone surrogates.
            let json = json.to_string().map_err(|e| engine_error(ctx, e))?;
            RawValue::from_string(json).map_err(|e| StepError::Output {
                message: e.to_string(),
            })
        }
        Err(e) => Err(StepError::Output {
            message: take_exception(ctx, e),
        }),
    }
}

/// Copies a JSON value into the context.
fn to_js<'js>(ctx: &Ctx<'js>, value: &serde_json::Value) -> rquickjs::Result<Value<'js>> {
    ctx.json_parse(value.to_string())
}

/// Runs promise jobs, due timers and finished slow host calls until `promise` settles, the
/// plugin is killed, or nothing is left that could settle it. Sleeps (up to the deadline) while
/// only future timers and running host calls remain. Timers still pending when the promise
/// settles are dropped with the step.
fn drive<'js>(
    ctx: &Ctx<'js>,
    promise: &Promise<'js>,
    tasks: &Tasks<'_, 'js>,
    shared: &Shared,
) -> Result<Value<'js>, Unsettled<'js>> {
    // An exception escaping a timer callback or a promise settlement fails the step, as an
    // uncaught exception ends a Node.js process.
    let thrown = |e: rquickjs::Error| {
        if e.is_exception() {
            Unsettled::Rejected(ctx.catch())
        } else {
            Unsettled::Killed
        }
    };
    loop {
        match promise.state() {
            PromiseState::Resolved => {
                return promise
                    .result::<Value>()
                    .and_then(Result::ok)
                    .ok_or(Unsettled::Killed);
            }
            PromiseState::Rejected => {
                let _ = promise.result::<Value>();
                return Err(Unsettled::Rejected(ctx.catch()));
            }
            PromiseState::Pending => {}
        }
        if shared.killed().is_some() {
            return Err(Unsettled::Killed);
        }
        if ctx.execute_pending_job() {
            continue;
        }
        let now = Instant::now();
        let due = tasks.timers.borrow_mut().take_due(now);
        if let Some(timer) = due {
            timer
                .callback
                .call::<_, Value>((Rest(timer.args),))
                .map_err(thrown)?;
            continue;
        }
        let done = tasks.calls.borrow_mut().next_done(None);
        if let Some(done) = done {
            done.settle(ctx).map_err(thrown)?;
            continue;
        }
        let wake = tasks
            .timers
            .borrow()
            .next_due()
            .map_or(shared.deadline(), |due| due.min(shared.deadline()));
        let wait = wake.saturating_duration_since(now);
        if !tasks.calls.borrow().is_idle() {
            let done = tasks.calls.borrow_mut().next_done(Some(wait));
            if let Some(done) = done {
                done.settle(ctx).map_err(thrown)?;
            }
        } else if tasks.timers.borrow().next_due().is_some() {
            std::thread::sleep(wait);
        } else {
            return Err(Unsettled::Stalled);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use aether_protocol::{Host, HostError, HostRequest, HostValue};

    use super::*;
    use crate::{Limits, run_step};

    /// Serves one entry module and nothing else.
    struct OneModule(&'static str);

    impl Host for OneModule {
        fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
            match request {
                HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                    name: "main.js".into(),
                    source: self.0.into(),
                    kind: aether_policy::ModuleKind::Esm,
                    exports: Vec::new(),
                }),
                _ => Err(HostError::Failed {
                    type_error: false,
                    message: "not in this test".into(),
                }),
            }
        }
    }

    /// What SPEC §5 lets us add to the ECMAScript built-ins (`queueMicrotask` is already a
    /// QuickJS-ng built-in).
    const ADDITIONS: [&str; 33] = [
        "AbortController",
        "AbortSignal",
        "aether",
        "atob",
        "Blob",
        "btoa",
        "clearInterval",
        "clearTimeout",
        "console",
        "crypto",
        "DOMException",
        "Event",
        "EventTarget",
        "fetch",
        "File",
        "FormData",
        "Headers",
        "Intl",
        "navigator",
        "performance",
        "reportError",
        "Request",
        "require",
        "Response",
        "setInterval",
        "setTimeout",
        "structuredClone",
        "TextDecoder",
        "TextEncoder",
        "URL",
        "URLPattern",
        "URLSearchParams",
        "WebAssembly",
    ];

    /// The stream globals (streams.rs), listed apart so that the lists of issue 18's other
    /// globals merge without conflict.
    const STREAM_ADDITIONS: [&str; 17] = [
        "ByteLengthQueuingStrategy",
        "CompressionStream",
        "CountQueuingStrategy",
        "DecompressionStream",
        "ReadableByteStreamController",
        "ReadableStream",
        "ReadableStreamBYOBReader",
        "ReadableStreamBYOBRequest",
        "ReadableStreamDefaultController",
        "ReadableStreamDefaultReader",
        "TextDecoderStream",
        "TextEncoderStream",
        "TransformStream",
        "TransformStreamDefaultController",
        "WritableStream",
        "WritableStreamDefaultController",
        "WritableStreamDefaultWriter",
    ];

    /// Serves the entry module `export default () => aether.env.get("X")` and answers
    /// `EnvGet` with its own text.
    struct EnvHost;

    impl Host for EnvHost {
        fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
            match request {
                HostRequest::LoadModule { referrer: None, .. } => Ok(HostValue::Module {
                    name: "main.js".into(),
                    source: "export default () => aether.env.get('X');".into(),
                    kind: aether_policy::ModuleKind::Esm,
                    exports: Vec::new(),
                }),
                HostRequest::EnvGet { .. } => Ok(HostValue::Text {
                    value: Some("the step's host".into()),
                }),
                _ => Err(HostError::Failed {
                    type_error: false,
                    message: "not in this test".into(),
                }),
            }
        }
    }

    /// The bindings prepared before a step (the process tier's zygote installs them before it
    /// forks) reach no host until the step arms their gate: a binding called before then
    /// throws, since no host exists for it to reach. The same bindings, once the step has
    /// armed the gate, reach that step's host.
    #[test]
    fn issue_23_prepared_bindings_fail_closed_until_the_step_arms_them() {
        let limits = Limits::default();
        let stack = crate::engine_stack(&limits) + (4 << 20);
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                crate::prepare_part(0);
                prepare();
                let before: Vec<String> = PREPARED.with_borrow(|prepared| {
                    let prepared = prepared.as_ref().expect("prepared");
                    prepared.context.with(|ctx| {
                        ctx.eval(
                            "[() => aether.env.get('HOME'), () => console.log('x'), \
                              () => aether.fs.readText('/etc/passwd'), () => aether.secret('K')] \
                             .map((f) => { try { f(); return 'reached'; } \
                                           catch (e) { return String(e.message); } })",
                        )
                        .expect("eval")
                    })
                });
                assert_eq!(before.len(), 4);
                for message in &before {
                    assert!(message.contains("no host access"), "{message}");
                }
                let outcome = crate::run_step_on_this_thread(
                    crate::StepSpec {
                        main: "main.js".into(),
                        input: RawValue::NULL.to_owned(),
                        context: serde_json::Value::Null,
                        limits,
                        sample: false,
                    },
                    Arc::new(EnvHost),
                );
                assert_eq!(outcome.result.expect("step").get(), "\"the step's host\"");
            })
            .expect("thread")
            .join()
            .expect("test thread");
    }

    fn names_of_fresh<I: rquickjs::context::Intrinsic>() -> BTreeSet<String> {
        let runtime = Runtime::new().expect("runtime");
        let context = Context::custom::<I>(&runtime).expect("context");
        context.with(|ctx| {
            ctx.eval::<Vec<String>, _>("Object.getOwnPropertyNames(globalThis)")
                .expect("names")
                .into_iter()
                .collect()
        })
    }

    #[test]
    fn globals_are_the_builtins_plus_exactly_our_additions() {
        let globals_after = |source: &'static str| -> BTreeSet<String> {
            let outcome = run_step(
                crate::StepSpec {
                    main: "main.js".into(),
                    input: RawValue::NULL.to_owned(),
                    context: serde_json::Value::Null,
                    limits: Limits::default(),
                    sample: false,
                },
                Arc::new(OneModule(source)),
            );
            serde_json::from_str(outcome.result.expect("step").get()).expect("names")
        };
        let seen = globals_after("export default () => Object.getOwnPropertyNames(globalThis)");

        let mut builtins = names_of_fresh::<Intrinsics>();
        // QuickJS-specific, not ECMAScript: removed (SPEC §5).
        assert!(builtins.remove("InternalError"));
        let mut expected = builtins.clone();
        expected.extend(ADDITIONS.map(str::to_owned));
        expected.extend(STREAM_ADDITIONS.map(str::to_owned));
        assert_eq!(seen, expected);

        // The same once streams.js has loaded (and `Response.body` made a stream).
        let seen_streams = globals_after(
            "export default () => { void new Response('x').body; void CompressionStream; \
             return Object.getOwnPropertyNames(globalThis); }",
        );
        assert_eq!(seen_streams, expected);

        // The same once the lazily loaded prelude has run (bindings.rs `STUB`): it adds no name.
        let seen_loaded = globals_after(
            "export default () => { void new TextEncoder(); void Response; void URL; \
             void Intl.NumberFormat; void (1).toLocaleString(); \
             return Object.getOwnPropertyNames(globalThis); }",
        );
        assert_eq!(seen_loaded, expected);

        // The built-ins themselves: nothing outside ECMAScript, nothing the SPEC forbids.
        assert!(builtins.contains("queueMicrotask"));
        let all = names_of_fresh::<rquickjs::context::intrinsic::All>();
        assert!(builtins.is_subset(&all));
        for name in &seen {
            let lower = name.to_lowercase();
            assert!(!name.starts_with("__"), "{name}");
            assert!(name == "aether" || !lower.contains("aether"), "{name}");
            for forbidden in ["process", "std", "os", "gc", "print"] {
                assert_ne!(name, forbidden);
            }
        }
    }
}
