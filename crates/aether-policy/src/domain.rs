//! Hosts and domain patterns for `network.domains`, and listen addresses for `network.listen`
//! (SPEC §2 "Domain patterns", "Inbound").
//!
//! Every host is brought to one canonical form before it is compared: lowercase ASCII with IDN
//! labels in punycode (UTS-46, as WHATWG URL does), no trailing dot, and IPv4 addresses in any
//! spelling a URL parser accepts (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`,
//! `[::ffff:127.0.0.1]`) turned into the one IPv4 address they mean. Comparing anything but the
//! canonical form would let a second spelling of a host slip past a pattern.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use idna::AsciiDenyList;
use thiserror::Error;

use crate::addr::unmap;

/// A host in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name: lowercase ASCII (IDN in punycode), no trailing dot, never an IP address.
    Domain(String),
    /// An IP address; IPv4-mapped IPv6 is stored as IPv4.
    Ip(IpAddr),
}

/// A domain in brackets for IPv6 (`[::1]`), as in a URL.
impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
        }
    }
}

/// A host, domain pattern or listen address that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostParseError {
    /// Not a valid host name or IP address.
    #[error(
        "expected a host name or IP address such as `api.example.com` or `[::1]`, found `{found}`"
    )]
    InvalidHost {
        /// The text as written.
        found: String,
    },
    /// Ends like an IPv4 address (`1.2.3.4`, `x.0x10`) but is not a valid one.
    #[error("invalid IPv4 address `{found}`")]
    InvalidIpv4 {
        /// The text as written.
        found: String,
    },
    /// A domain pattern that is not `host`, `*.host`, or one of those with `:port`.
    #[error(
        "expected a domain pattern such as `api.example.com`, `*.example.org`, `127.0.0.1:8080` or `[::1]:9000`, found `{found}`"
    )]
    InvalidPattern {
        /// The text as written.
        found: String,
    },
    /// A port that is not an integer from 1 to 65535.
    #[error("expected a port from 1 to 65535 in `{found}`")]
    InvalidPort {
        /// The text as written.
        found: String,
    },
    /// A listen address that is not `ip:port`.
    #[error(
        "expected a listen address such as `127.0.0.1:9000`, `0.0.0.0:8080` or `[::1]:9000`, found `{found}`"
    )]
    InvalidListen {
        /// The text as written.
        found: String,
    },
}

/// WHATWG "ends in a number": the last label is all digits or a `0x` hex number.
fn ends_in_number(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    last.strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// WHATWG IPv4 number parser: `0x` hex (may be empty: `0x` is 0), leading `0` octal, else
/// decimal. `None` if invalid or above `u32::MAX`.
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Leading zeros never overflow a check; strip them so `u64` parsing sees the value.
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(trimmed, radix)
        .ok()
        .filter(|&n| n <= u64::from(u32::MAX))
}

/// WHATWG IPv4 parser (trailing dot already removed).
fn parse_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| ipv4_number(p))
        .collect::<Option<_>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let limit = 256u64.pow(5 - nums.len() as u32);
    if *last >= limit {
        return None;
    }
    let mut value = *last;
    for (i, &n) in init.iter().enumerate() {
        value += n * 256u64.pow(3 - i as u32);
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// Parses a host as a URL carries it: case-insensitive, one trailing dot ignored, IDN to
/// punycode, IPv6 in brackets (IPv4-mapped turned into IPv4), IPv4 in any WHATWG spelling.
pub fn parse_host(text: &str) -> Result<Host, HostParseError> {
    let invalid = || HostParseError::InvalidHost {
        found: text.to_owned(),
    };
    if text.is_empty() {
        return Err(invalid());
    }
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(invalid)?;
        // Zone identifiers (`%eth0`) are refused by the std parser, as by WHATWG URL.
        let v6 = Ipv6Addr::from_str(inner).map_err(|_| invalid())?;
        return Ok(Host::Ip(unmap(IpAddr::V6(v6))));
    }
    if text.contains('*') {
        return Err(invalid());
    }
    let ascii =
        idna::domain_to_ascii_cow(text.as_bytes(), AsciiDenyList::URL).map_err(|_| invalid())?;
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    if ascii.is_empty() {
        return Err(invalid());
    }
    if ends_in_number(ascii) {
        return parse_ipv4(ascii)
            .map(|v4| Host::Ip(IpAddr::V4(v4)))
            .ok_or_else(|| HostParseError::InvalidIpv4 {
                found: text.to_owned(),
            });
    }
    if ascii.len() > 253
        || ascii
            .split('.')
            .any(|label| label.is_empty() || label.len() > 63)
    {
        return Err(invalid());
    }
    Ok(Host::Domain(ascii.to_owned()))
}

