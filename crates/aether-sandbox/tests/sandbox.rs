//! In-process tests of `run_step` against an in-memory fake `Host`: data passing, modules,
//! bindings, limits and escapes. No test asserts a duration: timings belong in benchmarks.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_policy::{ByteSize, Capability};
use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepError, StepOutcome, StepSpec, run_step};
use serde_json::{Value, json};

/// Modules by canonical name (a flat plugin directory), files, env, and every request seen.
#[derive(Default)]
struct FakeHost {
    modules: HashMap<String, String>,
    files: Mutex<HashMap<String, Vec<u8>>>,
    env: HashMap<String, String>,
    requests: Mutex<Vec<HostRequest>>,
    reserved: AtomicU64,
    /// Requests `accept` has handed out (it hands out two, then `Unit`: closed).
    accepted: AtomicU64,
}

fn denied(capability: Capability, target: &str) -> HostError {
    HostError::PermissionDenied {
        capability,
        target: target.to_owned(),
        message: format!("{} denied for `{target}`", capability.as_str()),
    }
}

impl FakeHost {
    fn with_main(source: &str) -> Self {
        Self::default().module("main.js", source)
    }

    fn module(mut self, name: &str, source: &str) -> Self {
        self.modules.insert(name.to_owned(), source.to_owned());
        self
    }

    fn file(self, path: &str, data: &str) -> Self {
        self.files
            .lock()
            .expect("lock")
            .insert(path.to_owned(), data.as_bytes().to_vec());
        self
    }

    fn var(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    fn requests(&self) -> Vec<HostRequest> {
        self.requests.lock().expect("lock").clone()
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, HostError> {
        if path.starts_with("secret") {
            return Err(denied(Capability::FilesystemRead, path));
        }
        self.files
            .lock()
            .expect("lock")
            .get(path)
            .cloned()
            .ok_or_else(|| HostError::Failed {
                type_error: false,
                message: format!("no such file `{path}`"),
            })
    }
}

impl Host for FakeHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        self.requests.lock().expect("lock").push(request.clone());
        self.answer(request)
    }

    fn reserved_bytes(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}

impl FakeHost {
    fn answer(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule {
                specifier,
                referrer,
                ..
            } => {
                let name = match (specifier.strip_prefix("./"), referrer) {
                    (Some(name), _) => name.to_owned(),
                    (None, None) if self.modules.contains_key(&specifier) => specifier.clone(),
                    _ => return Err(denied(Capability::Module, &specifier)),
                };
                let source = self
                    .modules
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| denied(Capability::Module, &specifier))?;
                Ok(HostValue::Module {
                    name,
                    source,
                    kind: aether_policy::ModuleKind::Esm,
                    exports: Vec::new(),
                })
            }
            // The grant first (SPEC §5): the target's denial, else the problem as a TypeError.
            HostRequest::Malformed { request, problem } => {
                let outcome = match *request {
                    HostRequest::Write { path, .. } | HostRequest::Append { path, .. } => {
                        self.read(&path).map(|_| HostValue::Unit)
                    }
                    request => self.answer(request),
                };
                match outcome {
                    Err(denial @ HostError::PermissionDenied { .. }) => Err(denial),
                    _ => Err(HostError::Failed {
                        type_error: true,
                        message: problem,
                    }),
                }
            }
            // A host that wrongly answers `require` with success: the sandbox must throw anyway.
            HostRequest::Require { .. } | HostRequest::PluginFile { .. } => Ok(HostValue::Unit),
            HostRequest::ReadText { path } => Ok(HostValue::Text {
                value: Some(String::from_utf8_lossy(&self.read(&path)?).into_owned()),
            }),
            HostRequest::ReadBytes { path } => Ok(HostValue::Bytes {
                value: self.read(&path)?,
            }),
            HostRequest::Exists { path } => match self.read(&path) {
                Err(denial @ HostError::PermissionDenied { .. }) => Err(denial),
                found => Ok(HostValue::Bool {
                    value: found.is_ok(),
                }),
            },
            HostRequest::Stat { path } => {
                let data = self.read(&path)?;
                Ok(HostValue::Stat {
                    size: data.len() as u64,
                    is_file: true,
                    is_dir: false,
                    mtime_ms: 1.0,
                })
            }
            HostRequest::List { .. } => Ok(HostValue::Names {
                value: vec!["a".into(), "b".into()],
            }),
            HostRequest::Write { path, data } | HostRequest::Append { path, data }
                if path == "huge" =>
            {
                self.reserved.store(data.len() as u64, Ordering::Relaxed);
                Err(HostError::LimitExceeded {
                    capability: Capability::LimitMemory,
                    message: "memory limit exceeded".into(),
                })
            }
            HostRequest::Write { path, data } => {
                self.files.lock().expect("lock").insert(path, data);
                Ok(HostValue::Unit)
            }
            HostRequest::Append { path, data } => {
                self.files
                    .lock()
                    .expect("lock")
                    .entry(path)
                    .or_default()
                    .extend(data);
                Ok(HostValue::Unit)
            }
            HostRequest::Mkdir { .. } | HostRequest::Remove { .. } | HostRequest::Log { .. } => {
                Ok(HostValue::Unit)
            }
            HostRequest::Secret { name } => Ok(HostValue::Text {
                value: Some(format!("aether-secret-{name}")),
            }),
            HostRequest::EnvGet { name } if name == "SECRET" => Err(denied(Capability::Env, &name)),
            HostRequest::EnvGet { name } if name == "PANIC" => panic!("a provider bug"),
            HostRequest::EnvGet { name } => Ok(HostValue::Text {
                value: self.env.get(&name).cloned(),
            }),
            HostRequest::Run { command, .. } if command == "denied" => {
                Err(denied(Capability::Process, &command))
            }
            HostRequest::Run {
                command,
                args,
                stdin,
                timeout_ms,
                cwd,
            } => Ok(HostValue::Exit {
                code: (timeout_ms.is_none()).then_some(0),
                signal: timeout_ms.map(|_| "SIGKILL".to_owned()),
                stdout: format!("{command} {}", args.join(" ")),
                stderr: format!(
                    "{}|{}",
                    String::from_utf8_lossy(&stdin),
                    cwd.unwrap_or_default()
                ),
            }),
            HostRequest::Listen { hostname, port } if hostname != "127.0.0.1" => {
                Err(denied(Capability::Network, &format!("{hostname}:{port}")))
            }
            HostRequest::Listen { port: 8, .. } => Ok(HostValue::Listener { id: 8 }),
            HostRequest::Listen { .. } => Ok(HostValue::Listener { id: 7 }),
            // A listener no client calls: each accept waits, then finds it closed.
            HostRequest::Accept { listener: 8 } => {
                std::thread::sleep(Duration::from_millis(300));
                Ok(HostValue::Unit)
            }
            HostRequest::Accept { listener } => {
                let n = self.accepted.fetch_add(1, Ordering::SeqCst);
                Ok(if listener != 7 || n >= 2 {
                    HostValue::Unit
                } else {
                    HostValue::Request {
                        id: 100 + n,
                        method: "POST".into(),
                        url: format!("http://127.0.0.1:9000/item/{n}"),
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: format!("{{\"n\":{n}}}").into_bytes(),
                    }
                })
            }
            HostRequest::Respond { .. } | HostRequest::CloseListener { .. } => Ok(HostValue::Unit),
            HostRequest::Fetch { url, .. } if url.starts_with("https://denied") => {
                Err(denied(Capability::Network, &url))
            }
            HostRequest::Fetch { url, .. } if url.starts_with("https://refused") => {
                Err(HostError::Failed {
                    type_error: true,
                    message: "connection refused".into(),
                })
            }
            HostRequest::Fetch {
                url,
                method,
                headers,
                body,
                redirect,
                timeout_ms,
            } => {
                assert!(url != "https://panic/", "a provider bug");
                if let Some(ms) = url.strip_prefix("https://slow/") {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
                }
                let echo = json!({
                    "method": method,
                    "headers": headers,
                    "body": body.map(|b| String::from_utf8_lossy(&b).into_owned()),
                    "redirect": redirect,
                    "timeout_ms": timeout_ms,
                });
                Ok(HostValue::Response {
                    status: 201,
                    status_text: "Created".into(),
                    url,
                    redirected: false,
                    headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("set-cookie".into(), "a=1".into()),
                        ("set-cookie".into(), "b=2".into()),
                    ],
                    body: echo.to_string().into_bytes(),
                })
            }
        }
    }
}

