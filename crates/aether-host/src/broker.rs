//! The step broker: the one place that checks, performs and records a plugin's host calls.
//!
//! Every [`HostRequest`] is checked against the step's [`Grant`] (which returns a witness),
//! performed through a provider that accepts only that witness, and recorded as an [`Event`].
//! Writes go to the step's [`Overlay`]; reads see it. Both isolation tiers use this broker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use std::ffi::OsString;

use aether_jail::{ChildSpec, Children, Confinement, JailError};
use aether_policy::{
    Capability, CheckedCommand, CheckedEnv, CheckedListen, CheckedPath, Decision, Denial, Grant,
    ModuleKind, PathPattern, UnsafeMode,
};

use aether_typescript::PositionMap;

use crate::bundle::{PluginBundle, ResolveError};
use crate::events::{Event, Recorder, Traffic};
use crate::fsops::{self, Meta};
use crate::gateway::{
    FetchError, FetchRequest, Gateway, Proxies, Redirect, Resolve, SystemResolver,
};
use crate::inbound::{InboundLimits, Listeners, Tap};
use crate::overlay::{Lookup, Overlay};
use crate::protocol::{Host, HostError, HostRequest, HostValue};
use crate::resolve::ResolveMode;

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
    workspace: PathBuf,
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

/// Processes one `aether.process.run` child may have alive at once, itself and its
/// descendants together (the pids cgroup's limit): room for a shell pipeline, not for a fork
/// bomb.
pub const MAX_CHILD_PROCESSES: u32 = 64;

impl StepHost {
    /// A broker for one step. Relative paths given by the plugin resolve against `workspace`.
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
            workspace,
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

