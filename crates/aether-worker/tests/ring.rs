//! The broker against hostile workers that use the call ring (issue 23 item 2): a length above
//! the slot, bytes that do not decode, a slow call, bytes changed while the broker copies them,
//! or a request posted without waking a sleeping broker: the worker is killed, its step fails
//! with a clear error by its deadline, and nothing else is affected. The worker is a thread of
//! this process with its own mapping of the region and its end of the socket.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aether_protocol::{Host, HostError, HostRequest, HostValue};
use aether_sandbox::{StepError, StepOutcome};
use aether_worker::ring::{Reply, Ring, RingPeer, SLOT};
use aether_worker::supervisor::{frame_counts, supervise_with_ring};
use aether_worker::wire::{FromWorker, ToWorker, decode, read_frame, write_frame};

#[path = "support/fake.rs"]
mod fake;
use fake::{FakeWorker, spec};

/// Answers `EnvGet` with the name, `ReadText` with a text as long as the path says.
struct FakeHost;

impl Host for FakeHost {
    fn call(&self, request: HostRequest) -> Result<HostValue, HostError> {
        match request {
            HostRequest::EnvGet { name } => Ok(HostValue::Text { value: Some(name) }),
            HostRequest::ReadText { path } => Ok(HostValue::Text {
                value: Some("x".repeat(path.parse().unwrap_or(0))),
            }),
            _ => Ok(HostValue::Unit),
        }
    }
}

/// Runs the broker with a ring against `script`, which plays the worker with its mapping of
/// the ring and its end of the socket (after the `Start` frame has been read for it). Asserts
/// the worker was killed and the broker returned by the deadline (plus a generous margin for a
/// loaded machine).
fn against(
    timeout: Duration,
    script: impl FnOnce(RingPeer, UnixStream) + Send + 'static,
) -> StepOutcome {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let mut ring = Ring::new().expect("ring");
    let peer = ring.peer().expect("second mapping");
    ring.close_fd();
    let worker = FakeWorker {
        killed: AtomicBool::new(false),
        socket: theirs.try_clone().expect("clone"),
    };
    let player = std::thread::spawn(move || {
        let mut theirs = theirs;
        let start: Result<ToWorker, _> = read_frame(&mut theirs, 1 << 20);
        assert!(matches!(start, Ok(ToWorker::Start(_))));
        script(peer, theirs);
    });
    let started = Instant::now();
    let outcome = supervise_with_ring(ours, Some(ring), &worker, spec(timeout), Arc::new(FakeHost));
    assert!(
        started.elapsed() < timeout + Duration::from_secs(5),
        "the broker overran the deadline: {:?}",
        started.elapsed()
    );
    assert!(
        worker.killed.load(Ordering::SeqCst),
        "the worker must be killed"
    );
    player.join().expect("the fake worker panicked");
    outcome
}

fn engine_error(outcome: &StepOutcome) -> &str {
    match &outcome.result {
        Err(StepError::Engine { message }) => message,
        other => panic!("expected an engine error, got {other:?}"),
    }
}

/// Posts `message` as an honest worker does: rings the doorbell if the broker sleeps.
fn post(peer: &RingPeer, socket: &mut UnixStream, message: &FromWorker) {
    let body = postcard::to_stdvec(message).expect("encode");
    let len = u32::try_from(body.len()).expect("len");
    if peer.post(&body, len) {
        let _ = write_frame(socket, &FromWorker::Doorbell);
    }
}

fn env_get(id: u64) -> FromWorker {
    FromWorker::Call {
        id,
        request: HostRequest::EnvGet {
            name: format!("NAME_{id}"),
        },
    }
}

