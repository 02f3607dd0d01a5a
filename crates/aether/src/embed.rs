//! Embedding one plugin, called many times: [`Sandbox`] holds a policy and limits, [`Sandbox::load_plugin`]
//! verifies a plugin directory once (manifest, grant under the policy, signature, code), and
//! [`Plugin::call`] runs it, each call in a fresh engine instance (SPEC §5) with its own broker,
//! grant, limits, overlay and events.
//!
//! Deny-by-default: a plugin gets only what its manifest asks and the policy allows (no policy:
//! what its manifest asks, as `aether exec` without `--policy`); each call runs under the
//! manifest's limits, capped by [`SandboxBuilder::limits`]; no proxy, no secret value unless
//! given; the thread tier unless the plugin's risk class or [`SandboxBuilder::tier`] asks for
//! the process tier.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::events::{Event, Recorder};
use aether_host::gateway::Proxies;
use aether_host::secrets::SecretValues;
use aether_manifest::{FileError, Manifest, PolicyFile};
use aether_pipeline::JsonText;
use aether_policy::{Capability, Decision, Grant, Tier};
use aether_sandbox::{Limits, StepSpec};
use aether_worker::Zygote;
use serde_json::json;

use crate::events::Subscriber;
use crate::runner::{Collector, Kept};
use crate::workspace::{Analysis, Finding, Level, PluginInfo};

/// Builds a [`Sandbox`]. Defaults (deny-by-default): no policy (each plugin gets what its
/// manifest asks, nothing more), no extra limits (the manifest's, or SPEC §3's defaults of
/// 128 MiB and 30 s), the thread tier (the process tier when a plugin's risk class asks for it
/// under the policy), the current directory as workspace, no proxies, no secret values, no
/// subscriber.
#[must_use]
pub struct SandboxBuilder {
    policy: Option<(PathBuf, PolicyFile)>,
    policy_file: Option<PathBuf>,
    limits: Option<Limits>,
    tier: Tier,
    workspace: Option<PathBuf>,
    subscriber: Arc<dyn Subscriber>,
    proxies: Proxies,
    secrets: SecretValues,
}

/// How messages name a policy given to [`SandboxBuilder::policy`].
const POLICY_IN_CODE: &str = "(policy given in code)";

/// Why a [`Sandbox`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The policy file is unreadable or malformed (each error with its file, line and column).
    #[error("{}", first_message(.0))]
    Policy(Vec<FileError>),
    /// The workspace directory does not exist.
    #[error("the workspace `{}` is not a directory: {source}", path.display())]
    Workspace {
        /// The directory given.
        path: PathBuf,
        /// Why it could not be opened.
        source: std::io::Error,
    },
    /// The process tier was asked for and this machine cannot confine workers.
    #[error("{0}")]
    ProcessTier(aether_worker::WorkerError),
}

/// Why a plugin could not be loaded: every problem found, at once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// Unreadable or malformed files, or error-level findings (a grant beyond the policy, a
    /// bad signature, a forbidden static import); each with its file and position.
    #[error("{}", describe(malformed, findings))]
    Invalid {
        /// Unreadable or malformed files.
        malformed: Vec<FileError>,
        /// Error-level findings.
        findings: Vec<Finding>,
    },
    /// The plugin needs the process tier (its risk class, under the policy), and the sandbox
    /// was built without it.
    #[error(
        "plugin `{0}` needs the process isolation tier; build the sandbox with `.tier(Tier::Process)`"
    )]
    NeedsProcessTier(String),
}

