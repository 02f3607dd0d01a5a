//! Witnesses: the values a check returns, and the only values a capability provider accepts.
//!
//! Every witness has private fields and is made in this crate only: by a [`crate::Grant`] check
//! that passed, or by its one `unchecked` constructor, which demands the [`UnsafeMode`] token of
//! an `--unsafe` run. A provider in `aether-host` that takes a witness therefore cannot be
//! called with a path, address, program or variable that no check saw: forgetting the check is
//! a compile error, not a review finding. Each type below shows it with a `compile_fail` test.
//!
//! What a witness must never do: grow. No method turns one witness into a wider one (a read
//! into a write, a parent into a file); [`WriteTarget::parent`] gives a [`ParentDir`], which a
//! provider may only ask whether it is a directory.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::addr::unmap;
use crate::capability::Capability;
use crate::domain::Host;

/// The operator's acknowledgement that a run is `--unsafe` (SPEC §6): the token every
/// `unchecked` constructor of a witness requires.
///
/// # Security
///
/// With this token a denied check can be overridden: the capability is used anyway (and the
/// use is recorded as `allowed-unsafe`). Create it only where the operator asked for `--unsafe`
/// and the policy allows it (`[unsafe] allowed`), after warning them.
///
/// It cannot be made from nothing but [`UnsafeMode::acknowledge`]:
///
/// ```compile_fail,E0423
/// let mode = aether_policy::UnsafeMode(());
/// ```
#[derive(Debug)]
pub struct UnsafeMode(());

impl UnsafeMode {
    /// Acknowledges an `--unsafe` run. See the type's `# Security` section.
    pub fn acknowledge() -> UnsafeMode {
        UnsafeMode(())
    }
}

/// A path that passed [`crate::Grant::check_read`]: the one value every reading provider
/// (`fsops`, the overlay's reads, a child's `cwd` other than the [`WorkspaceDir`]) accepts.
///
/// A path that no check saw is not one:
///
/// ```compile_fail,E0451
/// use std::path::PathBuf;
/// let p = aether_policy::CheckedPath {
///     capability: aether_policy::Capability::FilesystemRead,
///     given: PathBuf::from("/etc/passwd"),
///     real: PathBuf::from("/etc/passwd"),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPath {
    /// Always `filesystem.read`.
    capability: Capability,
    /// Absolute, lexically normalized.
    given: PathBuf,
    /// Absolute, lexically normalized; symlinks resolved by the caller before the check.
    real: PathBuf,
}

impl CheckedPath {
    pub(crate) fn new(given: PathBuf, real: PathBuf) -> CheckedPath {
        CheckedPath {
            capability: Capability::FilesystemRead,
            given,
            real,
        }
    }

    /// `filesystem.read`.
    pub fn capability(&self) -> Capability {
        self.capability
    }

    /// The path as given, absolute and lexically normalized.
    pub fn given(&self) -> &Path {
        &self.given
    }

    /// The real path (symlinks resolved by the caller) that was checked: the one to open.
    pub fn real(&self) -> &Path {
        &self.real
    }

    /// A read witness for a path that no check allowed, in an `--unsafe` run.
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(given: &Path, real: &Path, _mode: &UnsafeMode) -> CheckedPath {
        CheckedPath::new(given.to_path_buf(), real.to_path_buf())
    }
}

/// A path that passed [`crate::Grant::check_write`]: the only value the overlay commits to disk.
/// Write does not imply read: no method gives a [`CheckedPath`].
///
/// ```compile_fail,E0451
/// use std::path::PathBuf;
/// let w = aether_policy::CheckedWrite {
///     given: PathBuf::from("/etc/passwd"),
///     real: PathBuf::from("/etc/passwd"),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedWrite {
    /// Absolute, lexically normalized.
    given: PathBuf,
    /// Absolute, lexically normalized; the last component unresolved for a removal.
    real: PathBuf,
}

impl CheckedWrite {
    pub(crate) fn new(given: PathBuf, real: PathBuf) -> CheckedWrite {
        CheckedWrite { given, real }
    }

