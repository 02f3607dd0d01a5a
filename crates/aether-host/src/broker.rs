//! The step broker: the one place that checks, performs and records a plugin's host calls.
//!
//! Every [`HostRequest`] is checked against the step's [`Grant`] (which returns a witness),
//! performed through a provider that accepts only that witness, and recorded as an [`Event`].
//! Writes go to the step's [`Overlay`]; reads see it. Both isolation tiers use this broker.
//!
//! This file holds the step's state, the dispatcher ([`Host::call`]) and the one decision
//! function (`StepHost::decide`) that turns every check's result into allowed, denied,
//! virtualized or allowed-unsafe and records it, the gateway's checks of every fetch hop included
//! (`StepHost` is the gateway's `Decide`: the gateway never overrides a denial itself). Each
//! capability lives in a module of its own: `fs`, `env`, `module`, `process`, `net` and `listen`.

mod env;
mod fs;
mod listen;
mod module;
mod net;
mod process;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use aether_jail::Children;
use aether_policy::{Capability, Decision, Denial, DenialReason, Grant, UnsafeMode, WorkspaceDir};
use aether_typescript::PositionMap;

use crate::bundle::PluginBundle;
use crate::events::{Event, Recorder};
use crate::gateway::{FetchRequest, Gateway, Proxies, Redirect, Resolve, SystemResolver};
use crate::inbound::{InboundLimits, Listeners, Tap};
use crate::overlay::Overlay;
use crate::protocol::{Host, HostError, HostRequest, HostValue};

pub use module::{module_denial, module_failure, typescript_hint};
pub use process::MAX_CHILD_PROCESSES;

/// Who a step is, for events and logs.
#[derive(Debug, Clone)]
pub struct StepIdentity {
    /// The step's id.
    pub step: String,
    /// The plugin's name.
    pub plugin: String,
}

/// A TypeScript module's compilation: its JavaScript and position map, or the error message.
type Compilation = Result<(String, PositionMap), String>;

/// A [`Host`] for one step: its grant, its plugin's verified files, its overlay.
pub struct StepHost {
    who: StepIdentity,
    grant: Grant,
    /// The operator's workspace: relative paths resolve against it, and a child runs in it
    /// unless the plugin names a (checked) `cwd`.
    workspace: WorkspaceDir,
    bundle: Arc<PluginBundle>,
    overlay: Mutex<Overlay>,
    recorder: Arc<dyn Recorder>,
    unsafe_mode: Option<UnsafeMode>,
    /// When the step's time is up: no fetch or child process outlives it.
    deadline: Instant,
    gateway: Gateway<Box<dyn Resolve + Send + Sync>>,
    /// The step's live child processes, killed by [`StepHost::end`].
    children: Children,
    /// The step's listeners (`aether.listen`), closed by [`StepHost::end`].
    listeners: Listeners,
    /// The TypeScript modules compiled for this step, by canonical name: the JavaScript and
    /// its map back to the `.ts` positions (for [`StepHost::map_positions`]), or the error.
    /// Each module is compiled once per step: QuickJS asks the host again at every `import`
    /// of a module, and a plugin importing one in a loop must not cost a compilation (nor a
    /// map held in aether's memory, outside the plugin's ceiling) each time. At most one entry
    /// per file of the bundle.
    compiled: Mutex<HashMap<String, Compilation>>,
    /// The step's secret placeholders (`aether.secret`), made on first use; the values are
    /// the run's, read once by the runner.
    placeholders: crate::secrets::Placeholders,
}

