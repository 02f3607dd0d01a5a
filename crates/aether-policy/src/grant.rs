//! What one step may do ([`Grant`]), and the checks that return witnesses
//! ([`crate::witness`]).
//!
//! A [`Grant`] can only be built when every request fits the policy, so holding one proves the
//! static check passed. Each check returns a witness or a [`Denial`]; the witnesses have private
//! fields, so a capability provider that takes one cannot be called unchecked. The checks decide
//! and never perform: real paths and resolved addresses are arguments.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::addr::{IpNet, is_public, unmap};
use crate::capability::Capability;
use crate::denial::{Denial, DenialReason};
use crate::domain::{DomainPattern, Host, ListenAddr, parse_listen_host};
use crate::limits::{DEFAULT_MEMORY, DEFAULT_STACK, DEFAULT_TIMEOUT, Limits, RequestedLimits};
use crate::path::{PathPattern, PathSet, normalize_lexically, resolve_lexically};
use crate::permissions::Permissions;
use crate::policy::{Excess, Policy, excesses, secret_excesses};
use crate::risk::RiskClass;
use crate::secret::{GrantedSecret, SecretRequest, SecretSource};
use crate::size::ByteSize;
use crate::witness::{
    CheckedAddr, CheckedCommand, CheckedEnv, CheckedHost, CheckedListen, CheckedPath, CheckedWrite,
    VirtualizedWrite,
};

/// Whether `path` (absolute, normalized) is into aether's own processes: `/proc/self`,
/// `/proc/thread-self`, `/proc/<digits>`, `/dev/fd`, `/dev/std*`, or below one of them.
///
/// Stricter than SPEC §2 ("`/proc/<pid>` of aether or its workers"): every numeric `/proc`
/// entry is refused, because `/proc/<tid>` resolves for every thread of aether (not only its
/// pid), worker pids change, and pids are recycled, so no list of "our" pids is reliable.
pub fn is_reserved_path(path: &Path) -> bool {
    let mut parts = path.components().skip(1).map(|c| c.as_os_str().to_str());
    match (parts.next(), parts.next()) {
        (Some(Some("proc")), Some(Some(name))) => {
            name == "self"
                || name == "thread-self"
                || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()))
        }
        (Some(Some("dev")), Some(Some(name))) => name == "fd" || name.starts_with("std"),
        _ => false,
    }
}
/// What one step may do: its manifest's permissions (all inside the policy), effective limits,
/// and the policy's network settings. Deny by default: anything not listed is refused.
#[derive(Debug, Clone)]
pub struct Grant {
    permissions: Permissions,
    /// `permissions.fs_read` compiled into one matcher on the first check (compiling globs costs
    /// about 10 µs each; many steps never touch a file), shared by the grant's clones.
    read_set: Arc<OnceLock<PathSet>>,
    /// `permissions.fs_write`, as `read_set`.
    write_set: Arc<OnceLock<PathSet>>,
    limits: Limits,
    allow_private: Vec<IpNet>,
    max_response_bytes: ByteSize,
    https_only: bool,
    virtualize_denied_writes: bool,
    accept_weaker_confinement: bool,
    /// The secrets the step may use, with the policy's sources.
    secrets: Vec<GrantedSecret>,
    /// The environment variables that are the source of any secret the policy defines: never
    /// readable by a plugin nor passed to a child, whatever `env` grants (a secret's value
    /// never reaches a plugin).
    secret_vars: Vec<String>,
    /// The files that are the source of any secret of the policy: never readable by a plugin,
    /// whatever `filesystem.read` grants.
    secret_files: Vec<PathBuf>,
}

/// The `from_file` paths of `policy`'s secrets, normalized lexically.
fn secret_files(policy: &Policy) -> Vec<PathBuf> {
    policy
        .secrets
        .iter()
        .filter_map(|d| match &d.source {
            SecretSource::File(f) => resolve_lexically(f, Path::new("/")),
            SecretSource::Env(_) => None,
        })
        .collect()
}

