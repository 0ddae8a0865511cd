//! A bound on the connections one source address holds on a listener, so one host cannot take
//! every slot of the listener's global bound (the handshake deadline stops sockets that say
//! nothing; this stops one client that completes many handshakes and then idles).
//!
//! Loopback sources are not bounded: on one machine every client, peer and local proxy shares
//! one address, and whoever is on the machine already has the node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per source address of one listener.
#[derive(Debug)]
pub struct PerSource {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its source's count; given back on drop.
#[derive(Debug)]
pub struct SourceSlot {
    of: Arc<PerSource>,
    ip: IpAddr,
}

impl PerSource {
    /// At most `max` open connections from any one non-loopback address.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max: max.max(1), open: Mutex::new(HashMap::new()) })
    }

    /// A slot for a connection from `ip`; `Ok(None)` for loopback (not counted); `Err` with
    /// the bound when `ip` already holds it.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Result<Option<SourceSlot>, usize> {
        let ip = ip.to_canonical();
        if ip.is_loopback() {
            return Ok(None);
        }
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return Err(self.max);
        }
        *n += 1;
        Ok(Some(SourceSlot { of: self.clone(), ip }))
    }

    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: one address holds at most the bound, others are unaffected, a closed connection
    /// gives its slot back (and leaves no entry behind), and loopback is not counted.
    /// Method: take slots for two addresses (one also as IPv4-mapped IPv6) up to and past the
    /// bound, drop one, take again; take many for 127.0.0.1 and ::1.
    #[test]
    fn one_source_holds_at_most_the_bound() {
        let limit = PerSource::new(2);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = limit.take(a).unwrap().unwrap();
        let _second = limit.take(mapped).unwrap().unwrap();
        assert_eq!(limit.take(a).unwrap_err(), 2, "a third from the same host");
        let _other = limit.take(b).unwrap().unwrap();
        drop(first);
        assert_eq!(limit.held(a), 1);
        let _again = limit.take(a).unwrap().unwrap();
        let local: Vec<_> = (0..10).map(|_| limit.take("127.0.0.1".parse().unwrap()).unwrap()).collect();
        assert!(local.iter().all(Option::is_none));
        assert!(limit.take("::1".parse().unwrap()).unwrap().is_none());
        drop(_again);
        drop(_second);
        assert_eq!(limit.open.lock().unwrap().len(), 1, "only b's entry is left");
    }
}
