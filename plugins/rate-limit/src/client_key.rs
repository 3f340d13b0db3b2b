//! The client a request is counted for: the socket peer, or the client a trusted proxy
//! names.
//!
//! A forwarded header is read only when the socket peer is a trusted proxy. Proxies append
//! the address they received the request from, so the header is walked from the right:
//! trusted hops are skipped and the first untrusted address is the client. Anything left
//! of it was written by the client and is ignored. An entry that is not an address
//! (`unknown`, an obfuscated `_name`, garbage) stops the walk, and the last trusted hop
//! reached is taken as the client, because an untrusted hop may have written the rest.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4};

use ipnet::IpNet;
use latchkey_sdk::salvo::http::HeaderMap;

use crate::config::ForwardedHeader;

/// Most forwarded hops walked. A chain longer than this ends at the last trusted hop
/// reached, which bounds the work a header of thousands of entries can cause.
const MAX_HOPS: usize = 32;

/// Finds the client address of a request and turns it into the client part of a key.
#[derive(Debug, Clone)]
pub(crate) struct ClientResolver {
    trusted: Vec<IpNet>,
    ipv6_prefix: u8,
    header: ForwardedHeader,
}

impl ClientResolver {
    /// Creates a resolver that believes forwarded headers from peers in `trusted_proxies`.
    ///
    /// # Errors
    ///
    /// The first entry of `trusted_proxies` that is not a CIDR.
    pub(crate) fn new(
        trusted_proxies: &[String],
        ipv6_prefix: u8,
        header: ForwardedHeader,
    ) -> Result<Self, String> {
        let trusted = trusted_proxies
            .iter()
            .map(|cidr| cidr.parse::<IpNet>().map_err(|_| cidr.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trusted,
            ipv6_prefix,
            header,
        })
    }

    /// Returns the client part of a counter key for a request from socket `peer` with
    /// `headers`: an IPv4 address, or an IPv6 network like `2001:db8:1:2::/64`.
    pub(crate) fn client_key(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
        match peer {
            Some(peer) => self.key_of(self.client_address(peer.ip(), headers)),
            // Only a Unix socket has no IP address, and every client of one shares a key.
            None => "unix".to_owned(),
        }
    }

    /// Returns the address of the client, following forwarded headers from trusted peers.
    pub(crate) fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.is_trusted(client) {
            return client;
        }
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let mut values = Vec::new();
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else {
                return client;
            };
            values.push(text);
        }
        let joined = values.join(",");
        for entry in joined.rsplit(',').take(MAX_HOPS) {
            let hop = match self.header {
                ForwardedHeader::XForwardedFor => parse_node(entry.trim()),
                ForwardedHeader::Forwarded => parse_forwarded_element(entry),
            };
            let Some(hop) = hop.map(canonical) else {
                return client;
            };
            if !self.is_trusted(hop) {
                return hop;
            }
            client = hop;
        }
        client
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }

    /// Formats `address` as a key: IPv4 as is, IPv6 as its network of `ipv6_prefix` bits.
    fn key_of(&self, address: IpAddr) -> String {
        match address {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                format!("{}/{}", Ipv6Addr::from(bits & mask), self.ipv6_prefix)
            }
        }
    }
}

/// Treats an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Parses one `X-Forwarded-For` entry or RFC 7239 node: `192.0.2.1`, `192.0.2.1:8080`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:8080`. The port may be obfuscated
/// (`_a1`) as RFC 7239 allows. `unknown`, obfuscated identifiers and anything else give
/// `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let address = inside.parse::<Ipv6Addr>().ok()?;
        return match after {
            "" => Some(IpAddr::V6(address)),
            _ => after
                .strip_prefix(':')
                .filter(|port| is_port(port))
                .map(|_| IpAddr::V6(address)),
        };
    }
    if let Ok(address) = node.parse::<SocketAddrV4>() {
        return Some(IpAddr::V4(*address.ip()));
    }
    let (host, port) = node.split_once(':')?;
    let address = host.parse::<std::net::Ipv4Addr>().ok()?;
    is_port(port).then_some(IpAddr::V4(address))
}