impl StepHost {
    /// A broker for one step. Relative paths given by the plugin resolve against `workspace`,
    /// the operator's (it is the step's `WorkspaceDir`: a child runs there unless the plugin
    /// names a `cwd` the read grant covers); nothing is read or written here.
    /// The step's deadline is its grant's timeout from now (see [`StepHost::deadline`]); names
    /// are resolved by the system resolver (see [`StepHost::resolver`]).
    pub fn new(
        who: StepIdentity,
        grant: Grant,
        workspace: PathBuf,
        bundle: Arc<PluginBundle>,
        recorder: Arc<dyn Recorder>,
    ) -> StepHost {
        let tap = Tap {
            recorder: Arc::clone(&recorder),
            step: who.step.clone(),
            plugin: who.plugin.clone(),
        };
        StepHost {
            listeners: Listeners::new(tap, InboundLimits::default()),
            who,
            workspace: WorkspaceDir::operator(workspace),
            bundle,
            overlay: Mutex::new(Overlay::default()),
            recorder,
            unsafe_mode: None,
            deadline: aether_policy::deadline_after(Instant::now(), grant.limits().timeout),
            grant,
            gateway: Gateway::new(Box::new(SystemResolver)),
            children: Children::default(),
            compiled: Mutex::new(HashMap::new()),
            placeholders: crate::secrets::Placeholders::default(),
        }
    }

    /// The run's secret values ([`crate::secrets::SecretValues::load`]), for the placeholders
    /// of the secrets the grant allows. Without them, `aether.secret` of a granted secret is a
    /// `TypeError` (no value was read).
    pub fn secrets(mut self, values: crate::secrets::SecretValues) -> StepHost {
        self.placeholders = crate::secrets::Placeholders::new(values);
        self
    }

    /// Ends the step: cuts every fetch under way and refuses new ones; kills every child
    /// process it started, with their whole trees, and refuses any it would start later; closes
    /// every listener (their ports are free when this returns) and answers with a 503 every
    /// request the plugin did not answer. The runner calls it when the step ends for any reason
    /// (SPEC §5: no fetch, child or listener outlives its step).
    pub fn end(&self) {
        self.gateway.shutdown();
        self.children.kill_all();
        self.listeners.end();
    }

    /// Holds clients of the step's listeners to `limits` instead of
    /// [`InboundLimits::default`]. Set it before the plugin listens.
    pub fn inbound_limits(mut self, limits: InboundLimits) -> StepHost {
        self.listeners.limits(limits);
        self
    }

    /// The instant the step's time is up, if not its grant's timeout from creation.
    pub fn deadline(mut self, deadline: Instant) -> StepHost {
        self.deadline = deadline;
        self
    }

    /// Resolves names for `fetch` with `resolver` instead of the system's (tests simulate DNS
    /// rebinding with it). Drops any proxies set before: set them after.
    pub fn resolver(mut self, resolver: impl Resolve + Send + Sync + 'static) -> StepHost {
        self.gateway = Gateway::new(Box::new(resolver));
        self
    }

    /// Sends `fetch` traffic through the operator's `proxies` (see [`Proxies`]).
    pub fn proxies(mut self, proxies: Proxies) -> StepHost {
        self.gateway = self.gateway.proxies(proxies);
        self
    }

    /// The same broker for an `--unsafe` run: what the grant denies is performed anyway and
    /// recorded as `allowed-unsafe`.
    ///
    /// # Security
    ///
    /// Turns every denial into an allowed use; see [`UnsafeMode`].
    pub fn unsafe_mode(mut self, mode: UnsafeMode) -> StepHost {
        self.unsafe_mode = Some(mode);
        self
    }