fn spec(limits: Limits) -> StepSpec {
    StepSpec {
        main: "main.js".into(),
        input: serde_json::value::to_raw_value(&json!({"a": 2, "b": 3})).expect("json"),
        context: json!({"step": "s1", "pipeline": "p", "plugin": {"name": "demo", "version": "1.0.0"}}),
        limits,
        sample: false,
    }
}

/// A step's result as a parsed value (the sandbox keeps it as text).
fn value(outcome: &StepOutcome) -> Result<Value, StepError> {
    outcome
        .result
        .as_ref()
        .map(|text| serde_json::from_str(text.get()).expect("json"))
        .map_err(Clone::clone)
}

fn run_host(host: &Arc<FakeHost>, limits: Limits) -> StepOutcome {
    run_step(spec(limits), Arc::clone(host) as Arc<dyn Host>)
}

fn run_js(source: &str) -> Result<Value, StepError> {
    value(&run_host(
        &Arc::new(FakeHost::with_main(source)),
        Limits::default(),
    ))
}

fn ok(source: &str) -> Value {
    match run_js(source) {
        Ok(v) => v,
        Err(e) => panic!("step failed: {e}"),
    }
}

fn one_second() -> Limits {
    Limits {
        timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[test]
fn passes_input_and_context_and_returns_json() {
    let out = ok(
        "export default (input, ctx) => ({ sum: input.a + input.b, step: ctx.step, plugin: ctx.plugin })",
    );
    assert_eq!(
        out,
        json!({"sum": 5, "step": "s1", "plugin": {"name": "demo", "version": "1.0.0"}})
    );
}

#[test]
fn undefined_becomes_null() {
    assert_eq!(ok("export default () => undefined"), Value::Null);
    assert_eq!(ok("export default () => {}"), Value::Null);
}

#[test]
fn async_default_with_timers_and_microtasks() {
    let out = ok(r#"
        export default async function (input) {
          const order = [];
          queueMicrotask(() => order.push("micro"));
          const t = setTimeout(() => order.push("cancelled"), 1);
          clearTimeout(t);
          await new Promise((resolve) => setTimeout(resolve, 20, "x"));
          order.push("timer");
          const v = await new Promise((resolve) => setTimeout((a, b) => resolve(a + b), 0, 1, 2));
          return { order, v, input };
        }"#);
    assert_eq!(
        out,
        json!({"order": ["micro", "timer"], "v": 3, "input": {"a": 2, "b": 3}})
    );
}

#[test]
fn non_serializable_output_is_an_output_error() {
    for source in [
        "export default () => 10n",
        "export default () => { const a = {}; a.self = a; return a; }",
    ] {
        assert!(
            matches!(run_js(source), Err(StepError::Output { .. })),
            "{source}"
        );
    }
}

#[test]
fn thrown_errors_and_rejections_carry_message_and_stack() {
    let Err(StepError::Thrown { message }) = run_js(
        "function boom() { throw new TypeError('bad input'); }\nexport default () => boom()",
    ) else {
        panic!("expected Thrown");
    };
    assert!(message.starts_with("TypeError: bad input"), "{message}");
    assert!(message.contains("boom"), "{message}");
    assert!(matches!(
        run_js("export default async () => { await null; throw new Error('later'); }"),
        Err(StepError::Thrown { .. })
    ));
}

#[test]
fn a_promise_that_never_settles_fails_instead_of_hanging() {
    assert!(matches!(
        run_js("export default () => new Promise(() => {})"),
        Err(StepError::Thrown { .. })
    ));
}

#[test]
fn modules_come_only_from_the_host() {
    let host = Arc::new(
        FakeHost::with_main(
            r#"import { twice } from "./lib.js";
               export default async () => {
                 const dynamic = await import("./lib.js");
                 return [twice(2), dynamic.twice(5)];
               }"#,
        )
        .module("lib.js", "export const twice = (x) => 2 * x;"),
    );
    assert_eq!(
        value(&run_host(&host, Limits::default())),
        Ok(json!([4, 10]))
    );
    let loads: Vec<_> = host
        .requests()
        .into_iter()
        .filter_map(|r| match r {
            HostRequest::LoadModule {
                specifier,
                referrer,
                ..
            } => Some((specifier, referrer)),
            _ => None,
        })
        .collect();
    assert_eq!(loads[0], ("main.js".to_owned(), None));
    assert_eq!(
        loads[1],
        ("./lib.js".to_owned(), Some("main.js".to_owned()))
    );
}

#[test]
fn require_and_dynamic_import_throw_permission_denied() {
    let host = Arc::new(FakeHost::with_main(
        r#"export default async () => {
             const seen = [];
             for (const attempt of [() => require("fs"), () => require("./main.js")]) {
               try { attempt(); seen.push("loaded"); }
               catch (e) { seen.push([e.name, e.capability, e.target, e instanceof Error]); }
             }
             try { await import("node:fs"); seen.push("loaded"); }
             catch (e) { seen.push([e.name, e.capability, e.target, e instanceof Error]); }
             return seen;
           }"#,
    ));
    assert_eq!(
        value(&run_host(&host, Limits::default())),
        Ok(json!([
            ["PermissionDenied", "module", "fs", true],
            ["PermissionDenied", "module", "./main.js", true],
            ["PermissionDenied", "module", "node:fs", true]
        ]))
    );
    // `require` still tells the host, so that it records the attempt; and it throws even
    // though this fake host answered with success.
    assert!(host.requests().contains(&HostRequest::Require {
        specifier: "fs".into(),
    }));
    assert!(!host.requests().iter().any(|r| matches!(r, HostRequest::LoadModule { referrer: None, specifier, .. } if specifier != "main.js")));
}

#[test]
fn a_denied_static_import_fails_the_step() {
    let Err(StepError::Module { message, .. }) =
        run_js("import fs from 'fs';\nexport default () => fs")
    else {
        panic!("expected a Module error");
    };
    assert!(
        message.starts_with("PermissionDenied: module denied for `fs`"),
        "{message}"
    );
}

#[test]
fn aether_is_frozen_deeply() {
    let out = ok(r#"
        export default () => {
          const results = [
            Object.isFrozen(aether), Object.isFrozen(aether.fs), Object.isFrozen(aether.env),
            Object.isFrozen(aether.fs.readText),
          ];
          try { aether.fs.readText = () => "pwned"; results.push("assigned"); } catch (e) { results.push(e.name); }
          try { globalThis.aether = {}; results.push("replaced"); } catch (e) { results.push(e.name); }
          try { delete globalThis.aether; results.push("deleted"); } catch (e) { results.push(e.name); }
          results.push(Object.getOwnPropertyDescriptor(globalThis, "aether").configurable);
          return results;
        }"#);
    assert_eq!(
        out,
        json!([
            true,
            true,
            true,
            true,
            "TypeError",
            "TypeError",
            "TypeError",
            false
        ])
    );
}

/// A panic in the host (a bug in a capability provider) fails that call with an error the
/// plugin can catch, synchronous or not; the step goes on instead of hanging or crashing.
#[test]
fn a_host_panic_fails_only_that_call() {
    let out = ok(r#"
        export default async () => {
          const seen = [];
          try { aether.env.get("PANIC"); } catch (e) { seen.push(e.message); }
          try { await fetch("https://panic/"); } catch (e) { seen.push(e.message); }
          seen.push(aether.env.get("HOME") ?? "still running");
          return seen;
        }"#);
    let text = out.to_string();
    assert_eq!(text.matches("a provider bug").count(), 2, "{out}");
    assert!(text.contains("still running"), "{out}");
}

/// Accepts waiting on clients have a lane of their own: twelve pending `accept()`s (more than
/// the eight fetches and child processes that may run at once) do not hold back a fetch.
#[test]
fn pending_accepts_do_not_hold_back_fetches() {
    let out = ok(r#"
        export default async () => {
          const log = [];
          const server = aether.listen({ hostname: "127.0.0.1", port: 8 });
          const accepts = Array.from({ length: 12 }, () => server.accept().then((r) => log.push(r)));
          await fetch("https://example.com/").then(() => log.push("fetched"));
          await Promise.all(accepts);
          return log;
        }"#);
    let mut expected = vec![json!("fetched")];
    expected.extend(std::iter::repeat_n(json!(null), 12));
    assert_eq!(out, json!(expected));
}

/// The web classes load on first use (lazy.rs): they behave as plain globals (data properties,
/// even before their first use), and loading them never overwrites what the plugin assigned or
/// deleted first.
#[test]
fn lazily_loaded_globals_behave_as_plain_ones() {
    let out = ok(r#"
        export default () => {
          const before = Object.getOwnPropertyDescriptor(globalThis, "TextDecoder");
          globalThis.Headers = "mine";
          delete globalThis.Response;
          const bytes = new TextEncoder().encode("é");
          const after = Object.getOwnPropertyDescriptor(globalThis, "TextDecoder");
          return [
            typeof before.get, after.writable, after.enumerable, after.configurable,
            new TextDecoder().decode(bytes), Array.from(bytes),
            globalThis.Headers, "Response" in globalThis,
            fetch === aether.fetch, fetch.name, fetch.length, aether.process.run.length,
          ];
        }"#);
    assert_eq!(
        out,
        json!([
            "undefined",
            true,
            false,
            true,
            "é",
            [195, 169],
            "mine",
            false,
            true,
            "fetch",
            1,
            1
        ])
    );
}

/// Plugin code that runs while the prelude loads (here a poisoned array iterator, called by the
/// prelude's own setup) and touches a stand-in loads it again from inside: fetch's responses
/// must still be the global `Response` and `Headers`, and a polluted `Object.prototype` must
/// not keep the classes from loading.
#[test]
fn lazily_loaded_globals_survive_reentry_and_a_polluted_object_prototype() {
    let out = ok(r#"
        export default async () => {
          const iterate = Array.prototype[Symbol.iterator];
          let reentered = false;
          Array.prototype[Symbol.iterator] = function () {
            if (!reentered) { reentered = true; void globalThis.Response; }
            return iterate.call(this);
          };
          const r = await fetch("https://ok/");
          Array.prototype[Symbol.iterator] = iterate;
          return [reentered, r instanceof Response, r.headers instanceof Headers];
        }"#);
    assert_eq!(out, json!([true, true, true]));
    let out = ok(r#"
        export default () => {
          Object.defineProperty(Object.prototype, "get", { value: () => 1, configurable: true });
          Object.prototype.set = () => {};
          const text = new TextDecoder().decode(new TextEncoder().encode("ok"));
          globalThis.Headers = "mine";
          delete Object.prototype.get;
          delete Object.prototype.set;
          return [text, globalThis.Headers, typeof Response];
        }"#);
    assert_eq!(out, json!(["ok", "mine", "function"]));
}

/// A plugin that freezes the global object before its first use of a lazily loaded class (as
/// hardening libraries do, e.g. SES's `lockdown`) still gets the classes and `fetch`.
#[test]
fn lazily_loaded_globals_work_on_a_frozen_global_object() {
    let out = ok(r#"
        export default async () => {
          Object.freeze(globalThis);
          const text = new TextDecoder().decode(new TextEncoder().encode("ok"));
          const r = await fetch("https://ok/");
          return [text, r instanceof Response, r.headers instanceof Headers, typeof Response];
        }"#);
    assert_eq!(out, json!(["ok", true, true, "function"]));
}

#[test]
fn permission_denied_has_name_capability_target_and_message() {
    let out = ok(r#"
        export default () => {
          const errors = [];
          for (const f of [() => aether.fs.readText("secret/key"), () => aether.fs.exists("secret/x"),
                           () => aether.env.get("SECRET")]) {
            try { f(); } catch (e) {
              errors.push({ name: e.name, capability: e.capability, target: e.target,
                            message: e.message, isError: e instanceof Error, str: String(e) });
            }
          }
          return errors;
        }"#);
    assert_eq!(out[0]["name"], "PermissionDenied");
    assert_eq!(out[0]["capability"], "filesystem.read");
    assert_eq!(out[0]["target"], "secret/key");
    assert_eq!(out[0]["message"], "filesystem.read denied for `secret/key`");
    assert_eq!(out[0]["isError"], true);
    assert_eq!(
        out[0]["str"],
        "PermissionDenied: filesystem.read denied for `secret/key`"
    );
    assert_eq!(out[1]["target"], "secret/x");
    assert_eq!(out[2]["capability"], "env");
    assert_eq!(out.as_array().map(Vec::len), Some(3));
}

#[test]
fn fs_and_env_bindings_forward_to_the_host() {
    let host = Arc::new(
        FakeHost::with_main(
            r#"export default () => {
             aether.fs.writeText("out.txt", "héllo");
             aether.fs.appendText("out.txt", "!");
             aether.fs.writeBytes("bin", new Uint8Array([1, 2, 255]));
             aether.fs.mkdir("d");
             aether.fs.remove("d");
             const bytes = aether.fs.readBytes("bin");
             return {
               text: aether.fs.readText("out.txt"),
               bytes: [bytes instanceof Uint8Array, ...bytes],
               list: aether.fs.list("."),
               stat: aether.fs.stat("in.txt"),
               exists: [aether.fs.exists("in.txt"), aether.fs.exists("nope")],
               env: [aether.env.get("HOME"), aether.env.get("UNSET") === undefined],
             };
           }"#,
        )
        .file("in.txt", "abc")
        .var("HOME", "/home/p"),
    );
    let out = value(&run_host(&host, Limits::default())).expect("step");
    assert_eq!(out["text"], "héllo!");
    assert_eq!(out["bytes"], json!([true, 1, 2, 255]));
    assert_eq!(out["list"], json!(["a", "b"]));
    assert_eq!(
        out["stat"],
        json!({"size": 3, "isFile": true, "isDir": false, "mtimeMs": 1})
    );
    assert_eq!(out["exists"], json!([true, false]));
    assert_eq!(out["env"], json!(["/home/p", true]));
    assert!(
        host.requests()
            .contains(&HostRequest::Mkdir { path: "d".into() })
    );
}

/// Wrong argument types are `TypeError`s; only those naming a target (a number or bytes as a
/// path, a path with wrong data) reach the host first, as `Malformed` (SPEC §5, the grant
/// first; issue 15). No plugin code (the proxy's trap) runs.
#[test]
fn wrong_argument_types_throw_type_error_after_the_host_checks_what_they_name() {
    let host = Arc::new(FakeHost::with_main(
        r#"export default () => {
             const names = [];
             const proxy = new Proxy({}, { get() { throw new Error("trap ran"); } });
             for (const f of [() => aether.fs.readText(), () => aether.fs.readText(42),
                              () => aether.fs.readText(proxy), () => aether.fs.writeBytes("x", "text"),
                              () => aether.fs.writeText("x", {}), () => aether.env.get(null),
                              () => setTimeout("alert(1)", 0)]) {
               try { f(); names.push("no error"); } catch (e) { names.push(e.name); }
             }
             return names;
           }"#,
    ));
    let out = value(&run_host(&host, Limits::default())).expect("step");
    assert_eq!(out, json!(vec!["TypeError"; 7]));
    let malformed = |request: HostRequest, problem: &str| HostRequest::Malformed {
        request: Box::new(request),
        problem: problem.into(),
    };
    assert_eq!(
        host.requests()[1..],
        [
            malformed(
                HostRequest::ReadText { path: "42".into() },
                "aether.fs.readText: path must be a string, got int"
            ),
            malformed(
                HostRequest::Write {
                    path: "x".into(),
                    data: Vec::new()
                },
                "aether.fs.writeBytes: data must be a Uint8Array"
            ),
            malformed(
                HostRequest::Write {
                    path: "x".into(),
                    data: Vec::new()
                },
                "aether.fs.writeText: data must be a string, got object"
            ),
        ]
    );
}

#[test]
fn console_goes_to_the_host_log() {
    let host = Arc::new(FakeHost::with_main(
        r#"export default () => {
             console.log("a", 1, { b: [true, null] }, undefined);
             console.error(new RangeError("r"));
             const inspect = { [Symbol.for("nodejs.util.inspect.custom")]() { throw new Error("called"); } };
             console.warn(inspect, 5n, () => 1);
           }"#,
    ));
    value(&run_host(&host, Limits::default())).expect("step");
    let logs: Vec<_> = host
        .requests()
        .into_iter()
        .filter_map(|r| match r {
            HostRequest::Log { level, message } => Some((level, message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs[0],
        ("log".into(), r#"a 1 {"b":[true,null]} undefined"#.into())
    );
    assert_eq!(logs[1].0, "error");
    assert!(logs[1].1.starts_with("RangeError: r"), "{}", logs[1].1);
    assert_eq!(
        logs[2],
        ("warn".into(), "{} 5n [Function (anonymous)]".into())
    );
}

#[test]
fn web_globals_work() {
    let out = ok(r#"
        export default () => {
          const bytes = new TextEncoder().encode("h€");
          const into = new Uint8Array(2);
          return {
            bytes: [...bytes],
            text: new TextDecoder().decode(bytes),
            lossy: new TextDecoder().decode(new Uint8Array([0x61, 0xff])),
            fatal: (() => { try { new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { return e.name; } })(),
            into: new TextEncoder().encodeInto("a€", into),
            b64: [btoa("hello"), atob("aGVsbG8=")],
            bad: (() => { try { btoa("€"); } catch (e) { return e.name; } })(),
          };
        }"#);
    assert_eq!(out["bytes"], json!([104, 226, 130, 172]));
    assert_eq!(out["text"], "h€");
    assert_eq!(out["lossy"], "a\u{fffd}");
    assert_eq!(out["fatal"], "TypeError");
    assert_eq!(out["into"], json!({"read": 1, "written": 1}));
    assert_eq!(out["b64"], json!(["aGVsbG8=", "hello"]));
    assert_eq!(out["bad"], "InvalidCharacterError");
}

#[test]
fn eval_and_function_work_inside_the_realm() {
    assert_eq!(
        ok("export default () => [eval('1 + 1'), new Function('a', 'return a * 3')(2)]"),
        json!([2, 6])
    );
}

/// Engine threads are reused between steps (pool.rs), engines never: over many steps, most
/// of them on a thread a polluting step ran on, nothing reaches the next step.
#[test]
fn prototype_pollution_does_not_reach_the_next_step() {
    for _ in 0..20 {
        ok(
            "export default () => { Object.prototype.polluted = 1; Array.prototype.map = null; globalThis.leak = 1; }",
        );
        assert_eq!(
            ok("export default () => [({}).polluted, typeof [].map, typeof leak]"),
            json!([null, "function", "undefined"])
        );
    }
}

/// Engine threads are reused (pool.rs), and a thread's CPU clock keeps counting across steps:
/// a step's CPU time, sampled or read at a timeout, is its own, not its thread's.
#[test]
fn cpu_time_is_the_steps_own_on_a_reused_thread() {
    let busy = Limits {
        timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let burn = Arc::new(FakeHost::with_main("export default () => { for (;;) {} };"));
    assert!(value(&run_host(&burn, busy)).is_err());
    // Let the thread finish its teardown and wait for the next step.
    std::thread::sleep(Duration::from_millis(300));
    let short = Limits {
        timeout: Duration::from_millis(50),
        ..Limits::default()
    };
    let spec = StepSpec {
        sample: true,
        ..spec(short)
    };
    let outcome = run_step(spec, Arc::clone(&burn) as Arc<dyn Host>);
    assert!(outcome.result.is_err());
    let sampled = outcome.samples.iter().map(|s| s.cpu_ms).max().unwrap_or(0);
    assert!(
        outcome.cpu_ms < 300 && sampled < 300,
        "the second step was charged the first one's CPU: {} ms, samples up to {sampled} ms",
        outcome.cpu_ms
    );
}

// --- Limits ---

// See: issue 16 ("Timers live in unmetered host memory": 25 million pending timers with one
// shared callback took aether to 1.79 GB RSS in 8 s under a 64 MiB ceiling).
#[test]
fn issue_16_pending_timers_count_toward_the_memory_ceiling() {
    let limits = Limits {
        memory: ByteSize::mib(16),
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    let host = Arc::new(FakeHost::with_main(
        "export default () => { const f = () => {}; for (;;) { setTimeout(f, 1e9); } }",
    ));
    let started = Instant::now();
    let outcome = run_host(&host, limits);
    assert_eq!(value(&outcome), Err(StepError::Memory { limit: 16 << 20 }));
    assert!(outcome.peak_memory_bytes <= 16 << 20);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Cancelled and fired timers give their bytes back: 200,000 timers set and cleared, then
    // 1,000 fired, stay far below the ceiling.
    let host = Arc::new(FakeHost::with_main(
        r#"export default async () => {
          const f = () => {};
          for (let i = 0; i < 200000; i++) clearTimeout(setTimeout(f, 1e9));
          let fired = 0;
          await Promise.all(Array.from({ length: 1000 }, () => new Promise((r) => setTimeout(() => { fired++; r(); }, 1))));
          return fired;
        }"#,
    ));
    assert_eq!(value(&run_host(&host, limits)), Ok(json!(1000)));
}

// See: issue 16 ("Host memory held for a plugin counts toward its ceiling": pending host-call
// results, fetch bodies in flight).
#[test]
fn issue_16_queued_fetch_bodies_count_toward_the_memory_ceiling() {
    let limits = Limits {
        memory: ByteSize::mib(32),
        timeout: Duration::from_secs(20),
        ..Limits::default()
    };
    // One 1 MiB body in the engine, copied into every queued request: without the charge,
    // 10,000 calls queue 10 GiB outside the ceiling.
    let host = Arc::new(FakeHost::with_main(
        r#"export default () => {
          const body = new Uint8Array(1 << 20);
          for (let i = 0; i < 10000; i++) fetch("https://example.com/", { method: "POST", body });
          return "queued";
        }"#,
    ));
    let outcome = run_host(&host, limits);
    assert_eq!(value(&outcome), Err(StepError::Memory { limit: 32 << 20 }));
    assert!(outcome.peak_memory_bytes <= 32 << 20);
}

#[test]
fn memory_bomb_fails_with_memory_and_the_next_step_still_runs() {
    let limits = Limits {
        memory: ByteSize::mib(32),
        ..Limits::default()
    };
    let host = Arc::new(FakeHost::with_main(
        "export default () => { const a = []; while (true) a.push(new Array(1e5).fill(1)); }",
    ));
    let outcome = run_host(&host, limits);
    assert_eq!(value(&outcome), Err(StepError::Memory { limit: 32 << 20 }));
    assert!(outcome.peak_memory_bytes > 16 << 20 && outcome.peak_memory_bytes <= 32 << 20);
    assert_eq!(ok("export default () => 'still fine'"), json!("still fine"));
}

#[test]
fn catching_out_of_memory_does_not_save_the_plugin() {
    let limits = Limits {
        memory: ByteSize::mib(32),
        ..one_second()
    };
    for source in [
        // Catches the error and returns as if nothing happened.
        "export default () => { try { const a = []; while (true) a.push(new Array(1e5).fill(1)); } catch (e) {} return 'survived'; }",
        // Catches it and keeps going.
        "export default () => { while (true) { try { const a = []; while (true) a.push(new Array(1e5).fill(1)); } catch (e) {} } }",
    ] {
        let host = Arc::new(FakeHost::with_main(source));
        assert_eq!(
            value(&run_host(&host, limits)),
            Err(StepError::Memory { limit: 32 << 20 }),
            "{source}"
        );
    }
}

#[test]
fn host_limit_exceeded_stops_the_plugin_even_if_caught() {
    let limits = Limits {
        memory: ByteSize::mib(32),
        ..one_second()
    };
    let host = Arc::new(FakeHost::with_main(
        "export default () => { try { aether.fs.writeText('huge', 'x'); } catch (e) {} return 'survived'; }",
    ));
    assert_eq!(
        value(&run_host(&host, limits)),
        Err(StepError::Memory { limit: 32 << 20 })
    );
}

#[test]
fn runaway_code_is_stopped_at_the_timeout() {
    for source in [
        "export default () => { while (true) {} }",
        // Catastrophic backtracking.
        "export default () => /(a+)+$/.test('a'.repeat(40) + '!')",
        // A microtask loop never returns to the event loop. (Its callback returns nothing: a
        // callback returning the next promise chains them all, and on a fast machine that
        // chain reaches the memory ceiling before the timeout, which is a kill too.)
        "export default () => new Promise(() => { const spin = () => { Promise.resolve().then(spin); }; spin(); })",
        // Swallowing the interrupt does not help.
        "export default () => { while (true) { try { while (true) {} } catch {} } }",
    ] {
        let host = Arc::new(FakeHost::with_main(source));
        assert_eq!(
            value(&run_host(&host, one_second())),
            Err(StepError::Timeout {
                limit: Duration::from_secs(1)
            }),
            "{source}"
        );
    }
}

#[test]
fn a_native_call_that_ignores_the_interrupt_is_abandoned_at_the_timeout() {
    // JSON.stringify of 2^30 shared leaves never checks the interrupt handler; the supervisor
    // returns anyway and revokes the engine's host access. The abandoned thread dies when its
    // string outgrows the (small) memory ceiling.
    let limits = Limits {
        memory: ByteSize::mib(64),
        timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    let host = Arc::new(FakeHost::with_main(
        "export default () => { let o = {}; for (let i = 0; i < 30; i++) o = { a: o, b: o }; return JSON.stringify(o).length; }",
    ));
    assert_eq!(
        value(&run_host(&host, limits)),
        Err(StepError::Timeout {
            limit: Duration::from_millis(100)
        })
    );
}

#[test]
fn deep_recursion_is_a_catchable_range_error() {
    assert_eq!(
        ok(
            "const f = (n) => f(n + 1) + 1;\nexport default () => { try { f(0); } catch (e) { return [e instanceof RangeError, e.message]; } }"
        ),
        json!([true, "Maximum call stack size exceeded"])
    );
}

// --- Escapes (vm2's advisories, none of which has anything to reach here) ---

#[test]
fn constructor_chain_reaches_only_the_plugin_realm() {
    // The classic Node `vm` escape that vm2 existed to prevent, and the root of
    // CVE-2023-30547 / CVE-2023-37466 (reaching the host's Function through a host object).
    let out = ok(r#"
        export default () => {
          const probes = [
            globalThis.constructor.constructor("return typeof process")(),
            aether.fs.readText.constructor("return typeof process")(),
            console.log.constructor.constructor("return typeof require('x')")  === undefined,
            Object.getPrototypeOf(aether.fs.readText) === Function.prototype,
            aether.fs.readText.constructor === Function,
          ];
          try { aether.fs.readText("secret/x"); } catch (e) {
            probes.push(e.constructor === Error, e.constructor.constructor("return typeof std + typeof os")());
          }
          return probes;
        }"#);
    assert_eq!(
        out,
        json!([
            "undefined",
            "undefined",
            false,
            true,
            true,
            true,
            "undefinedundefined"
        ])
    );
}

#[test]
fn prepare_stack_trace_exposes_no_host_frame() {
    // CVE-2022-36067 ("SandBreak") and CVE-2023-29017: vm2 leaked host objects through
    // `Error.prepareStackTrace` call sites. Here every frame's function and receiver belongs to
    // the plugin realm.
    let out = ok(r#"
        export default () => {
          const found = [];
          Error.prepareStackTrace = (error, frames) => {
            for (const f of frames ?? []) {
              for (const v of [f.getThis?.(), f.getFunction?.()]) {
                if (v && typeof v === "object" || typeof v === "function") {
                  found.push(v.constructor?.constructor === Function);
                }
              }
            }
            return "custom";
          };
          try { aether.fs.readText("secret/x"); } catch (e) { void e.stack; }
          try { JSON.parse("{"); } catch (e) { void e.stack; }
          return found;
        }"#);
    // QuickJS-ng implements the V8 hook, so it does run and see frames: all of the plugin realm.
    let found = out.as_array().expect("array");
    assert!(!found.is_empty());
    assert!(found.iter().all(|v| v == true), "{out}");
}

#[test]
fn callers_do_not_lead_out_of_the_realm() {
    // `arguments.callee.caller` walks, a recurring step in vm2 escape reports (e.g. reaching the
    // host frame that invoked a sandbox callback): in a function the host calls back (a timer, a
    // `toJSON` during output serialization) there is no caller to reach, sloppy mode or not.
    let out = ok(r#"
        export default async () => {
          const seen = [];
          const sloppy = new Function("seen", `return function probe() {
            try { seen.push(String(arguments.callee.caller)); } catch (e) { seen.push(e.name); }
            try { seen.push(String(probe.caller)); } catch (e) { seen.push(e.name); }
          }`)(seen);
          await new Promise((resolve) => setTimeout(() => { sloppy(); resolve(); }, 0));
          setTimeout(sloppy, 0);
          await new Promise((resolve) => setTimeout(resolve, 1));
          JSON.stringify({ toJSON: sloppy });
          return seen;
        }"#);
    assert_eq!(out, json!(vec!["undefined"; 6]));
}

/// SPEC §5: `fetch` and `aether.fetch` are the same function; the request reaches the host as
/// given (method normalized, headers lower-cased, string bodies UTF-8 with a content type),
/// and the response has the listed members, its body readable once.
#[test]
fn fetch_builds_the_request_and_a_response() {
    let out = ok(r#"
        export default async function () {
          const res = await fetch("https://echo/x", {
            method: "post",
            headers: { "X-One": "1", Accept: "text/plain" },
            body: "h\u00e9llo",
            timeoutMs: 1500,
          });
          const echo = await res.json();
          let again;
          try { await res.text(); } catch (e) { again = e.name; }
          return {
            same: fetch === aether.fetch,
            status: res.status, statusText: res.statusText, ok: res.ok, url: res.url,
            redirected: res.redirected, type: res.headers.get("Content-Type"),
            cookies: res.headers.getSetCookie(), used: res.bodyUsed, again, echo,
          };
        }"#);
    assert_eq!(
        out,
        json!({
            "same": true, "status": 201, "statusText": "Created", "ok": true,
            "url": "https://echo/x", "redirected": false, "type": "application/json",
            "cookies": ["a=1", "b=2"], "used": true, "again": "TypeError",
            "echo": {
                "method": "POST",
                "headers": [["accept", "text/plain"], ["content-type", "text/plain;charset=UTF-8"], ["x-one", "1"]],
                "body": "h\u{e9}llo", "redirect": "follow", "timeout_ms": 1500,
            },
        })
    );
}

/// `aether.listen`: an ungranted bind throws `PermissionDenied` synchronously; `accept()`
/// gives request objects (method, url, Headers, one-shot body) until `null`; `respond` sends
/// the status, the headers as pairs and the body as bytes; no socket or id leaks to the plugin.
#[test]
fn listen_hands_out_requests_and_forwards_responses() {
    let host = Arc::new(FakeHost::with_main(
        r#"
        export default async function () {
          let denied;
          try { aether.listen({ hostname: "0.0.0.0", port: 9000 }); } catch (e) {
            denied = [e.name, e.capability, e.target];
          }
          const bad = [];
          for (const arg of [undefined, { port: 70000 }, { port: 1.5 }, { hostname: 1, port: 9000 }]) {
            try { aether.listen(arg); bad.push("listened"); } catch (e) { bad.push(e.name); }
          }
          const server = aether.listen({ port: 9000 });
          const seen = [];
          for (let req = await server.accept(); req !== null; req = await server.accept()) {
            const body = await req.json();
            let again;
            try { await req.text(); } catch (e) { again = e.name; }
            seen.push([req.method, req.url, req.headers.get("Content-Type"), body.n, again, Object.keys(req)]);
            req.respond(201, { "X-N": String(body.n) }, `done ${body.n}`);
          }
          server.close();
          return { denied, bad, seen, frozen: Object.isFrozen(server) && Object.isFrozen(aether.listen) };
        }"#,
    ));
    let out =
        value(&run_host(&host, Limits::default())).unwrap_or_else(|e| panic!("step failed: {e}"));
    assert_eq!(
        out,
        json!({
            "denied": ["PermissionDenied", "network", "0.0.0.0:9000"],
            "bad": ["TypeError", "TypeError", "TypeError", "TypeError"],
            "seen": [
                ["POST", "http://127.0.0.1:9000/item/0", "application/json", 0, "TypeError", []],
                ["POST", "http://127.0.0.1:9000/item/1", "application/json", 1, "TypeError", []],
            ],
            "frozen": true,
        })
    );
    let listens: Vec<_> = host
        .requests()
        .into_iter()
        .filter(|r| {
            matches!(
                r,
                HostRequest::Listen { .. }
                    | HostRequest::Respond { .. }
                    | HostRequest::CloseListener { .. }
            )
        })
        .collect();
    let text = |n: u64| HostRequest::Respond {
        request: 100 + n,
        status: 201,
        headers: vec![
            ("content-type".into(), "text/plain;charset=UTF-8".into()),
            ("x-n".into(), n.to_string()),
        ],
        body: format!("done {n}").into_bytes(),
    };
    assert_eq!(
        listens,
        [
            HostRequest::Listen {
                hostname: "0.0.0.0".into(),
                port: 9000
            },
            HostRequest::Listen {
                hostname: "127.0.0.1".into(),
                port: 9000
            },
            text(0),
            text(1),
            HostRequest::CloseListener { listener: 7 },
        ]
    );
}

/// A grant failure rejects with `PermissionDenied` (capability, target); any other failure,
/// bad arguments included, with a `TypeError` (SPEC §5).
#[test]
fn fetch_rejects_with_permission_denied_or_type_error() {
    let out = ok(r#"
        const outcome = (p) => p.then(() => "resolved", (e) => [e.name, e.capability ?? null, e.target ?? null]);
        export default async () => [
          await outcome(fetch("https://denied/")),
          await outcome(fetch("https://refused/")),
          await outcome(fetch("https://echo/", { redirect: "sideways" })),
          await outcome(fetch("https://echo/", { body: "x" })),
          await outcome(fetch("https://echo/", { headers: { "bad name": "x" } })),
          await outcome(fetch("https://echo/", { timeoutMs: -1 })),
        ]"#);
    assert_eq!(
        out,
        json!([
            ["PermissionDenied", "network", "https://denied/"],
            ["TypeError", null, null],
            ["TypeError", null, null],
            ["TypeError", null, null],
            ["TypeError", null, null],
            ["TypeError", null, null],
        ])
    );
}

/// Slow host calls run off the engine thread: timers fire while a fetch is pending, and
/// parallel fetches overlap (more of them than run at once are queued, not dropped).
#[test]
fn fetches_are_promises_that_let_timers_and_each_other_run() {
    let out = ok(r#"
        export default async function () {
          const order = [];
          const slow = fetch("https://slow/300").then(() => order.push("fetch"));
          await new Promise((resolve) => setTimeout(resolve, 10));
          order.push("timer");
          await slow;
          const many = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`https://echo/${i}`)));
          return { order, urls: many.map((r) => r.url.split("/").pop()).join(",") };
        }"#);
    assert_eq!(
        out,
        json!({"order": ["timer", "fetch"], "urls": "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19"})
    );
}

/// A step waiting on a fetch that outlasts it still times out (SPEC §6: "a pending host call").
#[test]
fn a_pending_fetch_does_not_hold_the_step_past_its_timeout() {
    let host = Arc::new(FakeHost::with_main(
        "export default async () => (await fetch('https://slow/3000')).status",
    ));
    let outcome = run_host(&host, one_second());
    assert!(
        matches!(outcome.result, Err(StepError::Timeout { .. })),
        "{:?}",
        outcome.result
    );
}

/// `Headers` and `Response` behave as the WHATWG classes for what plugins use.
#[test]
fn headers_and_response_classes() {
    let out = ok(r#"
        export default async function () {
          const h = new Headers([["B", "2"], ["a", "1"]]);
          h.append("a", " 3 ");
          h.set("c", "4");
          h.delete("B");
          let bad;
          try { h.set("x", "a\r\nInjected: 1"); } catch (e) { bad = e.name; }
          const r = new Response("body", { status: 404, headers: h });
          let range;
          try { new Response(null, { status: 99 }); } catch (e) { range = e.name; }
          return { entries: [...h], has: h.has("A"), bad, status: r.status, ok: r.ok,
                   text: await r.text(), type: r.headers.get("content-type"), range };
        }"#);
    assert_eq!(
        out,
        json!({
            "entries": [["a", "1, 3"], ["c", "4"]], "has": true, "bad": "TypeError",
            "status": 404, "ok": false, "text": "body", "type": "text/plain;charset=UTF-8", "range": "RangeError",
        })
    );
}

/// `aether.process.run` (SPEC §5): arguments checked before any host call, a promise of
/// `{code, signal, stdout, stderr}` with `null`s, `PermissionDenied` from the host as a
/// rejection, and a frozen `aether.process`.
#[test]
fn process_run_checks_its_arguments_and_resolves_to_an_exit() {
    let out = ok(r#"
        const outcome = (p) => p.then((v) => v, (e) => [e.name, e.capability ?? null]);
        export default async () => {
          "use strict";
          let frozen;
          try { aether.process.run = null; } catch (e) { frozen = e.name; }
          return [
            await outcome(aether.process.run("gzip", ["-c"], { stdin: "in", cwd: "data" })),
            await outcome(aether.process.run("sleep", ["9"], { timeoutMs: 5 })),
            await outcome(aether.process.run("denied")),
            await outcome(aether.process.run(["gzip"])),
            await outcome(aether.process.run("gzip", "-c")),
            await outcome(aether.process.run("gzip", [], { timeoutMs: NaN })),
            await outcome(aether.process.run("gzip", [], { cwd: 7 })),
            frozen,
          ];
        }"#);
    assert_eq!(
        out,
        json!([
            { "code": 0, "signal": null, "stdout": "gzip -c", "stderr": "in|data" },
            { "code": null, "signal": "SIGKILL", "stdout": "sleep 9", "stderr": "|" },
            ["PermissionDenied", "process"],
            ["TypeError", null],
            ["TypeError", null],
            ["TypeError", null],
            ["TypeError", null],
            "TypeError",
        ])
    );
}

// See: WebIDL USVString (lone surrogates become U+FFFD, as `fetch` and Node's `fs` convert a
// string): a path, variable or URL that is not well-formed UTF-16 still reaches the host, which
// checks its target against the grant first (issue 15). Before, the conversion threw a
// `TypeError` in the sandbox and the host never saw (or recorded) the attempt.
#[test]
fn issue_15_lone_surrogates_reach_the_host_as_replacement_characters() {
    let host = Arc::new(FakeHost::with_main(
        r#"export default async () => {
  const out = [];
  for (const f of [() => aether.fs.readText("secret/\ud800"), () => aether.env.get("A\udc00B"),
                   () => fetch("https://denied.example/\ud800")]) {
    try { await f(); out.push("ok"); } catch (e) { out.push(e.name); }
  }
  // Patching the conversion's helper changes nothing the host does not check anyway.
  String.prototype.toWellFormed = () => 42;
  try { aether.fs.readText("x\ud800"); } catch (e) { out.push(e.name); }
  return out;
}"#,
    ));
    let outcome = run_host(&host, one_second());
    let out = match value(&outcome) {
        Ok(v) => v,
        Err(e) => panic!("step failed: {e}"),
    };
    assert_eq!(out[0], "PermissionDenied");
    assert_eq!(out[2], "PermissionDenied");
    let requests = host.requests();
    assert!(requests.contains(&HostRequest::ReadText {
        path: "secret/\u{FFFD}".into()
    }));
    assert!(requests.contains(&HostRequest::EnvGet {
        name: "A\u{FFFD}B".into()
    }));
    assert!(requests.iter().any(
        |r| matches!(r, HostRequest::Fetch { url, .. } if url == "https://denied.example/\u{FFFD}")
    ));
}

/// An engine prepared before its step (the process tier's zygote makes one before it forks)
/// counts against the step that takes it as an engine made for the step does: the same step
/// peaks at the same bytes either way (within malloc's rounding), and a ceiling below what the prepared engine already
/// holds ends the step as a memory kill.
#[test]
fn issue_23_a_prepared_engine_counts_against_the_steps_ceiling() {
    // Each on a thread of its own: a prepared engine is for the thread that made it.
    let run = |prepare: bool, limits: Limits| {
        let stack = aether_sandbox::engine_stack(&limits) + (4 << 20);
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                if prepare {
                    aether_sandbox::prepare_engine();
                }
                let host = Arc::new(FakeHost::with_main("export default (i) => i.a + i.b;"));
                aether_sandbox::run_step_on_this_thread(spec(limits), host as Arc<dyn Host>)
            })
            .expect("thread")
            .join()
            .expect("step")
    };
    let limits = Limits::default();
    let fresh = run(false, limits);
    let prepared = run(true, limits);
    assert_eq!(value(&fresh), Ok(json!(5)));
    assert_eq!(value(&prepared), Ok(json!(5)));
    // Counted with `malloc_usable_size`, which depends a little on the heap around each block
    // (16 bytes apart here); the prepared runtime and context alone hold more than 64 KiB.
    assert!(
        prepared.peak_memory_bytes.abs_diff(fresh.peak_memory_bytes) <= 1024,
        "{} vs {}",
        prepared.peak_memory_bytes,
        fresh.peak_memory_bytes
    );
    let tiny = Limits {
        memory: ByteSize(64 << 10),
        ..limits
    };
    assert_eq!(
        value(&run(true, tiny)),
        Err(StepError::Memory { limit: 64 << 10 })
    );
}