fn granted<T: fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl Grant {
    /// The grant for a manifest's `permissions` and `limits` under `policy`. With a policy, every
    /// excess is returned at once and no grant is made. Without one, everything is granted as
    /// declared with SPEC defaults (no private addresses, 16 MiB responses). Default limits above
    /// the policy's maxima are lowered to them.
    pub fn new(
        permissions: Permissions,
        policy: Option<&Policy>,
        limits: &RequestedLimits,
    ) -> Result<Grant, Vec<Excess>> {
        let default_policy = Policy::default();
        let p = match policy {
            Some(p) => {
                let ex = excesses(&permissions, limits, p);
                if !ex.is_empty() {
                    return Err(ex);
                }
                p
            }
            None => {
                // SPEC §3: with no policy, no secret exists.
                let ex = secret_excesses(&permissions, &default_policy);
                if !ex.is_empty() {
                    return Err(ex);
                }
                &default_policy
            }
        };
        let secrets = permissions
            .secrets
            .iter()
            .filter_map(|r| {
                let def = p.secrets.iter().find(|d| d.name == r.name)?;
                Some(GrantedSecret {
                    name: r.name.clone(),
                    hosts: r.hosts.clone(),
                    source: def.source.clone(),
                    in_body: def.in_body,
                })
            })
            .collect();
        let secret_vars = p
            .secrets
            .iter()
            .filter_map(|d| match &d.source {
                SecretSource::Env(v) => Some(v.clone()),
                SecretSource::File(_) => None,
            })
            .collect();
        let secret_files = secret_files(p);
        let limits = Limits {
            memory: limits.memory.unwrap_or(DEFAULT_MEMORY.min(p.max_memory)),
            timeout: limits.timeout.unwrap_or(DEFAULT_TIMEOUT.min(p.max_timeout)),
            stack: DEFAULT_STACK,
        };
        Ok(Grant {
            read_set: Arc::default(),
            write_set: Arc::default(),
            permissions,
            limits,
            allow_private: p.allow_private.clone(),
            max_response_bytes: p.max_response_bytes,
            https_only: p.https_only,
            virtualize_denied_writes: p.virtualize_denied_writes,
            accept_weaker_confinement: p.accept_weaker_confinement,
            secrets,
            secret_vars,
            secret_files,
        })
    }

    /// The same grant with its limits lowered to `memory` and `timeout` where given (a step's
    /// own limits, SPEC §4). Never raises a limit: a larger value leaves the limit as it is.
    pub fn lowered(mut self, memory: Option<ByteSize>, timeout: Option<Duration>) -> Grant {
        if let Some(m) = memory {
            self.limits.memory = self.limits.memory.min(m);
        }
        if let Some(t) = timeout {
            self.limits.timeout = self.limits.timeout.min(t);
        }
        self
    }

    /// The permissions granted.
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }

    /// The limits the step runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The policy's `allow_private`.
    pub fn allow_private(&self) -> &[IpNet] {
        &self.allow_private
    }

    /// The largest response body a fetch may receive.
    pub fn max_response_bytes(&self) -> ByteSize {
        self.max_response_bytes
    }

    /// Whether plain `http:` is refused.
    pub fn https_only(&self) -> bool {
        self.https_only
    }

    /// Whether child processes may run with weaker confinement than aether's full jail when the
    /// kernel lacks a feature (see [`Policy::accept_weaker_confinement`]).
    pub fn accept_weaker_confinement(&self) -> bool {
        self.accept_weaker_confinement
    }

    /// Whether an ungranted write goes to a private layer (decision `virtualized`) instead of
    /// being refused.
    pub fn virtualize_denied_writes(&self) -> bool {
        self.virtualize_denied_writes
    }

    /// The grant of an `--unsafe` run (built without the policy) given the secrets of
    /// `requested` that `policy` defines, each held to the hosts both the manifest and the
    /// policy allow, and the policy's secret source variables (never readable).
    ///
    /// # Security
    ///
    /// `--unsafe` lifts checks but never reveals a secret (SPEC §5): a secret the policy does
    /// not define, or hosts outside its `hosts`, are left out, so they stay denied.
    pub fn with_policy_secrets(
        mut self,
        requested: &[SecretRequest],
        policy: Option<&Policy>,
    ) -> Grant {
        let Some(p) = policy else {
            return self;
        };
        self.secrets = requested
            .iter()
            .filter_map(|r| {
                let def = p.secrets.iter().find(|d| d.name == r.name)?;
                let hosts: Vec<DomainPattern> = r
                    .hosts
                    .iter()
                    .filter(|h| def.hosts.contains(h) || def.hosts.iter().any(|q| q.covers(h)))
                    .cloned()
                    .collect();
                Some(GrantedSecret {
                    name: r.name.clone(),
                    hosts,
                    source: def.source.clone(),
                    in_body: def.in_body,
                })
            })
            .collect();
        self.permissions.secrets = self
            .secrets
            .iter()
            .map(|s| SecretRequest {
                name: s.name.clone(),
                hosts: s.hosts.clone(),
            })
            .collect();
        self.secret_vars = p
            .secrets
            .iter()
            .filter_map(|d| match &d.source {
                SecretSource::Env(v) => Some(v.clone()),
                SecretSource::File(_) => None,
            })
            .collect();
        self.secret_files = secret_files(p);
        self
    }

    /// The secrets the step may use (names, hosts, sources; never values).
    pub fn secrets(&self) -> &[GrantedSecret] {
        &self.secrets
    }

    /// Whether `name` is the source variable of a secret of the policy: such a variable is
    /// never read by a plugin nor given to a child, whatever `env` grants or `--unsafe` says.
    pub fn is_secret_var(&self, name: &str) -> bool {
        self.secret_vars.iter().any(|v| v == name)
    }

    /// `aether.secret(name)`: the secret, when the manifest asks for it (and so the policy
    /// defines it).
    pub fn check_secret(&self, name: &str) -> Result<&GrantedSecret, Denial> {
        self.secrets
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Denial {
                capability: Capability::Secrets,
                target: name.to_owned(),
                field: "permissions.secrets",
                granted: self.secrets.iter().map(|s| s.name.clone()).collect(),
                reason: DenialReason::NotCovered,
            })
    }

    /// Sending secret `name` to `host:port` (the hop's checked host), in a request header
    /// (`in_body == false`) or in the URL query or body (`in_body == true`, allowed only where
    /// the policy sets `in_body`). The denial names the secret, never its value.
    pub fn check_secret_host(
        &self,
        name: &str,
        host: &Host,
        port: u16,
        default_port: u16,
        in_body: bool,
    ) -> Result<(), Denial> {
        let secret = self.check_secret(name)?;
        let shown = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let deny = |field: &'static str, granted: Vec<String>| Denial {
            capability: Capability::Secrets,
            target: format!("{name} -> {shown}"),
            field,
            granted,
            reason: DenialReason::NotCovered,
        };
        if !secret
            .hosts
            .iter()
            .any(|d| d.matches(host, port, default_port))
        {
            return Err(deny("permissions.secrets", granted(&secret.hosts)));
        }
        if in_body && !secret.in_body {
            return Err(deny("secrets.in_body", vec!["headers only".to_owned()]));
        }
        Ok(())
    }

    /// The risk class of the granted permissions.
    pub fn risk(&self) -> RiskClass {
        RiskClass::of(&self.permissions)
    }

    fn check_path(
        &self,
        capability: Capability,
        field: &'static str,
        patterns: &[PathPattern],
        set: &OnceLock<PathSet>,
        given: &Path,
        real: &Path,
    ) -> Result<(PathBuf, PathBuf), Denial> {
        let deny = |reason| Denial {
            capability,
            target: given.display().to_string(),
            field,
            granted: granted(patterns),
            reason,
        };
        if !given.is_absolute() || !real.is_absolute() {
            return Err(deny(DenialReason::NotAbsolute));
        }
        // NUL bytes are kept: a malformed path is still checked (SPEC §5, the grant first).
        let (Some(g), Some(r)) = (
            resolve_lexically(given, Path::new("/")),
            resolve_lexically(real, Path::new("/")),
        ) else {
            return Err(deny(DenialReason::NotCovered));
        };
        if is_reserved_path(&g) || is_reserved_path(&r) {
            return Err(deny(DenialReason::Reserved));
        }
        if capability == Capability::FilesystemRead
            && self.secret_files.iter().any(|f| *f == g || *f == r)
        {
            return Err(deny(DenialReason::SecretSource));
        }
        let set = set.get_or_init(|| PathSet::new(patterns));
        if set.matches_normalized(&g) && set.matches_normalized(&r) {
            Ok((g, r))
        } else {
            Err(deny(DenialReason::NotCovered))
        }
    }

    /// `filesystem.read` of `given` (absolute; the caller resolves relative paths against the
    /// workspace) whose real path is `real`: both must match a read pattern, and neither may be
    /// a reserved path ([`is_reserved_path`]).
    pub fn check_read(&self, given: &Path, real: &Path) -> Result<CheckedPath, Denial> {
        self.check_path(
            Capability::FilesystemRead,
            "permissions.filesystem.read",
            &self.permissions.fs_read,
            &self.read_set,
            given,
            real,
        )
        .map(|(g, r)| CheckedPath::new(g, r))
    }

    /// `filesystem.write`, as [`Grant::check_read`] with the write patterns (write does not
    /// imply read).
    pub fn check_write(&self, given: &Path, real: &Path) -> Result<CheckedWrite, Denial> {
        self.check_path(
            Capability::FilesystemWrite,
            "permissions.filesystem.write",
            &self.permissions.fs_write,
            &self.write_set,
            given,
            real,
        )
        .map(|(g, r)| CheckedWrite::new(g, r))
    }

    /// A write that [`Grant::check_write`] refused with `denial`, kept in the step's private
    /// layer instead (decision `virtualized`) when the policy sets `virtualize_denied_writes`;
    /// otherwise the denial itself. `given` and `real` are the paths the check refused,
    /// absolute.
    pub fn virtualize_write(
        &self,
        given: &Path,
        real: &Path,
        denial: Denial,
    ) -> Result<VirtualizedWrite, Denial> {
        if self.virtualize_denied_writes && denial.capability == Capability::FilesystemWrite {
            Ok(VirtualizedWrite::new(
                given.to_path_buf(),
                real.to_path_buf(),
            ))
        } else {
            Err(denial)
        }
    }

    /// Reading the environment variable `name`.
    pub fn check_env(&self, name: &str) -> Result<CheckedEnv, Denial> {
        if self.is_secret_var(name) {
            return Err(Denial {
                capability: Capability::Env,
                target: name.to_owned(),
                field: "permissions.secrets",
                granted: Vec::new(),
                reason: DenialReason::SecretSource,
            });
        }
        if self.permissions.env.iter().any(|p| p.matches(name)) {
            Ok(CheckedEnv::new(name))
        } else {
            Err(Denial {
                capability: Capability::Env,
                target: name.to_owned(),
                field: "permissions.env",
                granted: granted(&self.permissions.env),
                reason: DenialReason::NotCovered,
            })
        }
    }

    /// Running the program at `path` (absolute; compared lexically normalized, never by
    /// basename).
    pub fn check_command(&self, path: &Path) -> Result<CheckedCommand, Denial> {
        let norm = path
            .is_absolute()
            .then(|| resolve_lexically(path, Path::new("/")))
            .flatten();
        let found = norm.as_ref().is_some_and(|n| {
            self.permissions
                .commands
                .iter()
                .any(|c| normalize_lexically(c, Path::new("/")).as_ref() == Some(n))
        });
        match norm {
            Some(n) if found => Ok(CheckedCommand::new(n)),
            _ => Err(Denial {
                capability: Capability::Process,
                target: path.display().to_string(),
                field: "permissions.process.commands",
                granted: self
                    .permissions
                    .commands
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect(),
                reason: DenialReason::NotCovered,
            }),
        }
    }

    /// The scheme of a URL to fetch: returns its default port (80 for `http`, 443 for `https`),
    /// or a denial for other schemes and for `http` under `https_only`. Case-insensitive.
    pub fn check_scheme(&self, scheme: &str) -> Result<u16, Denial> {
        let deny = |reason, field| Denial {
            capability: Capability::Network,
            target: format!("{scheme}:"),
            field,
            granted: Vec::new(),
            reason,
        };
        match scheme.to_ascii_lowercase().as_str() {
            "https" => Ok(443),
            "http" if self.https_only => {
                Err(deny(DenialReason::InsecureScheme, "network.https_only"))
            }
            "http" => Ok(80),
            _ => Err(deny(
                DenialReason::UnsupportedScheme,
                "permissions.network.domains",
            )),
        }
    }

    /// Connecting to `host:port` by name (or IP literal), where `default_port` is the scheme's.
    /// Every address the name resolves to must then pass [`Grant::check_address`].
    pub fn check_host(
        &self,
        host: &Host,
        port: u16,
        default_port: u16,
    ) -> Result<CheckedHost, Denial> {
        if self
            .permissions
            .domains
            .iter()
            .any(|d| d.matches(host, port, default_port))
        {
            Ok(CheckedHost::new(host.clone(), port))
        } else {
            let target = if port == default_port {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            Err(Denial {
                capability: Capability::Network,
                target,
                field: "permissions.network.domains",
                granted: granted(&self.permissions.domains),
                reason: DenialReason::NotCovered,
            })
        }
    }

    /// The address actually connected to: public, or inside the policy's `allow_private`
    /// (IPv4-mapped IPv6 is taken as IPv4 first), whatever the domain grant says.
    pub fn check_address(&self, ip: IpAddr) -> Result<CheckedAddr, Denial> {
        let ip = unmap(ip);
        if is_public(ip) || self.allow_private.iter().any(|n| n.contains(ip)) {
            Ok(CheckedAddr::new(ip))
        } else {
            Err(Denial {
                capability: Capability::Network,
                target: ip.to_string(),
                field: "network.allow_private",
                granted: granted(&self.allow_private),
                reason: DenialReason::PrivateAddress,
            })
        }
    }

    /// Listening on `hostname:port` as `aether.listen` names it: the hostname read by
    /// [`parse_listen_host`], then [`Grant::check_listen`]. A hostname that reads as no address
    /// is covered by no entry (grants name addresses, and no name is looked up), so it is a
    /// denial with `hostname:port` as its target: the grant is checked before the request's
    /// form (SPEC §5).
    pub fn check_listen_host(&self, hostname: &str, port: u16) -> Result<CheckedListen, Denial> {
        match parse_listen_host(hostname) {
            Some(ip) => self.check_listen(SocketAddr::new(ip, port)),
            None => Err(Denial {
                capability: Capability::Network,
                target: format!("{hostname}:{port}"),
                field: "permissions.network.listen",
                granted: granted(&self.permissions.listen),
                reason: DenialReason::NotCovered,
            }),
        }
    }

    /// Listening on `addr`: it must equal a `network.listen` entry (IPv4-mapped taken as IPv4).
    pub fn check_listen(&self, addr: SocketAddr) -> Result<CheckedListen, Denial> {
        match ListenAddr::new(addr) {
            Some(l) if self.permissions.listen.contains(&l) => Ok(CheckedListen::new(l.addr())),
            _ => Err(Denial {
                capability: Capability::Network,
                target: addr.to_string(),
                field: "permissions.network.listen",
                granted: granted(&self.permissions.listen),
                reason: DenialReason::NotCovered,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use proptest::prelude::*;

    const WS: &str = "/ws";

    fn paths(ps: &[&str]) -> Vec<PathPattern> {
        ps.iter()
            .map(|p| PathPattern::parse(p, Path::new(WS)).unwrap())
            .collect()
    }

    fn doms(ds: &[&str]) -> Vec<DomainPattern> {
        ds.iter()
            .map(|d| DomainPattern::parse(d).unwrap())
            .collect()
    }

    fn envs(es: &[&str]) -> Vec<EnvPattern> {
        es.iter().map(|e| EnvPattern::parse(e).unwrap()).collect()
    }

    fn policy() -> Policy {
        Policy {
            fs_read: paths(&["/var/logs/**", "./data/**"]),
            fs_write: paths(&["/var/logs/temp/**", "./out/"]),
            domains: doms(&["api.trusted-service.com", "*.example.org"]),
            allow_private: vec![IpNet::parse("127.0.0.1/32").unwrap()],
            listen: vec![ListenAddr::parse("127.0.0.1:9000").unwrap()],
            env: envs(&["API_TOKEN", "LOG_*"]),
            commands: vec![PathBuf::from("/usr/bin/gzip")],
            max_memory: ByteSize(1_000_000_000),
            max_timeout: Duration::from_secs(300),
            ..Policy::default()
        }
    }

    fn manifest() -> Permissions {
        Permissions {
            fs_read: paths(&["/var/logs/temp/*"]),
            fs_write: paths(&["/var/logs/temp/"]),
            domains: doms(&["api.trusted-service.com", "a.example.org"]),
            listen: vec![ListenAddr::parse("127.0.0.1:9000").unwrap()],
            env: envs(&["API_TOKEN", "LOG_LEVEL"]),
            commands: vec![PathBuf::from("/usr/bin/gzip")],
            process: true,
            process_network: false,
            secrets: Vec::new(),
        }
    }

    #[test]
    fn fitting_manifest_has_no_excess() {
        let lim = RequestedLimits {
            memory: Some(ByteSize(1_000_000_000)),
            timeout: Some(Duration::from_secs(300)),
        };
        assert_eq!(excesses(&manifest(), &lim, &policy()), vec![]);
    }

    #[test]
    fn every_excess_is_listed() {
        let perms = Permissions {
            fs_read: paths(&["/var/logs/x", "/etc/passwd", "/var/**"]),
            fs_write: paths(&["/var/logs/temp/a", "/var/logs/**"]),
            domains: doms(&["evil.com", "example.org", "a.example.org:8443"]),
            listen: vec![ListenAddr::parse("0.0.0.0:9000").unwrap()],
            env: envs(&["LOG_*", "L*", "HOME"]),
            commands: vec![PathBuf::from("/bin/sh"), PathBuf::from("/usr/bin/gzip")],
            process: true,
            process_network: true,
            secrets: Vec::new(),
        };
        let lim = RequestedLimits {
            memory: Some(ByteSize(1_000_000_001)),
            timeout: Some(Duration::from_secs(301)),
        };
        let items: Vec<RequestItem> = excesses(&perms, &lim, &policy())
            .into_iter()
            .map(|e| e.item)
            .collect();
        use RequestItem::*;
        assert_eq!(
            items,
            vec![
                FsRead(1),
                FsRead(2),
                FsWrite(1),
                Domain(0),
                Domain(1),
                Domain(2),
                Listen(0),
                Env(1),
                Env(2),
                Command(0),
                ProcessNetwork,
                Memory,
                Timeout
            ]
        );
    }

    #[test]
    fn boundary_limits() {
        let p = Policy {
            max_memory: ByteSize::mib(256),
            ..Policy::default()
        };
        let at = RequestedLimits {
            memory: Some(ByteSize::mib(256)),
            timeout: None,
        };
        let over = RequestedLimits {
            memory: Some(
                ByteSize::mib(256)
                    .bytes()
                    .checked_add(1)
                    .map(ByteSize)
                    .unwrap(),
            ),
            timeout: None,
        };
        let under = RequestedLimits {
            memory: Some(ByteSize::mib(255)),
            timeout: None,
        };
        assert!(excesses(&Permissions::default(), &at, &p).is_empty());
        assert!(excesses(&Permissions::default(), &under, &p).is_empty());
        assert_eq!(
            excesses(&Permissions::default(), &over, &p)[0].item,
            RequestItem::Memory
        );
        let p = Policy {
            max_memory: ByteSize::mib(255),
            ..Policy::default()
        };
        assert_eq!(
            excesses(&Permissions::default(), &at, &p)[0].item,
            RequestItem::Memory
        );
    }

    #[test]
    fn excess_message() {
        let perms = Permissions {
            fs_read: paths(&["/etc/passwd"]),
            ..Permissions::default()
        };
        let ex = excesses(&perms, &RequestedLimits::default(), &policy());
        assert_eq!(
            ex[0].message,
            "filesystem.read `/etc/passwd` is not covered by the policy's `filesystem.read` (allowed: `/var/logs/**`, `/ws/data/**`)"
        );
    }

    #[test]
    fn left_out_sections_allow_nothing() {
        let items: Vec<_> = excesses(&manifest(), &RequestedLimits::default(), &Policy::default())
            .into_iter()
            .map(|e| e.item)
            .collect();
        use RequestItem::*;
        assert_eq!(
            items,
            vec![
                FsRead(0),
                FsWrite(0),
                Domain(0),
                Domain(1),
                Listen(0),
                Env(0),
                Env(1),
                Command(0)
            ]
        );
    }

    #[test]
    fn grant_limits() {
        let none = RequestedLimits::default();
        let g = Grant::new(Permissions::default(), None, &none).unwrap();
        assert_eq!(
            g.limits(),
            Limits {
                memory: DEFAULT_MEMORY,
                timeout: DEFAULT_TIMEOUT,
                stack: DEFAULT_STACK,
            }
        );
        assert_eq!(g.max_response_bytes(), ByteSize::mib(16));
        assert!(g.allow_private().is_empty() && !g.https_only() && !g.virtualize_denied_writes());
        // Defaults above the maxima are lowered.
        let p = Policy {
            max_memory: ByteSize::mib(128),
            max_timeout: Duration::from_secs(10),
            ..Policy::default()
        };
        let g = Grant::new(Permissions::default(), Some(&p), &none).unwrap();
        assert_eq!(
            g.limits(),
            Limits {
                memory: ByteSize::mib(128),
                timeout: Duration::from_secs(10),
                stack: DEFAULT_STACK,
            }
        );
        // Written limits are kept; above the maxima they are excesses.
        let lim = RequestedLimits {
            memory: Some(ByteSize::mib(64)),
            timeout: Some(Duration::from_secs(5)),
        };
        let g = Grant::new(Permissions::default(), Some(&p), &lim).unwrap();
        assert_eq!(
            g.limits(),
            Limits {
                memory: ByteSize::mib(64),
                timeout: Duration::from_secs(5),
                stack: DEFAULT_STACK,
            }
        );
        let lim = RequestedLimits {
            memory: Some(ByteSize::mib(129)),
            timeout: None,
        };
        assert!(Grant::new(Permissions::default(), Some(&p), &lim).is_err());
        // Without a policy, anything declared is granted.
        let g = Grant::new(manifest(), None, &lim).unwrap();
        assert_eq!(g.limits().memory, ByteSize::mib(129));
        assert_eq!(g.risk(), RiskClass::High);
    }

    // See: https://docs.deno.com/runtime/fundamentals/security/#environment-variables
    #[test]
    fn issue_15_env_star_is_an_excess_under_any_narrower_policy() {
        // (policy env.allow, manifest env, excess indices)
        let cases: &[(&[&str], &[&str], &[usize])] = &[
            (&["*"], &["*"], &[]),
            (&["*"], &["API_TOKEN", "LOG_*", "*"], &[]),
            (&["API_TOKEN", "LOG_*"], &["*"], &[0]),
            (&["A*", "B*", "_*"], &["X", "*"], &[0, 1]),
            (&[], &["*"], &[0]),
        ];
        for &(allow, asked, want) in cases {
            let policy = Policy {
                env: envs(allow),
                ..Policy::default()
            };
            let perms = Permissions {
                env: envs(asked),
                ..Permissions::default()
            };
            let got: Vec<RequestItem> = excesses(&perms, &RequestedLimits::default(), &policy)
                .into_iter()
                .map(|e| e.item)
                .collect();
            let want: Vec<RequestItem> = want.iter().map(|&i| RequestItem::Env(i)).collect();
            assert_eq!(got, want, "{allow:?} vs {asked:?}");
        }
        // At run time `*` grants every name, and is medium risk like any other `env`.
        let g = Grant::new(
            Permissions {
                env: envs(&["*"]),
                ..Permissions::default()
            },
            Some(&Policy {
                env: envs(&["*"]),
                ..Policy::default()
            }),
            &RequestedLimits::default(),
        )
        .unwrap();
        for name in ["HOME", "PATH", "API_TOKEN", "x", "_"] {
            assert_eq!(g.check_env(name).unwrap().name(), name);
        }
        assert_eq!(g.risk(), RiskClass::Medium);
    }

    fn grant() -> Grant {
        Grant::new(manifest(), Some(&policy()), &RequestedLimits::default()).unwrap()
    }

    #[test]
    fn file_checks() {
        let g = grant();
        let read: &[(&str, &str, Result<(), DenialReason>)] = &[
            ("/var/logs/temp/a.log", "/var/logs/temp/a.log", Ok(())),
            ("/var/logs/temp/./a.log", "/var/logs/temp/a.log", Ok(())),
            (
                "/var/logs/temp/../../../etc/passwd",
                "/etc/passwd",
                Err(DenialReason::NotCovered),
            ),
            // A symlink out of the granted directory: the real path decides too.
            (
                "/var/logs/temp/link",
                "/etc/shadow",
                Err(DenialReason::NotCovered),
            ),
            // A symlink into it from outside: the given path decides too.
            (
                "/tmp/link",
                "/var/logs/temp/a.log",
                Err(DenialReason::NotCovered),
            ),
            (
                "/var/logs/temp",
                "/var/logs/temp",
                Err(DenialReason::NotCovered),
            ),
            (
                "/var/logs/temp/sub/a",
                "/var/logs/temp/sub/a",
                Err(DenialReason::NotCovered),
            ),
            (
                "var/logs/temp/a.log",
                "/var/logs/temp/a.log",
                Err(DenialReason::NotAbsolute),
            ),
            (
                "/var/logs/temp/a",
                "/proc/self/mem",
                Err(DenialReason::Reserved),
            ),
            (
                "/var/logs/temp/a",
                "/proc/1234/environ",
                Err(DenialReason::Reserved),
            ),
            ("/var/logs/temp/a", "/dev/fd/3", Err(DenialReason::Reserved)),
        ];
        for &(given, real, want) in read {
            let got = g
                .check_read(Path::new(given), Path::new(real))
                .map(|_| ())
                .map_err(|d| d.reason);
            assert_eq!(got, want, "read {given} -> {real}");
        }
        // Write does not imply read, and read does not imply write.
        assert!(
            g.check_write(
                Path::new("/var/logs/temp/x/y"),
                Path::new("/var/logs/temp/x/y")
            )
            .is_ok()
        );
        assert!(
            g.check_write(Path::new("/var/logs/temp"), Path::new("/var/logs/temp"))
                .is_ok()
        );
        assert!(
            g.check_read(
                Path::new("/var/logs/temp/x/y"),
                Path::new("/var/logs/temp/x/y")
            )
            .is_err()
        );
        let ok = g
            .check_read(
                Path::new("/var/logs/temp/./a"),
                Path::new("/var/logs/temp/a"),
            )
            .unwrap();
        assert_eq!(
            (ok.given(), ok.real(), ok.capability()),
            (
                Path::new("/var/logs/temp/a"),
                Path::new("/var/logs/temp/a"),
                Capability::FilesystemRead
            )
        );
    }

    #[test]
    fn reserved_paths_refused_whatever_the_grant() {
        let perms = Permissions {
            fs_read: paths(&["/**"]),
            fs_write: paths(&["/**"]),
            ..Permissions::default()
        };
        let g = Grant::new(perms, None, &RequestedLimits::default()).unwrap();
        let reserved = [
            "/proc/self",
            "/proc/self/mem",
            "/proc/thread-self/fd/0",
            "/proc/1",
            "/proc/4242/root/etc",
            "/dev/fd",
            "/dev/fd/0",
            "/dev/stdin",
            "/dev/stdout",
            "/dev/stderr",
            "/proc/x/../self/environ",
        ];
        for p in reserved {
            let p = Path::new(p);
            assert_eq!(
                g.check_read(p, p).map_err(|d| d.reason),
                Err(DenialReason::Reserved),
                "{}",
                p.display()
            );
            assert_eq!(
                g.check_write(p, p).map_err(|d| d.reason),
                Err(DenialReason::Reserved),
                "{}",
                p.display()
            );
            // Either path being reserved is enough.
            assert!(g.check_read(Path::new("/tmp/x"), p).is_err());
            assert!(g.check_read(p, Path::new("/tmp/x")).is_err());
        }
        for p in [
            "/proc",
            "/proc/cpuinfo",
            "/proc/sys/kernel/x",
            "/dev/null",
            "/dev",
            "/proc/12a",
            "/devx/fd",
        ] {
            let p = Path::new(p);
            assert!(g.check_read(p, p).is_ok(), "{}", p.display());
        }
    }

    #[test]
    fn other_checks() {
        let g = grant();
        assert_eq!(g.check_env("LOG_LEVEL").unwrap().name(), "LOG_LEVEL");
        assert!(g.check_env("LOG_FILE").is_err());
        assert!(g.check_env("api_token").is_err());
        assert_eq!(
            g.check_command(Path::new("/usr/bin/../bin/gzip"))
                .unwrap()
                .path(),
            Path::new("/usr/bin/gzip")
        );
        assert!(g.check_command(Path::new("gzip")).is_err());
        assert!(g.check_command(Path::new("/tmp/gzip")).is_err());
        let h = |s: &str| crate::domain::parse_host(s).unwrap();
        assert!(
            g.check_host(&h("API.trusted-service.com."), 443, 443)
                .is_ok()
        );
        assert!(
            g.check_host(&h("api.trusted-service.com"), 8443, 443)
                .is_err()
        );
        assert!(g.check_host(&h("b.example.org"), 443, 443).is_err());
        assert_eq!(
            g.check_host(&h("a.example.org"), 80, 80).unwrap().port(),
            80
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            g.check_address(ip("::ffff:127.0.0.1")).unwrap().addr(),
            ip("127.0.0.1")
        );
        assert!(g.check_address(ip("8.8.8.8")).is_ok());
        for bad in [
            "127.0.0.2",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "::1",
            "0.0.0.0",
            "10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert_eq!(
                g.check_address(ip(bad)).map_err(|d| d.reason),
                Err(DenialReason::PrivateAddress),
                "{bad}"
            );
        }
        assert!(g.check_listen("127.0.0.1:9000".parse().unwrap()).is_ok());
        assert!(
            g.check_listen("[::ffff:127.0.0.1]:9000".parse().unwrap())
                .is_ok()
        );
        assert!(g.check_listen("0.0.0.0:9000".parse().unwrap()).is_err());
        assert!(g.check_listen("127.0.0.1:0".parse().unwrap()).is_err());
        // Issue 15, the grant first: a hostname that reads as no address is a denial (with
        // its own target), not a malformed request; `localhost` is the granted 127.0.0.1.
        // See: Deno's tests/specs/permission net cases (a name is not an address).
        assert!(g.check_listen_host("localhost", 9000).is_ok());
        for name in ["example.com", "2130706433", "127.1", ""] {
            let d = g.check_listen_host(name, 9000).unwrap_err();
            assert_eq!(
                (d.capability, d.target.as_str(), d.reason),
                (
                    Capability::Network,
                    format!("{name}:9000").as_str(),
                    DenialReason::NotCovered
                ),
                "{name}"
            );
        }
        assert_eq!(g.check_scheme("HTTPS"), Ok(443));
        assert_eq!(g.check_scheme("http"), Ok(80));
        assert_eq!(
            g.check_scheme("file").map_err(|d| d.reason),
            Err(DenialReason::UnsupportedScheme)
        );
        let strict = Grant::new(
            manifest(),
            Some(&Policy {
                https_only: true,
                ..policy()
            }),
            &RequestedLimits::default(),
        )
        .unwrap();
        assert_eq!(
            strict.check_scheme("http").map_err(|d| d.reason),
            Err(DenialReason::InsecureScheme)
        );
    }

    #[test]
    fn denial_message() {
        let perms = Permissions {
            fs_read: paths(&["/var/logs/temp/*"]),
            ..Permissions::default()
        };
        let g = Grant::new(perms, None, &RequestedLimits::default()).unwrap();
        let d = g
            .check_read(Path::new("/etc/passwd"), Path::new("/etc/passwd"))
            .unwrap_err();
        assert_eq!(
            d.to_string(),
            "filesystem.read denied for `/etc/passwd`: not covered by `permissions.filesystem.read` (granted: `/var/logs/temp/*`)"
        );
        let d = g.check_env("A\u{202E}B\x1b[2J").unwrap_err();
        assert_eq!(d.target, "A\u{202E}B\x1b[2J");
        assert_eq!(d.field, "permissions.env");
        assert!(!d.to_string().contains('\u{202E}') && !d.to_string().contains('\x1b'));
    }

    #[test]
    fn tiers() {
        let p = Policy::default();
        assert_eq!(p.tier_for(RiskClass::High), Tier::Process);
        assert_eq!(p.tier_for(RiskClass::Medium), Tier::Thread);
        let p = Policy {
            isolation_default: Tier::Process,
            isolation_high_risk: Tier::Thread,
            ..Policy::default()
        };
        assert_eq!(p.tier_for(RiskClass::High), Tier::Process);
    }

    #[test]
    fn issue_23_tier_choice_names_the_deciding_setting() {
        use crate::TierReason;
        let p = Policy::default();
        assert_eq!(
            p.tier_choice(RiskClass::High),
            (Tier::Process, TierReason::PolicyHighRisk)
        );
        assert_eq!(
            p.tier_choice(RiskClass::Medium),
            (Tier::Thread, TierReason::PolicyDefault)
        );
        let p = Policy {
            isolation_default: Tier::Process,
            isolation_high_risk: Tier::Thread,
            ..Policy::default()
        };
        assert_eq!(
            p.tier_choice(RiskClass::High),
            (Tier::Process, TierReason::PolicyDefault)
        );
        // `high_risk = "thread"` is what keeps a high-risk plugin in the thread tier.
        let p = Policy {
            isolation_high_risk: Tier::Thread,
            ..Policy::default()
        };
        assert_eq!(
            p.tier_choice(RiskClass::High),
            (Tier::Thread, TierReason::PolicyHighRisk)
        );
    }

    // No step is granted beyond the policy: whenever a grant exists, every path it lets a step
    // read is readable under the policy (exhaustive over a tiny tree).
    const SEGS: [&str; 8] = ["a", "b", "ab", "*", "?", "**", "a*", "[ab]"];

    fn pattern() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(&SEGS[..]), 1..4)
            .prop_map(|s| format!("/{}", s.join("/")))
    }

    fn all_paths() -> Vec<PathBuf> {
        let names = ["a", "b", "ab", "ba"];
        let mut out = vec![PathBuf::from("/")];
        let mut frontier = vec![PathBuf::from("/")];
        for _ in 0..3 {
            let next: Vec<PathBuf> = frontier
                .iter()
                .flat_map(|p| names.iter().map(move |n| p.join(n)))
                .collect();
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn no_grant_beyond_policy(pol in proptest::collection::vec(pattern(), 1..3), req in proptest::collection::vec(pattern(), 1..3)) {
            let policy = Policy { fs_read: paths(&pol.iter().map(String::as_str).collect::<Vec<_>>()), ..Policy::default() };
            let perms = Permissions { fs_read: paths(&req.iter().map(String::as_str).collect::<Vec<_>>()), ..Permissions::default() };
            if let Ok(g) = Grant::new(perms, Some(&policy), &RequestedLimits::default()) {
                for p in all_paths() {
                    if g.check_read(&p, &p).is_ok() {
                        prop_assert!(policy.fs_read.iter().any(|q| q.matches(&p)), "{} granted beyond policy", p.display());
                    }
                }
            }
        }
    }
}
