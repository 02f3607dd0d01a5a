//! The operator's proxies ([`Proxies`], from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` as the
//! operator sets them for aether, never the plugin) and the `CONNECT` tunnel to a checked
//! address through one.
//!
//! What it must never do: send a name to the proxy (it would resolve it again), or use a
//! proxy for a host `NO_PROXY` exempts.

use std::io::{Read, Write};
use std::net::SocketAddr;

use aether_policy::CheckedAddr;
use ureq::unversioned::transport::{ConnectionDetails, Connector, Transport, TransportAdapter};
use url::Url;

/// The `CONNECT` handshake with the operator's proxy, over the TCP connection `ureq` opened to
/// it: asks for a tunnel to the checked address (an IP, never a name), then hands the tunnel
/// on, to TLS for `https:`. (`ureq`'s own CONNECT support would send the name, or with
/// `resolve_target` a malformed `ip:port:port` target in 3.5.2.)
#[derive(Debug)]
pub(super) struct Tunnel {
    pub(super) target: CheckedAddr,
    pub(super) port: u16,
}

/// The longest proxy response head read before giving up.
pub(super) const MAX_PROXY_HEAD_BYTES: usize = 8 * 1024;

impl<In: Transport> Connector<In> for Tunnel {
    type Out = In;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<In>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        let mut io = TransportAdapter::new(transport, details.current_time.clone());
        io.set_timeout(details.timeout);
        let target = SocketAddr::new(self.target.addr(), self.port);
        write!(io, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
        io.flush()?;
        // Byte by byte: nothing after the head may be consumed, it belongs to the tunnel.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > MAX_PROXY_HEAD_BYTES || io.read(&mut byte)? == 0 {
                return Err(ureq::Error::ConnectProxyFailed(
                    "the proxy closed the connection or sent no valid answer".into(),
                ));
            }
            head.push(byte[0]);
        }
        let status_line = String::from_utf8_lossy(&head);
        let status_line = status_line.lines().next().unwrap_or_default();
        if status_line.split(' ').nth(1) != Some("200") {
            return Err(ureq::Error::ConnectProxyFailed(format!(
                "the proxy refused the tunnel: `{}`",
                aether_policy::escape_untrusted(status_line)
            )));
        }
        Ok(Some(io.into_inner()))
    }
}

/// The operator's outbound proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), for hosts behind
/// a corporate gateway.
///
/// A proxy weakens no check: the gateway still checks the URL, the host, and the address the
/// name resolves to (resolved here, once), then asks the proxy to `CONNECT` to that checked IP
/// address, never to the name, so the proxy cannot resolve it to something else. TLS and the
/// `Host` header still carry the original name. The proxy's own address is the operator's
/// choice and is not subject to `allow_private`. Only `http://` proxies without credentials
/// are supported; every request, `http:` ones included, goes through a `CONNECT` tunnel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub(super) https: Option<ProxyUrl>,
    pub(super) http: Option<ProxyUrl>,
    /// `NO_PROXY` entries, lower case, leading dots removed; `*` bypasses every host.
    pub(super) no_proxy: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProxyUrl {
    pub(super) host: String,
    pub(super) port: u16,
}

impl Proxies {
    /// No proxy: every connection is direct.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// The proxies an environment names: `HTTPS_PROXY` for `https:` URLs and `HTTP_PROXY` for
    /// `http:` ones (either spelled in lower case too, the lower case winning), `NO_PROXY` as
    /// a comma-separated list of host names (matching their subdomains too), IP addresses, or
    /// `*`. `var` reads one variable (the operator's environment, never a plugin's value). An
    /// error names the variable and what is wrong with it. No I/O beyond `var`: nothing is
    /// resolved or connected to here.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Proxies, String> {
        let pick = |name: &str| {
            var(&name.to_ascii_lowercase())
                .or_else(|| var(name))
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_owned(), v))
        };
        let parse = |found: Option<(String, String)>| {
            match found {
            None => Ok(None),
            Some((name, value)) => ProxyUrl::parse(&value).map(Some).map_err(|why| {
                format!(
                    "{name} `{}` is not a usable proxy: {why}\n\nhint: set it to `http://host:port`, or unset it",
                    aether_policy::escape_untrusted(&value)
                )
            }),
        }
        };
        let no_proxy = pick("NO_PROXY")
            .map(|(_, v)| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Proxies {
            https: parse(pick("HTTPS_PROXY"))?,
            http: parse(pick("HTTP_PROXY"))?,
            no_proxy,
        })
    }

    /// The proxy for `url`, unless `NO_PROXY` exempts its host.
    pub(super) fn for_url(&self, url: &Url) -> Option<&ProxyUrl> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let exempt = self.no_proxy.iter().any(|e| {
            e == "*"
                || host == *e
                || host
                    .strip_suffix(e.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        (!exempt).then_some(proxy)
    }
}

impl ProxyUrl {
    fn parse(text: &str) -> Result<ProxyUrl, String> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| e.to_string())?;
        if url.scheme() != "http" {
            return Err(format!(
                "the `{}` scheme is not supported (only `http://` proxies)",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("proxy credentials are not supported".into());
        }
        let host = url
            .host_str()
            .ok_or("it has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(ProxyUrl {
            host,
            port: url.port().unwrap_or(80),
        })
    }
}
