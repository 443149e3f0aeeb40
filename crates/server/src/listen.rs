//! Where a service listens: a TCP address or a Unix socket path.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr};

use serde::{Deserialize, Deserializer};

/// A listen address: `127.0.0.1:8001`, `[::1]:8001`, or `unix:/run/permesi/permesi.sock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP socket address.
    Tcp(SocketAddr),
    /// A Unix domain socket path (a stale socket file is replaced at start).
    Unix(PathBuf),
}

/// Why a listen address was refused.
#[derive(Debug, thiserror::Error)]
#[error("expected HOST:PORT or unix:/absolute/path")]
pub struct ListenAddrError;

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.starts_with('/') && path.len() > 1 {
                return Ok(Self::Unix(PathBuf::from(path)));
            }
            return Err(ListenAddrError);
        }
        s.parse::<SocketAddr>()
            .map(Self::Tcp)
            .map_err(|_| ListenAddrError)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcp_and_unix() {
        assert_eq!(
            "127.0.0.1:8001".parse::<ListenAddr>().unwrap(),
            ListenAddr::Tcp("127.0.0.1:8001".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/p.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/run/p.sock".into())
        );
        assert_eq!(
            "unix:///run/p.sock".parse::<ListenAddr>().unwrap(),
            ListenAddr::Unix("/run/p.sock".into())
        );
    }

    #[test]
    fn refuses_relative_unix_paths_and_garbage() {
        for bad in [
            "unix:",
            "unix:relative.sock",
            "localhost",
            "127.0.0.1",
            ":80",
            "",
        ] {
            assert!(
                bad.parse::<ListenAddr>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
