//! An example host: a small HTTP webhook service that runs a plugin per request, under a
//! policy, and returns its output.
//!
//! ```text
//! cargo run -p aether --example webhook -- PLUGIN_DIR POLICY_FILE [127.0.0.1:8080] [thread|process]
//! curl -d '{"event":"push"}' http://127.0.0.1:8080/hook
//! ```
//!
//! Each request body (one JSON value, at most 1 MiB) is the plugin's input; the response is
//! its output (200), or `{"error": ...}` with 400 (bad input), 403 (a violation stopped it, or
//! outside its execution window) or 422 (the plugin failed). Every capability event goes to
//! stderr through a [`aether::Subscriber`]. std only: one thread per connection, HTTP/1.1
//! with `Content-Length`, `Connection: close`. With `process`, every call runs in a confined
//! worker process of its own (`main` calls [`aether::run_zygote_if_asked`] first for that).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use aether::{CallContext, CallError, Plugin, Sandbox, Tier};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Logs each violation on stderr, escaped (the target and reason are plugin-controlled).
pub struct StderrViolations;

impl aether::Subscriber for StderrViolations {
    fn event(&self, event: &aether::Event) {
        if event.decision.is_violation() {
            eprintln!(
                "webhook: {} {} `{}` ({})",
                event.capability,
                event.decision,
                aether::escape_untrusted(&event.target),
                aether::escape_untrusted(&event.reason)
            );
        }
    }
}

/// The sandbox and plugin of the service: the policy at `policy`, the workspace its directory.
pub fn load(plugin: &str, policy: &str, tier: Tier) -> Result<Plugin, Box<dyn std::error::Error>> {
    let workspace = std::path::Path::new(policy)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let sandbox = Sandbox::builder()
        .workspace(workspace)
        .policy_file(policy)
        .subscriber(Arc::new(StderrViolations))
        .tier(tier)
        .build()?;
    Ok(sandbox.load_plugin(plugin)?)
}

/// Serves requests on `listener`, each on a thread of its own; returns after `max` requests
/// when given (tests), never otherwise.
pub fn serve(listener: TcpListener, plugin: Plugin, max: Option<usize>) -> std::io::Result<()> {
    let mut threads = Vec::new();
    for (n, stream) in listener.incoming().enumerate() {
        let stream = stream?;
        let plugin = plugin.clone();
        threads.push(std::thread::spawn(move || {
            if let Err(e) = handle(stream, &plugin) {
                eprintln!("webhook: {e}");
            }
        }));
        if max.is_some_and(|max| n + 1 >= max) {
            break;
        }
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn handle(stream: TcpStream, plugin: &Plugin) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(usize::MAX);
        }
    }
    let mut stream = stream;
    if method != "POST" || path != "/hook" {
        return respond(&mut stream, 404, r#"{"error":"POST a JSON body to /hook"}"#);
    }
    if length > MAX_BODY {
        return respond(&mut stream, 413, r#"{"error":"the body is over 1 MiB"}"#);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let input: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let error = serde_json::json!({ "error": format!("the body is not JSON: {e}") });
            return respond(&mut stream, 400, &error.to_string());
        }
    };
    match plugin.call(&input, &CallContext::step("hook")) {
        Ok(out) => respond(&mut stream, 200, out.output.get()),
        Err(e) => {
            let status = match &e {
                CallError::Input(_) => 400,
                CallError::Window(_) => 403,
                CallError::Plugin { events, .. }
                    if events.iter().any(|k| k.event.decision.is_violation()) =>
                {
                    403
                }
                _ => 422,
            };
            let error = serde_json::json!({ "error": e.to_string() });
            respond(&mut stream, status, &error.to_string())
        }
    }
}

fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        _ => "Unprocessable Content",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

#[cfg_attr(test, allow(dead_code, reason = "the test calls `serve`, not `main`"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    aether::run_zygote_if_asked();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugin, policy, rest @ ..] = args.as_slice() else {
        return Err("usage: webhook PLUGIN_DIR POLICY_FILE [ADDRESS] [thread|process]".into());
    };
    let tier = match rest.get(1).map(String::as_str) {
        None | Some("thread") => Tier::Thread,
        Some("process") => Tier::Process,
        Some(other) => return Err(format!("unknown tier `{other}`: use thread or process").into()),
    };
    let plugin = load(plugin, policy, tier)?;
    let address = rest.first().map_or("127.0.0.1:8080", String::as_str);
    let listener = TcpListener::bind(address)?;
    eprintln!(
        "webhook: listening on http://{}/hook",
        listener.local_addr()?
    );
    Ok(serve(listener, plugin, None)?)
}
