//! Which addresses a node connects to for URLs that tenants supply.
//!
//! A Web Push endpoint is a URL from a tenant's contact data, so without a rule a tenant could
//! make a node POST to services on the node's own network: its loopback, the site's private
//! ranges, a cloud metadata service at `169.254.169.254`. The rule: a URL supplied by a tenant
//! is called only at addresses that are none of
//!
//! | class | IPv4 | IPv6 |
//! |---|---|---|
//! | unspecified | `0.0.0.0/8` ("this network"; Linux connects `0.0.0.0` to itself) | `::/128` |
//! | loopback | `127.0.0.0/8` | `::1/128` |
//! | private | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918) | `fc00::/7` (unique local), `fec0::/10` (old site-local) |
//! | link-local | `169.254.0.0/16` (with cloud metadata services) | `fe80::/10` |
//! | shared (CGNAT) | `100.64.0.0/10` (RFC 6598; carrier and cloud internal networks) | |
//! | broadcast | `255.255.255.255` | |
//! | multicast | `224.0.0.0/4` | `ff00::/8` |
//! | reserved | `240.0.0.0/4` | |
//!
//! and an IPv6 address that carries an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
//! IPv4-compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by that IPv4
//! address, so `::ffff:127.0.0.1` is loopback. The operator may allow ranges
//! (`delivery.tenant_url_allowed_networks`), e.g. an internal push relay, or `127.0.0.0/8` in
//! tests.
//!
//! The rule is applied to the addresses a connection is actually opened to: the resolver of
//! the client ([`connect`]) resolves the name, drops refused addresses, and the connection is
//! made only to those left, so a name that resolves to `127.0.0.1`, or that is re-pointed there
//! between two messages (DNS rebinding), is caught; an address written in the URL itself
//! (`https://10.0.0.5/…`, `https://[::1]/…`) is checked before connecting. When nothing is left
//! the call fails with [`OutboundRefused`], whose text says which addresses and why, and which
//! setting would allow them. The client follows no redirects, so a refused address cannot be
//! reached through a public one either.
//!
//! Providers the operator configures (`http_sms`, `voice_http`, the simulator) keep calling
//! any address: the operator chose them, often on an internal network. Only URLs that come
//! from tenants' data are policed: Web Push endpoints today, tenant webhooks later (build their
//! client with [`connect::PolicedConnector::tenant`] and an [`AddressPolicy`] of their own
//! `purpose`).

pub mod connect;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use varsel_config::delivery::network::IpNetwork;

/// Refused addresses named in one error; a name may resolve to dozens, and the first few tell
/// the operator what they need to know.
pub const REFUSED_SHOWN_MAX: usize = 4;

/// The configuration field that allows ranges, as error messages name it.
pub const ALLOW_FIELD: &str = "delivery.tenant_url_allowed_networks";

