//! Every `unsafe` line of the crate: `fork` (glibc's `_Fork`) in the single-threaded zygote, ignoring
//! `SIGCHLD` there so that workers are reaped by the kernel, returning the zygote's free heap
//! pages before it forks, a liveness probe by pidfd, and a worker's CPU clock.
#![allow(
    unsafe_code,
    reason = "fork and signal disposition in the single-threaded zygote"
)]

use std::io;

/// Which side of a `fork` this is.
pub(crate) enum Forked {
    /// The parent, with the child's pid.
    Parent(i32),
    /// The child.
    Child,
}

/// `fork()`, as glibc's `_Fork` when this glibc has it (2.34 and later), else `fork`. Only
/// called by the zygote, which is single-threaded: the child may then run any code, allocation
/// included.
///
/// `fork` also runs what makes a fork safe in a multi-threaded process: it takes glibc's
/// internal locks (malloc's arenas, stdio, the loader, the unwinder) around the system call and
/// resets them, the malloc arena list, stdio's locks, timer and message-queue helpers and the
/// NSS state in the child, and it runs `pthread_atfork` handlers. glibc does it for any process
/// that ever started a thread, as the zygote did (its network namespace's and compiler's
/// threads), though it has one thread when it forks: no lock is held by another thread then, and
/// nothing in the zygote registers an atfork handler. Each worker paid about a dozen
/// copy-on-write faults of glibc's data and text for it (issue 23); `_Fork` is the system call
/// alone (plus the robust-mutex list reset in the child).
///
/// # Security
/// No `pthread_atfork` handler runs in a worker: nothing that relies on one may be initialised in
/// the zygote before it forks. The one such state in the dependency tree is `rand`'s `ThreadRng`
/// (it reseeds in a forked child from an atfork handler); the zygote never makes one (the engine's
/// `Math.random` is reseeded from `getrandom` in each worker, and WebCrypto draws from `getrandom`
/// and `OsRng` directly), so no two workers share a random stream.
pub(crate) fn fork() -> io::Result<Forked> {
    let pid = match plain_fork() {
        // SAFETY: `_Fork` takes no argument and returns a pid, as declared; the zygote has
        // exactly one thread (it starts none that outlive their join), so the child inherits
        // no lock held by another thread and both sides continue with ordinary Rust code.
        Some(plain) => unsafe { plain() },
        // SAFETY: as above, through glibc's `fork`.
        None => unsafe { libc::fork() },
    };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// glibc's `_Fork`, looked up once (the zygote looks it up before it forks its first worker, and
/// workers inherit the answer); `None` on a glibc without it.
fn plain_fork() -> Option<unsafe extern "C" fn() -> libc::pid_t> {
    static PLAIN: std::sync::OnceLock<Option<unsafe extern "C" fn() -> libc::pid_t>> =
        std::sync::OnceLock::new();
    *PLAIN.get_or_init(|| {
        // SAFETY: `dlsym` with `RTLD_DEFAULT` and a NUL-terminated name only searches the
        // objects already loaded; it opens no file.
        let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_Fork".as_ptr()) };
        if symbol.is_null() {
            return None;
        }
        // SAFETY: glibc declares `pid_t _Fork(void)` (posix/unistd.h, since 2.34): a non-null
        // address for that name is that function.
        Some(unsafe {
            std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn() -> libc::pid_t>(symbol)
        })
    })
}

/// Makes the kernel reap exited children at once (no zombies, no `wait`).
pub(crate) fn ignore_children() -> io::Result<()> {
    // SAFETY: setting a standard disposition (SIG_IGN) for SIGCHLD; no handler runs.
    if unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Ignores `SIGPIPE` (a write to a closed socket fails with `EPIPE` instead of killing the
/// process), as Rust's runtime start-up does in a binary with a Rust `main`.
pub(crate) fn ignore_broken_pipes() {
    // SAFETY: setting a standard disposition (SIG_IGN) for SIGPIPE; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Names this process `name` (its `comm`, what `top` shows; at most 15 bytes are kept): the
/// zygote image is executed as `/proc/self/fd/N`, which would otherwise name it `N`.
pub(crate) fn set_name(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string (at most 16 bytes, the kernel copies
    // them) from a valid `CStr`; it changes only this thread's name.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

/// Takes ownership of descriptor `fd`, which the zygote's parent passed on its command line.
pub(crate) fn inherited_fd(fd: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 3 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; it fails with EBADF if `fd` is not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above) and was created by our parent for this process
    // alone (it is the zygote's control socket); nothing else in this fresh process owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Whether the process behind `pidfd` has not exited: `pidfd_send_signal` with signal 0, which
/// checks the process and permission and sends nothing.
pub(crate) fn alive(pidfd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a raw system call with a valid descriptor, signal 0, a NULL siginfo and no flags:
    // it reads nothing from memory and changes nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// The CPU clock of process `pid` (`clock_getcpuclockid`): the user plus system time of all its
/// threads, to the nanosecond, readable by any process that can see `pid` while that process
/// lives. `None` if there is no such process.
pub(crate) fn process_cpu_clock(pid: i32) -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer; the call reads nothing else.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    (rc == 0).then_some(clock)
}

/// The time `clock` reads now (`None` if it cannot be read: its process is gone).
pub(crate) fn clock_time(clock: libc::clockid_t) -> Option<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock makes the call fail with EINVAL.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(std::time::Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Whether the process behind `pidfd` has exited, every thread of it (the pidfd polls readable
/// then). Any other answer, an error included, is "not known to have exited".
pub(crate) fn exited(pidfd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for the duration of the call, no timeout.
    let ready = unsafe { libc::poll(&raw mut poll, 1, 0) };
    ready == 1 && poll.revents & libc::POLLIN != 0
}

/// Returns the free pages of malloc's heaps to the kernel (`malloc_trim(0)`: `MADV_DONTNEED` on
/// free chunks, `brk` down at the top). In the zygote, after a compile, so that a fork copies no
/// page-table entry for memory that only held a freed compiler, and a worker allocating there
/// gets zeroed pages instead of copies.
///
/// Then it leaves malloc's free lists sorted: the trim consolidates small free chunks into the
/// "unsorted" list, which the next allocation that misses the small caches walks in full,
/// writing each chunk's header. A worker doing that writes one page of the zygote's heap per
/// chunk, each a copy-on-write fault (about 65 per worker, issue 23). One allocation here that
/// no free chunk fits exactly walks it once for every worker to come.
pub(crate) fn trim_heap() {
    // SAFETY: `malloc_trim` only walks malloc's own arenas under their locks; no pointer is
    // passed and none is kept.
    unsafe {
        libc::malloc_trim(0);
    }
    // SAFETY: a plain allocation, freed at once and never dereferenced (a NULL result is
    // allowed to `free`).
    unsafe {
        libc::free(libc::malloc(SORTING_ALLOCATION));
    }
}

/// A size in malloc's large range, under its `mmap` threshold (128 KiB), that no free chunk is
/// likely to fit exactly (an exact fit ends the walk early).
const SORTING_ALLOCATION: usize = 100_000 - 8;

/// The most a worker lets its main thread's stack grow to: 64 MiB. The kernel leaves at least
/// 128 MiB free below the main stack when it lays out a process (`mmap_base`'s minimum gap), so
/// the stack never grows into another mapping below this.
const MAIN_STACK_MAX: u64 = 64 * 1024 * 1024;

/// Raises the soft `RLIMIT_STACK` to [`MAIN_STACK_MAX`] (never above the hard limit, never
/// lowering it) so that the engine can run on the main thread, and returns the soft limit in
/// effect, in bytes (0 if it cannot be read). Before the worker's filter, which refuses
/// `setrlimit`. Stack pages count towards `RLIMIT_AS` as they are touched, as any thread's.
pub(crate) fn grow_main_stack() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Stack);
    let soft = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let wanted = MAIN_STACK_MAX.min(hard);
    if soft < wanted {
        limit.current = Some(wanted);
        if setrlimit(Resource::Stack, limit).is_ok() {
            return wanted;
        }
    }
    soft
}

/// This image's RELRO segment (the constants holding pointers, `.data.rel.ro`, which the
/// loader's relocations wrote and then made read-only), on its way to being backed by a sealed
/// `memfd` instead of anonymous memory: the same bytes at the same addresses, read-only, then a
/// private mapping of a file no process can write ([`SharedRelro::prepare`], then
/// [`SharedRelro::install`]).
///
/// Why (issue 23): `fork` copies the page-table entries of every mapping with anonymous pages,
/// and the RELRO segment is about half of the zygote's (1.4 MiB: 358 entries copied for every
/// worker and torn down again at its exit). A private file mapping that was never written has
/// none: `fork` copies nothing of it, and a worker maps the pages it reads on its first access,
/// 16 at a time (about 5 faults for a trivial step).
///
/// In two halves so that neither is on a one-step run's path: [`SharedRelro::prepare`] (a few
/// system calls, before confinement, which forbids `memfd_create`, `ftruncate` and `fcntl`)
/// makes the `memfd`, maps a writable window of it that no fork inherits (`MADV_DONTFORK`), and
/// seals it (`F_SEAL_FUTURE_WRITE`, no growing or shrinking, no more seals); its descriptor can
/// then write nothing, and the one worker forked in between inherits only that descriptor.
/// [`SharedRelro::install`] (before the second worker is forked: a longer run) copies the
/// segment through the window (the copy the `memfd` was made for, 0.4 to 1 ms), drops the
/// window, maps the `memfd` over the segment and closes the descriptor.
///
/// Nothing changes for a process that writes there: the mapping is read-only as before; one
/// made writable (`mprotect`) gets private copies on write, as before.
pub(crate) struct SharedRelro {
    fd: std::os::fd::OwnedFd,
    /// The writable window on `fd` (`len` bytes, `MAP_SHARED`, not inherited by a fork).
    window: usize,
    /// The segment.
    start: usize,
    len: usize,
    /// The process that made it: only it has the window mapped (a forked worker does not, and
    /// may have its own memory at that address), so only it may unmap it.
    owner: u32,
}

impl SharedRelro {
    /// The first half (see [`SharedRelro`]); `None` if this image has no RELRO segment or a step
    /// failed (then nothing is left behind and the segment stays as it is).
    pub(crate) fn prepare() -> Option<SharedRelro> {
        use rustix::fs::{MemfdFlags, SealFlags};
        use std::os::fd::AsRawFd;
        let (start, len) = relro()?;
        let fd = rustix::fs::memfd_create(
            c"aether-relro",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .ok()?;
        rustix::fs::ftruncate(&fd, len as u64).ok()?;
        // SAFETY: a new shared mapping of `len` bytes of `fd` (just sized to `len`), at an
        // address the kernel chooses: it overlaps nothing of ours.
        let window = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if window == libc::MAP_FAILED {
            return None;
        }
        let relro = SharedRelro {
            fd,
            window: window as usize,
            start,
            len,
            owner: std::process::id(),
        };
        // SAFETY: `window` is the mapping just made, `len` bytes; MADV_DONTFORK only keeps it
        // out of children.
        let kept_out = unsafe { libc::madvise(window, len, libc::MADV_DONTFORK) } == 0;
        let sealed = rustix::fs::fcntl_add_seals(
            &relro.fd,
            SealFlags::FUTURE_WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .is_ok();
        // Dropped (window unmapped, descriptor closed) unless both hold.
        (kept_out && sealed).then_some(relro)
    }

    /// The second half (see [`SharedRelro`]). On `Err` (the mapping over the segment failed) the
    /// segment may be gone: a file mapping with `MAP_FIXED` clears what it replaces before the
    /// file's own `mmap` can fail, and the kernel does not put it back; the caller must not run
    /// on (the zygote ends).
    pub(crate) fn install(self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: `window` and the segment are both `len` bytes, mapped readable (the segment)
        // and writable (the window), and distinct mappings: they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.start as *const u8,
                self.window as *mut u8,
                self.len,
            );
        }
        // SAFETY: replaces the segment's pages with the same bytes read from the `memfd` (just
        // copied there; no one else can write it), at the same address and protection: any
        // pointer into it reads what it read before. MAP_FIXED over our own mapping of exactly
        // that range.
        let mapped = unsafe {
            libc::mmap(
                self.start as *mut libc::c_void,
                self.len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                self.fd.as_raw_fd(),
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for SharedRelro {
    fn drop(&mut self) {
        // A worker unwinding from a panic drops the zygote's copy too: the window is not mapped
        // there (MADV_DONTFORK), and the range may hold the worker's own memory.
        if std::process::id() != self.owner {
            return;
        }
        // SAFETY: the window mapped in `prepare` by this process, unmapped once (here); nothing
        // refers to it.
        unsafe { libc::munmap(self.window as *mut libc::c_void, self.len) };
    }
}

/// The page-aligned range the loader made read-only after relocating this image
/// (`PT_GNU_RELRO`, as glibc's `_dl_protect_relro` rounds it: start and end rounded down to a
/// page), if it has one of at least a page.
fn relro() -> Option<(usize, usize)> {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: glibc passes a valid `dl_phdr_info` for the main program first, whose
        // `dlpi_phdr` points at `dlpi_phnum` program headers; `data` is the `Option` below.
        unsafe {
            let info = &*info;
            let found = &mut *data.cast::<Option<(usize, usize)>>();
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
            for header in headers {
                if header.p_type == libc::PT_GNU_RELRO {
                    let base = info.dlpi_addr as usize;
                    let page = 4096usize;
                    let begin = (base + header.p_vaddr as usize) & !(page - 1);
                    let end =
                        (base + header.p_vaddr as usize + header.p_memsz as usize) & !(page - 1);
                    if end > begin {
                        *found = Some((begin, end - begin));
                    }
                }
            }
        }
        // The main program only.
        1
    }
    let mut found: Option<(usize, usize)> = None;
    // SAFETY: `first` matches the callback type and only writes `found`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first), (&raw mut found).cast()) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    static CHILD_HANDLER_RAN: AtomicBool = AtomicBool::new(false);

    extern "C" fn child_handler() {
        CHILD_HANDLER_RAN.store(true, Ordering::SeqCst);
    }

    /// A worker is forked with the system call alone (glibc's `_Fork`), not through `fork`'s
    /// multi-threaded bookkeeping, which cost each worker about a dozen copy-on-write faults
    /// (issue 23): an atfork handler, which `fork` runs in the child, does not run.
    // See: glibc NEWS 2.34 ("_Fork ... does not run fork handlers").
    #[test]
    fn issue_23_a_worker_is_forked_without_fork_handlers() {
        // SAFETY: registers a handler that only stores to an atomic.
        assert_eq!(
            unsafe { libc::pthread_atfork(None, None, Some(child_handler)) },
            0
        );
        match fork().expect("fork") {
            Forked::Child => {
                let code = if CHILD_HANDLER_RAN.load(Ordering::SeqCst) {
                    1
                } else {
                    0
                };
                // SAFETY: ends the child at once, without running anything of the test harness.
                unsafe { libc::_exit(code) }
            }
            Forked::Parent(pid) => {
                let mut status = 0;
                // SAFETY: waits for our own child, writing its status into a local.
                assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
                assert!(libc::WIFEXITED(status));
                assert_eq!(libc::WEXITSTATUS(status), 0, "the atfork handler ran");
            }
        }
    }
}
