//! Builds, in the parent, the Landlock ruleset and seccomp programs that a child applies to
//! itself before `exec`.
//!
//! Enforces: deny by default. Only the system directories needed to load and run programs (never
//! all of `/etc`, never `/proc` or `/sys`) plus the [`Confinement`]'s own paths are reachable; the
//! syscalls listed in [`seccomp_filters`] fail. Must never widen a grant to make a program work.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use crate::{Confinement, JailError};

/// The Landlock ABI whose access rights this crate handles (tested on a kernel with ABI 7, whose
/// additions are audit flags only). A newer right is never handled implicitly.
const ABI_HANDLED: ABI = ABI::V6;

/// Read and execute, recursively: what a dynamic program needs from its system directories.
const SYSTEM_DIRS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.conf.d",
];
/// Read only: the loader's cache and configuration, and the time zone. Not `/etc` as a whole:
/// as root the child could otherwise read `/etc/shadow`.
const SYSTEM_FILES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/localtime",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
];

/// The Landlock ruleset for a child, as a file descriptor to pass to `landlock_restrict_self`;
/// `None` when the kernel has no Landlock (the caller has already accepted that weakening).
///
/// `program` is granted read+execute so that programs outside the system directories can run.
pub(crate) fn landlock_ruleset(
    confinement: &Confinement,
    program: &Path,
) -> Result<Option<OwnedFd>, JailError> {
    let setup = |source: landlock::RulesetError| JailError::Setup {
        step: "landlock ruleset",
        source: io::Error::other(source),
    };
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let exec = read | AccessFs::Execute;
    let write = AccessFs::from_all(ABI_HANDLED) & !AccessFs::Execute;

    // Best effort here, because the caller has already decided (from the kernel's ABI) which
    // missing rights are acceptable; a kernel without some right simply does not enforce it.
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_HANDLED))
        .map_err(setup)?;
    if !confinement.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(ABI_HANDLED))
            .map_err(setup)?;
    }
    let mut created = ruleset
        .scope(Scope::from_all(ABI_HANDLED))
        .map_err(setup)?
        .create()
        .map_err(setup)?;

    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>, bool)> = Vec::new();
    let system = SYSTEM_DIRS
        .iter()
        .map(|p| (p, exec))
        .chain(SYSTEM_FILES.iter().map(|p| (p, read)));
    for (path, access) in system {
        rules.push((PathBuf::from(path), access, false));
    }
    rules.push((
        PathBuf::from("/dev/null"),
        read | AccessFs::WriteFile,
        false,
    ));
    rules.push((program.to_path_buf(), exec, true));
    rules.extend(confinement.read.iter().map(|p| (p.clone(), read, true)));
    rules.extend(confinement.write.iter().map(|p| (p.clone(), write, true)));

    for (path, access, required) in rules {
        let fd = match PathFd::new(&path) {
            Ok(fd) => fd,
            // A system path this distribution does not have: nothing to grant.
            Err(_) if !required => continue,
            Err(e) => {
                return Err(JailError::GrantPath {
                    path,
                    source: io::Error::other(e),
                });
            }
        };
        let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
        let access = if is_dir {
            access
        } else {
            access & AccessFs::from_file(ABI_HANDLED)
        };
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(setup)?;
    }
    Ok(created.into())
}

