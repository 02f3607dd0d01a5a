//! The host-call protocol: every capability a plugin uses travels as a [`HostRequest`] and comes
//! back as a [`HostValue`] or a [`HostError`].
//!
//! The engine side never performs a capability itself; it builds a request and hands it to a
//! [`Host`]. In the thread tier that is a direct call; in the process tier the same values are
//! serialized over a socket from a jailed worker. So every check, every provider and every
//! recorded event lives behind [`Host::call`] (in `aether-host`), shared by both tiers.

use aether_policy::Capability;
use serde::{Deserialize, Serialize};

/// How a module is asked for: it decides the resolution algorithm and the `exports` conditions
/// (the resolver is `aether_host::resolve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveMode {
    /// `import` (static or dynamic) from an ES module, or the entry module: relative
    /// specifiers name the exact file; conditions `aether`, `import`, `module`, `default`, else
    /// `browser`, `require`.
    Import,
    /// `require` from a CommonJS module: extensions `.js`, `.json`, `.cjs` and directory
    /// `index` files are tried; conditions `aether`, `require`, `default`, else `browser`.
    Require,
}

/// One host call, as the plugin made it (paths and names exactly as given, unchecked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostRequest {
    /// `aether.fs.readText(path)`.
    ReadText {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.fs.readBytes(path)`.
    ReadBytes {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.fs.list(dir)`.
    List {
        /// The directory as the plugin gave it.
        path: String,
    },
    /// `aether.fs.stat(path)`.
    Stat {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.fs.exists(path)`.
    Exists {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.fs.writeText` / `writeBytes` (replace the file's contents).
    Write {
        /// The path as the plugin gave it.
        path: String,
        /// The new contents.
        data: Vec<u8>,
    },
    /// `aether.fs.appendText`.
    Append {
        /// The path as the plugin gave it.
        path: String,
        /// The bytes to append.
        data: Vec<u8>,
    },
    /// `aether.fs.mkdir(path)` (recursive).
    Mkdir {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.fs.remove(path)`: a file, a symlink itself, or an empty directory.
    Remove {
        /// The path as the plugin gave it.
        path: String,
    },
    /// `aether.env.get(name)`.
    EnvGet {
        /// The variable's name.
        name: String,
    },
    /// `aether.secret(name)`: the step's placeholder for a granted secret (never its value).
    /// Answered with [`HostValue::Text`].
    Secret {
        /// The secret's name.
        name: String,
    },
    /// `fetch` of an `aether-plugin:/<path>` URL (SPEC §5): that file of the plugin, from its
    /// verified bytes. Needs no grant and is not a network request; a path leaving the plugin
    /// is a `module` violation. Answered with [`HostValue::Response`].
    PluginFile {
        /// The URL as the plugin gave it.
        url: String,
    },
    /// Resolve and load a module: `import` (static or dynamic) or `require`.
    LoadModule {
        /// The specifier as written.
        specifier: String,
        /// The importing module's path relative to the plugin directory (`None` only for the
        /// entry module itself, which is loaded with `specifier = main`).
        referrer: Option<String>,
        /// `import` (ES module) or `require` (CommonJS) resolution.
        mode: ResolveMode,
        /// The `type` import attribute (`with { type: 'json' }`), if any.
        with_type: Option<String>,
    },
    /// `require(x)`: never grants anything (SPEC §5: it exists only to throw the `module`
    /// violation); sent so that the host records the attempt as a denial.
    Require {
        /// The specifier as written.
        specifier: String,
    },
    /// `fetch(url, init)` / `aether.fetch`: one HTTP request through the gateway. Answered with
    /// [`HostValue::Response`]; it may take long, so the sandbox makes it off the engine thread
    /// (see [`HostRequest::is_slow`]).
    Fetch {
        /// The URL as the plugin gave it.
        url: String,
        /// The method (`GET` when empty).
        method: String,
        /// Request headers, in order.
        headers: Vec<(String, String)>,
        /// The body, if any.
        body: Option<Vec<u8>>,
        /// `follow`, `manual` or `error`.
        redirect: String,
        /// The plugin's own time limit for this request (`timeoutMs`); the step's deadline
        /// applies anyway.
        timeout_ms: Option<u64>,
    },
    /// `aether.process.run(cmd, args, {stdin, timeoutMs, cwd})`: one confined child process.
    /// Answered with [`HostValue::Exit`]; slow, like [`HostRequest::Fetch`].
    Run {
        /// The command as the plugin gave it: an absolute path, or a bare name matched against
        /// the granted commands (resolved through `PATH` when the plugin was loaded).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Bytes fed to its standard input (empty: none).
        stdin: Vec<u8>,
        /// The plugin's own time limit (`timeoutMs`); the step's deadline applies anyway.
        timeout_ms: Option<u64>,
        /// Its working directory as the plugin gave it (`None`: the workspace).
        cwd: Option<String>,
    },
    /// `aether.listen({hostname, port})`: bind a granted address and accept HTTP/1.1
    /// connections on it, in aether (no socket ever reaches the plugin). Answered with
    /// [`HostValue::Listener`].
    Listen {
        /// The hostname as the plugin gave it: an IP literal or `localhost`.
        hostname: String,
        /// The port.
        port: u16,
    },
    /// `server.accept()`: the next request on a listener. Answered with
    /// [`HostValue::Request`], or [`HostValue::Unit`] once the listener is closed; slow, like
    /// [`HostRequest::Fetch`].
    Accept {
        /// The id [`HostValue::Listener`] gave.
        listener: u64,
    },
    /// `request.respond(status, headers, body)`: the answer to an accepted request.
    Respond {
        /// The id [`HostValue::Request`] gave.
        request: u64,
        /// The status, 200 to 599.
        status: u16,
        /// Response headers, in order; checked like a fetch's request headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// `server.close()`: stop accepting; the address is free when the call returns.
    CloseListener {
        /// The id [`HostValue::Listener`] gave.
        listener: u64,
    },
    /// A call whose arguments the binding found wrong (a `TypeError` in JavaScript: data that
    /// is not a `Uint8Array`, a path that is not a string, an invalid header, `timeoutMs` or
    /// port...) but which names a target: `request` carries that target, the rest left empty.
    /// SPEC §5, the grant is checked first: the host checks `request`'s target as it would
    /// check the call's, so a target outside the grant is a `PermissionDenied` with its
    /// violation; only a covered target gets `problem` back, as a `TypeError`. Nothing is
    /// performed either way. Slow when `request` is (a fetch's URL may need a name lookup).
    Malformed {
        /// The call as far as it names a target (a `Listen` with port 0: the port given was not
        /// one, and any granted port of the hostname covers it).
        request: Box<HostRequest>,
        /// What is wrong with the call, one sentence: the `TypeError`'s message.
        problem: String,
    },
    /// `console.*`: a line for the step's log.
    Log {
        /// `log`, `info`, `warn`, `error` or `debug`.
        level: String,
        /// The formatted line.
        message: String,
    },
}

impl HostRequest {
    /// Whether the call may block for long (network, child processes, waiting for a client):
    /// the sandbox then makes it on a thread of its own and hands the plugin a promise, so that
    /// timers and other promises go on meanwhile. Every other call is quick and made
    /// synchronously.
    pub fn is_slow(&self) -> bool {
        match self {
            HostRequest::Malformed { request, .. } => request.is_slow(),
            _ => matches!(
                self,
                HostRequest::Fetch { .. } | HostRequest::Run { .. } | HostRequest::Accept { .. }
            ),
        }
    }

    /// The bytes the request holds besides its own size: its strings and buffers. What a
    /// queued slow call charges to the plugin's memory ceiling while it waits.
    pub fn payload_bytes(&self) -> usize {
        let pairs =
            |h: &[(String, String)]| h.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        match self {
            HostRequest::ReadText { path }
            | HostRequest::ReadBytes { path }
            | HostRequest::List { path }
            | HostRequest::Stat { path }
            | HostRequest::Exists { path }
            | HostRequest::Mkdir { path }
            | HostRequest::Remove { path } => path.len(),
            HostRequest::Write { path, data } | HostRequest::Append { path, data } => {
                path.len() + data.len()
            }
            HostRequest::EnvGet { name } | HostRequest::Secret { name } => name.len(),
            HostRequest::LoadModule {
                specifier,
                referrer,
                with_type,
                ..
            } => {
                specifier.len()
                    + referrer.as_ref().map_or(0, String::len)
                    + with_type.as_ref().map_or(0, String::len)
            }
            HostRequest::Require { specifier } => specifier.len(),
            HostRequest::PluginFile { url } => url.len(),
            HostRequest::Fetch {
                url,
                method,
                headers,
                body,
                redirect,
                ..
            } => {
                url.len()
                    + method.len()
                    + pairs(headers)
                    + body.as_ref().map_or(0, Vec::len)
                    + redirect.len()
            }
            HostRequest::Run {
                command,
                args,
                stdin,
                cwd,
                ..
            } => {
                command.len()
                    + args.iter().map(String::len).sum::<usize>()
                    + stdin.len()
                    + cwd.as_ref().map_or(0, String::len)
            }
            HostRequest::Listen { hostname, .. } => hostname.len(),
            HostRequest::Respond { headers, body, .. } => pairs(headers) + body.len(),
            HostRequest::Log { level, message } => level.len() + message.len(),
            HostRequest::Malformed { request, problem } => {
                std::mem::size_of::<HostRequest>() + request.payload_bytes() + problem.len()
            }
            HostRequest::Accept { .. } | HostRequest::CloseListener { .. } => 0,
        }
    }
}

/// The successful result of a [`HostRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostValue {
    /// No value (`undefined` on the JavaScript side).
    Unit,
    /// A boolean (`exists`).
    Bool {
        /// The value.
        value: bool,
    },
    /// A string (`readText`); `None` is `undefined` (`env.get` of an unset variable).
    Text {
        /// The value.
        value: Option<String>,
    },
    /// Bytes (`readBytes`).
    Bytes {
        /// The value.
        value: Vec<u8>,
    },
    /// Sorted directory entry names (`list`).
    Names {
        /// The names, sorted.
        value: Vec<String>,
    },
    /// File metadata (`stat`, following symlinks).
    Stat {
        /// Size in bytes.
        size: u64,
        /// A regular file.
        is_file: bool,
        /// A directory.
        is_dir: bool,
        /// Modification time, milliseconds since the Unix epoch.
        mtime_ms: f64,
    },
    /// An HTTP response (`fetch`), its body read in full.
    Response {
        /// Status code.
        status: u16,
        /// Reason phrase.
        status_text: String,
        /// The final URL, after redirects.
        url: String,
        /// Whether a redirect was followed.
        redirected: bool,
        /// Response headers, in order.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// How a child process ended (`aether.process.run`).
    Exit {
        /// Its exit code; `None` when a signal ended it.
        code: Option<i32>,
        /// The signal that ended it (`SIGKILL` at its timeout), if any.
        signal: Option<String>,
        /// Its standard output, decoded as UTF-8 (invalid sequences replaced).
        stdout: String,
        /// Its standard error, decoded likewise.
        stderr: String,
    },
    /// A listener bound for the plugin (`aether.listen`).
    Listener {
        /// What `accept` and `close_listener` name it by.
        id: u64,
    },
    /// A request a listener received (`accept`), parsed and within the inbound limits.
    Request {
        /// What `respond` names it by.
        id: u64,
        /// The method.
        method: String,
        /// `http://` + the listening address + the request target as sent.
        url: String,
        /// Request headers, in order; values decoded lossily as UTF-8.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// A module's source, with its canonical name (path relative to the plugin directory).
    Module {
        /// Canonical module name: the module's path relative to the plugin directory.
        name: String,
        /// The verified source text.
        source: String,
        /// How the source runs.
        kind: aether_policy::ModuleKind,
        /// For a CommonJS module imported by an ES module: the names it exports besides
        /// `default`, found statically (SPEC §5). Empty otherwise.
        exports: Vec<String>,
    },
}

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum HostError {
    /// Outside the grant: becomes the JavaScript `PermissionDenied` error.
    #[error("{message}")]
    PermissionDenied {
        /// The capability that would be needed.
        capability: Capability,
        /// The path, URL, variable, command or specifier.
        target: String,
        /// What was attempted, which manifest field would grant it, and what is granted now.
        message: String,
    },
    /// A failure that is not about the grant (missing file, bad argument): a JavaScript `Error`
    /// (or `TypeError` where the SPEC says so).
    #[error("{message}")]
    Failed {
        /// Whether the JavaScript error is a `TypeError`.
        type_error: bool,
        /// One sentence naming the cause.
        message: String,
    },
    /// A resource limit was reached by this call (e.g. the overlay outgrew the memory
    /// ceiling): the plugin must be stopped, whatever it catches.
    #[error("{message}")]
    LimitExceeded {
        /// `limit.memory` or `limit.timeout`.
        capability: Capability,
        /// The step's error, as SPEC §6 words it (`memory limit of 256 MiB exceeded`).
        message: String,
    },
}

/// What a sandbox calls to use a capability. Implementations check, perform and record.
pub trait Host: Send + Sync {
    /// Handles one host call. Never panics on plugin-controlled input.
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError>;

    /// Bytes the host holds on the plugin's behalf (the overlay, responses to inbound
    /// requests not written yet), which count toward the plugin's memory ceiling. The sandbox
    /// lowers the engine's own limit by this much.
    fn reserved_bytes(&self) -> u64 {
        0
    }

    /// [`Host::call`], with a panic (a bug in a capability provider) turned into a failed call:
    /// what both isolation tiers call, so that such a bug fails one call, never a step's thread
    /// or a promise left pending.
    fn call_guarded(&self, request: HostRequest) -> Result<HostValue, HostError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call(request)))
            .unwrap_or_else(|panic| {
                let cause = panic_message(panic.as_ref()).unwrap_or_default();
                Err(HostError::Failed {
                    type_error: false,
                    message: format!("aether failed while serving this call: {cause}"),
                })
            })
    }
}

/// The message a panic was raised with, when it was a string (as `panic!` makes it).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Where compiled modules are kept between runs, by a module key (a SHA-256 computed by the
/// sandbox over the engine build, the module's name and its source). Implemented by
/// `aether_host::compile_cache::DiskCache`.
///
/// # Security
///
/// The sandbox loads what [`BytecodeStore::get`] returns as bytecode, unverified: an
/// implementation must return only bytes that aether's own engine wrote for exactly that key
/// (the disk cache authenticates every entry).
pub trait BytecodeStore: Send + Sync {
    /// The bytecode kept under `key` for engine `build`, if there is an authentic entry.
    fn get(&self, build: &str, key: &[u8; 32]) -> Option<Vec<u8>>;
    /// Keeps `bytecode` under `key` for engine `build` (best effort: a failure is ignored).
    fn put(&self, build: &str, key: &[u8; 32], bytecode: &[u8]);
}
