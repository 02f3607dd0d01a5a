//! The zygote: a small, confined, single-threaded process that forks engine workers.
//!
//! aether starts it once per run by executing its own binary (`/proc/self/exe`) with an empty
//! environment, so a worker's memory holds no secret of aether's (no environment, no argument,
//! no file read before): a compromised engine has nothing of aether's to read. The zygote
//! confines itself (`aether_jail::engine::confine_zygote`) before it forks anything; each worker
//! forked from it inherits that confinement and adds its own.
//!
//! Control protocol, over a `SOCK_SEQPACKET` pair: aether sends a [`SpawnRequest`] with the
//! worker's socket attached (`SCM_RIGHTS`); the zygote answers with the worker's pid and a pidfd
//! for it attached, or a negative errno and nothing attached.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::process::{Pid, PidfdFlags};

use crate::WorkerError;
use crate::sys::{self, Forked};

/// The hidden first argument that makes the `aether` binary run as the zygote
/// (see [`run_zygote_if_asked`]).
pub const ZYGOTE_ARG: &str = "__aether-zygote";

/// How long aether waits for a new zygote to confine itself and say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// What one worker is held to, sent with each spawn request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpawnRequest {
    /// `RLIMIT_AS`, bytes.
    pub(crate) address_space: u64,
    /// `RLIMIT_CPU`, whole seconds.
    pub(crate) cpu_seconds: u64,
}

impl SpawnRequest {
    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.address_space.to_le_bytes());
        out[8..].copy_from_slice(&self.cpu_seconds.to_le_bytes());
        out
    }

    fn from_bytes(bytes: [u8; 16]) -> SpawnRequest {
        let (a, c) = bytes.split_at(8);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
        SpawnRequest {
            address_space: word(a),
            cpu_seconds: word(c),
        }
    }
}

/// A worker just forked: its end of the step socket, its pid and a pidfd (kill and stats
/// without pid reuse races).
pub(crate) struct Spawned {
    pub(crate) socket: UnixStream,
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
}

/// aether's handle on its zygote. Dropping it kills the zygote (and so, by `PR_SET_PDEATHSIG`,
/// every worker it forked).
pub struct Zygote {
    control: Mutex<OwnedFd>,
    child: Mutex<Child>,
}

impl Zygote {
    /// Starts the zygote from aether's own binary and waits until it has confined itself.
    ///
    /// Call it while aether is still single-threaded if possible: the zygote's end of the
    /// control socket is inheritable between its creation and the spawn.
    pub fn start() -> Result<Zygote, WorkerError> {
        let setup =
            |what: &'static str| move |e: std::io::Error| WorkerError::Setup { what, source: e };
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| setup("the control socket")(e.into()))?;
        rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty())
            .map_err(|e| setup("the control socket")(e.into()))?;
        let child = Command::new("/proc/self/exe")
            .arg(ZYGOTE_ARG)
            .arg(theirs.as_raw_fd().to_string())
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(setup("the zygote process"))?;
        drop(theirs);
        let zygote = Zygote {
            control: Mutex::new(ours),
            child: Mutex::new(child),
        };
        zygote.wait_ready()?;
        Ok(zygote)
    }

    fn wait_ready(&self) -> Result<(), WorkerError> {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        rustix::net::sockopt::set_socket_timeout(
            &*control,
            rustix::net::sockopt::Timeout::Recv,
            Some(READY_TIMEOUT),
        )
        .map_err(|e| WorkerError::Setup {
            what: "the control socket",
            source: e.into(),
        })?;
        let mut buf = [0u8; 1024];
        let n = rustix::io::read(&*control, &mut buf).unwrap_or(0);
        rustix::net::sockopt::set_socket_timeout(
            &*control,
            rustix::net::sockopt::Timeout::Recv,
            None,
        )
        .map_err(|e| WorkerError::Setup {
            what: "the control socket",
            source: e.into(),
        })?;
        match &buf[..n] {
            b"ready" => Ok(()),
            [] => Err(WorkerError::Unsupported(
                "the zygote process ended before it was ready".into(),
            )),
            message => Err(WorkerError::Unsupported(
                String::from_utf8_lossy(message).into_owned(),
            )),
        }
    }

    /// Forks one worker held to `request`.
    pub(crate) fn spawn(&self, request: SpawnRequest) -> Result<Spawned, WorkerError> {
        let spawn_error = |e: rustix::io::Errno| WorkerError::Setup {
            what: "a worker process",
            source: e.into(),
        };
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(spawn_error)?;
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        send_with_fd(&control, &request.to_bytes(), theirs.as_fd()).map_err(spawn_error)?;
        let mut answer = [0u8; 4];
        let (n, pidfd) = recv_with_fd(&control, &mut answer).map_err(spawn_error)?;
        drop(control);
        drop(theirs);
        let pid = i32::from_le_bytes(answer);
        match (n, pidfd) {
            (4, Some(pidfd)) if pid > 0 => Ok(Spawned {
                socket: UnixStream::from(ours),
                pid,
                pidfd,
            }),
            (4, _) if pid < 0 => Err(spawn_error(rustix::io::Errno::from_raw_os_error(-pid))),
            _ => Err(WorkerError::Unsupported(
                "the zygote process gave an invalid answer or ended".into(),
            )),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn send_with_fd(
    socket: &OwnedFd,
    bytes: &[u8],
    fd: std::os::fd::BorrowedFd<'_>,
) -> rustix::io::Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Receives one message into `buf`, and the descriptor attached to it, if any.
fn recv_with_fd(socket: &OwnedFd, buf: &mut [u8]) -> rustix::io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for received in fds {
                // Keep the first; any extra descriptor is closed as it drops.
                if fd.is_none() {
                    fd = Some(received);
                }
            }
        }
    }
    Ok((received.bytes, fd))
}