/// Why a call failed. The plugin's own errors are [`CallError::Plugin`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The input is not JSON text.
    #[error("the input is not one JSON value: {0}")]
    Input(serde_json::Error),
    /// The plugin may not run now (outside every execution window of the policy); a `window`
    /// violation was recorded.
    #[error("{0}")]
    Window(String),
    /// The plugin threw, was killed at a limit, or broke the rules of the sandbox: `error` says
    /// which; `message` is its text, with TypeScript positions mapped to the `.ts` source.
    #[error("{message}")]
    Plugin {
        /// The structured error.
        error: aether_sandbox::StepError,
        /// Its text.
        message: String,
        /// The events of the call.
        events: Vec<Kept>,
    },
    /// The thread of an async call could not be started.
    #[error("cannot start the call's thread: {0}")]
    Thread(std::io::Error),
    /// The call succeeded but its writes could not be committed to the workspace.
    #[error("the call succeeded but its write to `{}` could not be committed: {source}", path.display())]
    Commit {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn first_message(errors: &[FileError]) -> String {
    match errors {
        [] => "invalid input".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

fn describe(malformed: &[FileError], findings: &[Finding]) -> String {
    let mut all: Vec<String> = malformed.iter().map(ToString::to_string).collect();
    all.extend(findings.iter().map(ToString::to_string));
    match all.as_slice() {
        [] => "the plugin is invalid".to_owned(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more problems)", rest.len()),
    }
}

impl SandboxBuilder {
    /// The policy every plugin is checked against and granted under: a [`Policy`](crate::Policy) built in code
    /// (no signatures required), or a [`PolicyFile`] parsed by [`crate::parse_policy`] (its
    /// `[integrity]` section too). Messages name it `(policy given in code)`.
    pub fn policy(mut self, policy: impl Into<PolicyFile>) -> Self {
        self.policy = Some((PathBuf::from(POLICY_IN_CODE), policy.into()));
        self.policy_file = None;
        self
    }

    /// The policy, read from `aether-policy.toml` at `path` when the sandbox is built (relative
    /// patterns resolve against the workspace), with the validation `aether run` applies.
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.policy_file = Some(path.into());
        self.policy = None;
        self
    }

    /// A ceiling on every call's memory, time and stack, below the manifest's own limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The least isolation tier of every call ([`Tier::Thread`] by default). A plugin whose
    /// risk class the policy sends to the process tier runs there whatever this says. The
    /// process tier starts a zygote process when the sandbox is built: call
    /// [`crate::run_zygote_if_asked`] first thing in `main`, before any thread starts.
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// The workspace: where relative patterns resolve and a call's writes are committed
    /// (default: the current directory).
    pub fn workspace(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workspace = Some(dir.into());
        self
    }

    /// Receives every call's events and log lines.
    pub fn subscriber(mut self, subscriber: Arc<dyn Subscriber>) -> Self {
        self.subscriber = subscriber;
        self
    }

    /// The proxies of every call's `fetch` (none by default).
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The values of the secrets the policy defines (none by default).
    pub fn secrets(mut self, secrets: SecretValues) -> Self {
        self.secrets = secrets;
        self
    }

    /// Builds the sandbox.
    pub fn build(self) -> Result<Sandbox, BuildError> {
        let workspace = match self.workspace {
            Some(dir) => dir,
            None => std::env::current_dir().map_err(|source| BuildError::Workspace {
                path: PathBuf::from("."),
                source,
            })?,
        };
        let workspace =
            std::fs::canonicalize(&workspace).map_err(|source| BuildError::Workspace {
                path: workspace.clone(),
                source,
            })?;
        let policy = match (self.policy, self.policy_file) {
            (Some(p), _) => Some(p),
            (None, Some(path)) => Some((
                path.clone(),
                aether_manifest::load_policy(&path, &workspace).map_err(BuildError::Policy)?,
            )),
            (None, None) => None,
        };
        let zygote = match self.tier {
            Tier::Process => Some(Zygote::start().map_err(BuildError::ProcessTier)?),
            Tier::Thread => None,
        };
        Ok(Sandbox {
            inner: Arc::new(Inner {
                policy,
                limits: self.limits,
                workspace,
                subscriber: self.subscriber,
                proxies: self.proxies,
                secrets: self.secrets,
                zygote,
                calls: AtomicU64::new(0),
            }),
        })
    }
}

/// A policy, limits and a tier, under which plugins are loaded and called. Cheap to clone;
/// share it between threads.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # aether::doc_fixture(dir.path())?;
/// let sandbox = aether::Sandbox::builder().workspace(dir.path()).build()?;
/// let plugin = sandbox.load_plugin(dir.path().join("hello"))?;
/// for name in ["ada", "grace"] {
///     let out = plugin.call(&serde_json::json!({ "name": name }), &aether::CallContext::default())?;
///     assert_eq!(out.value::<serde_json::Value>()?["greeting"], format!("hello, {name}"));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Option<(PathBuf, PolicyFile)>,
    limits: Option<Limits>,
    workspace: PathBuf,
    subscriber: Arc<dyn Subscriber>,
    proxies: Proxies,
    secrets: SecretValues,
    zygote: Option<Zygote>,
    /// Calls so far, numbering each call's step id.
    calls: AtomicU64,
}

impl Sandbox {
    /// A builder with every default ([`SandboxBuilder`]).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let mut policy = aether::Policy::default();
    /// policy.max_timeout = std::time::Duration::from_secs(5);
    /// let sandbox = aether::Sandbox::builder()
    ///     .workspace(dir.path())
    ///     .policy(policy)
    ///     .limits(aether::Limits { memory: aether::ByteSize::mib(32), timeout: std::time::Duration::from_secs(2), stack: aether::Limits::DEFAULT_STACK })
    ///     .tier(aether::Tier::Thread)
    ///     .build()?;
    /// assert_eq!(sandbox.workspace(), dir.path().canonicalize()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            policy: None,
            policy_file: None,
            limits: None,
            tier: Tier::Thread,
            workspace: None,
            subscriber: Arc::new(()),
            proxies: Proxies::none(),
            secrets: SecretValues::default(),
        }
    }

    /// The workspace directory (a real path).
    pub fn workspace(&self) -> &Path {
        &self.inner.workspace
    }

    /// Reads the plugin directory `dir` once and verifies it: its manifest, the grant the
    /// policy gives it, its signature (if the policy asks for one) and its code (syntax errors
    /// and static imports that would be `module` violations). Every problem comes back at once.
    /// The files read now are the ones every call runs.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// let sandbox = aether::Sandbox::builder().workspace(dir.path()).build()?;
    /// let plugin = sandbox.load_plugin(dir.path().join("hello"))?;
    /// assert_eq!(plugin.manifest().name, "hello");
    /// assert!(matches!(
    ///     sandbox.load_plugin(dir.path().join("missing")),
    ///     Err(aether::PluginError::Invalid { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_plugin(&self, dir: impl AsRef<Path>) -> Result<Plugin, PluginError> {
        let inner = &self.inner;
        let loaded = crate::workspace::verify_plugin(
            dir.as_ref(),
            &inner.workspace,
            inner.policy.as_ref().map(|(path, p)| (path.as_path(), p)),
            jiff::Timestamp::now(),
            Analysis::RunGate,
        );
        let errors: Vec<Finding> = loaded
            .findings
            .into_iter()
            .filter(|f| f.level == Level::Error)
            .collect();
        let info = match loaded.value {
            Some(info) if loaded.malformed.is_empty() && errors.is_empty() => info,
            _ => {
                return Err(PluginError::Invalid {
                    malformed: loaded.malformed,
                    findings: errors,
                });
            }
        };
        if info.tier == Tier::Process && inner.zygote.is_none() {
            return Err(PluginError::NeedsProcessTier(info.manifest.name.clone()));
        }
        let tier = if inner.zygote.is_some() {
            Tier::Process
        } else {
            info.tier
        };
        Ok(Plugin {
            sandbox: self.inner.clone(),
            info: Arc::new(info),
            tier,
        })
    }
}

