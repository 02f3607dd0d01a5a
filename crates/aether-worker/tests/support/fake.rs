//! What the hostile-worker test binaries (`hostile`, `ring`) share: a worker process that is a
//! thread's end of a socket pair, and a step spec with a small memory ceiling.

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aether_policy::ByteSize;
use aether_sandbox::{Limits, StepSpec};
use aether_worker::supervisor::{Accounting, WorkerProcess};

/// Records the kill, and closes the worker's end the way `SIGKILL` would. (A script "closes"
/// its socket with `shutdown`: this clone keeps the descriptor open.)
pub struct FakeWorker {
    pub killed: AtomicBool,
    pub socket: UnixStream,
}

impl WorkerProcess for FakeWorker {
    fn accounting(&self) -> Accounting {
        Accounting::default()
    }
    fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// A step of `main.js` with a 1 MiB memory ceiling and `timeout`.
pub fn spec(timeout: Duration) -> StepSpec {
    StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: serde_json::Value::Null,
        limits: Limits {
            memory: ByteSize::mib(1),
            timeout,
            ..Limits::default()
        },
        sample: false,
    }
}
