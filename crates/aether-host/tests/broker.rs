//! The step broker's records and lifetimes for network and child processes (issue 4): every
//! request sent is an event with the address connected, status and bytes; every refusal is a
//! denial with the URL or command as target; DNS answers are taken once; a step's children do
//! not outlive `StepHost::end`.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aether_host::broker::{StepHost, StepIdentity};
use aether_host::bundle::PluginBundle;
use aether_host::events::{Event, Recorder};
use aether_host::gateway::Resolve;
use aether_host::{Host, HostError, HostRequest, HostValue};
use aether_policy::{
    Capability, Decision, DomainPattern, Grant, IpNet, Permissions, Policy, RequestedLimits,
};

#[derive(Default)]
struct Events(Mutex<Vec<Event>>);

impl Recorder for Events {
    fn record(&self, event: Event) {
        self.0.lock().expect("lock").push(event);
    }
    fn log(&self, _step: &str, _level: &str, _message: &str) {}
}

impl Events {
    fn all(&self) -> Vec<Event> {
        self.0.lock().expect("lock").clone()
    }
}

/// Answers 127.0.0.1 the first time and the cloud metadata address after: a rebinding DNS
/// server (PayloadsAllTheThings SSRF, "DNS rebinding").
struct Rebinding(Mutex<Cell<usize>>);

impl Resolve for Rebinding {
    fn resolve(&self, _host: &str, _port: u16, _deadline: Instant) -> io::Result<Vec<IpAddr>> {
        let calls = self.0.lock().expect("lock");
        let n = calls.get();
        calls.set(n + 1);
        Ok(vec![if n == 0 {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))
        }])
    }
}

/// Answers every connection with a 200 `hello`, up to `n` connections.
fn serve(n: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
            );
        }
    });
    port
}

fn host(permissions: Permissions, policy: &Policy, workspace: &Path) -> (StepHost, Arc<Events>) {
    let grant = Grant::new(permissions, Some(policy), &RequestedLimits::default()).expect("grant");
    let events = Arc::new(Events::default());
    let plugin = tempfile::tempdir().expect("tempdir");
    std::fs::write(plugin.path().join("index.js"), "").expect("write");
    let bundle = Arc::new(PluginBundle::load(plugin.path()).expect("bundle"));
    let step = StepHost::new(
        StepIdentity {
            step: "s".into(),
            plugin: "p".into(),
        },
        grant,
        workspace.to_path_buf(),
        bundle,
        Arc::clone(&events) as Arc<dyn Recorder>,
    );
    (step, events)
}

/// A step granted the one domain pattern `domain` (reaching 127.0.0.1, which the policy allows).
fn loopback_host(domain: &str, workspace: &Path) -> (StepHost, Arc<Events>) {
    let domain = DomainPattern::parse(domain).expect("domain");
    let policy = Policy {
        domains: vec![domain.clone()],
        allow_private: vec![IpNet::parse("127.0.0.1/32").expect("net")],
        ..Policy::default()
    };
    let permissions = Permissions {
        domains: vec![domain],
        ..Permissions::default()
    };
    host(permissions, &policy, workspace)
}

fn fetch(url: String) -> HostRequest {
    HostRequest::Fetch {
        url,
        method: "POST".into(),
        headers: Vec::new(),
        body: Some(b"abc".to_vec()),
        redirect: "follow".into(),
        timeout_ms: Some(5000),
    }
}

#[test]
fn fetches_are_recorded_with_address_status_and_bytes_and_dns_is_asked_once() {
    let port = serve(1);
    let workspace = tempfile::tempdir().expect("tempdir");
    let (step, events) = loopback_host(&format!("svc.test:{port}"), workspace.path());
    let step = step.resolver(Rebinding(Mutex::new(Cell::new(0))));

    let reply = step.call(fetch(format!("http://svc.test:{port}/a")));
    assert!(
        matches!(&reply, Ok(HostValue::Response { status: 200, body, .. }) if body == b"hello"),
        "{reply:?}"
    );
    // The second lookup would answer the metadata address: the gateway's single lookup per
    // hop is what reached the server, and a new fetch is refused by the new answer.
    let again = step.call(fetch(format!("http://svc.test:{port}/b")));
    assert!(
        matches!(&again, Err(HostError::PermissionDenied { capability: Capability::Network, target, .. }) if target == &format!("http://svc.test:{port}/b")),
        "{again:?}"
    );

    let events = events.all();
    let sent: Vec<_> = events.iter().filter(|e| e.traffic.is_some()).collect();
    assert_eq!(sent.len(), 1, "{events:#?}");
    let traffic = sent[0].traffic.clone().expect("traffic");
    assert_eq!(sent[0].decision, Decision::Allowed);
    assert_eq!(traffic.address.to_string(), format!("127.0.0.1:{port}"));
    assert_eq!(
        (traffic.status, traffic.bytes_sent, traffic.bytes_received),
        (200, 3, 5)
    );
    assert!(events.iter().any(|e| e.decision == Decision::Denied
        && e.capability == Capability::Network
        && e.target.ends_with("/b")));
}