/// What a plugin call is told about itself: the second argument of its default export is
/// `{ step, pipeline, plugin: { name, version } }`.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// `context.step` (default: `call-N`, N counting the sandbox's calls from 1).
    pub step: Option<String>,
    /// `context.pipeline` (default `embedded`).
    pub pipeline: String,
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext {
            step: None,
            pipeline: "embedded".to_owned(),
        }
    }
}

impl CallContext {
    /// A context naming the step.
    pub fn step(step: impl Into<String>) -> CallContext {
        CallContext {
            step: Some(step.into()),
            ..CallContext::default()
        }
    }
}

/// What a successful call returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOutput {
    /// The default export's result, exactly as the engine's `JSON.stringify` wrote it.
    pub output: JsonText,
    /// Wall-clock time of the call.
    pub duration: Duration,
    /// The engine heap's high-water mark plus the overlay.
    pub peak_memory_bytes: u64,
    /// CPU time of the engine thread.
    pub cpu_ms: u64,
    /// The call's capability events and violations (each distinct one once, with repeats).
    pub events: Vec<Kept>,
}

impl CallOutput {
    /// The output, deserialized.
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.output.get())
    }
}

/// A verified plugin, callable many times, from many threads at once. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    sandbox: Arc<Inner>,
    info: Arc<PluginInfo>,
    tier: Tier,
}