/// Returns whether `port` is a port number or an RFC 7239 obfuscated port (`_` then
/// letters, digits, `.`, `_` or `-`).
fn is_port(port: &str) -> bool {
    let numeric = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = port.len() > 1
        && port.starts_with('_')
        && port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (numeric && port.parse::<u16>().is_ok()) || obfuscated
}

/// Returns the address in the `for` parameter of one `Forwarded` element, such as
/// `for=192.0.2.60;proto=http;by=203.0.113.43`, or `None` when it has none or it is not
/// an address.
fn parse_forwarded_element(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            // RFC 7239 section 4 allows each parameter once per element.
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        found = Some(parse_node(value)?);
    }
    found
}

#[cfg(test)]
mod tests {
    use latchkey_sdk::salvo::http::HeaderValue;

    use super::*;

    const PROXY: &str = "10.0.0.5";

    fn resolver(header: ForwardedHeader) -> ClientResolver {
        let trusted = ["10.0.0.0/8".to_owned(), "fd00::/8".to_owned()];
        ClientResolver::new(&trusted, 64, header).unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn xff_client(peer: &str, values: &[&str]) -> String {
        let resolver = resolver(ForwardedHeader::XForwardedFor);
        let map = headers("x-forwarded-for", values);
        resolver
            .client_address(peer.parse().unwrap(), &map)
            .to_string()
    }

    fn forwarded_client(peer: &str, values: &[&str]) -> String {
        let resolver = resolver(ForwardedHeader::Forwarded);
        let map = headers("forwarded", values);
        resolver
            .client_address(peer.parse().unwrap(), &map)
            .to_string()
    }

    #[test]
    fn untrusted_peer_header_ignored() {
        assert_eq!(xff_client("198.51.100.7", &["203.0.113.1"]), "198.51.100.7");
        assert_eq!(
            forwarded_client("198.51.100.7", &["for=203.0.113.1"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn trusted_peer_header_selects_client() {
        assert_eq!(xff_client(PROXY, &["203.0.113.1"]), "203.0.113.1");
        assert_eq!(forwarded_client(PROXY, &["for=203.0.113.1"]), "203.0.113.1");
    }

    #[test]
    fn rightmost_untrusted_hop_chosen() {
        // The client wrote 1.1.1.1 itself, and 203.0.113.1 reached the trusted 10.0.0.9.
        assert_eq!(
            xff_client(PROXY, &["1.1.1.1, 203.0.113.1, 10.0.0.9"]),
            "203.0.113.1"
        );
        assert_eq!(
            xff_client(PROXY, &["1.1.1.1", "203.0.113.1, 10.0.0.9"]),
            "203.0.113.1"
        );
        assert_eq!(
            forwarded_client(
                PROXY,
                &["for=1.1.1.1, for=203.0.113.1;proto=https, for=10.0.0.9"]
            ),
            "203.0.113.1"
        );
    }

    #[test]
    fn only_trusted_hops_give_leftmost() {
        assert_eq!(xff_client(PROXY, &["10.1.1.1, 10.0.0.9"]), "10.1.1.1");
        assert_eq!(xff_client(PROXY, &[]), PROXY);
    }

    #[test]
    fn malformed_xff_entries_fall_back() {
        let cases: [(&[&str], &str); 14] = [
            (&["unknown"], PROXY),
            (&["_hidden"], PROXY),
            (&[""], PROXY),
            (&[" , "], PROXY),
            (&["203.0.113.1:8080"], "203.0.113.1"),
            (&["203.0.113.1:99999"], PROXY),
            (&["203.0.113.1:"], PROXY),
            (&["[2001:db8::1]:443"], "2001:db8::1"),
            (&["[2001:db8::1]"], "2001:db8::1"),
            (&["[2001:db8::1"], PROXY),
            (&["\"203.0.113.1\""], PROXY),
            (&["203.0.113.1, garbage"], PROXY),
            // The garbage is left of the client, so it does not matter.
            (&["garbage, 203.0.113.1"], "203.0.113.1"),
            (&["10.0.0.9, 1.2.3.4.5"], PROXY),
        ];
        for (values, expected) in cases {
            assert_eq!(xff_client(PROXY, values), expected, "{values:?}");
        }
    }

    #[test]
    fn malformed_forwarded_elements_fall_back() {
        let cases: [(&str, &str); 13] = [
            ("for=unknown", PROXY),
            ("for=_hidden", PROXY),
            ("for=\"_hidden\"", PROXY),
            ("proto=https", PROXY),
            ("for", PROXY),
            ("for=", PROXY),
            ("for=\"[2001:db8::1]:4711\"", "2001:db8::1"),
            ("for=\"[2001:db8::1]:_port\"", "2001:db8::1"),
            ("FOR=203.0.113.1", "203.0.113.1"),
            ("for=\"203.0.113.1", PROXY),
            ("for=203.0.113.1;for=198.51.100.1", PROXY),
            ("for=[2001:db8::1]", "2001:db8::1"),
            ("for=203.0.113.1:80;by=10.0.0.5", "203.0.113.1"),
        ];
        for (value, expected) in cases {
            assert_eq!(forwarded_client(PROXY, &[value]), expected, "{value}");
        }
    }

    #[test]
    fn non_utf8_header_falls_back() {
        let resolver = resolver(ForwardedHeader::XForwardedFor);
        let mut map = HeaderMap::new();
        map.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.1\xff").unwrap(),
        );
        let client = resolver.client_address(PROXY.parse().unwrap(), &map);
        assert_eq!(client.to_string(), PROXY);
    }

    #[test]
    fn thousand_entries_bounded() {
        let client_written: Vec<String> = (0..1000)
            .map(|i| format!("1.2.{}.{}", i / 256, i % 256))
            .collect();
        let value = format!("{}, 203.0.113.1", client_written.join(", "));
        assert_eq!(xff_client(PROXY, &[value.as_str()]), "203.0.113.1");

        let trusted_chain: Vec<String> = (0..1000)
            .map(|i| format!("10.9.{}.{}", i / 256, i % 256))
            .collect();
        let value = format!("203.0.113.1, {}", trusted_chain.join(", "));
        let client = xff_client(PROXY, &[value.as_str()]);
        assert!(client.starts_with("10.9."), "{client}");

        let commas = ",".repeat(1000);
        assert_eq!(xff_client(PROXY, &[commas.as_str()]), PROXY);
    }

    #[test]
    fn ipv6_grouped_by_prefix() {
        let resolver = resolver(ForwardedHeader::XForwardedFor);
        let key = |address: &str| resolver.key_of(address.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("203.0.113.1"), "203.0.113.1");

        let full = ClientResolver::new(&[], 128, ForwardedHeader::XForwardedFor).unwrap();
        assert_eq!(
            full.key_of("2001:db8::1".parse().unwrap()),
            "2001:db8::1/128"
        );
        let one = ClientResolver::new(&[], 1, ForwardedHeader::XForwardedFor).unwrap();
        assert_eq!(one.key_of("ffff::1".parse().unwrap()), "8000::/1");
    }

    #[test]
    fn mapped_ipv4_treated_as_ipv4() {
        assert_eq!(
            xff_client("::ffff:10.0.0.5", &["203.0.113.1"]),
            "203.0.113.1"
        );
        assert_eq!(xff_client(PROXY, &["::ffff:203.0.113.1"]), "203.0.113.1");
        assert_eq!(xff_client("::ffff:198.51.100.7", &[]), "198.51.100.7");
        let resolver = resolver(ForwardedHeader::XForwardedFor);
        let peer: SocketAddr = "[::ffff:198.51.100.7]:5000".parse().unwrap();
        assert_eq!(
            resolver.client_key(Some(peer), &HeaderMap::new()),
            "198.51.100.7"
        );
    }

    #[test]
    fn other_header_ignored() {
        let resolver = resolver(ForwardedHeader::XForwardedFor);
        let map = headers("forwarded", &["for=203.0.113.1"]);
        let client = resolver.client_address(PROXY.parse().unwrap(), &map);
        assert_eq!(client.to_string(), PROXY);
    }

    #[test]
    fn invalid_trusted_cidr_returned() {
        let error = ClientResolver::new(&["10.0.0.1".to_owned()], 64, ForwardedHeader::Forwarded)
            .unwrap_err();
        assert_eq!(error, "10.0.0.1");
    }
}