fn sh_permissions() -> (Permissions, Policy) {
    let sh = std::path::PathBuf::from("/bin/sh");
    let permissions = Permissions {
        commands: vec![sh.clone()],
        process: true,
        ..Permissions::default()
    };
    let policy = Policy {
        commands: vec![sh],
        ..Policy::default()
    };
    (permissions, policy)
}

fn run(command: &str, script: &str) -> HostRequest {
    HostRequest::Run {
        command: command.into(),
        args: vec!["-c".into(), script.into()],
        stdin: Vec::new(),
        timeout_ms: None,
        cwd: None,
    }
}

/// Commands are checked by their resolved path and recorded either way (the environment scrub
/// is tested end to end in `aether-cli`'s `process` tests, with a secret in aether's own
/// environment).
#[test]
fn commands_are_checked_and_recorded() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let (permissions, policy) = sh_permissions();
    let (step, events) = host(permissions, &policy, workspace.path());
    let reply = step.call(run("/bin/sh", "echo hi"));
    assert!(
        matches!(&reply, Ok(HostValue::Exit { code: Some(0), stdout, .. }) if stdout == "hi\n"),
        "{reply:?}"
    );
    let denied = step.call(run("/bin/ls", ""));
    assert!(
        matches!(&denied, Err(HostError::PermissionDenied { capability: Capability::Process, target, .. }) if target == "/bin/ls"),
        "{denied:?}"
    );
    let events = events.all();
    assert!(events.iter().any(|e| e.capability == Capability::Process
        && e.decision == Decision::Allowed
        && e.target == "/bin/sh"));
    assert!(events.iter().any(|e| e.capability == Capability::Process
        && e.decision == Decision::Denied
        && e.target == "/bin/ls"));
}

/// A child the step did not wait for is killed by `end` (SPEC §5: no child outlives its step).
#[test]
fn end_kills_running_children_and_refuses_new_ones() {
    let workspace = tempfile::tempdir().expect("tempdir");
    let (permissions, policy) = sh_permissions();
    let (step, _) = host(permissions, &policy, workspace.path());
    let step = Arc::new(step);
    let running = Arc::clone(&step);
    let child = std::thread::spawn(move || running.call(run("/bin/sh", "sleep 30")));
    std::thread::sleep(Duration::from_millis(300));
    step.end();
    // Killed, not finished: `sleep 30` would have exited 0.
    let reply = child.join().expect("join");
    assert!(
        matches!(
            &reply,
            Ok(HostValue::Exit {
                code: None,
                signal: Some(_),
                ..
            })
        ),
        "{reply:?}"
    );
    assert!(step.call(run("/bin/sh", "true")).is_err());
}

/// A request that left is recorded even when the fetch then fails: here the first hop (which
/// may carry data in its URL) reaches a granted server, which redirects to an ungranted port.
#[test]
fn a_request_sent_before_a_refused_redirect_is_recorded() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let workspace = tempfile::tempdir().expect("tempdir");
    let (step, events) = loopback_host(&format!("127.0.0.1:{port}"), workspace.path());
    let reply = step.call(fetch(format!("http://127.0.0.1:{port}/?leak=secret")));
    assert!(
        matches!(&reply, Err(HostError::PermissionDenied { .. })),
        "{reply:?}"
    );
    let events = events.all();
    let sent = events
        .iter()
        .find(|e| e.traffic.is_some())
        .unwrap_or_else(|| panic!("the first request is not recorded: {events:#?}"));
    assert!(sent.target.contains("leak=secret"), "{sent:?}");
    assert_eq!(sent.traffic.as_ref().expect("traffic").status, 302);
    assert!(
        events
            .iter()
            .any(|e| e.decision == Decision::Denied && e.target == "http://127.0.0.1:9/x")
    );
}

/// SPEC §5: "A fetch never outlives the step." A plugin that returns while its fetch waits on
/// a server that never answers: ending the step cuts the connection at once, instead of
/// leaving it open (and a thread blocked on it) until the fetch's own timeout. The server sees
/// the connection close long before that timeout (60 s), and the fetch fails.
#[test]
fn ending_the_step_cuts_the_fetches_under_way() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (arrived, request_arrived) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        // Read the request, never answer, and wait for the client to go away.
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {
                    let _ = arrived.send(());
                }
                Err(_) => return false,
            }
        }
    });
    let workspace = tempfile::tempdir().expect("tempdir");
    let (step, _events) = loopback_host(&format!("127.0.0.1:{port}"), workspace.path());
    let step = Arc::new(step.deadline(Instant::now() + Duration::from_secs(60)));
    let fetching = {
        let step = Arc::clone(&step);
        std::thread::spawn(move || {
            step.call(HostRequest::Fetch {
                url: format!("http://127.0.0.1:{port}/hang"),
                method: "GET".into(),
                headers: Vec::new(),
                body: None,
                redirect: "follow".into(),
                timeout_ms: Some(60_000),
            })
        })
    };
    // Once the request is under way, end the step.
    request_arrived.recv().expect("the request arrived");
    step.end();
    assert!(
        server.join().expect("server"),
        "the connection outlived the step"
    );
    assert!(fetching.join().expect("fetch").is_err());
    // And a fetch after the end is refused.
    let late = step.call(fetch(format!("http://127.0.0.1:{port}/late")));
    assert!(late.is_err());
}
