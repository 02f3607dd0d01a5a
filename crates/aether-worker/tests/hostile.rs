//! The broker against hand-written hostile workers (issue 5): whatever a compromised worker
//! sends, aether kills it, fails only its step with a clear error, and returns by the deadline.
//! The worker side here is a thread speaking raw bytes on a socket pair; no process is needed.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{StepError, StepOutcome};
use aether_worker::supervisor::{MAX_SLOW_CALLS, supervise};
use aether_worker::wire::{FromWorker, ToWorker, read_frame, write_frame};

#[path = "support/fake.rs"]
mod fake;
use fake::{FakeWorker, spec};

/// Answers `ReadText` with the path, and makes `Fetch` slow (300 ms).
struct FakeHost;

impl Host for FakeHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::ReadText { path } => Ok(HostValue::Text { value: Some(path) }),
            HostRequest::Fetch { .. } => {
                std::thread::sleep(Duration::from_millis(300));
                Ok(HostValue::Unit)
            }
            _ => Ok(HostValue::Unit),
        }
    }
}

/// Runs the broker against `script`, which plays the worker on its end of the socket (after
/// the `Start` frame has been read for it).
fn against(timeout: Duration, script: impl FnOnce(UnixStream) + Send + 'static) -> StepOutcome {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let worker = FakeWorker {
        killed: AtomicBool::new(false),
        socket: theirs.try_clone().expect("clone"),
    };
    let player = std::thread::spawn(move || {
        let mut theirs = theirs;
        let start: Result<ToWorker, _> = read_frame(&mut theirs, 1 << 20);
        assert!(matches!(start, Ok(ToWorker::Start(_))));
        script(theirs);
    });
    let outcome = supervise(ours, &worker, spec(timeout), Arc::new(FakeHost));
    assert!(
        worker.killed.load(Ordering::SeqCst),
        "the worker must be killed"
    );
    // The fake worker's own assertions (the Start frame it reads first) must hold too.
    player.join().expect("the fake worker panicked");
    outcome
}

fn engine_error(outcome: &StepOutcome) -> &str {
    match &outcome.result {
        Err(StepError::Engine { message }) => message,
        other => panic!("expected an engine error, got {other:?}"),
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn an_honest_worker_gets_its_calls_served_and_its_result_returned() {
    let outcome = against(SECOND, |mut s| {
        let call = FromWorker::Call {
            id: 1,
            request: HostRequest::ReadText {
                path: "a.txt".into(),
            },
        };
        write_frame(&mut s, &call).expect("call");
        let reply: ToWorker = read_frame(&mut s, 1 << 20).expect("reply");
        assert!(matches!(
            reply,
            ToWorker::Reply {
                id: 1,
                reply: Ok(HostValue::Text { .. }),
                ..
            }
        ));
        let done = FromWorker::Done {
            result: Ok(r#"{"ok":true}"#.into()),
            cpu: Duration::ZERO,
        };
        write_frame(&mut s, &done).expect("done");
        let _ = s.read(&mut [0u8; 1]);
    });
    assert_eq!(outcome.result.expect("result").get(), r#"{"ok":true}"#);
}

#[test]
fn garbage_fails_the_step() {
    let outcome = against(SECOND, |mut s| {
        let _ = s.write_all(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let _ = s.read(&mut [0u8; 1]);
    });
    assert!(engine_error(&outcome).contains("malformed"), "{outcome:?}");
}

#[test]
fn an_oversized_frame_is_refused_before_it_is_read() {
    let outcome = against(SECOND, |mut s| {
        let _ = s.write_all(&u32::MAX.to_le_bytes());
        let _ = s.read(&mut [0u8; 1]);
    });
    assert!(
        engine_error(&outcome).contains("above the limit"),
        "{outcome:?}"
    );
}

#[test]
fn a_closed_socket_or_a_half_frame_fails_the_step() {
    let outcome = against(SECOND, |s| {
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    assert!(
        engine_error(&outcome).contains("ended without a result"),
        "{outcome:?}"
    );
    let outcome = against(SECOND, |mut s| {
        let _ = s.write_all(&[100, 0, 0, 0, 1, 2]);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    assert!(
        engine_error(&outcome).contains("ended without a result"),
        "{outcome:?}"
    );
}

#[test]
fn a_reused_call_id_fails_the_step() {
    let outcome = against(SECOND, |mut s| {
        for _ in 0..2 {
            let call = FromWorker::Call {
                id: 9,
                request: HostRequest::ReadText { path: "a".into() },
            };
            let _ = write_frame(&mut s, &call);
        }
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(
        engine_error(&outcome).contains("reused the call id 9"),
        "{outcome:?}"
    );
}

#[test]
fn more_slow_calls_than_the_sandbox_makes_fail_the_step() {
    let outcome = against(SECOND, |mut s| {
        for id in 0..=MAX_SLOW_CALLS as u64 {
            let call = FromWorker::Call {
                id,
                request: HostRequest::Fetch {
                    url: "https://x/".into(),
                    method: String::new(),
                    headers: Vec::new(),
                    body: None,
                    redirect: "follow".into(),
                    timeout_ms: None,
                },
            };
            let _ = write_frame(&mut s, &call);
        }
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(
        engine_error(&outcome).contains("slow host calls"),
        "{outcome:?}"
    );
}

#[test]
fn a_silent_worker_is_killed_at_the_deadline() {
    let outcome = against(Duration::from_millis(300), |mut s| {
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(
        matches!(outcome.result, Err(StepError::Timeout { .. })),
        "{outcome:?}"
    );
}

/// A worker that floods calls and never reads the replies cannot block the broker past the
/// deadline (its socket buffer fills; the broker's writes time out).
#[test]
fn a_worker_that_never_reads_cannot_hold_the_broker() {
    let outcome = against(Duration::from_millis(500), |mut s| {
        for id in 0.. {
            let call = FromWorker::Call {
                id,
                request: HostRequest::ReadText {
                    path: "p".repeat(60_000),
                },
            };
            if write_frame(&mut s, &call).is_err() {
                return;
            }
        }
    });
    // Killed either when a reply cannot be written or at the deadline; never left hanging.
    match &outcome.result {
        Err(StepError::Timeout { .. }) => {}
        Err(StepError::Engine { message }) => {
            assert!(message.contains("stopped reading"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_result_that_is_not_json_fails_the_step() {
    let outcome = against(SECOND, |mut s| {
        let done = FromWorker::Done {
            result: Ok("{not json".into()),
            cpu: Duration::ZERO,
        };
        let _ = write_frame(&mut s, &done);
        let _ = s.read(&mut [0u8; 1]);
    });
    assert!(
        engine_error(&outcome).contains("not valid JSON"),
        "{outcome:?}"
    );
}
