//! Reading one HTTP/1.1 request with `httparse` under [`super::InboundLimits`]: the head, its
//! header fields and a `Content-Length` body, each within its size and time. What it refuses
//! becomes a [`Refusal`] (the status and one sentence); a request smuggling shape (a
//! `Transfer-Encoding`, repeated or malformed lengths) is refused, never guessed at.
//!
//! What it must never do: read past the limits, or wait past a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::Progress;
use super::limits::{InboundLimits, MAX_HEADER_FIELDS};

/// One request as a client sent it, parsed and within [`InboundLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The method, a token (`GET`, `POST`, ...).
    pub(crate) method: String,
    /// The request target in origin form (`/path?query`), as sent.
    pub(crate) path: String,
    /// Header fields in order; values decoded lossily as UTF-8.
    pub(crate) headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; empty without one).
    pub(crate) body: Vec<u8>,
    /// The client's address.
    pub(crate) peer: SocketAddr,
}

/// Why a request was refused before the plugin saw it.
pub(super) struct Refusal {
    /// The status answered (400, 408, 411, 413, 431).
    pub(super) status: u16,
    /// One sentence naming the cause.
    pub(super) reason: String,
    /// The method and target, when the head was read.
    pub(super) method: String,
    pub(super) path: String,
    /// Body bytes read before the refusal.
    pub(super) body: u64,
}

/// What reading a request came to.
pub(super) enum ReadOutcome {
    /// A request within the limits.
    Request(Request),
    /// A request refused with an error response.
    Refused(Refusal),
    /// The client sent nothing and went away (or stayed silent past the head timeout): no
    /// response, no event.
    Silent,
}

