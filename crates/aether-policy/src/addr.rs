//! IP addresses: which ones are public (SPEC §3 "Non-public addresses"), and the networks of
//! `allow_private`.
//!
//! Classification is by the address actually connected to, after DNS, so that a name that
//! resolves to `127.0.0.1` or `169.254.169.254` cannot be used to reach inside (SSRF). IPv6 forms
//! that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are classified by the
//! embedded address, because a dual-stack host or a translator delivers them to it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; every other address is returned unchanged.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Whether the address is public: false for every address in a special-purpose range that is
/// not globally reachable. Sources: IANA IPv4 and IPv6 Special-Purpose Address Registries
/// (RFC 6890 and updates), the SSRF bypass list of PayloadsAllTheThings ("Server Side Request
/// Forgery/README.md": `0.0.0.0`, decimal/octal/hex spellings, `[::ffff:127.0.0.1]`,
/// `169.254.169.254`), and the class of bugs where allow-lists checked names or one IP family
/// only (e.g. Node's `--allow-net`-style checks and Deno `--deny-net` bypasses through `0.0.0.0`
/// and IPv4-mapped IPv6). IPv6 outside `2000::/3` is treated as non-public except the forms
/// that embed an IPv4 address, which are classified by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// IPv4 ranges that are not globally reachable.
const NON_PUBLIC_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),     // "this network", incl. 0.0.0.0 (reaches localhost on Linux)
    ([10, 0, 0, 0], 8),    // private (RFC 1918)
    ([100, 64, 0, 0], 10), // shared address space / CGNAT (RFC 6598)
    ([127, 0, 0, 0], 8),   // loopback
    ([169, 254, 0, 0], 16), // link-local, incl. cloud metadata 169.254.169.254
    ([172, 16, 0, 0], 12), // private (RFC 1918)
    ([192, 0, 0, 0], 24),  // IETF protocol assignments
    ([192, 0, 2, 0], 24),  // documentation TEST-NET-1
    ([192, 88, 99, 0], 24), // deprecated 6to4 relay anycast (RFC 7526)
    ([192, 168, 0, 0], 16), // private (RFC 1918)
    ([198, 18, 0, 0], 15), // benchmarking (RFC 2544)
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2
    ([203, 0, 113, 0], 24), // documentation TEST-NET-3
    ([224, 0, 0, 0], 4),   // multicast
    ([240, 0, 0, 0], 4),   // reserved, incl. broadcast 255.255.255.255
    ([255, 255, 255, 255], 32), // limited broadcast (inside 240/4, listed for clarity)
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    !NON_PUBLIC_V4.iter().any(|&(net, len)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        ip & mask == u32::from(Ipv4Addr::from(net)) & mask
    })
}

/// IPv6 ranges inside `2000::/3` that are not globally reachable (everything outside `2000::/3`
/// is non-public unless it embeds IPv4).
const NON_PUBLIC_V6: [(u128, u8); 5] = [
    (0x2001_0000 << 96, 23), // IETF protocol assignments (Teredo, ORCHID, ...), conservatively
    (0x2001_0db8 << 96, 32), // documentation
    (0x3fff_0000 << 96, 20), // documentation (RFC 9637)
    (0x5f00_0000 << 96, 16), // SRv6 SIDs (RFC 9602); outside 2000::/3, listed for clarity
    (0x2620_004f_8000 << 80, 48), // AS112-v6 (RFC 7534)
];

fn in_net6(ip: u128, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    ip & mask == net & mask
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    // ::/96 (IPv4-compatible, deprecated; `::` and `::1` embed 0.0.0.0 and 0.0.0.1) and
    // ::ffff:0:0/96 (IPv4-mapped).
    if in_net6(bits, 0, 96) || in_net6(bits, 0xffff << 32, 96) {
        return is_public_v4(low32);
    }
    // NAT64 well-known prefix (RFC 6052).
    if in_net6(bits, 0x0064_ff9b << 96, 96) {
        return is_public_v4(low32);
    }
    // 6to4 (RFC 3056): 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
    if in_net6(bits, 0x2002 << 112, 16) {
        return is_public_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    // Global unicast only; this excludes ::/8 leftovers, 64:ff9b:1::/48 (local-use NAT64),
    // 100::/64 (discard), fc00::/7 (unique-local), fe80::/10 (link-local), fec0::/10
    // (site-local) and ff00::/8 (multicast).
    in_net6(bits, 0x2000 << 112, 3)
        && !NON_PUBLIC_V6
            .iter()
            .any(|&(net, len)| in_net6(bits, net, len))
}

/// An IP network (`10.0.0.0/8`, `::1/128`). Invariants: host bits are zero, and an IPv4-mapped
/// IPv6 network of prefix 96 or more is stored as the IPv4 network it maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A network that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "expected an IP address or CIDR such as `127.0.0.1`, `10.0.0.0/8` or `::1/128`, found `{found}`"
)]
pub struct IpNetError {
    /// The text as written.
    pub found: String,
}