/// Why an address is not called for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918, `fc00::/7`, `fec0::/10`.
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `100.64.0.0/10`.
    Shared,
    /// `255.255.255.255`.
    Broadcast,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4`.
    Reserved,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Shared => "shared (CGNAT)",
            Self::Broadcast => "broadcast",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
        })
    }
}

/// The class of `ip` that keeps it from being called for a tenant; `None` for an address on
/// the public internet.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if a == 0 => AddressClass::Unspecified,
        _ if ip.is_loopback() => AddressClass::Loopback,
        _ if ip.is_private() => AddressClass::Private,
        _ if ip.is_link_local() => AddressClass::LinkLocal,
        // 100.64.0.0/10: the first octet 100, the top two bits of the second 01.
        _ if a == 100 && b & 0xC0 == 0x40 => AddressClass::Shared,
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        _ if ip.is_multicast() => AddressClass::Multicast,
        _ if a >= 240 => AddressClass::Reserved,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_unique_local() => AddressClass::Private,
        // fec0::/10, deprecated by RFC 3879 but still routed by some stacks.
        _ if first & 0xFFC0 == 0xFEC0 => AddressClass::Private,
        _ if ip.is_unicast_link_local() => AddressClass::LinkLocal,
        _ if ip.is_multicast() => AddressClass::Multicast,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated), NAT64's
/// well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052) and 6to4 (`2002:aabb:ccdd::/48`, RFC
/// 3056). `::` and `::1` are not: they are IPv6's own unspecified and loopback addresses.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xFFFF, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(low),
        [0x64, 0xFF9B, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// The rule for one kind of tenant-supplied URL: what it is for (in error messages) and the
/// ranges the operator allows although they are internal.
#[derive(Debug, Clone)]
pub struct AddressPolicy {
    purpose: &'static str,
    allowed: Vec<IpNetwork>,
}

impl AddressPolicy {
    /// The rule for URLs used as `purpose` ("push endpoint"), with the operator's `allowed`
    /// ranges.
    pub fn new(purpose: &'static str, allowed: Vec<IpNetwork>) -> Self {
        Self { purpose, allowed }
    }

    /// What the URLs are for.
    pub fn purpose(&self) -> &'static str {
        self.purpose
    }

    /// Whether a connection to `ip` may be made; the error is why not. An address in an
    /// allowed range passes whatever its class; an IPv6 address that carries an IPv4 address
    /// also passes when that IPv4 address is in an allowed range.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let Some(class) = classify(ip) else { return Ok(()) };
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = |candidate: IpAddr| self.allowed.iter().any(|n| n.contains(candidate));
        if allowed(ip) || v4.is_some_and(allowed) { Ok(()) } else { Err(class) }
    }

    /// The addresses `host` resolved to that may be called, in the resolver's order; an error
    /// when there were some and none may.
    pub fn admit(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, OutboundRefused> {
        let mut refused = Vec::new();
        let mut admitted = Vec::with_capacity(addrs.len());
        for addr in addrs {
            match self.check(addr.ip()) {
                Ok(()) => admitted.push(addr),
                Err(class) => refused.push((addr.ip(), class)),
            }
        }
        if admitted.is_empty() && !refused.is_empty() {
            return Err(OutboundRefused::new(self.purpose, host, false, refused));
        }
        if !refused.is_empty() {
            tracing::debug!(
                purpose = self.purpose,
                host,
                refused = refused.len(),
                "some addresses of a tenant URL's host left out"
            );
        }
        Ok(admitted)
    }

    /// Checks an address written in the URL itself (no resolution happens for it).
    pub fn check_literal(&self, host: &str, ip: IpAddr) -> Result<(), OutboundRefused> {
        self.check(ip).map_err(|class| OutboundRefused::new(self.purpose, host, true, vec![(ip, class)]))
    }
}

/// A call to a tenant-supplied URL refused because every address of its host is one the rule
/// refuses. Retrying does not help (unless the host's DNS changes), so it fails the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OutboundRefused {
    /// What the URL was for ("push endpoint").
    pub purpose: &'static str,
    /// The host as the URL names it.
    pub host: String,
    /// The host is an address written in the URL, not a name.
    pub literal: bool,
    /// The refused addresses and why, at most [`REFUSED_SHOWN_MAX`].
    pub refused: Vec<(IpAddr, AddressClass)>,
    /// Refused addresses beyond those listed.
    pub more: usize,
}

impl OutboundRefused {
    fn new(
        purpose: &'static str,
        host: &str,
        literal: bool,
        mut refused: Vec<(IpAddr, AddressClass)>,
    ) -> Self {
        let more = refused.len().saturating_sub(REFUSED_SHOWN_MAX);
        refused.truncate(REFUSED_SHOWN_MAX);
        Self { purpose, host: host.to_string(), literal, refused, more }
    }
}

impl fmt::Display for OutboundRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (purpose, host) = (self.purpose, &self.host);
        if self.literal {
            write!(f, "{purpose} host {host} is an address Varsel does not call (")?;
        } else {
            write!(f, "{purpose} host {host} resolves only to addresses Varsel does not call (")?;
        }
        for (i, (ip, class)) in self.refused.iter().enumerate() {
            write!(f, "{}{ip}: {class}", if i == 0 { "" } else { ", " })?;
        }
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        write!(f, "); allow the range in {ALLOW_FIELD}")
    }
}