/// The host part of a [`DomainPattern`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// Exactly this host.
    Exact(Host),
    /// `*.base`: any subdomain of `base` at any depth, not `base` itself. `base` is canonical.
    Subdomains(String),
}

/// An entry of `network.domains`: a host or `*.host`, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    host: HostPattern,
    /// `None`: only the scheme's default port.
    port: Option<u16>,
}

fn parse_port(text: &str, whole: &str) -> Result<u16, HostParseError> {
    let err = || HostParseError::InvalidPort {
        found: whole.to_owned(),
    };
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(err()),
        Ok(p) => Ok(p),
    }
}

impl DomainPattern {
    /// Parses `host`, `*.host`, `host:port`, `*.host:port`, `1.2.3.4:port`, `[v6]:port`.
    pub fn parse(text: &str) -> Result<DomainPattern, HostParseError> {
        let invalid = || HostParseError::InvalidPattern {
            found: text.to_owned(),
        };
        let (host, port) = if text.starts_with('[') {
            let end = text.find(']').ok_or_else(invalid)?;
            match &text[end + 1..] {
                "" => (&text[..=end], None),
                rest => (
                    &text[..=end],
                    Some(rest.strip_prefix(':').ok_or_else(invalid)?),
                ),
            }
        } else {
            match text.split_once(':') {
                // A second colon: an IPv6 address without brackets, or garbage.
                Some((_, port)) if port.contains(':') => return Err(invalid()),
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = port.map(|p| parse_port(p, text)).transpose()?;
        let host = if let Some(base) = host.strip_prefix("*.") {
            match parse_host(base).map_err(|_| invalid())? {
                Host::Domain(d) => HostPattern::Subdomains(d),
                Host::Ip(_) => return Err(invalid()),
            }
        } else {
            HostPattern::Exact(parse_host(host).map_err(|_| invalid())?)
        };
        Ok(DomainPattern { host, port })
    }

    /// The host part.
    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    /// The port, if one was written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether a connection to `host:port` is granted. Without a port in the pattern only
    /// `default_port` (the scheme's: 80 for http, 443 for https) is.
    pub fn matches(&self, host: &Host, port: u16, default_port: u16) -> bool {
        if self.port.unwrap_or(default_port) != port {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Exact(h), host) => h == host,
            (HostPattern::Subdomains(base), Host::Domain(d)) => is_strict_subdomain(d, base),
            (HostPattern::Subdomains(_), Host::Ip(_)) => false,
        }
    }

    /// Sound inclusion: every (host, port, default port) `other` matches, `self` matches.
    /// Ports must be the same (both absent, or the same number).
    pub fn covers(&self, other: &DomainPattern) -> bool {
        if self.port != other.port {
            return false;
        }
        match (&self.host, &other.host) {
            (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
            (HostPattern::Exact(_), HostPattern::Subdomains(_)) => false,
            (HostPattern::Subdomains(base), HostPattern::Exact(Host::Domain(d))) => {
                is_strict_subdomain(d, base)
            }
            (HostPattern::Subdomains(_), HostPattern::Exact(Host::Ip(_))) => false,
            (HostPattern::Subdomains(base), HostPattern::Subdomains(b)) => {
                b == base || is_strict_subdomain(b, base)
            }
        }
    }
}

/// `d` is `x.base` for some non-empty `x` (both canonical).
fn is_strict_subdomain(d: &str, base: &str) -> bool {
    d.len() > base.len() + 1 && d.ends_with(base) && d.as_bytes()[d.len() - base.len() - 1] == b'.'
}

/// The canonical form: `*.example.org:8080`, `[::1]:9000`, `api.example.com`.
impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Exact(h) => write!(f, "{h}")?,
            HostPattern::Subdomains(base) => write!(f, "*.{base}")?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// An entry of `network.listen`: an IP address and a non-zero port. IPv4-mapped IPv6 addresses
/// are stored as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenAddr(SocketAddr);

impl ListenAddr {
    /// Parses `127.0.0.1:9000`, `0.0.0.0:8080` or `[::1]:9000`; port 0 is refused (it would
    /// let the system pick any port).
    pub fn parse(text: &str) -> Result<ListenAddr, HostParseError> {
        let addr = SocketAddr::from_str(text).map_err(|_| HostParseError::InvalidListen {
            found: text.to_owned(),
        })?;
        ListenAddr::new(addr).ok_or_else(|| HostParseError::InvalidPort {
            found: text.to_owned(),
        })
    }

    /// From a socket address; `None` for port 0. Drops IPv6 flow info and scope id.
    pub fn new(addr: SocketAddr) -> Option<ListenAddr> {
        (addr.port() != 0).then(|| ListenAddr(SocketAddr::new(unmap(addr.ip()), addr.port())))
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.0
    }

    /// Coverage is equality: a listen grant names one address and port.
    pub fn covers(&self, other: &ListenAddr) -> bool {
        self == other
    }
}

/// The hostname `aether.listen` binds when it is given none: loopback, so that a plugin is never
/// reachable from the network by omission.
pub const DEFAULT_LISTEN_HOSTNAME: &str = "127.0.0.1";

/// The address an `aether.listen` `hostname` names: an IP literal (`127.0.0.1`, `::1`,
/// `[::1]`), or `localhost` (any case, a trailing dot ignored), which is `127.0.0.1` and is
/// never looked up (a hosts file could point it anywhere). `None` for any other name: listen
/// grants name addresses, so a name would have to be resolved into one, and it is not.
pub fn parse_listen_host(hostname: &str) -> Option<IpAddr> {
    let name = hostname.strip_suffix('.').unwrap_or(hostname);
    if name.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    // `IpAddr`'s parser takes only the four-decimal-part IPv4 form: `2130706433`, `0x7f.1`
    // and `0177.0.0.1` are refused rather than reinterpreted.
    bare.parse().ok()
}

/// `127.0.0.1:9000`, `[::1]:9000`.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dom(s: &str) -> Host {
        Host::Domain(s.to_owned())
    }