    /// Takes the step's overlay (leaving an empty one), for the runner to commit when the step
    /// succeeded or to drop when it failed.
    pub fn take_overlay(&self) -> Overlay {
        std::mem::take(&mut *self.overlay())
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn event(&self, capability: Capability, target: &str, decision: Decision, reason: String) {
        self.recorder.record(Event {
            time: SystemTime::now(),
            step: self.who.step.clone(),
            plugin: self.who.plugin.clone(),
            capability,
            target: target.to_owned(),
            decision,
            reason,
            traffic: None,
        });
    }

    /// Records `denial` and returns the call's `PermissionDenied`: see [`StepHost::refuse`].
    fn denied(&self, denial: Denial) -> HostError {
        let message = denial.to_string();
        self.refuse(denial.capability, denial.target, message)
    }

    /// The one place a refusal becomes a `denied` event and the `PermissionDenied` the sandbox
    /// throws, for a grant's [`Denial`] ([`StepHost::decide`]), a fetch hop's (named by its URL)
    /// and a module's (the bundle's resolution).
    fn refuse(&self, capability: Capability, target: String, message: String) -> HostError {
        self.event(capability, &target, Decision::Denied, message.clone());
        HostError::PermissionDenied {
            capability,
            target,
            message,
        }
    }

    /// The one decision path (SPEC §5, §6): turns the result of a check into the witness to
    /// act with, or the error to return, and records the decision. Every capability's check
    /// goes through here, in this order:
    ///
    /// 1. granted (`check` is `Ok`): `then` (what else is wrong with the target, now that it
    ///    is covered) may still refuse with a `TypeError`; the use is recorded `allowed` unless
    ///    `record` is [`Record::ByCaller`] (a listener is recorded once bound);
    /// 2. denied, in an `--unsafe` run, when `unchecked` makes a witness (a denial of a
    ///    secret's source never is overridden): recorded `allowed-unsafe`, then `then`;
    /// 3. denied, when `virtualize` keeps the use in the step's private layer (writes under
    ///    `virtualize_denied_writes`): recorded `virtualized`, then `then`;
    /// 4. otherwise recorded `denied`, and the call is a `PermissionDenied` (for a fetch hop,
    ///    see [`StepHost::decide_as`]).
    ///
    /// `capability` and `target` name the allowed and virtualized events (the target as the
    /// plugin gave it); the other events name the denial's own target.
    pub(crate) fn decide<W>(
        &self,
        subject: (Capability, &str),
        check: Result<W, Denial>,
        fallback: Fallback<
            impl FnOnce(&UnsafeMode) -> Unchecked<W>,
            impl FnOnce(Denial) -> Result<W, Denial>,
        >,
        record: Record,
        then: impl FnOnce() -> Result<(), HostError>,
    ) -> Result<W, HostError> {
        self.decide_as(subject, check, fallback, record, then, |denial| {
            self.denied(denial)
        })
    }

    /// [`StepHost::decide`], with step 4's refusal made by `refuse` instead of recorded here:
    /// for the gateway's checks of a fetch hop (`crate::gateway::Decide`), whose refusal the
    /// fetch records with the hop's URL, after the requests that left before it. Everything
    /// else (the override, its `allowed-unsafe` event, the order) is this one path.
    pub(crate) fn decide_as<W, E>(
        &self,
        (capability, target): (Capability, &str),
        check: Result<W, Denial>,
        fallback: Fallback<
            impl FnOnce(&UnsafeMode) -> Unchecked<W, E>,
            impl FnOnce(Denial) -> Result<W, Denial>,
        >,
        record: Record,
        then: impl FnOnce() -> Result<(), E>,
        refuse: impl FnOnce(Denial) -> E,
    ) -> Result<W, E> {
        let denial = match check {
            Ok(witness) => {
                then()?;
                if record == Record::Allowed {
                    self.event(capability, target, Decision::Allowed, String::new());
                }
                return Ok(witness);
            }
            Err(denial) => denial,
        };
        if denial.reason != DenialReason::SecretSource
            && let Some(mode) = self.unsafe_mode.as_ref()
            && let Some(witness) = (fallback.unchecked)(mode)
        {
            self.event(
                denial.capability,
                &denial.target,
                Decision::AllowedUnsafe,
                denial.to_string(),
            );
            let witness = witness?;
            then()?;
            return Ok(witness);
        }
        let reason = denial.to_string();
        match (fallback.virtualize)(denial) {
            Ok(witness) => {
                self.event(capability, target, Decision::Virtualized, reason);
                then()?;
                Ok(witness)
            }
            Err(denial) => Err(refuse(denial)),
        }
    }
}

/// Whether [`StepHost::decide`] records an allowed use itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// On the check (every capability but a listener).
    Allowed,
    /// Not at all: the caller records the use once performed (a bind the system refuses is an
    /// error, not a use), or the use is part of one already recorded.
    ByCaller,
}

