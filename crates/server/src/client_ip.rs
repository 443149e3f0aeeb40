//! The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
//! untrusted address in `X-Forwarded-For`. Untrusted peers cannot choose their own address.

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use ipnet::IpNet;

use crate::settings::SettingsError;

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From CIDRs (`10.0.0.0/8`, `127.0.0.1/32`, or a bare address).
    pub fn parse(cidrs: &[String]) -> Result<Self, String> {
        cidrs
            .iter()
            .map(|c| {
                c.parse::<IpNet>()
                    .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| c.clone())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// From a service's `trusted_proxies` setting, naming `{prefix}_TRUSTED_PROXIES` on error.
    pub fn from_setting(prefix: &str, cidrs: &[String]) -> Result<Self, SettingsError> {
        Self::parse(cidrs).map_err(|bad| SettingsError::Invalid {
            setting: format!("{prefix}_TRUSTED_PROXIES"),
            reason: format!("not a CIDR: {bad}"),
        })
    }

    /// The client address of a request: its TCP peer (absent on a Unix socket) and headers.
    pub fn client_ip_of(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        self.client_ip(peer, &parts.headers)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` (`None` on a Unix socket, where the peer
    /// is the local proxy itself).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let peer_trusted = peer.is_none_or(|p| self.trusts(p));
        if !peer_trusted {
            return peer.unwrap_or(unspecified);
        }
        // Right to left: the last hop added by a trusted proxy is the first untrusted one.
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(forwarded.first())
            .copied()
            .or(peer)
            .unwrap_or(unspecified)
    }
}

/// The IPv6 prefix length that counts as one client by default: a /64 is what one subscriber
/// or host usually gets, so counting full IPv6 addresses would give one host 2^64 budgets.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The network a client address counts as in rate limits and throttles: the address itself for
/// IPv4 (and IPv4-mapped IPv6), its first `ipv6_prefix` bits (clamped to 32..=128) for IPv6.
pub fn network_of(ip: IpAddr, ipv6_prefix: u8) -> IpNet {
    match ip {
        IpAddr::V4(v4) => IpNet::from(IpAddr::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet::from(IpAddr::V4(v4)),
            None => ipnet::Ipv6Net::new(v6, ipv6_prefix.clamp(32, 128))
                .map_or_else(|_| IpNet::from(ip), |net| IpNet::V6(net.trunc())),
        },
    }
}

/// Extractor: the client address as [`TrustedProxies::client_ip`] decides it, for any state
/// that holds the service's `Arc<TrustedProxies>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Arc<TrustedProxies>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(Self(
            Arc::<TrustedProxies>::from_ref(state).client_ip_of(parts),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_prefix_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a, 64), network_of(b, 64));
        assert_ne!(network_of(a, 64), network_of(c, 64));
        assert_eq!(network_of(a, 64).to_string(), "2001:db8:1:2::/64");
        assert_eq!(network_of(a, 48), network_of(c, 48));
        assert_ne!(network_of(a, 128), network_of(b, 128));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(network_of(v4, 64).to_string(), "192.0.2.7/32");
        assert_eq!(network_of(mapped, 64), network_of(v4, 64));
        assert_ne!(
            network_of(v4, 64),
            network_of("192.0.2.8".parse().unwrap(), 64)
        );
    }

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn untrusted_peers_cannot_spoof_their_address() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(proxies.client_ip(Some(peer), &headers("1.2.3.4")), peer);
    }

    #[test]
    fn trusted_proxies_forward_the_nearest_untrusted_hop() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]).unwrap();
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        // The client claims 6.6.6.6; the edge proxy appended the real 198.51.100.7.
        let ip = proxies.client_ip(Some(peer), &headers("6.6.6.6, 198.51.100.7, 10.2.2.2"));
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        // No header: the proxy itself.
        assert_eq!(proxies.client_ip(Some(peer), &HeaderMap::new()), peer);
        // A Unix socket peer is the local proxy.
        assert_eq!(
            proxies.client_ip(None, &headers("198.51.100.8")),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn refuses_bad_cidrs() {
        assert!(TrustedProxies::parse(&["not-an-ip".into()]).is_err());
    }
}