impl Plugin {
    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.info.manifest
    }

    /// What each call is granted: the manifest's permissions within the policy.
    pub fn grant(&self) -> &Grant {
        &self.info.grant
    }

    /// The isolation tier of its calls.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Calls the plugin's default export with `input`, blocking until it returns, in a fresh
    /// engine instance with its own broker, grant, limits and overlay. Its writes are committed
    /// to the workspace only if it succeeds.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// # let plugin = aether::Sandbox::builder().workspace(dir.path()).build()?.load_plugin(dir.path().join("hello"))?;
    /// let out = plugin.call(&serde_json::json!({ "name": "ada" }), &aether::CallContext::step("greet"))?;
    /// assert_eq!(out.output.get(), r#"{"greeting":"hello, ada"}"#);
    /// assert!(out.events.iter().all(|k| !k.event.decision.is_violation()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call(
        &self,
        input: &serde_json::Value,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let text = serde_json::value::to_raw_value(input).map_err(CallError::Input)?;
        self.call_json(text, context)
    }

    /// [`Plugin::call`] with the input as JSON text, handed to the plugin exactly.
    pub fn call_json(
        &self,
        input: JsonText,
        context: &CallContext,
    ) -> Result<CallOutput, CallError> {
        let inner = &self.sandbox;
        let m = &self.info.manifest;
        let n = inner.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let step = context.step.clone().unwrap_or_else(|| format!("call-{n}"));
        let collector = Arc::new(Collector::new(inner.subscriber.clone(), None));
        if let Some((_, file)) = &inner.policy
            && let Err(refusal) = aether_policy::check_windows(
                &file.policy.windows,
                &m.name,
                self.info.risk,
                jiff::Timestamp::now(),
            )
        {
            let message = refusal.to_string();
            collector.record(Event {
                time: std::time::SystemTime::now(),
                step,
                plugin: m.name.clone(),
                capability: Capability::Window,
                target: m.name.clone(),
                decision: Decision::Denied,
                reason: message.clone(),
                traffic: None,
            });
            return Err(CallError::Window(message));
        }
        let granted = self.info.grant.limits();
        let limits = match inner.limits {
            Some(cap) => granted.capped(cap),
            None => granted,
        };
        let start = std::time::Instant::now();
        let host = StepHost::new(
            StepIdentity {
                step: step.clone(),
                plugin: m.name.clone(),
            },
            self.info.grant.clone(),
            inner.workspace.clone(),
            self.info.bundle.clone(),
            collector.clone(),
        )
        .proxies(inner.proxies.clone())
        .secrets(inner.secrets.clone())
        .deadline(aether_policy::deadline_after(start, limits.timeout));
        let host = Arc::new(host);
        let spec = StepSpec {
            main: m.main.clone(),
            input,
            context: json!({
                "step": step,
                "pipeline": context.pipeline,
                "plugin": { "name": m.name, "version": m.version.to_string() },
            }),
            limits,
            sample: false,
        };
        let outcome = match (&inner.zygote, self.tier) {
            (Some(zygote), Tier::Process) => {
                aether_worker::run_in_worker(zygote, spec, host.clone())
            }
            _ => aether_sandbox::run_step(spec, host.clone()),
        };
        host.end();
        match outcome.result {
            Ok(output) => match host.take_overlay().commit() {
                Ok(_) => Ok(CallOutput {
                    output,
                    duration: outcome.duration,
                    peak_memory_bytes: outcome.peak_memory_bytes,
                    cpu_ms: outcome.cpu_ms,
                    events: collector.events(),
                }),
                Err((path, source)) => Err(CallError::Commit { path, source }),
            },
            Err(error) => {
                let capability = match &error {
                    aether_sandbox::StepError::Memory { .. } => Some(Capability::LimitMemory),
                    aether_sandbox::StepError::Timeout { .. } => Some(Capability::LimitTimeout),
                    _ => None,
                };
                if let Some(capability) = capability {
                    collector.record(Event {
                        time: std::time::SystemTime::now(),
                        step: step.clone(),
                        plugin: m.name.clone(),
                        capability,
                        target: step,
                        decision: Decision::Killed,
                        reason: error.to_string(),
                        traffic: None,
                    });
                }
                Err(CallError::Plugin {
                    message: host.map_positions(&error.to_string()),
                    error,
                    events: collector.events(),
                })
            }
        }
    }

    /// [`Plugin::call`] as a future, for async hosts: the call runs on a thread of its own
    /// (an engine instance is not `Send` across awaits), and the future is ready when it
    /// returns. Works with any executor.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # aether::doc_fixture(dir.path())?;
    /// # let plugin = aether::Sandbox::builder().workspace(dir.path()).build()?.load_plugin(dir.path().join("hello"))?;
    /// async fn greet(plugin: &aether::Plugin) -> Result<String, aether::CallError> {
    ///     let out = plugin.call_async(&serde_json::json!({ "name": "ada" }), &Default::default()).await?;
    ///     Ok(out.output.get().to_owned())
    /// }
    /// # let fut = greet(&plugin);
    /// # // A minimal executor: poll, and park until woken.
    /// # struct Unpark(std::thread::Thread);
    /// # impl std::task::Wake for Unpark { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
    /// # let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    /// # let mut cx = std::task::Context::from_waker(&waker);
    /// # let mut fut = std::pin::pin!(fut);
    /// # let text = loop {
    /// #     if let std::task::Poll::Ready(r) = fut.as_mut().poll(&mut cx) { break r? }
    /// #     std::thread::park();
    /// # };
    /// assert_eq!(text, r#"{"greeting":"hello, ada"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_async(&self, input: &serde_json::Value, context: &CallContext) -> CallFuture {
        let shared: Arc<Mutex<Slot>> = Arc::default();
        let plugin = self.clone();
        let input = input.clone();
        let context = context.clone();
        let theirs = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("aether-call".into())
            .spawn(move || {
                let result = plugin.call(&input, &context);
                let mut slot = theirs.lock().unwrap_or_else(PoisonError::into_inner);
                slot.result = Some(result);
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            });
        if let Err(e) = spawned {
            let mut slot = shared.lock().unwrap_or_else(PoisonError::into_inner);
            slot.result = Some(Err(CallError::Thread(e)));
        }
        CallFuture { shared }
    }
}

#[derive(Default)]
struct Slot {
    result: Option<Result<CallOutput, CallError>>,
    waker: Option<Waker>,
}

/// The future of [`Plugin::call_async`].
#[must_use = "a call's future does nothing unless awaited (the call runs anyway)"]
pub struct CallFuture {
    shared: Arc<Mutex<Slot>>,
}

impl Future for CallFuture {
    type Output = Result<CallOutput, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