/// What [`StepHost::decide`] may do with a denial besides refusing it.
pub(crate) struct Fallback<U, V> {
    /// In an `--unsafe` run: the witness to act with anyway (`None`: even `--unsafe` cannot,
    /// e.g. a bare command name that names no file; `Some(Err)`: the override was recorded,
    /// and the call fails otherwise).
    pub(crate) unchecked: U,
    /// The witness of a virtualized use, or the denial back (only writes virtualize).
    pub(crate) virtualize: V,
}

/// The witness an `--unsafe` run acts with, as [`Fallback::unchecked`] makes it.
pub(crate) type Unchecked<W, E = HostError> = Option<Result<W, E>>;

/// [`Fallback::virtualize`] of a capability that never virtualizes: the denial back.
pub(crate) type NoVirtual<W> = fn(Denial) -> Result<W, Denial>;

/// A [`Fallback`] that never virtualizes.
pub(crate) fn overridable<W, E, U: FnOnce(&UnsafeMode) -> Unchecked<W, E>>(
    unchecked: U,
) -> Fallback<U, NoVirtual<W>> {
    Fallback {
        unchecked,
        virtualize: Err,
    }
}

/// [`Fallback::unchecked`] of what `--unsafe` never lets through.
pub(crate) type NoOverride<W> = fn(&UnsafeMode) -> Unchecked<W>;

/// A [`Fallback`] for what `--unsafe` never lets through (a secret).
pub(crate) fn never<W>() -> Fallback<NoOverride<W>, NoVirtual<W>> {
    overridable(|_| None)
}

impl Host for StepHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::ReadText { path } => self.read_text(&path),
            HostRequest::ReadBytes { path } => self.read_bytes(&path),
            HostRequest::List { path } => self.list(&path),
            HostRequest::Stat { path } => self.stat(&path),
            HostRequest::Exists { path } => self.exists(&path),
            HostRequest::Write { path, data } => self.write(&path, data),
            HostRequest::Append { path, data } => self.append(&path, &data),
            HostRequest::Mkdir { path } => self.mkdir(&path),
            HostRequest::Remove { path } => self.remove(&path),
            HostRequest::EnvGet { name } => self.env_get(&name, None),
            HostRequest::Malformed { request, problem } => self.malformed(*request, &problem),
            HostRequest::Require { specifier } => self.require(specifier),
            HostRequest::PluginFile { url } => self.plugin_file(&url),
            HostRequest::LoadModule {
                specifier,
                referrer,
                mode,
                with_type,
            } => self.module(&specifier, referrer.as_deref(), mode, with_type.as_deref()),
            HostRequest::Log { level, message } => {
                self.recorder.log(&self.who.step, &level, &message);
                Ok(HostValue::Unit)
            }
            HostRequest::Secret { name } => self.secret(&name),
            HostRequest::Fetch {
                url,
                method,
                headers,
                body,
                redirect,
                timeout_ms,
            } => self.fetch_call(url, method, headers, body, &redirect, timeout_ms),
            HostRequest::Run {
                command,
                args,
                stdin,
                timeout_ms,
                cwd,
            } => self.run_child(&command, args, stdin, timeout_ms, cwd.as_deref()),
            HostRequest::Listen { hostname, port } => self.listen(&hostname, port),
            HostRequest::Accept { listener } => self.accept(listener),
            HostRequest::Respond {
                request,
                status,
                headers,
                body,
            } => self.respond(request, status, &headers, &body),
            HostRequest::CloseListener { listener } => {
                self.listeners.close(listener);
                Ok(HostValue::Unit)
            }
        }
    }

    fn reserved_bytes(&self) -> u64 {
        self.overlay()
            .bytes()
            .saturating_add(self.listeners.reserved_bytes())
            .saturating_add(self.recorder.held_bytes(&self.who.step))
    }
}

