//! Who a request comes from, for everything that counts per client address: the
//! throttles of signup, login, recovery and the provider's sign-in, and the cap on event
//! streams. One function, `client_addr`, used by all of them.
//!
//! It is the TCP peer, unless the peer is one of `CHAAT_TRUSTED_PROXIES` (a balancer in
//! front): then it is the rightmost address of `X-Forwarded-For` that is not a trusted
//! proxy. Each proxy appends the peer it saw, so everything left of the last untrusted
//! hop was written by the client itself and may be forged; without trusted proxies the
//! header is ignored, or anyone could pick a fresh address per request. Behind a
//! balancer without this, every request would come from 127.0.0.1 and one guesser
//! would throttle everyone.
//!
//! An IPv6 client counts by its /64, which one subscriber usually has whole: counting
//! each of its addresses apart would give one attacker 2^64 budgets.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};

use crate::config::Settings;

/// An address or a network (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, unmapped(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask(u128::from(u32::from(ip)), 32, self.prefix) == u128::from(u32::from(net)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask(u128::from(ip), 128, self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

/// `bits` of an address of `width` bits with only the first `prefix` kept.
fn mask(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u32::from(width - prefix.min(width));
    (bits >> keep) << keep
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let ip: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an address or a network (a.b.c.d/n, x::/n)"))?;
        let ip = unmapped(ip);
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(|| format!("`{s}`: the prefix must be 0 to {width}"))?,
        };
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4((mask(u128::from(u32::from(v4)), 32, prefix) as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask(u128::from(v6), 128, prefix).into()),
        };
        Ok(Cidr { network, prefix })
    }
}

/// As written in the settings (they are printed at start).
impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A client address as throttles count it: IPv4 as is, IPv6 as its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    pub fn of(ip: IpAddr) -> Self {
        match unmapped(ip) {
            IpAddr::V6(v6) => ClientAddr(IpAddr::V6(Ipv6Addr::from(mask(u128::from(v6), 128, 64)))),
            v4 => ClientAddr(v4),
        }
    }

    /// The address (IPv6: the first address of its /64), as the stream caps key on it.
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

/// What throttle buckets are named by: `203.0.113.7`, `2001:db8:1:2::/64`.
impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                write!(f, "{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client this request comes from (`None` only without a TCP peer, as in unit tests).
pub fn client_addr(req: &HttpRequest) -> Option<ClientAddr> {
    let trusted = req.app_data::<web::Data<Settings>>().map(|s| s.trusted_proxies.as_slice()).unwrap_or_default();
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted).map(ClientAddr::of)
}

/// `client_addr` as the name of a throttle bucket (`unknown` without a peer).
pub fn throttle_key(req: &HttpRequest) -> String {
    client_addr(req).map_or_else(|| "unknown".into(), |a| a.to_string())
}

/// The peer, or behind trusted proxies the rightmost `X-Forwarded-For` hop that is not
/// one of them. A hop that is not an address ends the walk at the last trusted one (only
/// a trusted proxy can have put it there, to the right of every untrusted hop); when
/// every hop is trusted, the leftmost is the client.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = unmapped(peer?);
    if !is_trusted(client) {
        return Some(client);
    }
    // Several headers are one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers.get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// `1.2.3.4`, `2001:db8::1`, `1.2.3.4:5678` or `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim().trim_matches('"');
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())).map(unmapped)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn networks_parse_and_hold_their_addresses() {
        let lan: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(lan.contains(ip("10.1.200.3")) && !lan.contains(ip("10.2.0.1")));
        assert!(lan.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped counts as IPv4");
        assert_eq!("10.1.2.3/16".parse::<Cidr>().unwrap(), lan, "host bits are dropped");
        let one: Cidr = " 127.0.0.1 ".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fdab::1")) && !v6.contains(ip("fe80::1")) && !v6.contains(ip("10.0.0.1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("203.0.113.1")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.org", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_forwarded_header_counts_only_from_a_trusted_peer() {
        let h = forwarded(&["198.51.100.7"]);
        let proxy = ip("127.0.0.1");
        assert_eq!(client_ip(Some(proxy), &h, &[]), Some(proxy), "no trusted proxies: the header is ignored");
        assert_eq!(client_ip(Some(ip("203.0.113.9")), &h, &["127.0.0.1".parse().unwrap()]), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(proxy), &h, &["127.0.0.0/8".parse().unwrap()]), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &["127.0.0.1".parse().unwrap()]), Some(proxy), "no header");
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_what_it_wrote_is_ignored() {
        let trusted: Vec<Cidr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("127.0.0.1"));
        // The client wrote "1.1.1.1, 2.2.2.2"; the edge proxy appended the real client,
        // the inner proxy the edge's address.
        let h = forwarded(&["1.1.1.1, 2.2.2.2, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(client_ip(peer, &h, &trusted), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(peer, &forwarded(&["garbage, 198.51.100.7"]), &trusted), Some(ip("198.51.100.7")));
        assert_eq!(client_ip(peer, &forwarded(&["10.0.0.7, 10.0.0.5"]), &trusted), Some(ip("10.0.0.7")), "all trusted: the leftmost");
        assert_eq!(client_ip(peer, &forwarded(&["198.51.100.7, nonsense"]), &trusted), peer, "garbage stops at the last trusted hop");
        assert_eq!(client_ip(peer, &forwarded(&["[2001:db8::5]:4711"]), &trusted), Some(ip("2001:db8::5")));
        assert_eq!(client_ip(peer, &forwarded(&["198.51.100.7:1234"]), &trusted), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ipv4_counts_by_address_and_ipv6_by_its_64() {
        assert_eq!(ClientAddr::of(ip("203.0.113.7")).to_string(), "203.0.113.7");
        assert_eq!(ClientAddr::of(ip("::ffff:203.0.113.7")).to_string(), "203.0.113.7");
        let a = ClientAddr::of(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(a, ClientAddr::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_eq!(a.ip(), ip("2001:db8:1:2::"));
        assert_ne!(a, ClientAddr::of(ip("2001:db8:1:3::1")));
    }
}
