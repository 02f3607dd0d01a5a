//! The messages between aether and an engine worker, and their framing on the socket.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes of a `postcard`-encoded
//! message. Both sides cap the length before reading the body; a frame above the cap, a body that
//! does not decode into exactly one message of the expected type, or a socket closed mid-frame is
//! a [`WireError`]. The format is not self-describing: a hostile frame can only decode into the
//! message types below, never into anything else.

use std::io::{self, Read, Write};
use std::time::Duration;

use aether_protocol::{HostError, HostRequest, HostValue};
use aether_sandbox::StepError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What aether sends a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// The step to run; always the first message, sent once.
    Start(Start),
    /// The answer to the worker's call `id`, with the bytes the host now holds for the plugin
    /// (its overlay), which count toward the memory ceiling.
    Reply {
        /// The call answered.
        id: u64,
        /// The host's reply.
        reply: Result<HostValue, HostError>,
        /// [`aether_protocol::Host::reserved_bytes`] after the call.
        reserved: u64,
        /// For a reply that serves an ES module: its bytecode, compiled by aether's own process
        /// (compile once, issue 19), which the worker loads instead of parsing the source.
        /// `None` for every other reply, and where the source does not compile.
        compiled: Option<aether_sandbox::CompiledModule>,
    },
}

/// The step a worker runs: `aether_sandbox::StepSpec` with its JSON values as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// The entry module's path inside the plugin.
    pub main: String,
    /// The step's input, as JSON text.
    pub input: String,
    /// The step's context, as JSON text.
    pub context: String,
    /// The step's limits.
    pub limits: aether_sandbox::Limits,
}

