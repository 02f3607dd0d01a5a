//! Name resolution for the gateway: [`Resolve`] (the system's, or a test's), looked up once
//! per hop, and the `ureq` resolver that pins a hop's connection to the one address chosen.
//!
//! What it must never do: let `ureq` resolve a name itself (a second lookup could answer
//! another address than the one checked).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Instant;

use aether_policy::CheckedAddr;
use ureq::http;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Name resolution, done once per hop by the gateway.
///
/// A lookup connects to nothing: the gateway asks only for a host that passed
/// `Grant::check_host` (or its `--unsafe` override) or for the operator's proxy, and connects
/// only to a `CheckedAddr` among the answers (or to that proxy).
pub trait Resolve {
    /// The addresses of `host` (a canonical domain name, never an IP literal), or a
    /// `TimedOut` error once `deadline` has passed.
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>>;
}

impl<T: Resolve + ?Sized> Resolve for &T {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        (**self).resolve(host, port, deadline)
    }
}

impl<T: Resolve + ?Sized> Resolve for Box<T> {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        (**self).resolve(host, port, deadline)
    }
}

/// The system resolver (`getaddrinfo` through std's `ToSocketAddrs`).
///
/// `getaddrinfo` cannot be cancelled, so each lookup runs on a thread of its own and the fetch
/// stops waiting for it at the deadline; a lookup that hangs past it finishes in the background
/// and its answer is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16, deadline: Instant) -> io::Result<Vec<IpAddr>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let name = host.to_owned();
        std::thread::Builder::new()
            .name("aether-dns".into())
            .spawn(move || {
                let answer = (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip()).collect());
                let _ = tx.send(answer);
            })?;
        let wait = deadline.saturating_duration_since(Instant::now());
        rx.recv_timeout(wait)
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// The `ureq` resolver for one hop: answers one address the gateway chose, whatever it is
/// asked: the checked target's ([`PinnedResolver::checked`]), or the operator's proxy when the
/// request is tunnelled ([`PinnedResolver::proxy`], the tunnel then asks for the checked
/// target).
pub(super) struct PinnedResolver(SocketAddr);

impl PinnedResolver {
    /// The connection goes to `addr` and nowhere else.
    pub(super) fn checked(addr: CheckedAddr, port: u16) -> PinnedResolver {
        PinnedResolver(SocketAddr::new(addr.addr(), port))
    }

    /// The connection goes to the operator's proxy (configuration, not the plugin's choice).
    pub(super) fn proxy(addr: SocketAddr) -> PinnedResolver {
        PinnedResolver(addr)
    }
}

impl fmt::Debug for PinnedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedResolver({})", self.0)
    }
}

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        _uri: &http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        out.push(self.0);
        Ok(out)
    }
}