/// Reads until `buf` holds `want` bytes or `deadline` passes, keeping `progress` up to date.
/// `Ok(false)`: the client closed first.
pub(super) fn fill(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    want: usize,
    deadline: Instant,
    progress: &Progress,
) -> io::Result<bool> {
    let mut chunk = [0u8; 8192];
    while buf.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let room = (want - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                progress.update(|p| p.body = buf.len() as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(io::ErrorKind::TimedOut.into()),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A read timeout, as std reports it on Unix.
pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads and checks one request under `limits` (see the module docs): the head within
/// `max_head_bytes` and `head_timeout`, then exactly `Content-Length` body bytes within
/// `max_body_bytes` and `body_timeout`. Refuses, before the plugin can see it:
/// - a head that does not parse, an HTTP version other than 1.0/1.1, a target not in origin
///   form, a missing or repeated `Host` in HTTP/1.1 (RFC 9112 §3.2): 400;
/// - `Transfer-Encoding` with `Content-Length` (request smuggling, RFC 9112 §6.1), repeated or
///   malformed `Content-Length`: 400; `Transfer-Encoding` alone (chunked bodies are not
///   accepted): 411;
/// - a head above `max_head_bytes` or with more than 100 fields: 431; a body above
///   `max_body_bytes`: 413; a head or body not sent in time: 408.
///
/// What has been read so far goes to `progress`, for the event of a request cut off by its
/// listener's close.
pub(super) fn read_request(
    stream: &mut TcpStream,
    peer: SocketAddr,
    limits: &InboundLimits,
    progress: &Progress,
) -> ReadOutcome {
    let refuse = |status: u16, reason: &str, method: &str, path: &str| {
        ReadOutcome::Refused(Refusal {
            status,
            reason: reason.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            body: 0,
        })
    };
    let head_deadline = aether_policy::deadline_after(Instant::now(), limits.head_timeout);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_len = loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => break n,
            Ok(httparse::Status::Partial) => {
                // The request line is in: an event of this request cut off now names it.
                if let (Some(method), Some(path)) = (parsed.method, parsed.path) {
                    progress.update(|p| {
                        if p.method.is_empty() {
                            p.method = method.to_owned();
                            p.path = path.to_owned();
                        }
                    });
                }
            }
            Err(httparse::Error::TooManyHeaders) => {
                return refuse(431, "request header fields too many", "", "");
            }
            Err(_) => return refuse(400, "malformed request head", "", ""),
        }
        if buf.len() > limits.max_head_bytes {
            return refuse(431, "request header fields too large", "", "");
        }
        let left = head_deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return timed_out(&buf);
        }
        let room = (limits.max_head_bytes + 1 - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return ReadOutcome::Silent,
            Ok(0) => return refuse(400, "the client closed the connection mid-request", "", ""),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                progress.update(|p| p.any = true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return timed_out(&buf),
            Err(_) if buf.is_empty() => return ReadOutcome::Silent,
            Err(_) => return refuse(400, "the connection failed mid-request", "", ""),
        }
    };
    if head_len > limits.max_head_bytes {
        return refuse(431, "request header fields too large", "", "");
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADER_FIELDS];
    let mut parsed = httparse::Request::new(&mut fields);
    if !matches!(parsed.parse(&buf), Ok(httparse::Status::Complete(_))) {
        return refuse(400, "malformed request head", "", "");
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let path = parsed.path.unwrap_or_default().to_owned();
    progress.update(|p| {
        p.method.clone_from(&method);
        p.path.clone_from(&path);
    });
    let refuse = |status: u16, reason: &str| refuse(status, reason, &method, &path);
    if !path.starts_with('/') {
        return refuse(400, "the request target must be a path (origin form)");
    }
    let count = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    let hosts = count("host");
    if hosts > 1 || (hosts == 0 && parsed.version == Some(1)) {
        return refuse(400, "an HTTP/1.1 request needs exactly one Host header");
    }
    let lengths: Vec<&[u8]> = parsed
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value)
        .collect();
    if count("transfer-encoding") > 0 {
        return if lengths.is_empty() {
            refuse(
                411,
                "chunked request bodies are not accepted: send Content-Length",
            )
        } else {
            refuse(
                400,
                "both Transfer-Encoding and Content-Length (request smuggling)",
            )
        };
    }
    let length = match lengths.as_slice() {
        [] => 0,
        [value] => match parse_length(value) {
            Some(n) => n,
            None => return refuse(400, "malformed Content-Length"),
        },
        _ => return refuse(400, "more than one Content-Length"),
    };
    if length > limits.max_body_bytes as u64 {
        return refuse(413, "request body too large");
    }
    let length = length as usize;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let expects_continue = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("expect") && h.value.eq_ignore_ascii_case(b"100-continue")
    });
    // Bytes past the head belong to the body; past the body (a pipelined request), they are
    // dropped: one request per connection.
    let mut body = buf.split_off(head_len);
    body.truncate(length);
    progress.update(|p| p.body = body.len() as u64);
    if body.len() < length && expects_continue {
        // curl waits for this before sending a body above 1 KiB.
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body_deadline = aether_policy::deadline_after(Instant::now(), limits.body_timeout);
    let refuse_mid_body = |status: u16, reason: &str, body: &[u8]| match refuse(status, reason) {
        ReadOutcome::Refused(refusal) => ReadOutcome::Refused(Refusal {
            body: body.len() as u64,
            ..refusal
        }),
        other => other,
    };
    match fill(stream, &mut body, length, body_deadline, progress) {
        Ok(true) => {}
        Ok(false) => {
            return refuse_mid_body(400, "the client closed the connection mid-body", &body);
        }
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            return refuse_mid_body(408, "the request body was not sent in time", &body);
        }
        Err(_) => return refuse_mid_body(400, "the connection failed mid-body", &body),
    }
    ReadOutcome::Request(Request {
        method,
        path,
        headers,
        body,
        peer,
    })
}

/// The head was not sent in time: 408 if some of it came, silence if none did (an idle
/// connection, as browsers open ahead of use).
pub(super) fn timed_out(buf: &[u8]) -> ReadOutcome {
    if buf.is_empty() {
        ReadOutcome::Silent
    } else {
        ReadOutcome::Refused(Refusal {
            status: 408,
            reason: "the request head was not sent in time".to_owned(),
            method: String::new(),
            path: String::new(),
            body: 0,
        })
    }
}

/// A `Content-Length` value: ASCII digits only (no sign, no space, no list), at most 18 of
/// them (no overflow).
pub(super) fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}