    /// The path as given, absolute and lexically normalized.
    pub fn given(&self) -> &Path {
        &self.given
    }

    /// The real path that was checked: the one to write.
    pub fn real(&self) -> &Path {
        &self.real
    }

    /// A write witness for a path that no check allowed, in an `--unsafe` run.
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(given: &Path, real: &Path, _mode: &UnsafeMode) -> CheckedWrite {
        CheckedWrite::new(given.to_path_buf(), real.to_path_buf())
    }
}

/// A directory above a [`CheckedWrite`] (or a [`VirtualizedWrite`]): a provider may only ask
/// whether it exists as a directory, never read, list or write it.
///
/// Why that is no wider than the write itself: a POSIX `open(O_CREAT)` of the written path
/// answers `ENOENT` when a directory above it is missing, so whether its ancestors exist is what
/// any write of it tells. `mkdir` (recursive) needs the same answer to know which directories to
/// create, and checks each one it creates for writing.
///
/// ```compile_fail,E0451
/// let d = aether_policy::ParentDir { real: std::path::PathBuf::from("/etc") };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentDir {
    real: PathBuf,
}

impl ParentDir {
    fn of(path: &Path) -> Option<ParentDir> {
        path.parent().map(|p| ParentDir {
            real: p.to_path_buf(),
        })
    }

    /// The directory's real path.
    pub fn real(&self) -> &Path {
        &self.real
    }

    /// The directory above this one, if any.
    pub fn parent(&self) -> Option<ParentDir> {
        ParentDir::of(&self.real)
    }
}

/// A write the grant refused, kept in the step's private layer because the policy sets
/// `virtualize_denied_writes` (decision `virtualized`): made only by
/// [`crate::Grant::virtualize_write`], and never committed to disk.
///
/// ```compile_fail,E0451
/// use std::path::PathBuf;
/// let v = aether_policy::VirtualizedWrite {
///     given: PathBuf::from("/etc/passwd"),
///     real: PathBuf::from("/etc/passwd"),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualizedWrite {
    given: PathBuf,
    real: PathBuf,
}

impl VirtualizedWrite {
    pub(crate) fn new(given: PathBuf, real: PathBuf) -> VirtualizedWrite {
        VirtualizedWrite { given, real }
    }

    /// The path as given, absolute and lexically normalized.
    pub fn given(&self) -> &Path {
        &self.given
    }

    /// The real path the step sees written (in its private layer only).
    pub fn real(&self) -> &Path {
        &self.real
    }

    /// The directory `dir` above this path, virtualized as well (a virtualized recursive
    /// `mkdir` creates its missing directories in the private layer too); `None` if `dir` is
    /// not above it.
    pub fn ancestor(&self, dir: &ParentDir) -> Option<VirtualizedWrite> {
        (self.real.starts_with(&dir.real) && self.real != dir.real)
            .then(|| VirtualizedWrite::new(dir.real.clone(), dir.real.clone()))
    }
}

/// Where a write goes: to disk at commit ([`WriteTarget::Granted`]), or to the step's private
/// layer only ([`WriteTarget::Virtualized`]). Both variants hold witnesses, so a `WriteTarget`
/// still cannot be made from a bare path:
///
/// ```compile_fail,E0308
/// let t = aether_policy::WriteTarget::Granted(std::path::PathBuf::from("/etc/passwd"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteTarget {
    /// Granted (or allowed by `--unsafe`): committed when the step succeeds.
    Granted(CheckedWrite),
    /// Refused by the grant and virtualized: the step sees it, the disk never does.
    Virtualized(VirtualizedWrite),
}

impl WriteTarget {
    /// The real path written.
    pub fn real(&self) -> &Path {
        match self {
            WriteTarget::Granted(w) => w.real(),
            WriteTarget::Virtualized(v) => v.real(),
        }
    }

    /// Whether the write stays in the private layer.
    pub fn is_virtualized(&self) -> bool {
        matches!(self, WriteTarget::Virtualized(_))
    }