fn done(socket: &mut UnixStream) {
    let done = FromWorker::Done {
        result: Ok(r#"{"ok":true}"#.into()),
        cpu: Duration::ZERO,
    };
    write_frame(socket, &done).expect("done");
    let _ = socket.read(&mut [0u8; 1]);
}

const SECOND: Duration = Duration::from_secs(1);

/// Quick calls go through the ring and their replies come back through it: the broker counts
/// them as ring messages, and the socket carries only the result (and doorbells).
#[test]
fn issue_23_quick_calls_take_the_ring_both_ways() {
    const CALLS: u64 = 200;
    let before = frame_counts();
    let outcome = against(Duration::from_secs(10), |peer, mut s| {
        for id in 0..CALLS {
            post(&peer, &mut s, &env_get(id));
            let Some(Reply::Body(body)) = peer.wait_reply(Duration::from_secs(5)) else {
                panic!("call {id}: no reply in the ring");
            };
            let reply: ToWorker = decode(&body).expect("reply");
            assert!(
                matches!(
                    &reply,
                    ToWorker::Reply { id: answered, reply: Ok(HostValue::Text { value: Some(v) }), .. }
                        if *answered == id && *v == format!("NAME_{id}")
                ),
                "{reply:?}"
            );
        }
        done(&mut s);
    });
    assert_eq!(outcome.result.expect("result").get(), r#"{"ok":true}"#);
    let after = frame_counts();
    // Other tests of this binary may run at the same time: at least this test's calls.
    assert!(after.ring - before.ring >= CALLS, "{before:?} -> {after:?}");
}

/// A reply larger than the slot goes on the socket; the ring says so.
#[test]
fn issue_23_a_reply_too_large_for_the_slot_comes_on_the_socket() {
    let outcome = against(Duration::from_secs(10), |peer, mut s| {
        let call = FromWorker::Call {
            id: 1,
            request: HostRequest::ReadText {
                path: (2 * SLOT).to_string(),
            },
        };
        post(&peer, &mut s, &call);
        assert_eq!(
            peer.wait_reply(Duration::from_secs(5)),
            Some(Reply::OnSocket)
        );
        let reply: ToWorker = read_frame(&mut s, 4 * SLOT).expect("reply on the socket");
        assert!(
            matches!(&reply, ToWorker::Reply { id: 1, reply: Ok(HostValue::Text { value: Some(v) }), .. } if v.len() == 2 * SLOT)
        );
        done(&mut s);
    });
    assert_eq!(outcome.result.expect("result").get(), r#"{"ok":true}"#);
}

#[test]
fn issue_23_a_length_above_the_slot_kills_the_worker() {
    let outcome = against(SECOND, |peer, mut s| {
        if peer.post(b"", u32::MAX) {
            let _ = write_frame(&mut s, &FromWorker::Doorbell);
        }
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(engine_error(&outcome).contains("call ring"), "{outcome:?}");
}

#[test]
fn issue_23_garbage_in_the_ring_kills_the_worker() {
    let outcome = against(SECOND, |peer, mut s| {
        if peer.post(&[0xff; 9], 9) {
            let _ = write_frame(&mut s, &FromWorker::Doorbell);
        }
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(engine_error(&outcome).contains("malformed"), "{outcome:?}");
}

/// Only quick calls may use the ring: a slow one would hold the broker's thread, a result is
/// the socket's.
#[test]
fn issue_23_a_slow_call_or_a_result_in_the_ring_kills_the_worker() {
    let fetch = FromWorker::Call {
        id: 1,
        request: HostRequest::Fetch {
            url: "https://x/".into(),
            method: String::new(),
            headers: Vec::new(),
            body: None,
            redirect: "follow".into(),
            timeout_ms: None,
        },
    };
    let result = FromWorker::Done {
        result: Ok("null".into()),
        cpu: Duration::ZERO,
    };
    for message in [fetch, result] {
        let outcome = against(SECOND, move |peer, mut s| {
            post(&peer, &mut s, &message);
            let _ = s.read_to_end(&mut Vec::new());
        });
        assert!(engine_error(&outcome).contains("call ring"), "{outcome:?}");
    }
}

/// A worker that changes the request while the broker copies it: the broker decodes only its
/// own copy, so each request is served or refused whole, and the step ends by its deadline.
#[test]
fn issue_23_a_worker_scribbling_on_the_slot_while_the_broker_reads() {
    let outcome = against(Duration::from_millis(500), |peer, mut s| {
        let peer = Arc::new(peer);
        let stop = Arc::new(AtomicBool::new(false));
        let scribbler = {
            let (peer, stop) = (Arc::clone(&peer), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_u32;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    peer.scribble((x as usize) % 64, (x >> 24) as u8);
                }
            })
        };
        for id in 0.. {
            post(&peer, &mut s, &env_get(id));
            if peer.wait_reply(Duration::from_millis(100)).is_none() {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        scribbler.join().expect("scribbler");
        let _ = s.read_to_end(&mut Vec::new());
    });
    // Killed for a malformed or reused request, or at the deadline; never a hang or a panic.
    match &outcome.result {
        Err(StepError::Timeout { .. } | StepError::Engine { .. }) => {}
        other => panic!("{other:?}"),
    }
}

/// A worker that posts a request while the broker sleeps and never rings the doorbell: the
/// broker stays asleep on the socket, and the deadline still ends the step.
#[test]
fn issue_23_a_worker_that_never_wakes_the_broker_hits_its_deadline() {
    let outcome = against(Duration::from_millis(300), |peer, mut s| {
        let until = Instant::now() + Duration::from_secs(5);
        while !peer.broker_asleep() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        let body = postcard::to_stdvec(&env_get(1)).expect("encode");
        let _ = peer.post(&body, u32::try_from(body.len()).expect("len"));
        let _ = s.read_to_end(&mut Vec::new());
    });
    assert!(
        matches!(outcome.result, Err(StepError::Timeout { .. })),
        "{outcome:?}"
    );
}

/// A worker that dies with the ring set up: the broker, asleep on the socket, sees it hang up.
#[test]
fn issue_23_a_worker_that_dies_is_noticed_through_the_socket() {
    let outcome = against(Duration::from_secs(30), |peer, mut s| {
        post(&peer, &mut s, &env_get(1));
        assert!(matches!(
            peer.wait_reply(Duration::from_secs(5)),
            Some(Reply::Body(_))
        ));
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    assert!(
        engine_error(&outcome).contains("ended without a result"),
        "{outcome:?}"
    );
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
}
