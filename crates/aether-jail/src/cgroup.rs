//! One pids cgroup per child: the fork-bomb ceiling and the handle that kills the whole tree.
//!
//! Enforces: a child's tree never holds more than `max_processes` tasks, and every member is
//! killed when the run ends, including members that left the process group (`setsid`, double
//! fork). As root `RLIMIT_NPROC` is not enforced (the kernel exempts the initial user), so this is
//! the only working limit there. Must never touch a cgroup it did not create.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};

/// Which cgroup interface holds the pids controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    /// A cgroup v1 hierarchy with the pids controller (killed by listing its members).
    V1,
    /// The unified cgroup v2 hierarchy (killed atomically with `cgroup.kill`).
    V2,
}

/// The pids-controlled cgroup that aether itself belongs to; children's cgroups go beneath it, in
/// `aether/<pid>-<n>`, so that a limit placed on aether also covers its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidsCgroup {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// Absolute path of aether's own cgroup in that hierarchy.
    pub path: PathBuf,
}

/// Finds aether's own pids cgroup from `/proc/self/mounts` and `/proc/self/cgroup`.
pub(crate) fn find() -> Option<PidsCgroup> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own_path = |v1: bool| {
        own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let hit = if v1 {
                controllers.split(',').any(|c| c == "pids")
            } else {
                controllers.is_empty()
            };
            hit.then(|| path.trim_start_matches('/').to_owned())
        })
    };
    let mut found = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [_, mount, fstype, options, ..] = fields[..] else {
            continue;
        };
        if fstype == "cgroup" && options.split(',').any(|o| o == "pids") {
            let path = Path::new(mount).join(own_path(true)?);
            found = Some(PidsCgroup {
                version: CgroupVersion::V1,
                path,
            });
        } else if fstype == "cgroup2" {
            let path = Path::new(mount).join(own_path(false)?);
            let controllers =
                fs::read_to_string(path.join("cgroup.controllers")).unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "pids") {
                // v2 first: its `cgroup.kill` is atomic.
                return Some(PidsCgroup {
                    version: CgroupVersion::V2,
                    path,
                });
            }
        }
    }
    found
}

/// A child's own cgroup, killed and removed on drop.
#[derive(Debug)]
pub(crate) struct Cgroup {
    dir: PathBuf,
    version: CgroupVersion,
    /// `cgroup.procs`, opened write-only for the child to join with `write("0")` after fork.
    procs: File,
}

impl Cgroup {
    /// Creates `<own>/aether/<pid>-<n>` with `pids.max = max_processes`.
    ///
    /// Under v2 this enables the pids controller for `<own>` and `<own>/aether`; that fails
    /// (no-internal-processes rule) unless aether's own cgroup is the root or has no processes.
    pub(crate) fn create(base: &PidsCgroup, max_processes: u32) -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = base.path.join("aether");
        if base.version == CgroupVersion::V2 {
            write_file(&base.path.join("cgroup.subtree_control"), "+pids")?;
        }
        if let Err(e) = fs::create_dir(&parent)
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            return Err(e);
        }
        if base.version == CgroupVersion::V2 {
            write_file(&parent.join("cgroup.subtree_control"), "+pids")?;
        }
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| sweep_stale(&parent, base.version));
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("{}-{n}", std::process::id()));
        fs::create_dir(&dir)?;
        let procs = write_file(&dir.join("pids.max"), &max_processes.to_string()).and_then(|()| {
            OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        });
        match procs {
            Ok(procs) => Ok(Self {
                dir,
                version: base.version,
                procs,
            }),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }

    /// The descriptor the child writes `0` to, joining the cgroup before anything else.
    pub(crate) fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// SIGKILLs every member, and returns once the cgroup has no live member left (bounded: a
    /// task stuck in uninterruptible sleep cannot be waited for forever).
    pub(crate) fn kill(&self) {
        kill_members(&self.dir, self.version);
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        remove(&self.dir, self.version);
    }
}

fn kill_members(dir: &Path, version: CgroupVersion) {
    if version == CgroupVersion::V2 && write_file(&dir.join("cgroup.kill"), "1").is_ok() {
        for _ in 0..2000 {
            if members(dir).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        return;
    }
    // v1: a member may fork between our read and our kill, so repeat until the list is empty;
    // `pids.max` bounds how many there can be. Exiting tasks leave the list.
    for _ in 0..2000 {
        let members = members(dir);
        if members.is_empty() {
            return;
        }
        for pid in members {
            let _ = kill_process(pid, Signal::KILL);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn members(dir: &Path) -> Vec<Pid> {
    let list = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    list.lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter_map(Pid::from_raw)
        .collect()
}

/// Kills what is left in `dir` and removes it.
fn remove(dir: &Path, version: CgroupVersion) {
    kill_members(dir, version);
    // Tasks killed a moment ago may still be leaving; rmdir fails with EBUSY meanwhile.
    for _ in 0..500 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

/// Removes, with their members, the cgroups of aether processes that died without cleaning up
/// (killed by SIGKILL, say): their names start with a pid that no longer exists. A reused pid
/// keeps its stale cgroup; that errs on the side of never touching a live aether's children.
fn sweep_stale(parent: &Path, version: CgroupVersion) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, _)) = name.to_str().and_then(|n| n.split_once('-')) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            remove(&entry.path(), version);
        }
    }
}

fn write_file(path: &Path, text: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(text.as_bytes())
}