    /// The directory holding the written path, if it has one: see [`ParentDir`].
    pub fn parent(&self) -> Option<ParentDir> {
        ParentDir::of(self.real())
    }
}

/// An environment variable name that passed [`crate::Grant::check_env`].
///
/// ```compile_fail,E0423
/// let e = aether_policy::CheckedEnv("HOME".to_owned());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEnv(String);

impl CheckedEnv {
    pub(crate) fn new(name: &str) -> CheckedEnv {
        CheckedEnv(name.to_owned())
    }

    /// The variable name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// A witness for a variable that no check allowed, in an `--unsafe` run.
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(name: &str, _mode: &UnsafeMode) -> CheckedEnv {
        CheckedEnv::new(name)
    }
}

/// A program that passed [`crate::Grant::check_command`]: the only program a child spawn
/// (`aether_jail::ChildSpec::program`) takes.
///
/// ```compile_fail,E0423
/// let c = aether_policy::CheckedCommand(std::path::PathBuf::from("/bin/sh"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCommand(PathBuf);

impl CheckedCommand {
    pub(crate) fn new(path: PathBuf) -> CheckedCommand {
        CheckedCommand(path)
    }

    /// The absolute path of the program.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A witness for a program that no check allowed, in an `--unsafe` run (or a test of the
    /// jail itself).
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(path: &Path, _mode: &UnsafeMode) -> CheckedCommand {
        CheckedCommand(path.to_path_buf())
    }
}

/// The step's workspace, as the operator named it (the pipeline's directory, or the current one
/// for `aether exec`): what the plugin's relative paths resolve against, and a child process's
/// working directory when the plugin names none (SPEC §5). No check makes it, because no plugin
/// chooses it; a child's `cwd` that a plugin names is a [`CheckedPath`] instead. Together they
/// are the only working directories a child spawn (`aether_jail::WorkingDir`) takes.
///
/// ```compile_fail,E0423
/// let w = aether_policy::WorkspaceDir(std::path::PathBuf::from("/etc"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceDir(PathBuf);

impl WorkspaceDir {
    /// The operator's workspace `dir`.
    ///
    /// # Security
    ///
    /// A child runs in it without any read check: give it only the directory the operator
    /// chose for the run, never a path that came from a plugin.
    pub fn operator(dir: PathBuf) -> WorkspaceDir {
        WorkspaceDir(dir)
    }

    /// The workspace's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// A host and port that passed [`crate::Grant::check_host`] (the name only: every address it
/// resolves to must still pass [`crate::Grant::check_address`]).
///
/// ```compile_fail,E0451
/// let h = aether_policy::CheckedHost {
///     host: aether_policy::parse_host("example.com").unwrap(),
///     port: 443,
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedHost {
    host: Host,
    port: u16,
}

impl CheckedHost {
    pub(crate) fn new(host: Host, port: u16) -> CheckedHost {
        CheckedHost { host, port }
    }

    /// The canonical host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A witness for a host that no check allowed, in an `--unsafe` run.
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(host: &Host, port: u16, _mode: &UnsafeMode) -> CheckedHost {
        CheckedHost::new(host.clone(), port)
    }
}

/// An address that passed [`crate::Grant::check_address`]: public, or inside `allow_private`.
/// IPv4-mapped IPv6 is stored as IPv4. The gateway's connection goes to this value and no other.
///
/// ```compile_fail,E0423
/// let a = aether_policy::CheckedAddr(std::net::IpAddr::from([127, 0, 0, 1]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedAddr(IpAddr);

impl CheckedAddr {
    pub(crate) fn new(ip: IpAddr) -> CheckedAddr {
        CheckedAddr(unmap(ip))
    }

    /// The address to connect to.
    pub fn addr(&self) -> IpAddr {
        self.0
    }