/// Namespace flags refused in `clone`'s flags: a new user namespace gives the child a full set of
/// capabilities inside it (the step of most unprivileged kernel exploits and of `unshare -Ur`),
/// and the others need it.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// System calls that fail with `EPERM` whatever their arguments, and why.
const DENIED: &[i64] = &[
    // Reading or writing another process's memory: Node CVE-2024-36137-style escapes through a
    // helper process, and debugging aether itself.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_process_madvise,
    // Replacing or extending the kernel.
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    // Changing the file system view (Landlock rules are about the view at restrict time),
    // including the new mount API and file handles ("shocker" container escape).
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    // Landlock does not cover chmod, and a uid-0 child owns every root file: it could make
    // `/etc/shadow` world-readable or set the setuid bit on a system binary. `fchmod` on a
    // descriptor stays allowed: opening it passed Landlock. (`chmod +x` by path fails, too.)
    libc::SYS_chmod,
    libc::SYS_fchmodat,
    libc::SYS_fchmodat2,
    // Namespaces: see NAMESPACE_FLAGS.
    libc::SYS_setns,
    libc::SYS_unshare,
    // Large kernel attack surfaces that a command-line tool does not need.
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // io_uring performs its operations outside the syscall path, so seccomp cannot see them.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Leaving the process group that the timeout kills (the cgroup catches them too, but the
    // cgroup may be missing when weaker confinement was accepted).
    libc::SYS_setsid,
    libc::SYS_setpgid,
];

/// The seccomp programs for a child: `[errno filter, raw filter]`.
///
/// Not denied: `personality` (programs query it with 0xffffffff; the flags that matter need
/// capabilities the child does not have), `utimensat` (`touch` needs it; only timestamps).
pub(crate) fn seccomp_filters(network: bool) -> Result<Vec<BpfProgram>, JailError> {
    let setup = |e: seccompiler::BackendError| JailError::Setup {
        step: "seccomp filter",
        source: io::Error::other(e),
    };
    let condition = |arg, op, value| SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value);
    let rule = |conditions: Vec<Result<SeccompCondition, _>>| {
        SeccompRule::new(conditions.into_iter().collect::<Result<_, _>>()?)
    };

    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let clone = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let c = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            );
            rule(vec![c])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup)?;
    rules.insert(libc::SYS_clone, clone);

    // `socket`: without network, none at all; with it, only IPv4/IPv6 and never raw (raw and
    // packet sockets forge traffic). Not even AF_UNIX: Landlock before ABI 9 cannot stop a
    // `connect` to a pathname socket outside the grants, and as root that reaches
    // `/var/run/docker.sock` or the D-Bus system bus (root-equivalent). `socketpair` stays for
    // local plumbing, stream only: a datagram `sendto` could name a socket path.
    let socket = if network {
        vec![
            rule(vec![
                condition(0, SeccompCmpOp::Ne, libc::AF_INET as u64),
                condition(0, SeccompCmpOp::Ne, libc::AF_INET6 as u64),
            ]),
            rule(vec![condition(
                1,
                SeccompCmpOp::MaskedEq(0xf),
                libc::SOCK_RAW as u64,
            )]),
        ]
    } else {
        Vec::new()
    };
    rules.insert(
        libc::SYS_socket,
        socket
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );
    // AF_UNIX turns SOCK_RAW into SOCK_DGRAM.
    let datagram = [libc::SOCK_DGRAM, libc::SOCK_RAW]
        .map(|kind| rule(vec![condition(1, SeccompCmpOp::MaskedEq(0xf), kind as u64)]));
    rules.insert(
        libc::SYS_socketpair,
        datagram
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(setup)?,
    );

    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        std::env::consts::ARCH.try_into().map_err(setup)?,
    )
    .map_err(setup)?;
    let errno: BpfProgram = filter.try_into().map_err(setup)?;
    Ok(vec![errno, raw_filter()])
}

/// A hand-written program for what seccompiler cannot express: x32 system calls (numbers with
/// bit 30 set, same audit arch, would bypass every rule above) fail with `EPERM`, and `clone3`
/// fails with `ENOSYS`, because its flags sit in memory where seccomp cannot read them; libc then
/// falls back to `clone`, which the other program filters.
fn raw_filter() -> BpfProgram {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    let stmt = |code: u32, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt, jf| seccompiler::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 4), // seccomp_data.arch
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, 0), // seccomp_data.nr
        jump(BPF_JMP | BPF_JGE | BPF_K, 0x4000_0000, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        jump(BPF_JMP | BPF_JEQ | BPF_K, libc::SYS_clone3 as u32, 0, 1),
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}