impl StepHost {
    /// A call the binding found malformed ([`HostRequest::Malformed`]): SPEC §5, the grant is
    /// checked first. This is the one place that sets the order for such calls, per
    /// capability, through the same checks as a well-formed call:
    ///
    /// 1. the target the call names (path, variable, URL, command and `cwd`, listen address)
    ///    is checked against the grant: outside it, a `PermissionDenied` with its violation
    ///    (or, under `virtualize_denied_writes`, a virtualized write, or under `--unsafe`, an
    ///    `allowed-unsafe` use);
    /// 2. only then, for a covered target, what else is wrong with the target itself (a NUL
    ///    byte, credentials in a URL), then `problem`: a `TypeError`, with no allowed event
    ///    (nothing was used).
    ///
    /// Nothing is performed. A request that names no target gets `problem` back.
    fn malformed(&self, request: HostRequest, text: &str) -> Result<HostValue, HostError> {
        let problem = Some(text);
        match request {
            HostRequest::ReadText { path }
            | HostRequest::ReadBytes { path }
            | HostRequest::List { path }
            | HostRequest::Stat { path }
            | HostRequest::Exists { path } => {
                self.check_read(&path, problem).map(|_| HostValue::Unit)
            }
            HostRequest::Write { path, .. }
            | HostRequest::Append { path, .. }
            | HostRequest::Mkdir { path } => self
                .check_write(&path, false, problem)
                .map(|_| HostValue::Unit),
            HostRequest::Remove { path } => self
                .check_write(&path, true, problem)
                .map(|_| HostValue::Unit),
            HostRequest::EnvGet { name } => self.env_get(&name, problem),
            HostRequest::Secret { name } => {
                self.secret(&name)?;
                Err(type_error(text.to_owned()))
            }
            HostRequest::Fetch {
                url, timeout_ms, ..
            } => {
                let request = FetchRequest {
                    url,
                    method: String::new(),
                    headers: Vec::new(),
                    body: None,
                    redirect: Redirect::Follow,
                    malformed: Some(text.to_owned()),
                };
                self.fetch(request, timeout_ms)
            }
            HostRequest::Run { command, cwd, .. } => {
                // The order of a well-formed run: the command, then its `cwd`.
                match cwd {
                    None => self
                        .check_command(&command, problem)
                        .map(|_| HostValue::Unit),
                    Some(dir) => {
                        self.check_command(&command, None)?;
                        self.check_read(&dir, problem).map(|_| HostValue::Unit)
                    }
                }
            }
            HostRequest::Listen { hostname, port } => {
                // Port 0 (never granted): the port given was not one; any granted port of
                // the hostname covers the call.
                let port = match port {
                    0 => self
                        .grant
                        .permissions()
                        .listen
                        .iter()
                        .map(|l| l.addr().port())
                        .find(|&p| self.grant.check_listen_host(&hostname, p).is_ok())
                        .unwrap_or(0),
                    p => p,
                };
                self.check_listen(&hostname, port, problem)
                    .map(|_| HostValue::Unit)
            }
            _ => Err(type_error(text.to_owned())),
        }
    }
}

/// What the binding found wrong with a call besides its target ([`HostRequest::Malformed`]),
/// if anything.
type Problem<'a> = Option<&'a str>;

/// The `TypeError` for `problem`, if there is one; called only after the grant covers the target.
fn reject_problem(problem: Problem<'_>) -> Result<(), HostError> {
    match problem {
        Some(problem) => Err(type_error(problem.to_owned())),
        None => Ok(()),
    }
}

fn type_error(message: String) -> HostError {
    HostError::Failed {
        type_error: true,
        message,
    }
}

fn failed_msg(path: &str, why: &str) -> HostError {
    HostError::Failed {
        type_error: false,
        message: format!("`{path}`: {why}"),
    }
}

fn failed(path: &str, e: &std::io::Error) -> HostError {
    let why = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::FileTooLarge => "file larger than the memory ceiling".to_owned(),
        _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            "a symlink appeared in the path after it was checked".to_owned()
        }
        _ => e.to_string(),
    };
    failed_msg(path, &why)
}