    /// A witness for an address that no check allowed, in an `--unsafe` run (IPv4-mapped IPv6
    /// is stored as IPv4, as a checked one).
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(ip: IpAddr, _mode: &UnsafeMode) -> CheckedAddr {
        CheckedAddr::new(ip)
    }
}

/// A socket address that passed [`crate::Grant::check_listen`]: the only address a listener
/// binds.
///
/// ```compile_fail,E0423
/// let l = aether_policy::CheckedListen(std::net::SocketAddr::from(([0, 0, 0, 0], 80)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckedListen(SocketAddr);

impl CheckedListen {
    pub(crate) fn new(addr: SocketAddr) -> CheckedListen {
        CheckedListen(addr)
    }

    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.0
    }

    /// A witness for an address that no check allowed, in an `--unsafe` run.
    ///
    /// # Security
    ///
    /// Skips the grant entirely; see [`UnsafeMode`].
    pub fn unchecked(addr: SocketAddr, _mode: &UnsafeMode) -> CheckedListen {
        CheckedListen(addr)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Denial, DenialReason, Grant, Permissions, Policy, RequestedLimits};

    fn grant(virtualize: bool) -> Grant {
        let policy = Policy {
            virtualize_denied_writes: virtualize,
            ..Policy::default()
        };
        Grant::new(
            Permissions::default(),
            Some(&policy),
            &RequestedLimits::default(),
        )
        .unwrap()
    }

    // See: SPEC §6 "Filesystem virtualization"; issue 20 (a virtualized write is a witness of
    // its own, which the overlay never commits).
    #[test]
    fn issue_20_a_denied_write_is_virtualized_only_under_the_policy_setting() {
        let p = Path::new("/etc/passwd");
        for virtualize in [false, true] {
            let g = grant(virtualize);
            let denial = g.check_write(p, p).unwrap_err();
            let got = g.virtualize_write(p, p, denial.clone());
            match got {
                Ok(v) => {
                    assert!(virtualize);
                    assert_eq!((v.given(), v.real()), (p, p));
                }
                Err(d) => {
                    assert!(!virtualize);
                    assert_eq!(d, denial);
                }
            }
        }
        // Only a filesystem.write denial virtualizes: a read's stays a denial.
        let g = grant(true);
        let read = g.check_read(p, p).unwrap_err();
        assert_eq!(
            g.virtualize_write(p, p, read.clone()).unwrap_err().reason,
            DenialReason::NotCovered
        );
        let env = Denial {
            capability: Capability::Env,
            ..read
        };
        assert!(g.virtualize_write(p, p, env).is_err());
    }

    // See: issue 20 (`mkdir` looks at the directories above a checked write only through the
    // witness, and a virtualized one creates only virtualized directories).
    #[test]
    fn issue_20_parents_walk_up_from_the_witness_and_stay_above_it() {
        let mode = UnsafeMode::acknowledge();
        let w = CheckedWrite::unchecked(Path::new("/a/b/c"), Path::new("/a/b/c"), &mode);
        let mut seen = Vec::new();
        let mut dir = WriteTarget::Granted(w).parent();
        while let Some(d) = dir {
            seen.push(d.real().to_path_buf());
            dir = d.parent();
        }
        assert_eq!(seen, ["/a/b", "/a", "/"].map(std::path::PathBuf::from));

        let g = grant(true);
        let p = Path::new("/x/y/z");
        let v = g
            .virtualize_write(p, p, g.check_write(p, p).unwrap_err())
            .unwrap();
        let parent = WriteTarget::Virtualized(v.clone()).parent().unwrap();
        assert_eq!(v.ancestor(&parent).unwrap().real(), Path::new("/x/y"));
        let other = CheckedWrite::unchecked(Path::new("/q/r"), Path::new("/q/r"), &mode);
        let elsewhere = WriteTarget::Granted(other).parent().unwrap();
        assert!(v.ancestor(&elsewhere).is_none());
    }

    // See: issue 20 (the gateway connects to a `CheckedAddr` even under `--unsafe`; an
    // IPv4-mapped address is stored as IPv4 either way).
    #[test]
    fn issue_20_an_unchecked_addr_is_stored_as_a_checked_one() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let a = CheckedAddr::unchecked(mapped, &UnsafeMode::acknowledge());
        assert_eq!(a.addr(), IpAddr::from([127, 0, 0, 1]));
    }
}