    fn v4(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn hosts() {
        let cases: &[(&str, Host)] = &[
            ("example.com", dom("example.com")),
            ("EXAMPLE.com", dom("example.com")),
            ("example.com.", dom("example.com")),
            ("bücher.example", dom("xn--bcher-kva.example")),
            ("BÜCHER.example", dom("xn--bcher-kva.example")),
            ("xn--bcher-kva.example", dom("xn--bcher-kva.example")),
            ("example。com", dom("example.com")),
            ("under_score.example", dom("under_score.example")),
            ("127.0.0.1", v4("127.0.0.1")),
            ("127.0.0.1.", v4("127.0.0.1")),
            ("2130706433", v4("127.0.0.1")),
            ("0x7f.1", v4("127.0.0.1")),
            ("0x7F000001", v4("127.0.0.1")),
            ("0177.0.0.1", v4("127.0.0.1")),
            ("127.1", v4("127.0.0.1")),
            ("127.0.1", v4("127.0.0.1")),
            ("0", v4("0.0.0.0")),
            ("0x", v4("0.0.0.0")),
            ("00000000000000000000177.0.0.1", v4("127.0.0.1")),
            ("169.254.43518", v4("169.254.169.254")),
            ("0xa9.0xfe.0xa9.0xfe", v4("169.254.169.254")),
            ("4294967295", v4("255.255.255.255")),
            ("[::1]", Host::Ip("::1".parse().unwrap())),
            ("[::ffff:127.0.0.1]", v4("127.0.0.1")),
            ("[::FFFF:7f00:1]", v4("127.0.0.1")),
            ("[0:0:0:0:0:ffff:a9fe:a9fe]", v4("169.254.169.254")),
            ("[::127.0.0.1]", Host::Ip("::127.0.0.1".parse().unwrap())),
        ];
        for (text, want) in cases {
            assert_eq!(parse_host(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn hosts_rejected() {
        let invalid = [
            "",
            ".",
            "a..b",
            "example.com..",
            "::1",
            "[::1",
            "[127.0.0.1]",
            "[::1%eth0]",
            "exa mple.com",
            "a/b",
            "a:b",
            "a@b",
            "*.example.com",
            "a*b",
            "#",
            "x%41",
        ];
        for text in invalid {
            assert!(
                matches!(parse_host(text), Err(HostParseError::InvalidHost { .. })),
                "{text:?}: {:?}",
                parse_host(text)
            );
        }
        let bad_v4 = [
            "4294967296",
            "256.0.0.1",
            "1.2.3.4.5",
            "0x100000000",
            "08.0.0.1",
            "1.256.1",
            "example.123",
            "example.0x1",
            "1.2.3.09",
            "0xg.1",
        ];
        for text in bad_v4 {
            assert!(
                matches!(
                    parse_host(text),
                    Err(HostParseError::InvalidIpv4 { .. } | HostParseError::InvalidHost { .. })
                ),
                "{text:?}: {:?}",
                parse_host(text)
            );
            assert!(parse_host(text).is_err());
        }
    }

    fn pat(s: &str) -> DomainPattern {
        DomainPattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn patterns_parse_and_display() {
        let cases = [
            ("api.trusted-service.com", "api.trusted-service.com"),
            ("API.Trusted-Service.com.", "api.trusted-service.com"),
            ("*.example.org", "*.example.org"),
            ("*.Example.ORG:8443", "*.example.org:8443"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("2130706433:8080", "127.0.0.1:8080"),
            ("[::1]:9000", "[::1]:9000"),
            ("[::1]", "[::1]"),
            ("[::ffff:127.0.0.1]:80", "127.0.0.1:80"),
            ("*.bücher.example", "*.xn--bcher-kva.example"),
            ("localhost:65535", "localhost:65535"),
        ];
        for (text, shown) in cases {
            assert_eq!(pat(text).to_string(), shown, "{text}");
            assert_eq!(pat(shown), pat(text));
        }
        let bad = [
            "",
            "*",
            "*.",
            "**.example.org",
            "a.*.example.org",
            "*example.org",
            "*.127.0.0.1",
            "::1:80",
            "[::1]9000",
            "example.org:",
            "example.org:0",
            "example.org:65536",
            "example.org:+80",
            "example.org:80:80",
            "https://example.org",
            "example.org/path",
            "[::1]:0",
            "*.[::1]",
        ];
        for text in bad {
            assert!(DomainPattern::parse(text).is_err(), "{text:?}");
        }
        assert!(matches!(
            DomainPattern::parse("a.com:0"),
            Err(HostParseError::InvalidPort { .. })
        ));
    }

    #[test]
    fn pattern_error_message() {
        assert_eq!(
            DomainPattern::parse("a.com:99999").unwrap_err().to_string(),
            "expected a port from 1 to 65535 in `a.com:99999`"
        );
    }

    #[test]
    fn matching() {
        let h = |s: &str| parse_host(s).unwrap();
        let cases: &[(&str, &str, u16, u16, bool)] = &[
            ("api.example.com", "api.example.com", 443, 443, true),
            ("api.example.com", "API.EXAMPLE.COM.", 443, 443, true),
            ("api.example.com", "api.example.com", 80, 80, true),
            ("api.example.com", "api.example.com", 8443, 443, false),
            ("api.example.com", "api.example.com", 80, 443, false),
            ("api.example.com", "x.api.example.com", 443, 443, false),
            ("api.example.com:8443", "api.example.com", 8443, 443, true),
            ("api.example.com:8443", "api.example.com", 443, 443, false),
            ("*.example.org", "a.example.org", 443, 443, true),
            ("*.example.org", "a.b.c.example.org", 443, 443, true),
            ("*.example.org", "example.org", 443, 443, false),
            ("*.example.org", "badexample.org", 443, 443, false),
            ("*.example.org", "example.org.evil.com", 443, 443, false),
            ("bücher.example", "xn--bcher-kva.example", 443, 443, true),
            ("xn--bcher-kva.example", "BÜCHER.example", 443, 443, true),
            ("127.0.0.1:8080", "127.0.0.1", 8080, 80, true),
            ("127.0.0.1:8080", "2130706433", 8080, 80, true),
            ("127.0.0.1:8080", "0x7f.1", 8080, 80, true),
            ("127.0.0.1:8080", "[::ffff:127.0.0.1]", 8080, 80, true),
            ("127.0.0.1:8080", "127.0.0.2", 8080, 80, false),
            ("127.0.0.1:8080", "localhost", 8080, 80, false),
            ("[::1]:9000", "[::1]", 9000, 80, true),
            ("[::1]:9000", "[0:0::1]", 9000, 80, true),
            ("*.example.org", "127.0.0.1", 443, 443, false),
        ];
        for &(p, host, port, default, want) in cases {
            assert_eq!(
                pat(p).matches(&h(host), port, default),
                want,
                "{p} vs {host}:{port}"
            );
        }
    }

    #[test]
    fn coverage() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.example.org", "a.example.org", true),
            ("*.example.org", "a.b.example.org", true),
            ("*.example.org", "*.a.example.org", true),
            ("*.example.org", "*.example.org", true),
            ("*.example.org", "example.org", false),
            ("*.example.org", "*.org", false),
            ("*.example.org", "a.example.org:8080", false),
            ("*.example.org:8080", "a.example.org:8080", true),
            ("*.example.org:8080", "a.example.org", false),
            ("a.example.org", "*.example.org", false),
            ("a.example.org", "A.example.org.", true),
            ("bücher.example", "xn--bcher-kva.example", true),
            ("127.0.0.1:8080", "2130706433:8080", true),
            ("*.org", "127.0.0.1", false),
            ("*.ample.org", "*.example.org", false),
        ];
        for &(p, q, want) in cases {
            assert_eq!(pat(p).covers(&pat(q)), want, "{p} covers {q}");
        }
    }

    #[test]
    fn listen_hosts() {
        for (text, ip) in [
            ("127.0.0.1", "127.0.0.1"),
            ("localhost", "127.0.0.1"),
            ("LocalHost.", "127.0.0.1"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("0.0.0.0", "0.0.0.0"),
            ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ] {
            assert_eq!(parse_listen_host(text), Some(ip.parse().unwrap()), "{text}");
        }
        for bad in [
            "example.com",
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "",
            "[::1",
            "local host",
        ] {
            assert_eq!(parse_listen_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn listen() {
        let ok = [
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("0.0.0.0:8080", "0.0.0.0:8080"),
            ("[::1]:9000", "[::1]:9000"),
            ("[::ffff:127.0.0.1]:9000", "127.0.0.1:9000"),
        ];
        for (text, shown) in ok {
            assert_eq!(ListenAddr::parse(text).unwrap().to_string(), shown);
        }
        assert!(matches!(
            ListenAddr::parse("127.0.0.1:0"),
            Err(HostParseError::InvalidPort { .. })
        ));
        for bad in [
            "localhost:9000",
            "127.0.0.1",
            "::1:9000",
            "127.0.0.1:65536",
            "2130706433:80",
            "",
        ] {
            assert!(
                matches!(
                    ListenAddr::parse(bad),
                    Err(HostParseError::InvalidListen { .. })
                ),
                "{bad}"
            );
        }
        let a = ListenAddr::parse("127.0.0.1:9000").unwrap();
        assert!(a.covers(&ListenAddr::parse("[::ffff:127.0.0.1]:9000").unwrap()));
        assert!(!a.covers(&ListenAddr::parse("127.0.0.1:9001").unwrap()));
        assert!(!a.covers(&ListenAddr::parse("0.0.0.0:9000").unwrap()));
    }

    // ---- properties: coverage soundness over a tiny alphabet ----

    fn label() -> impl Strategy<Value = String> {
        proptest::sample::select(&["a", "b", "ab", "xn--bcher-kva", "bücher"][..])
            .prop_map(str::to_owned)
    }

    fn host_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
    }

    fn pattern_text() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            host_text(),
            proptest::option::of(proptest::sample::select(&[80u16, 443, 8080][..])),
        )
            .prop_map(|(wild, h, port)| {
                let mut s = if wild { format!("*.{h}") } else { h };
                if let Some(p) = port {
                    s.push_str(&format!(":{p}"));
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn covers_is_sound(p in pattern_text(), q in pattern_text(), prefix in proptest::collection::vec(label(), 1..3),
                           default in proptest::sample::select(&[80u16, 443][..])) {
            let (p, q) = (pat(&p), pat(&q));
            // A concrete host q matches.
            let host = match q.host() {
                HostPattern::Exact(h) => h.clone(),
                HostPattern::Subdomains(base) => parse_host(&format!("{}.{base}", prefix.join("."))).unwrap(),
            };
            let port = q.port().unwrap_or(default);
            prop_assert!(q.matches(&host, port, default));
            if p.covers(&q) {
                prop_assert!(p.matches(&host, port, default), "{} covers {} but not {}:{}", p, q, host, port);
            }
        }

        #[test]
        fn covers_is_reflexive_and_transitive(p in pattern_text(), q in pattern_text(), r in pattern_text()) {
            let (p, q, r) = (pat(&p), pat(&q), pat(&r));
            prop_assert!(p.covers(&p));
            if p.covers(&q) && q.covers(&r) {
                prop_assert!(p.covers(&r));
            }
        }

        #[test]
        fn display_round_trips(p in pattern_text()) {
            let p = pat(&p);
            prop_assert_eq!(pat(&p.to_string()), p);
        }
    }
}