/// What a worker sends aether.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// A host call; `id` is unique per worker and answered by exactly one [`ToWorker::Reply`].
    Call {
        /// The call's number.
        id: u64,
        /// The request, unchecked: aether checks it like any other.
        request: HostRequest,
    },
    /// The step's result; the last message a worker sends.
    Done {
        /// The output as JSON text, or the step's error.
        result: Result<String, StepError>,
        /// The engine's own CPU time.
        cpu: Duration,
    },
    /// A request waits in the call ring ([`crate::ring`]) and aether said it sleeps: wake up.
    Doorbell,
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or was closed.
    #[error("the connection failed: {0}")]
    Io(#[from] io::Error),
    /// The length prefix is above the cap.
    #[error("a message of {len} bytes, above the limit of {max}")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The body is not exactly one message of the expected type.
    #[error("a malformed message: {0}")]
    Malformed(#[from] postcard::Error),
}

/// Writes `message` as one frame (one `write` of prefix and body together).
pub fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let frame = postcard::to_extend(message, vec![0u8; 4]).map_err(io::Error::other)?;
    let len = u32::try_from(frame.len() - 4).map_err(|_| io::Error::other("message too large"))?;
    let mut frame = frame;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame of at most `max` bytes and decodes it.
pub fn read_frame<T: DeserializeOwned>(input: &mut impl Read, max: usize) -> Result<T, WireError> {
    let mut prefix = [0u8; 4];
    input.read_exact(&mut prefix)?;
    let len = u32::from_le_bytes(prefix) as usize;
    if len > max {
        return Err(WireError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    decode(&body)
}

/// Reads frames from a socket into a buffer of its own: a frame that arrived whole costs one
/// `recv`, and waiting for one spins on that same `recv` (non-blocking) for at most [`SPIN`]
/// before it blocks (the socket's read timeout, if any, then applies).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` consumed (frames already decoded).
    start: usize,
    /// Bytes of `buf` received.
    end: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Whether a whole or partial frame is already buffered.
    pub fn has_buffered(&self) -> bool {
        self.end > self.start
    }

    /// The next frame of at most `max` bytes, decoded. `before_block` runs each time the reader
    /// is about to block (to set the socket's read timeout, for instance); an error it returns
    /// ends the read.
    pub fn read<T: DeserializeOwned>(
        &mut self,
        socket: &std::os::unix::net::UnixStream,
        max: usize,
        before_block: impl FnMut() -> io::Result<()>,
    ) -> Result<T, WireError> {
        self.read_with(socket, max, before_block, SPIN)
    }

    /// As [`FrameReader::read`], but blocks at once when no whole frame is buffered (for a
    /// reader that has just polled elsewhere, such as the call ring).
    pub fn read_blocking<T: DeserializeOwned>(
        &mut self,
        socket: &std::os::unix::net::UnixStream,
        max: usize,
        before_block: impl FnMut() -> io::Result<()>,
    ) -> Result<T, WireError> {
        self.read_with(socket, max, before_block, Duration::ZERO)
    }

    fn read_with<T: DeserializeOwned>(
        &mut self,
        socket: &std::os::unix::net::UnixStream,
        max: usize,
        mut before_block: impl FnMut() -> io::Result<()>,
        spin: Duration,
    ) -> Result<T, WireError> {
        loop {
            let have = self.end - self.start;
            if have >= 4 {
                let mut prefix = [0u8; 4];
                prefix.copy_from_slice(&self.buf[self.start..self.start + 4]);
                let len = u32::from_le_bytes(prefix) as usize;
                if len > max {
                    return Err(WireError::TooLarge { len, max });
                }
                if have >= 4 + len {
                    let body = &self.buf[self.start + 4..self.start + 4 + len];
                    let message = decode(body);
                    self.start += 4 + len;
                    if self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    return message;
                }
                self.make_room(4 + len);
            } else {
                self.make_room(4);
            }
            self.fill(socket, &mut before_block, spin)?;
        }
    }

    /// Makes `buf[start..]` able to hold `whole` bytes, with room for more to come in one `recv`.
    fn make_room(&mut self, whole: usize) {
        if self.start > 0 && self.start + whole > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let wanted = (self.start + whole).max(READ_CHUNK);
        if self.buf.len() < wanted {
            self.buf.resize(wanted, 0);
        }
    }

    /// Receives what is there into the free space: spins non-blocking for `spin`, then blocks.
    fn fill(
        &mut self,
        socket: &std::os::unix::net::UnixStream,
        before_block: &mut impl FnMut() -> io::Result<()>,
        spin: Duration,
    ) -> Result<(), WireError> {
        use rustix::net::{RecvFlags, recv};
        let spin_until = std::time::Instant::now() + spin;
        let mut blocking = false;
        loop {
            let flags = if blocking {
                RecvFlags::empty()
            } else {
                RecvFlags::DONTWAIT
            };
            match recv(socket, &mut self.buf[self.end..], flags) {
                Ok((0, _)) => {
                    return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok((n, _)) => {
                    self.end += n;
                    return Ok(());
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) if !blocking => {
                    if std::time::Instant::now() >= spin_until {
                        before_block()?;
                        blocking = true;
                    } else {
                        // Yield rather than burn the core: on a busy machine the peer may be
                        // waiting for this very CPU (on an idle one this returns at once).
                        std::thread::yield_now();
                    }
                }
                Err(e) => return Err(WireError::Io(e.into())),
            }
        }
    }
}

/// The least a reader's buffer receives into at once: several small frames per `recv` (a call,
/// a reply or a step's `Start` is a few hundred bytes; a larger frame grows the buffer to fit).
/// One page: the buffer is zeroed when it is made, and a worker made a fresh 16 KiB one for its
/// `Start`, three page faults more than this (issue 23).
const READ_CHUNK: usize = 4 * 1024;

/// How long a reader polls for the next frame before it blocks: a host call's round trip is a
/// few microseconds of work on each side, and sleeping in between costs two context switches
/// (about 40 µs per call on the 2-core VM the benchmarks run on). Short, so that an idle
/// worker or broker stops spinning at once.
pub const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Decodes one message from a whole frame body: trailing bytes are malformed too.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    let (message, rest) = postcard::take_from_bytes(body)?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(WireError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The limits cross the socket as they did before `Limits` became one type (issue 20
    /// item 4): memory and stack as plain varint byte counts, then the timeout.
    #[test]
    fn issue_20_limits_keep_their_wire_form() {
        let limits = aether_sandbox::Limits::default();
        let plain = (256u64 << 20, Duration::from_secs(30), 12usize << 20);
        assert_eq!(
            postcard::to_stdvec(&limits).expect("encode"),
            postcard::to_stdvec(&plain).expect("encode")
        );
    }

    #[test]
    fn frames_round_trip() {
        let message = FromWorker::Call {
            id: 7,
            request: HostRequest::Write {
                path: "out/a".into(),
                data: vec![0, 1, 2, 255],
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &message).expect("write");
        let back: FromWorker = read_frame(&mut buf.as_slice(), 1024).expect("read");
        assert_eq!(back, message);
    }

    #[test]
    fn oversized_truncated_and_trailing_frames_are_errors() {
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"xx");
        assert!(matches!(
            read_frame::<FromWorker>(&mut huge.as_slice(), 1 << 20),
            Err(WireError::TooLarge { .. })
        ));
        let mut truncated = 10u32.to_le_bytes().to_vec();
        truncated.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame::<FromWorker>(&mut truncated.as_slice(), 1 << 20),
            Err(WireError::Io(_))
        ));
        let mut body = postcard::to_stdvec(&FromWorker::Done {
            result: Ok("null".into()),
            cpu: Duration::ZERO,
        })
        .expect("encode");
        body.push(0);
        assert!(matches!(
            decode::<FromWorker>(&body),
            Err(WireError::Malformed(_))
        ));
    }

    /// The buffered reader: several frames in one `recv`, a frame split across writes, a length
    /// above the cap refused from its prefix alone, and a socket closed mid-frame.
    #[test]
    fn the_frame_reader_reads_whole_frames_and_refuses_the_rest() {
        use std::os::unix::net::UnixStream;
        let done = |n: u64| FromWorker::Call {
            id: n,
            request: HostRequest::Write {
                path: "out/a".into(),
                data: vec![7; usize::try_from(n).unwrap_or(0)],
            },
        };
        let (mut ours, theirs) = UnixStream::pair().expect("pair");
        let mut two = Vec::new();
        write_frame(&mut two, &done(1)).expect("write");
        write_frame(&mut two, &done(2)).expect("write");
        ours.write_all(&two).expect("send");
        let mut big = Vec::new();
        write_frame(&mut big, &done(40_000)).expect("write");
        let tail = big.split_off(3);
        ours.write_all(&big).expect("send");
        let mut reader = FrameReader::new();
        let read = |r: &mut FrameReader| r.read::<FromWorker>(&theirs, 1 << 20, || Ok(()));
        assert_eq!(read(&mut reader).expect("first"), done(1));
        assert_eq!(read(&mut reader).expect("second"), done(2));
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ours.write_all(&tail).expect("send");
            ours.write_all(&u32::MAX.to_le_bytes()).expect("send");
            ours
        });
        assert_eq!(read(&mut reader).expect("split"), done(40_000));
        assert!(matches!(
            read(&mut reader),
            Err(WireError::TooLarge { len, .. }) if len == u32::MAX as usize
        ));
        let ours = writer.join().expect("writer");
        let (mut ours2, theirs2) = UnixStream::pair().expect("pair");
        ours2.write_all(&10u32.to_le_bytes()).expect("send");
        drop((ours, ours2));
        let mut reader = FrameReader::new();
        assert!(matches!(
            reader.read::<FromWorker>(&theirs2, 1 << 20, || Ok(())),
            Err(WireError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof
        ));
    }

    proptest! {
        /// The decoder never panics on arbitrary bytes (the fuzz target explores further).
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<FromWorker>(&bytes);
            let _ = read_frame::<FromWorker>(&mut bytes.as_slice(), 4096);
        }
    }
}