impl IpNet {
    /// A network from an address and prefix length; host bits are cleared. `None` if the prefix
    /// is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        match addr {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Some(IpNet {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                })
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return None;
                }
                if prefix >= 96
                    && let Some(v4) = v6.to_ipv4_mapped()
                {
                    return IpNet::new(IpAddr::V4(v4), prefix - 96);
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Some(IpNet {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                })
            }
        }
    }

    /// Parses `addr` (a single address: /32 or /128) or `addr/len`. Host bits are accepted and
    /// cleared (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(text: &str) -> Result<IpNet, IpNetError> {
        let err = || IpNetError {
            found: text.to_owned(),
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, len)) => {
                if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
                    return Err(err());
                }
                (addr, Some(len.parse::<u8>().map_err(|_| err())?))
            }
            None => (text, None),
        };
        let addr = IpAddr::from_str(addr).map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        IpNet::new(addr, prefix.unwrap_or(max)).ok_or_else(err)
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (IPv4-mapped forms taken as IPv4) is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpNet::new(unmap(ip), self.prefix).is_some_and(|n| n.addr == self.addr)
    }
}

/// `addr/prefix`, always with the prefix.
impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpNet::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses() {
        // Sources per row: IANA special-purpose registries; PayloadsAllTheThings SSRF list
        // ("localhost" bypasses: 0.0.0.0, 127.127.127.127, [::], [::ffff:127.0.0.1], metadata
        // 169.254.169.254 / fd00:ec2::254); NAT64 and 6to4 embeddings (RFC 6052, RFC 3056).
        let cases = [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.127.127.127",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101::",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "5f00::1",
            "3fff::1",
            "1::1",
        ];
        for a in cases {
            assert!(!is_public(ip(a)), "{a} should not be public");
        }
    }

    #[test]
    fn public_addresses() {
        let cases = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "93.184.216.34",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ];
        for a in cases {
            assert!(is_public(ip(a)), "{a} should be public");
        }
    }

    #[test]
    fn nets() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            (
                "127.0.0.1/32",
                "127.0.0.1/32",
                &["127.0.0.1", "::ffff:127.0.0.1"],
                &["127.0.0.2", "::1"],
            ),
            ("127.0.0.1", "127.0.0.1/32", &["127.0.0.1"], &["127.0.0.2"]),
            (
                "10.0.0.0/8",
                "10.0.0.0/8",
                &["10.1.2.3", "::ffff:10.9.9.9"],
                &["11.0.0.0"],
            ),
            (
                "10.1.2.3/8",
                "10.0.0.0/8",
                &["10.200.0.1"],
                &["9.255.255.255"],
            ),
            ("::1", "::1/128", &["::1"], &["::2", "127.0.0.1"]),
            ("fc00::/7", "fc00::/7", &["fd12::1", "fc00::"], &["fe00::"]),
            (
                "0.0.0.0/0",
                "0.0.0.0/0",
                &["8.8.8.8", "::ffff:1.2.3.4"],
                &["::1"],
            ),
            (
                "::ffff:127.0.0.0/104",
                "127.0.0.0/8",
                &["127.9.9.9"],
                &["128.0.0.1"],
            ),
        ];
        for &(text, shown, inside, outside) in cases {
            let net = IpNet::parse(text).unwrap();
            assert_eq!(net.to_string(), shown);
            for a in inside {
                assert!(net.contains(ip(a)), "{text} contains {a}");
            }
            for a in outside {
                assert!(!net.contains(ip(a)), "{text} excludes {a}");
            }
        }
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10/8",
            "localhost",
            "10.0.0.0/0008",
            " 10.0.0.1",
        ] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unmapping() {
        assert_eq!(unmap(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(unmap(ip("::127.0.0.1")), ip("::127.0.0.1"));
        assert_eq!(unmap(ip("1.2.3.4")), ip("1.2.3.4"));
    }
}