/// Runs the zygote if this process was started as one (its first argument is [`ZYGOTE_ARG`]),
/// and never returns then; returns at once otherwise. Call it first thing in `main`.
pub fn run_zygote_if_asked() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(ZYGOTE_ARG)) {
        return;
    }
    let fd = args
        .next()
        .and_then(|a| a.to_str().and_then(|s| s.parse::<i32>().ok()))
        .unwrap_or(-1);
    let code = match sys::inherited_fd(fd) {
        Ok(control) => zygote(control),
        Err(_) => 2,
    };
    std::process::exit(code)
}

/// The zygote's life: confine, say ready, then fork a worker per request until aether closes
/// the control socket.
fn zygote(control: OwnedFd) -> i32 {
    // What every worker would otherwise compile again, compiled once here and inherited.
    aether_sandbox::prepare();
    // A worker runs one step: compiling its modules into a cache of its own would gain
    // nothing. aether compiles them once in its own process and sends the bytecode with each
    // module (compile once, issue 19); a worker loads only that.
    aether_sandbox::set_compile_cache(aether_sandbox::CompileCache::Installed);
    // Confinement first: its kernel probe waits for a child of its own, which an ignored
    // SIGCHLD would reap before it.
    let confined = crate::confine::zygote().and_then(|()| {
        sys::ignore_children().map_err(|e| format!("the process tier cannot start: {e}"))
    });
    if let Err(message) = confined {
        let _ = rustix::io::write(&control, message.as_bytes());
        return 1;
    }
    if rustix::io::write(&control, b"ready").is_err() {
        return 1;
    }
    loop {
        let mut request = [0u8; 16];
        let (n, socket) = match recv_with_fd(&control, &mut request) {
            Ok((0, _)) | Err(_) => return 0,
            Ok(received) => received,
        };
        let (16, Some(socket)) = (n, socket) else {
            let _ = rustix::io::write(&control, &(-libc::EINVAL).to_le_bytes());
            continue;
        };
        let request = SpawnRequest::from_bytes(request);
        match sys::fork() {
            Ok(Forked::Child) => {
                drop(control);
                crate::worker::worker_main(socket, request);
            }
            Ok(Forked::Parent(pid)) => {
                drop(socket);
                let answer = Pid::from_raw(pid)
                    .ok_or(rustix::io::Errno::SRCH)
                    .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()));
                let sent = match answer {
                    Ok(pidfd) => send_with_fd(&control, &pid.to_le_bytes(), pidfd.as_fd()),
                    Err(e) => {
                        rustix::io::write(&control, &(-e.raw_os_error()).to_le_bytes()).map(|_| ())
                    }
                };
                if sent.is_err() {
                    return 1;
                }
            }
            Err(e) => {
                let errno = -e.raw_os_error().unwrap_or(libc::EAGAIN);
                if rustix::io::write(&control, &errno.to_le_bytes()).is_err() {
                    return 1;
                }
            }
        }
    }
}
