//! IP networks in CIDR notation (`10.20.0.0/16`, `fd00::/8`, `::1/128`), for
//! `delivery.tenant_url_allowed_networks`.
//!
//! Parsed here rather than with a crate: the whole need is "parse, then test membership", and
//! the parser is strict so a typo in the operator's list is refused when the node starts, not
//! taken for a different range. A network whose address has bits set past the prefix
//! (`10.0.0.1/8`) is refused with the network it most likely means, since silently masking it
//! would allow more than the operator wrote.
//!
//! ```
//! use varsel_config::delivery::network::IpNetwork;
//!
//! let loopback: IpNetwork = "127.0.0.0/8".parse()?;
//! assert!(loopback.contains("127.0.0.1".parse().unwrap()));
//! assert!(!loopback.contains("::1".parse().unwrap()));
//! let err = "10.0.0.1/8".parse::<IpNetwork>().unwrap_err();
//! assert_eq!(err.to_string(), "has bits set past the prefix (the network is 10.0.0.0/8)");
//! # Ok::<(), varsel_config::delivery::network::NetworkError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: an address and the number of leading bits that name the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a text is not a network; worded to follow the entry it describes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// No `/` with a prefix length.
    #[error("is not an address, '/' and a prefix length (e.g. \"10.20.0.0/16\", \"fd00::/8\")")]
    NoPrefix,
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("does not start with an IPv4 or IPv6 address")]
    BadAddress,
    /// The prefix is not a number within the address's width.
    #[error("has a prefix length that is not a number from 0 to {max}")]
    BadPrefix {
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits past the prefix are set: the operator wrote a host, not a network.
    #[error("has bits set past the prefix (the network is {network})")]
    HostBits {
        /// The network the entry most likely means.
        network: IpNetwork,
    },
}

impl IpNetwork {
    /// The network `addr/prefix_len`; fails when bits past the prefix are set or the prefix is
    /// wider than the address.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, NetworkError> {
        let max = width(addr);
        if prefix_len > max {
            return Err(NetworkError::BadPrefix { max });
        }
        let network = Self { addr: masked(addr, prefix_len), prefix_len };
        if network.addr != addr {
            return Err(NetworkError::HostBits { network });
        }
        Ok(network)
    }

    /// The first address of the network.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that name the network.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is in the network. An IPv4 address is never in an IPv6 network or the other
    /// way round (IPv4-mapped IPv6 addresses are the caller's to unwrap).
    pub fn contains(&self, ip: IpAddr) -> bool {
        width(ip) == width(self.addr) && masked(ip, self.prefix_len) == self.addr
    }
}

/// Bits in an address of `ip`'s family.
fn width(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip` with every bit past the first `prefix_len` cleared (`prefix_len` at most the width).
fn masked(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

impl FromStr for IpNetwork {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or(NetworkError::NoPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| NetworkError::BadAddress)?;
        let max = width(addr);
        // Digits only: `u8::from_str` would also take "+8".
        let digits_only =
            !prefix.is_empty() && prefix.len() <= 3 && prefix.bytes().all(|b| b.is_ascii_digit());
        let prefix_len = prefix.parse::<u8>().ok().filter(|p| digits_only && *p <= max);
        Self::new(addr, prefix_len.ok_or(NetworkError::BadPrefix { max })?)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("a test address")
    }

    /// Goal: networks of both families parse and contain exactly their addresses.
    /// Method: boundaries of a /8, a /10, a /0, host networks (/32, /128) and a /7 in IPv6.
    #[test]
    fn membership() {
        let net = |s: &str| s.parse::<IpNetwork>().expect(s);
        assert!(net("127.0.0.0/8").contains(ip("127.255.255.255")));
        assert!(!net("127.0.0.0/8").contains(ip("128.0.0.0")));
        assert!(net("100.64.0.0/10").contains(ip("100.127.255.255")));
        assert!(!net("100.64.0.0/10").contains(ip("100.128.0.0")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")), "families never mix");
        assert!(net("10.1.2.3/32").contains(ip("10.1.2.3")));
        assert!(!net("10.1.2.3/32").contains(ip("10.1.2.4")));
        assert!(net("::1/128").contains(ip("::1")));
        assert!(net("fc00::/7").contains(ip("fdff::1")));
        assert!(!net("fc00::/7").contains(ip("fe00::1")));
        assert_eq!(net("fd00::/8").to_string(), "fd00::/8");
    }

    /// Goal: every malformed entry is refused with the rule it breaks.
    /// Method: one entry per error variant, and prefixes that `u8::from_str` alone would take.
    #[test]
    fn refusals() {
        let err = |s: &str| s.parse::<IpNetwork>().expect_err(s);
        assert_eq!(err("10.0.0.0"), NetworkError::NoPrefix);
        assert_eq!(err("ten/8"), NetworkError::BadAddress);
        assert_eq!(err("10.0.0.0/33"), NetworkError::BadPrefix { max: 32 });
        assert_eq!(err("::/129"), NetworkError::BadPrefix { max: 128 });
        assert_eq!(err("10.0.0.0/+8"), NetworkError::BadPrefix { max: 32 });
        assert_eq!(err("10.0.0.0/"), NetworkError::BadPrefix { max: 32 });
        assert_eq!(err("10.0.0.0/8/8"), NetworkError::BadPrefix { max: 32 });
        assert_eq!(err("10.0.0.1/8").to_string(), "has bits set past the prefix (the network is 10.0.0.0/8)");
        assert_eq!(err("fe80::1/10").to_string(), "has bits set past the prefix (the network is fe80::/10)");
    }
}
