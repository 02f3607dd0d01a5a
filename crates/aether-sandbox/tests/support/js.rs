//! How the engine's test binaries (`engine_interp`, `engine_calls`, `engine_props`,
//! `engine_objects`, `engine_loops`, `engine_ctors`, `engine_frames`, ...) run a script: a fresh
//! runtime and full context with `cpu()` (this thread's CPU time in ms), and the timing loop
//! their speed tests share (a ratio of two loops on one thread's CPU time is steadier on a
//! loaded machine than wall time), and a step run through `run_step` with one module.

#![allow(
    dead_code,
    reason = "each test binary includes this file and uses only part of it"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec, run_step};
use rquickjs::context::EvalOptions;
use rquickjs::{Context, Function, Runtime};

/// A runtime makes its property-cache table (patches 0015, 0018) only after 4096 lookups that
/// would have filled it, so that a short step never pays for it: evaluated first, this makes
/// it, so that what follows runs with the caches on.
pub const MAKE_CACHE_TABLE: &str =
    "(() => { const o = { a: 1 }; let s = 0; for (let i = 0; i < 5000; i++) s += o.a; })();";

/// This thread's CPU time in milliseconds (std has no per-thread CPU clock).
#[allow(
    unsafe_code,
    reason = "clock_gettime of the thread CPU clock; std has no safe equivalent"
)]
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; the clock id is a constant of the platform.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Evaluates strict `script` in a fresh runtime with `cpu()`; returns its string value or the
/// exception's text. The runtime is dropped at the end: the engine checks then that nothing it
/// allocated is left.
pub fn eval(script: &str) -> Result<String, String> {
    eval_after("", true, script)
}

/// As [`eval`], in sloppy code.
pub fn eval_sloppy(script: &str) -> Result<String, String> {
    eval_after("", false, script)
}

/// As [`eval`], with `prelude` evaluated first in the same context (its value dropped), and
/// `script` strict or sloppy.
pub fn eval_after(prelude: &str, strict: bool, script: &str) -> Result<String, String> {
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    let context = Context::full(&runtime).map_err(|e| e.to_string())?;
    context.with(|ctx| {
        let cpu = Function::new(ctx.clone(), thread_cpu_ms).map_err(|e| e.to_string())?;
        ctx.globals().set("cpu", cpu).map_err(|e| e.to_string())?;
        if !prelude.is_empty() {
            ctx.eval::<(), _>(prelude).map_err(|e| e.to_string())?;
        }
        let mut options = EvalOptions::default();
        options.strict = strict;
        match ctx.eval_with_options::<String, _>(script, options) {
            Ok(value) => Ok(value),
            Err(rquickjs::Error::Exception) => Err(format!("{:?}", ctx.catch())),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// Held by a test while it runs, in test binaries whose timing tests must not share the CPU
/// with their other tests (Node's runs, test262): take it in every test of such a binary. A
/// panicking test does not poison it for the others.
pub fn quiet() -> std::sync::MutexGuard<'static, ()> {
    static QUIET: std::sync::Mutex<()> = std::sync::Mutex::new(());
    QUIET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The CPU time of `measured(n)` over that of `reference(n)`, each the best of nine alternating
/// runs, and of three such measures in fresh engines the lowest: on a 2-core machine running
/// other test binaries, one measure can land its reference runs in a quiet moment and its
/// measured runs in a loaded one (a whole-workspace run saw 1.38 against a 1.32 limit once), while an unpatched
/// engine's ratio is above the limit in every measure. `setup` is script text defining both
/// functions (`const reference = …, measured = …`); `prelude` runs before it as in
/// [`eval_after`].
pub fn cpu_ratio(prelude: &str, setup: &str, n: u32) -> f64 {
    (0..3)
        .map(|_| cpu_ratio_once(prelude, setup, n))
        .fold(f64::INFINITY, f64::min)
}

fn cpu_ratio_once(prelude: &str, setup: &str, n: u32) -> f64 {
    let script = format!(
        r#"
        {setup}
        const n = {n};
        let best_r = Infinity, best_m = Infinity, sink = 0;
        for (let k = 0; k < 9; k++) {{
            let t = cpu(); sink ^= reference(n); best_r = Math.min(best_r, cpu() - t);
            t = cpu(); sink ^= measured(n); best_m = Math.min(best_m, cpu() - t);
        }}
        String(best_m / best_r);
        "#
    );
    let ratio = eval_after(prelude, true, &script).expect("the timing script runs");
    ratio.parse().expect("a number")
}

/// [`cpu_ratio`] of two function expressions taking `(n)`, at `n` = 200,000.
pub fn cpu_ratio_of(reference: &str, measured: &str) -> f64 {
    cpu_ratio(
        "",
        &format!("const reference = {reference}, measured = {measured};"),
        200_000,
    )
}

/// Serves one module, `main.js`, to a step.
pub struct OneModule(pub String);

impl Host for OneModule {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { specifier, .. } if specifier.ends_with("main.js") => {
                Ok(HostValue::Module {
                    name: "main.js".into(),
                    source: self.0.clone(),
                    kind: aether_policy::ModuleKind::Esm,
                    exports: Vec::new(),
                })
            }
            _ => Err(HostError::Failed {
                type_error: false,
                message: "not in this test".into(),
            }),
        }
    }
}

/// Runs module `source` as a step's main module and returns its result as text.
pub fn run_step_text(source: &str) -> Result<String, String> {
    let spec = StepSpec {
        main: "./main.js".into(),
        input: serde_json::value::RawValue::from_string("0".into()).map_err(|e| e.to_string())?,
        context: serde_json::Value::Null,
        limits: Limits::default(),
        sample: false,
    };
    run_step(spec, Arc::new(OneModule(source.to_owned())))
        .result
        .map(|text| text.get().to_owned())
        .map_err(|e| format!("{e:?}"))
}

/// Evaluates `script` in a fresh runtime; returns its string value (or the exception's text)
/// and how many times the interrupt handler ran (once per 10 000 polls; the regex interpreter
/// polls at every goto and every backtrack). With `stop_after`, the handler interrupts the
/// script once it has run that many times.
pub fn eval_counting_polls(script: &str, stop_after: Option<u64>) -> (Result<String, String>, u64) {
    let runtime = Runtime::new().expect("runtime");
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    runtime.set_interrupt_handler(Some(Box::new(move || {
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        stop_after.is_some_and(|limit| n >= limit)
    })));
    let context = Context::full(&runtime).expect("context");
    let value = context.with(|ctx| match ctx.eval::<String, _>(script) {
        Ok(value) => Ok(value),
        Err(rquickjs::Error::Exception) => Err(format!("{:?}", ctx.catch())),
        Err(e) => Err(e.to_string()),
    });
    (value, calls.load(Ordering::Relaxed))
}

/// Asserts that a script's output equals Node's for the same script (a fixture written by
/// `node`), line by line, naming the first line that differs with the `context` lines before it.
pub fn assert_same_lines_as_node(actual: &str, expected: &str, context: usize) {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        let before = expected[i.saturating_sub(context)..i].join("\n");
        assert_eq!(
            a,
            e,
            "QuickJS and Node differ at line {} after:\n{before}",
            i + 1
        );
    }
    assert_eq!(actual.len(), expected.len());
}
