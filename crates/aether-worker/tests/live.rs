//! The call ring with a real zygote and worker (issue 23 item 2): a step's quick host calls
//! travel through the ring, not as socket frames, and a reply too large for the ring comes on
//! the socket. This binary is its own zygote (`main` runs
//! it when re-executed as one, before anything else), so it has no libtest harness.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{Limits, StepSpec};
use aether_worker::supervisor::frame_counts;
use aether_worker::{Zygote, run_in_worker};

const CALLS: u64 = 2000;
/// Larger than the ring's slot and than a socket's send buffer (`net.core.wmem_default`,
/// 208 KiB): aether must say "on the socket" in the ring before its write can block on a
/// worker that waits there (a 262 KB module, luxon, hung a process-tier step this way).
const BIG: usize = 16 * aether_worker::ring::SLOT;

/// Serves the entry module and `aether.env.get`.
struct LiveHost;

impl Host for LiveHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::LoadModule { .. } => Ok(HostValue::Module {
                name: "main.js".into(),
                source: format!(
                    "export default () => {{ let n = aether.fs.readText('big.txt').length; for (let k = 0; k < {CALLS}; k++) n += aether.env.get('NAME').length; return n; }};"
                ),
                kind: aether_policy::ModuleKind::Esm,
                exports: Vec::new(),
            }),
            HostRequest::EnvGet { .. } => Ok(HostValue::Text {
                value: Some("four".into()),
            }),
            // Larger than the ring's slot: the reply takes the socket.
            HostRequest::ReadText { .. } => Ok(HostValue::Text {
                value: Some("x".repeat(BIG)),
            }),
            _ => Ok(HostValue::Unit),
        }
    }
}

/// See: issue 23 ("a transport whose round trip is a few µs: shared-memory ring with futex
/// wake-ups"); the broker's own counts show which transport carried the calls.
fn issue_23_a_real_worker_makes_its_quick_calls_through_the_ring() -> Result<(), String> {
    let zygote = Zygote::start().map_err(|e| format!("zygote: {e}"))?;
    let before = frame_counts();
    let spec = StepSpec {
        main: "main.js".into(),
        input: serde_json::value::RawValue::NULL.to_owned(),
        context: serde_json::Value::Null,
        limits: Limits {
            timeout: Duration::from_secs(60),
            ..Limits::default()
        },
        sample: false,
    };
    let outcome = run_in_worker(&zygote, spec, Arc::new(LiveHost));
    let output = outcome.result.map_err(|e| format!("step: {e:?}"))?;
    if output.get() != (4 * CALLS + BIG as u64).to_string() {
        return Err(format!("output {}", output.get()));
    }
    let after = frame_counts();
    let (ring, socket) = (after.ring - before.ring, after.socket - before.socket);
    // Every env.get through the ring; the socket carries the module load, the result, and a
    // doorbell each time the broker had gone to sleep (rare: a call follows the last at once).
    if ring < CALLS || socket > CALLS / 4 {
        return Err(format!("ring {ring}, socket {socket} for {CALLS} calls"));
    }
    println!("ring {ring}, socket {socket} for {CALLS} calls");
    Ok(())
}

fn main() -> ExitCode {
    aether_worker::run_zygote_if_asked();
    if let Err(e) = aether_jail::engine::engine_support() {
        println!("skipped: the process tier cannot run here: {e}");
        return ExitCode::SUCCESS;
    }
    match issue_23_a_real_worker_makes_its_quick_calls_through_the_ring() {
        Ok(()) => {
            println!("test issue_23_a_real_worker_makes_its_quick_calls_through_the_ring ... ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "test issue_23_a_real_worker_makes_its_quick_calls_through_the_ring ... FAILED: {e}"
            );
            ExitCode::FAILURE
        }
    }
}