    /// `aether.secret(name)`: the placeholder of a granted secret. Never overridden by
    /// `--unsafe`: an ungranted secret has no hosts to go to, so it stays denied.
    fn secret(&self, name: &str) -> Result<HostValue, HostError> {
        if let Err(d) = self.grant.check_secret(name) {
            return Err(self.denied(d));
        }
        let Some(text) = self.placeholders.placeholder(name) else {
            return Err(type_error(format!(
                "aether.secret: no value was read for secret `{name}`"
            )));
        };
        self.event(Capability::Secrets, name, Decision::Allowed, String::new());
        Ok(HostValue::Text { value: Some(text) })
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

    /// Records `denial` as `allowed-unsafe` and returns the token to proceed, in an `--unsafe`
    /// run; `None` otherwise.
    /// A secret's source (a variable or file the policy names) stays unreadable under
    /// `--unsafe`: SPEC §5, a secret's value never reaches a plugin.
    fn override_denial(&self, denial: &Denial) -> Option<&UnsafeMode> {
        if denial.reason == aether_policy::DenialReason::SecretSource {
            return None;
        }
        let mode = self.unsafe_mode.as_ref()?;
        self.event(
            denial.capability,
            &denial.target,
            Decision::AllowedUnsafe,
            denial.to_string(),
        );
        Some(mode)
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

    fn denied(&self, denial: Denial) -> HostError {
        let message = denial.to_string();
        self.event(
            denial.capability,
            &denial.target,
            Decision::Denied,
            message.clone(),
        );
        HostError::PermissionDenied {
            capability: denial.capability,
            target: denial.target,
            message,
        }
    }

    /// The path as given, made absolute against the workspace with `.`/`..` removed as POSIX
    /// does (`/..` is `/`), and its real path. When the real path cannot be resolved (a symlink
    /// loop, a permission error, a NUL byte), the lexical path stands in for it: the grant is
    /// still checked before anything is reported (no existence oracle), and the open that
    /// follows refuses every symlink.
    fn paths(&self, given: &str, nofollow: bool) -> (PathBuf, PathBuf) {
        let abs = aether_policy::resolve_lexically(Path::new(given), &self.workspace)
            .unwrap_or_else(|| self.workspace.join(given));
        if malformed_path(given).is_some() {
            return (abs.clone(), abs);
        }
        let real = if nofollow {
            fsops::real_path_nofollow(&abs)
        } else {
            fsops::real_path(&abs)
        };
        (abs.clone(), real.unwrap_or(abs))
    }

    /// Checks a `filesystem.read` of `given`, in the order SPEC §5 sets ("the grant is checked
    /// first"), the one place that decides it for every read:
    ///
    /// 1. the path resolves as POSIX does, against the workspace (`/..` is `/`), whatever it
    ///    holds; its real path is looked up when it can name a file;
    /// 2. the grant is checked on both: outside it, the call is a `PermissionDenied` with its
    ///    violation, whatever else is wrong with the path (climbing above `/`, a NUL byte,
    ///    a file that does not exist);
    /// 3. only a path the grant covers (or an `--unsafe` run lets through) may then fail
    ///    otherwise: a NUL byte is a `TypeError`, then what the binding found wrong with the
    ///    call (`problem`, see [`HostRequest::Malformed`]) is a `TypeError`, a missing file an
    ///    error of the call.
    fn check_read(&self, given: &str, problem: Problem<'_>) -> Result<CheckedPath, HostError> {
        let (abs, real) = self.paths(given, false);
        match self.grant.check_read(&abs, &real) {
            Ok(checked) => {
                reject_malformed(given, problem)?;
                self.event(
                    Capability::FilesystemRead,
                    given,
                    Decision::Allowed,
                    String::new(),
                );
                Ok(checked)
            }
            Err(d) => match self.override_denial(&d) {
                Some(mode) => {
                    reject_malformed(given, problem)?;
                    Ok(CheckedPath::unchecked(
                        Capability::FilesystemRead,
                        &abs,
                        &real,
                        mode,
                    ))
                }
                None => Err(self.denied(d)),
            },
        }
    }

    /// Checks a write; returns the real path and whether the write is virtualized (an
    /// ungranted write under `virtualize_denied_writes`, kept in a private overlay node that is
    /// never committed). Only granted paths ever reach [`Overlay::commit`]. The order is
    /// [`StepHost::check_read`]'s, with the write grant: the grant first, then a malformed path,
    /// then `problem`.
    fn check_write(
        &self,
        given: &str,
        nofollow: bool,
        problem: Problem<'_>,
    ) -> Result<(PathBuf, bool), HostError> {
        let (abs, real) = self.paths(given, nofollow);
        match self.grant.check_write(&abs, &real) {
            Ok(c) => {
                reject_malformed(given, problem)?;
                self.event(
                    Capability::FilesystemWrite,
                    given,
                    Decision::Allowed,
                    String::new(),
                );
                Ok((c.real().to_path_buf(), false))
            }
            Err(d) if self.override_denial(&d).is_some() => {
                reject_malformed(given, problem)?;
                Ok((real, false))
            }
            Err(d) if self.grant.virtualize_denied_writes() => {
                self.event(
                    Capability::FilesystemWrite,
                    given,
                    Decision::Virtualized,
                    d.to_string(),
                );
                reject_malformed(given, problem)?;
                Ok((real, true))
            }
            Err(d) => Err(self.denied(d)),
        }
    }

    fn read(&self, checked: &CheckedPath, given: &str) -> Result<Vec<u8>, HostError> {
        match self.overlay().lookup(checked.real()) {
            Lookup::File(data) => return Ok(data.to_vec()),
            Lookup::Dir => return Err(failed_msg(given, "it is a directory")),
            Lookup::Removed => return Err(failed_msg(given, "no such file or directory")),
            Lookup::Disk => {}
        }
        fsops::read_file(checked.real(), self.grant.limits().memory.0)
            .map_err(|e| failed(given, &e))
    }

    fn meta(&self, checked: &CheckedPath) -> std::io::Result<Meta> {
        self.meta_of(checked.real())
    }

    fn meta_of(&self, real: &Path) -> std::io::Result<Meta> {
        match self.overlay().lookup(real) {
            Lookup::File(data) => Ok(Meta {
                size: data.len() as u64,
                is_file: true,
                is_dir: false,
                mtime_ms: now_ms(),
            }),
            Lookup::Dir => Ok(Meta {
                size: 0,
                is_file: false,
                is_dir: true,
                mtime_ms: now_ms(),
            }),
            Lookup::Removed => Err(std::io::ErrorKind::NotFound.into()),
            Lookup::Disk => fsops::stat(real),
        }
    }

    fn limit_overlay(&self) -> Result<(), HostError> {
        let limit = self.grant.limits().memory;
        if self.overlay().bytes() > limit.0 {
            let message = format!("memory limit of {limit} exceeded");
            self.event(
                Capability::LimitMemory,
                "overlay",
                Decision::Killed,
                message.clone(),
            );
            return Err(HostError::LimitExceeded {
                capability: Capability::LimitMemory,
                message,
            });
        }
        Ok(())
    }

    /// `aether.env.get(name)`. SPEC §5, the grant first: a name outside `env` is a violation
    /// whatever it holds; only a covered name may then fail: one that no variable can have
    /// (empty, `=`, NUL), then `problem` (see [`HostRequest::Malformed`]), is a `TypeError`.
    fn env_get(&self, name: &str, problem: Problem<'_>) -> Result<HostValue, HostError> {
        let malformed = || {
            if name.is_empty() || name.contains(['=', '\0']) {
                Err(type_error(format!(
                    "aether.env.get: `{}` is not a variable name",
                    name.escape_debug()
                )))
            } else {
                reject_problem(problem)
            }
        };
        let checked = match self.grant.check_env(name) {
            Ok(c) => {
                malformed()?;
                self.event(Capability::Env, name, Decision::Allowed, String::new());
                c
            }
            Err(d) => match self.override_denial(&d) {
                Some(mode) => {
                    malformed()?;
                    CheckedEnv::unchecked(name, mode)
                }
                None => return Err(self.denied(d)),
            },
        };
        Ok(HostValue::Text {
            value: std::env::var(checked.name()).ok(),
        })
    }

    /// `fetch` of `aether-plugin:/<path>` (SPEC §5): the plugin file's verified bytes as a
    /// `200` response, typed by its extension; a path out of the plugin is the same `module`
    /// violation as an import of it.
    fn plugin_file(&self, url: &str) -> Result<HostValue, HostError> {
        let Some(path) = plugin_url_path(url) else {
            return Err(type_error(format!(
                "fetch: `{}` is not an `aether-plugin:/<path>` URL",
                aether_policy::escape_untrusted(url)
            )));
        };
        let denial = |why: String| {
            let message = format!(
                "module denied for `{}`: {why}; only files inside the plugin directory may be fetched through `aether-plugin:` URLs",
                aether_policy::escape_untrusted(url)
            );
            self.event(Capability::Module, url, Decision::Denied, message.clone());
            HostError::PermissionDenied {
                capability: Capability::Module,
                target: url.to_owned(),
                message,
            }
        };
        let relative = format!("./{path}");
        let resolved = match self
            .bundle
            .resolve_module(&relative, Some(""), ResolveMode::Import)
        {
            Ok(resolved) => resolved,
            Err(e) => {
                return Err(match module_denial(&e) {
                    Some(why) => denial(why),
                    None => type_error(format!(
                        "fetch: the plugin has no file `{}`",
                        aether_policy::escape_untrusted(&path)
                    )),
                });
            }
        };
        let content_type = match resolved.name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("wasm") => "application/wasm",
            Some("json") => "application/json",
            Some("js" | "mjs" | "cjs") => "text/javascript",
            Some("ts" | "mts" | "cts") => "application/typescript",
            Some("txt") => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        self.event(Capability::Module, url, Decision::Allowed, String::new());
        Ok(HostValue::Response {
            status: 200,
            status_text: "OK".to_owned(),
            url: format!("aether-plugin:/{}", resolved.name),
            redirected: false,
            headers: vec![
                ("content-type".to_owned(), content_type.to_owned()),
                (
                    "content-length".to_owned(),
                    resolved.bytes.len().to_string(),
                ),
            ],
            body: resolved.bytes.to_vec(),
        })
    }

    /// Loads a module for `import` (static or dynamic) or CommonJS `require`, in the order
    /// SPEC §5 sets ("the grant is checked first"), the one place that decides it for every
    /// module:
    ///
    /// 1. the specifier resolves against the importing module ([`PluginBundle::resolve_module`]:
    ///    relative, `#imports`, or a package from the plugin's `node_modules`), and the bundle
    ///    judges the real path it names: a `node:` or capability built-in name, an absolute
    ///    path or URL, climbing out of the plugin, a symlink whose real path leaves it, a
    ///    package that is not installed or a package target climbing out of its package is a
    ///    `module` violation, whether or not a file exists there;
    /// 2. only a specifier that stays inside the plugin may fail otherwise: no such file, a
    ///    subpath the package does not export, a bad `package.json`, bytes that are not UTF-8
    ///    text, or a JSON module imported without `with { type: 'json' }` (or a module that is
    ///    not JSON imported with it) is a `TypeError`.
    fn module(
        &self,
        specifier: &str,
        referrer: Option<&str>,
        mode: ResolveMode,
        with_type: Option<&str>,
    ) -> Result<HostValue, HostError> {
        let denial = |why: String| {
            let message = format!(
                "module denied for `{}`: {why}; only files inside the plugin directory (relative imports, or packages installed in its `node_modules`) may be loaded",
                aether_policy::escape_untrusted(specifier)
            );
            self.event(
                Capability::Module,
                specifier,
                Decision::Denied,
                message.clone(),
            );
            HostError::PermissionDenied {
                capability: Capability::Module,
                target: specifier.to_owned(),
                message,
            }
        };
        let resolved = match self.bundle.resolve_module(specifier, referrer, mode) {
            Ok(resolved) => resolved,
            Err(e) => {
                return Err(match module_denial(&e) {
                    Some(why) => denial(why),
                    None => {
                        let mut message = module_failure(specifier, &e, mode);
                        if let ResolveError::NotFound(name) = &e {
                            message.push_str(&typescript_hint(&self.bundle, specifier, name));
                        }
                        type_error(message)
                    }
                });
            }
        };
        let name = resolved.name;
        let source = String::from_utf8(resolved.bytes.to_vec())
            .map_err(|_| type_error(format!("module `{name}` is not UTF-8 text")))?;
        let source = self.compile_if_typescript(&name, source, resolved.kind)?;
        if mode == ResolveMode::Import {
            match (resolved.kind, with_type) {
                (ModuleKind::Json, Some("json")) => {}
                (ModuleKind::Json, _) => {
                    return Err(type_error(format!(
                        "module `{name}` is JSON: import it with `with {{ type: 'json' }}`"
                    )));
                }
                (_, None) => {}
                (_, Some("json")) => {
                    return Err(type_error(format!(
                        "module `{name}` is not JSON but was imported with `type: 'json'`"
                    )));
                }
                (_, Some(other)) => {
                    return Err(type_error(format!(
                        "the import attribute `type: '{other}'` is not supported: only `json` is"
                    )));
                }
            }
        }
        let exports = match (mode, resolved.kind) {
            (ResolveMode::Import, ModuleKind::CommonJs) => {
                self.bundle.cjs_export_names(&name, &source)
            }
            _ => Vec::new(),
        };
        self.event(
            Capability::Module,
            specifier,
            Decision::Allowed,
            String::new(),
        );
        Ok(HostValue::Module {
            name,
            source,
            kind: resolved.kind,
            exports,
        })
    }
}

/// The plugin path of an `aether-plugin:/<path>` URL: scheme case-insensitive, query and
/// fragment dropped, percent-escapes decoded; `None` if it is not such a URL.
fn plugin_url_path(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("aether-plugin") {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.strip_prefix('/')?;
    percent_decode(rest)
}

/// `%XX` escapes decoded (as UTF-8); `None` for a malformed escape, invalid UTF-8 or a `%2F`
/// (an encoded separator would hide a `..` from the path check).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            let b = u8::from_str_radix(hex, 16).ok()?;
            if b == b'/' || b == b'\\' || b == 0 {
                return None;
            }
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a resolution error is a `module` violation (it leaves, or would leave, the plugin), or
/// `None` for a failure inside the plugin.
pub fn module_denial(e: &ResolveError) -> Option<String> {
    Some(match e {
        ResolveError::Builtin => {
            "it names a Node built-in that carries capabilities (`node:` specifiers, `fs`, `net`, `child_process`, …), which plugins never load".into()
        }
        ResolveError::NotRelative => {
            "it is neither a relative specifier nor a package name (absolute paths and URLs are blocked)".into()
        }
        ResolveError::OutsidePlugin => "it leaves the plugin directory".into(),
        ResolveError::SymlinkOutside(real) => format!(
            "it leads through a symlink to `{}`, outside the plugin directory",
            real.display()
        ),
        ResolveError::NotInstalled(package) => format!(
            "package `{package}` is not installed in the plugin's `node_modules`"
        ),
        ResolveError::InvalidTarget(target) => format!(
            "its package's `exports`/`imports` target `{target}` does not stay inside the package"
        ),
        ResolveError::Signature => {
            "it is the plugin's signature file, which the lock does not pin: only pinned files run".into()
        }
        ResolveError::NotFound(_)
        | ResolveError::NotExported { .. }
        | ResolveError::BadPackageJson(_) => return None,
    })
}

/// The message of a resolution failure inside the plugin (see [`module_denial`]).
pub fn module_failure(specifier: &str, e: &ResolveError, mode: ResolveMode) -> String {
    match e {
        ResolveError::NotFound(name) if mode == ResolveMode::Import => format!(
            "cannot find module `{specifier}` (resolved to `{name}` in the plugin): imports need the exact file name, with its extension"
        ),
        ResolveError::NotFound(name) => format!(
            "cannot find module `{specifier}` (looked for `{name}` with the extensions `.js`, `.json`, `.cjs` and as a directory in the plugin)"
        ),
        ResolveError::NotExported { package, subpath } if package.is_empty() => format!(
            "cannot find module `{specifier}`: `{subpath}` is not defined by the nearest `package.json` `imports`"
        ),
        ResolveError::NotExported { package, subpath } => format!(
            "cannot find module `{specifier}`: package `{package}` does not export `{subpath}` (see its `package.json` `exports`)"
        ),
        ResolveError::BadPackageJson(why) => {
            format!("cannot resolve `{specifier}`: invalid `package.json`: {why}")
        }
        other => format!("cannot resolve `{specifier}`: {other:?}"),
    }
}

impl StepHost {
    /// The JavaScript to run for module `name`: `source` itself, or for a TypeScript module
    /// (`.ts`, `.mts`, `.cts`; SPEC §5) its compilation (to `kind`: an ES module, or CommonJS
    /// for `.cts` and a `.ts` of a `"type": "commonjs"` package), whose position map is kept for
    /// [`StepHost::map_positions`]. The bytes verified stay the TypeScript source: this runs
    /// after verification, on the bundle's bytes. A module that does not compile is an `Error`
    /// naming `name:line:col` (one reachable from `main` never gets here: `run` refuses it
    /// before anything starts, as it does a JavaScript syntax error).
    fn compile_if_typescript(
        &self,
        name: &str,
        source: String,
        kind: ModuleKind,
    ) -> Result<String, HostError> {
        if !aether_typescript::is_typescript(name) {
            return Ok(source);
        }
        let known = self
            .compiled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|r| {
                r.as_ref()
                    .map(|(code, _)| code.clone())
                    .map_err(Clone::clone)
            });
        let result = match known {
            Some(result) => result,
            None => {
                let compiled = aether_typescript::compile_typescript(name, &source, kind.into())
                    .map(|c| (c.code, c.map))
                    .map_err(|e| format!("{name}:{e}"));
                let code = compiled
                    .as_ref()
                    .map(|(code, _)| code.clone())
                    .map_err(Clone::clone);
                self.compiled
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(name.to_owned(), compiled);
                code
            }
        };
        result.map_err(|message| HostError::Failed {
            type_error: false,
            message,
        })
    }

    /// `text` (a step's error, a stack) with every `name:line:col` of a TypeScript module this
    /// step compiled rewritten to the position in the `.ts` source (SPEC §5: errors point at
    /// the `.ts` line). Other text is unchanged.
    pub fn map_positions(&self, text: &str) -> String {
        let compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if compiled.is_empty() {
            return text.to_owned();
        }
        let maps: Vec<(&str, &PositionMap)> = compiled
            .iter()
            .filter_map(|(n, r)| r.as_ref().ok().map(|(_, m)| (n.as_str(), m)))
            .collect();
        aether_typescript::map_positions(text, &maps)
    }
}

/// For `specifier` naming a missing `x.js` (or `.mjs`) next to which `x.ts` (or `.mts`)
/// exists: a short clause saying to import the `.ts` file by its name, else nothing. `tsc`
/// users with `moduleResolution: nodenext` write `./x.js` for `x.ts`; aether, like Node and
/// Deno, loads the file named (SPEC §5: no extension guessing). Short: QuickJS cuts a thrown
/// error's message at 255 bytes.
pub fn typescript_hint(bundle: &PluginBundle, specifier: &str, missing: &str) -> String {
    let swap = |s: &str| {
        if let Some(stem) = s.strip_suffix(".js") {
            Some(format!("{stem}.ts"))
        } else {
            s.strip_suffix(".mjs").map(|stem| format!("{stem}.mts"))
        }
    };
    match (swap(specifier), swap(missing)) {
        (Some(spec), Some(candidate)) if bundle.files().any(|(p, _)| p == candidate) => {
            format!("; import `{spec}`, the TypeScript file")
        }
        _ => String::new(),
    }
}

impl Host for StepHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::ReadText { path } => {
                let c = self.check_read(&path, None)?;
                let bytes = self.read(&c, &path)?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    type_error(format!("`{path}` is not UTF-8 text: use readBytes"))
                })?;
                Ok(HostValue::Text { value: Some(text) })
            }
            HostRequest::ReadBytes { path } => {
                let c = self.check_read(&path, None)?;
                Ok(HostValue::Bytes {
                    value: self.read(&c, &path)?,
                })
            }
            HostRequest::List { path } => {
                let c = self.check_read(&path, None)?;
                let (added, removed) = self.overlay().children(c.real());
                let mut names = match fsops::list_dir(c.real()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !added.is_empty() => {
                        Vec::new()
                    }
                    Err(e) => return Err(failed(&path, &e)),
                };
                names.retain(|n| !removed.contains(n));
                names.extend(added);
                names.sort();
                names.dedup();
                Ok(HostValue::Names { value: names })
            }
            HostRequest::Stat { path } => {
                let c = self.check_read(&path, None)?;
                let m = self.meta(&c).map_err(|e| failed(&path, &e))?;
                Ok(HostValue::Stat {
                    size: m.size,
                    is_file: m.is_file,
                    is_dir: m.is_dir,
                    mtime_ms: m.mtime_ms,
                })
            }
            HostRequest::Exists { path } => {
                let c = self.check_read(&path, None)?;
                Ok(HostValue::Bool {
                    value: self.meta(&c).is_ok(),
                })
            }
            HostRequest::Write { path, data } => {
                let (c, private) = self.check_write(&path, false, None)?;
                if !private {
                    self.require_parent(&c, &path)?;
                }
                self.overlay().write(&c, data, private);
                self.limit_overlay()?;
                Ok(HostValue::Unit)
            }
            HostRequest::Append { path, data } => {
                let (c, private) = self.check_write(&path, false, None)?;
                if !private {
                    self.require_parent(&c, &path)?;
                }
                let base = match self.overlay().lookup(&c) {
                    Lookup::Disk => match fsops::read_file(&c, self.grant.limits().memory.0) {
                        Ok(b) => b,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                        Err(e) => return Err(failed(&path, &e)),
                    },
                    _ => Vec::new(),
                };
                self.overlay().append(&c, &data, base, private);
                self.limit_overlay()?;
                Ok(HostValue::Unit)
            }
            HostRequest::Mkdir { path } => {
                let (c, private) = self.check_write(&path, false, None)?;
                let mut missing = Vec::new();
                let mut dir = c.clone();
                loop {
                    let exists = match self.overlay().lookup(&dir) {
                        Lookup::Dir => true,
                        Lookup::File(_) => return Err(failed_msg(&path, "a file is in the way")),
                        Lookup::Removed => false,
                        Lookup::Disk => fsops::stat(&dir).map(|m| m.is_dir).unwrap_or(false),
                    };
                    if exists {
                        break;
                    }
                    missing.push(dir.clone());
                    if !dir.pop() {
                        break;
                    }
                }
                // Every directory created must itself be granted for writing (a virtualized
                // mkdir creates only private directories).
                for d in missing.iter().rev() {
                    if d != &c
                        && !private
                        && let Err(den) = self.grant.check_write(d, d)
                        && self.override_denial(&den).is_none()
                    {
                        return Err(self.denied(den));
                    }
                    self.overlay().mkdir(d, private);
                }
                Ok(HostValue::Unit)
            }
            HostRequest::Remove { path } => {
                let (c, private) = self.check_write(&path, true, None)?;
                // A virtualized removal asks nothing of the disk: whether an ungranted path
                // exists, or holds files, is none of the plugin's business.
                let m = if private {
                    None
                } else {
                    // Not `meta_of`: that follows the last component, and a symlink is
                    // removed itself (SPEC §5), whatever it points to.
                    let on_disk = self.overlay().lookup(&c) == Lookup::Disk;
                    let m = if on_disk {
                        fsops::lstat(&c)
                    } else {
                        self.meta_of(&c)
                    };
                    Some(m.map_err(|e| failed(&path, &e))?)
                };
                if m.is_some_and(|m| m.is_dir) {
                    let on_disk = fsops::list_dir(&c).unwrap_or_default();
                    let (added, removed) = self.overlay().children(&c);
                    if !added.is_empty() || on_disk.iter().any(|n| !removed.contains(n)) {
                        return Err(failed_msg(&path, "the directory is not empty"));
                    }
                }
                // A virtualized removal must stay in the private layer like any other
                // virtualized write: committing it would delete an ungranted file.
                self.overlay().remove(&c, private);
                Ok(HostValue::Unit)
            }
            HostRequest::EnvGet { name } => self.env_get(&name, None),
            HostRequest::Malformed { request, problem } => self.malformed(*request, &problem),
            HostRequest::Require { specifier } => {
                let message = format!(
                    "module denied for `{}`: `require` is not available to plugins\n\nhint: use `import` with a relative specifier inside the plugin directory",
                    aether_policy::escape_untrusted(&specifier)
                );
                self.event(
                    Capability::Module,
                    &specifier,
                    Decision::Denied,
                    message.clone(),
                );
                Err(HostError::PermissionDenied {
                    capability: Capability::Module,
                    target: specifier,
                    message,
                })
            }
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
            } => {
                // SPEC §5, the grant first: an unknown `redirect` is a `TypeError` only once the
                // gateway has checked the URL (see `FetchRequest::malformed`).
                let (redirect, malformed) = match redirect.as_str() {
                    "follow" | "" => (Redirect::Follow, None),
                    "manual" => (Redirect::Manual, None),
                    "error" => (Redirect::Error, None),
                    other => (
                        Redirect::Follow,
                        Some(format!(
                            "fetch: `redirect` must be \"follow\", \"manual\" or \"error\", got `{}`",
                            aether_policy::escape_untrusted(other)
                        )),
                    ),
                };
                let request = FetchRequest {
                    url,
                    method,
                    headers,
                    body,
                    redirect,
                    malformed,
                };
                self.fetch(request, timeout_ms)
            }
            HostRequest::Run {
                command,
                args,
                stdin,
                timeout_ms,
                cwd,
            } => self.run_child(&command, args, stdin, timeout_ms, cwd.as_deref()),
            HostRequest::Listen { hostname, port } => {
                let (checked, granted) = self.check_listen(&hostname, port, None)?;
                let id = self.listeners.listen(&checked)?;
                // Recorded once bound: a bind the system refused (the port is taken) is an
                // error, not a use of the grant.
                if granted {
                    self.event(
                        Capability::Network,
                        &checked.addr().to_string(),
                        Decision::Allowed,
                        String::new(),
                    );
                }
                Ok(HostValue::Listener { id })
            }
            HostRequest::Accept { listener } => {
                Ok(match self.listeners.accept(listener, self.deadline)? {
                    Some(accepted) => HostValue::Request {
                        id: accepted.id,
                        url: format!("http://{}{}", accepted.local, accepted.request.path),
                        method: accepted.request.method,
                        headers: accepted.request.headers,
                        body: accepted.request.body,
                    },
                    None => HostValue::Unit,
                })
            }
            HostRequest::Respond {
                request,
                status,
                headers,
                body,
            } => {
                self.listeners.respond(request, status, &headers, &body)?;
                Ok(HostValue::Unit)
            }
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

    /// One fetch through the gateway, never past the step's deadline nor `timeout_ms`; every
    /// request sent and every refusal becomes an event.
    fn fetch(
        &self,
        request: FetchRequest,
        timeout_ms: Option<u64>,
    ) -> Result<HostValue, HostError> {
        let deadline = match timeout_ms {
            Some(ms) => self.deadline.min(aether_policy::deadline_after(
                Instant::now(),
                Duration::from_millis(ms),
            )),
            None => self.deadline,
        };
        let bytes_sent = request.body.as_ref().map_or(0, |b| b.len() as u64);
        let traced = self.gateway.fetch_traced_with(
            &self.grant,
            request,
            deadline,
            self.unsafe_mode.as_ref(),
            &self.placeholders.all(),
        );
        for denial in &traced.overridden {
            self.override_denial(denial);
        }
        // Every request that left is recorded, whether the fetch then succeeded or not.
        let received = traced.result.as_ref().map_or(0, |r| r.body.len() as u64);
        let last = traced.hops.len().saturating_sub(1);
        for (i, hop) in traced.hops.iter().enumerate() {
            self.recorder.record(Event {
                time: SystemTime::now(),
                step: self.who.step.clone(),
                plugin: self.who.plugin.clone(),
                capability: Capability::Network,
                target: hop.url.clone(),
                decision: Decision::Allowed,
                reason: String::new(),
                traffic: Some(Traffic {
                    address: hop.addr,
                    status: hop.status,
                    bytes_sent: if i == 0 { bytes_sent } else { 0 },
                    bytes_received: if i == last { received } else { 0 },
                    inbound: None,
                }),
            });
            // Which secret went to which host: names, never values.
            for sent in &hop.secrets {
                self.event(Capability::Secrets, sent, Decision::Allowed, String::new());
            }
        }
        match traced.result {
            Ok(response) => Ok(HostValue::Response {
                status: response.status,
                status_text: response.status_text,
                url: response.url,
                redirected: response.hops.len() > 1,
                headers: response.headers,
                body: response.body,
            }),
            Err(FetchError::Denied { url, denial }) => {
                let message = denial.to_string();
                // A secret's denial names the secret and the host (never the value); the
                // network's names the URL.
                let target = match denial.capability {
                    Capability::Secrets => denial.target,
                    _ => url,
                };
                self.event(
                    denial.capability,
                    &target,
                    Decision::Denied,
                    message.clone(),
                );
                Err(HostError::PermissionDenied {
                    capability: denial.capability,
                    target,
                    message,
                })
            }
            Err(FetchError::Type(message)) => Err(type_error(message)),
            Err(FetchError::Timeout) => Err(type_error(match timeout_ms {
                Some(ms) if Instant::now() < self.deadline => {
                    format!("fetch timed out after {ms} ms (`timeoutMs`)")
                }
                _ => "fetch timed out: the step's time is up".to_owned(),
            })),
        }
    }

    /// The address `aether.listen({hostname, port})` names, checked against
    /// `network.listen`, and whether the grant allowed it (`false`: an `--unsafe` run did,
    /// and recorded it `allowed-unsafe`). A hostname that is neither an IP literal nor
    /// `localhost` is a `TypeError`: listen grants name addresses, and no name is looked up.
    ///
    /// SPEC §5, the grant first: a hostname that names no address is covered by no
    /// `network.listen` entry, so it is a violation like any ungranted address; it is a
    /// `TypeError` only in an `--unsafe` run, which lets the denial through to a bind that
    /// cannot happen.
    fn check_listen(
        &self,
        hostname: &str,
        port: u16,
        problem: Problem<'_>,
    ) -> Result<(CheckedListen, bool), HostError> {
        match self.grant.check_listen_host(hostname, port) {
            Ok(checked) => {
                reject_problem(problem)?;
                Ok((checked, true))
            }
            Err(d) => match self.override_denial(&d) {
                Some(mode) => match aether_policy::parse_listen_host(hostname) {
                    Some(ip) => reject_problem(problem).map(|()| {
                        (
                            CheckedListen::unchecked(std::net::SocketAddr::new(ip, port), mode),
                            false,
                        )
                    }),
                    None => Err(type_error(format!(
                        "aether.listen: hostname must be an IP address or `localhost`, got `{}`",
                        aether_policy::escape_untrusted(hostname)
                    ))),
                },
                None => Err(self.denied(d)),
            },
        }
    }

    /// The program `command` names, checked: an absolute path as it is, or a bare name as the
    /// granted command with that file name (resolved through `PATH` when the plugin was loaded).
    fn check_command(
        &self,
        command: &str,
        problem: Problem<'_>,
    ) -> Result<CheckedCommand, HostError> {
        let commands = &self.grant.permissions().commands;
        // SPEC §5, the grant first: the command resolves as POSIX does (`/..` is `/`) and is
        // checked whatever it holds; a NUL byte is a `TypeError` only once it is granted (no
        // granted command has one, so only an `--unsafe` run gets that far).
        let path = if command.contains('/') {
            aether_policy::resolve_lexically(Path::new(command), &self.workspace)
                .unwrap_or_else(|| PathBuf::from(command))
        } else {
            commands
                .iter()
                .find(|c| c.file_name().is_some_and(|n| n == command))
                .cloned()
                .unwrap_or_else(|| PathBuf::from(command))
        };
        let malformed = || {
            if command.contains('\0') {
                Err(type_error(format!(
                    "invalid command `{}`: it contains a NUL byte",
                    command.escape_debug()
                )))
            } else {
                reject_problem(problem)
            }
        };
        match self.grant.check_command(&path) {
            Ok(checked) => {
                malformed()?;
                self.event(
                    Capability::Process,
                    command,
                    Decision::Allowed,
                    String::new(),
                );
                Ok(checked)
            }
            Err(d) => match self.override_denial(&d) {
                Some(mode) if path.is_absolute() => {
                    malformed()?;
                    Ok(CheckedCommand::unchecked(&path, mode))
                }
                _ => Err(self.denied(d)),
            },
        }
    }

    /// Runs one child process under the kernel confinement the grant allows (SPEC §5): the
    /// granted variables only, the plugin's filesystem grants (widened to directories: the
    /// kernel cannot follow a glob), no network unless `process.network`, the memory ceiling,
    /// killed at `timeout_ms` or the step's deadline.
    fn run_child(
        &self,
        command: &str,
        args: Vec<String>,
        stdin: Vec<u8>,
        timeout_ms: Option<u64>,
        cwd: Option<&str>,
    ) -> Result<HostValue, HostError> {
        let program = self.check_command(command, None)?;
        let cwd = match cwd {
            None => self.workspace.clone(),
            Some(dir) => self.check_read(dir, None)?.real().to_path_buf(),
        };
        let unsafe_run = self.unsafe_mode.is_some();
        let env = std::env::vars_os()
            .filter(|(name, _)| {
                // A secret's source variable never reaches a child, `--unsafe` or not.
                let secret = name.to_str().is_some_and(|n| self.grant.is_secret_var(n));
                !secret
                    && (unsafe_run
                        || name
                            .to_str()
                            .is_some_and(|n| self.grant.check_env(n).is_ok()))
            })
            .collect();
        let perms = self.grant.permissions();
        let dirs = |patterns: &[PathPattern]| -> Vec<PathBuf> {
            patterns
                .iter()
                .map(PathPattern::base_dir)
                .filter(|d| d.exists())
                .collect()
        };
        let memory = self.grant.limits().memory.0;
        let mut confinement = Confinement {
            read: [dirs(&perms.fs_read), dirs(&perms.fs_write)].concat(),
            write: dirs(&perms.fs_write),
            network: perms.process_network,
            memory,
            max_processes: MAX_CHILD_PROCESSES,
            accept_weaker: self.grant.accept_weaker_confinement(),
        };
        if unsafe_run {
            // `--unsafe`: no checks (SPEC §6); the child is still killed with its step.
            confinement.read = vec![PathBuf::from("/")];
            confinement.write = vec![PathBuf::from("/")];
            confinement.network = true;
            confinement.accept_weaker = true;
        }
        let deadline = match timeout_ms {
            Some(ms) => self.deadline.min(aether_policy::deadline_after(
                Instant::now(),
                Duration::from_millis(ms),
            )),
            None => self.deadline,
        };
        // Captured output counts toward the memory ceiling (SPEC §5), with the overlay.
        let room = memory.saturating_sub(self.overlay().bytes());
        let spec = ChildSpec {
            program: program.path().to_path_buf(),
            args: args.into_iter().map(OsString::from).collect(),
            env,
            cwd,
            stdin,
            deadline,
            max_output: usize::try_from(room).unwrap_or(usize::MAX),
            confinement,
        };
        match aether_jail::run(&spec, &self.children) {
            Ok(exit) => {
                for feature in &exit.weakened {
                    self.recorder.log(
                        &self.who.step,
                        "warn",
                        &format!(
                            "child process `{command}` ran with weaker confinement: the kernel lacks {feature}"
                        ),
                    );
                }
                Ok(HostValue::Exit {
                    code: exit.code,
                    signal: exit.signal.map(str::to_owned),
                    stdout: String::from_utf8_lossy(&exit.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&exit.stderr).into_owned(),
                })
            }
            Err(JailError::OutputLimit { .. }) => {
                let message = format!("memory limit of {} exceeded", self.grant.limits().memory);
                self.event(
                    Capability::LimitMemory,
                    command,
                    Decision::Killed,
                    format!("{message}: the output of `{command}`"),
                );
                Err(HostError::LimitExceeded {
                    capability: Capability::LimitMemory,
                    message,
                })
            }
            Err(e) => Err(HostError::Failed {
                type_error: false,
                message: e.to_string(),
            }),
        }
    }

    fn require_parent(&self, real: &Path, given: &str) -> Result<(), HostError> {
        let Some(parent) = real.parent() else {
            return Ok(());
        };
        let ok = match self.overlay().lookup(parent) {
            Lookup::Dir => true,
            Lookup::File(_) | Lookup::Removed => false,
            Lookup::Disk => fsops::stat(parent).map(|m| m.is_dir).unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err(failed_msg(
                given,
                "its directory does not exist (create it with aether.fs.mkdir)",
            ))
        }
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// What makes a path the plugin gave unusable once the grant covers it: `None` if nothing.
fn malformed_path(given: &str) -> Option<&'static str> {
    given.contains('\0').then_some("it contains a NUL byte")
}

/// What the binding found wrong with a call besides its target ([`HostRequest::Malformed`]),
/// if anything.
type Problem<'a> = Option<&'a str>;

/// The `TypeError` for a path [`malformed_path`] refuses, else for `problem`; called only after
/// the grant covers the path.
fn reject_malformed(given: &str, problem: Problem<'_>) -> Result<(), HostError> {
    match malformed_path(given) {
        Some(why) => Err(type_error(format!(
            "invalid path `{}`: {why}",
            given.escape_debug()
        ))),
        None => reject_problem(problem),
    }
}

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
