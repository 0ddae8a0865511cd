//! Unit tests of the outbound address rule: every class of address, the operator's allowed
//! ranges, the error text, and the rule where connections are made (an address literal, a
//! name that resolves to loopback).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::providers::http::{CallError, JsonClient};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("a test address")
}

fn class(s: &str) -> Option<AddressClass> {
    classify(ip(s))
}

fn nets(list: &[&str]) -> Vec<IpNetwork> {
    list.iter().map(|n| n.parse().expect("a test network")).collect()
}

/// Goal: every IPv4 class is refused, to the edge of its range, and the public addresses just
/// outside each range are not.
/// Method: first and last address of each range, and a neighbour outside it.
#[test]
fn ipv4_classes() {
    use AddressClass::*;
    let cases = [
        ("0.0.0.0", Some(Unspecified)),
        ("0.255.255.255", Some(Unspecified)),
        ("127.0.0.1", Some(Loopback)),
        ("127.255.255.254", Some(Loopback)),
        ("10.0.0.0", Some(Private)),
        ("10.255.255.255", Some(Private)),
        ("172.16.0.1", Some(Private)),
        ("172.31.255.255", Some(Private)),
        ("172.32.0.0", None),
        ("172.15.255.255", None),
        ("192.168.1.1", Some(Private)),
        ("192.169.0.0", None),
        ("169.254.169.254", Some(LinkLocal)),
        ("169.254.0.0", Some(LinkLocal)),
        ("169.255.0.0", None),
        ("100.64.0.0", Some(Shared)),
        ("100.127.255.255", Some(Shared)),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("255.255.255.255", Some(Broadcast)),
        ("224.0.0.1", Some(Multicast)),
        ("239.255.255.255", Some(Multicast)),
        ("240.0.0.1", Some(Reserved)),
        ("1.1.1.1", None),
        ("8.8.8.8", None),
        ("203.0.113.7", None),
        ("223.255.255.255", None),
    ];
    for (addr, expected) in cases {
        assert_eq!(class(addr), expected, "{addr}");
    }
}

/// Goal: every IPv6 class is refused, and IPv6 forms that carry an IPv4 address are judged by
/// it (so `::ffff:127.0.0.1` is loopback and `::ffff:8.8.8.8` is public).
/// Method: one or two addresses per class and per embedding (mapped, compatible, NAT64, 6to4).
#[test]
fn ipv6_classes() {
    use AddressClass::*;
    let cases = [
        ("::", Some(Unspecified)),
        ("::1", Some(Loopback)),
        ("fc00::1", Some(Private)),
        ("fdff:ffff::1", Some(Private)),
        ("fec0::1", Some(Private)),
        ("fe80::1", Some(LinkLocal)),
        ("febf:ffff::1", Some(LinkLocal)),
        ("ff02::1", Some(Multicast)),
        ("2001:4860:4860::8888", None),
        ("2a00:1450:400f:80d::200e", None),
        ("::ffff:127.0.0.1", Some(Loopback)),
        ("::ffff:169.254.169.254", Some(LinkLocal)),
        ("::ffff:10.1.2.3", Some(Private)),
        ("::ffff:100.64.0.1", Some(Shared)),
        ("::ffff:0.0.0.0", Some(Unspecified)),
        ("::ffff:255.255.255.255", Some(Broadcast)),
        ("::ffff:8.8.8.8", None),
        ("::127.0.0.1", Some(Loopback)),
        ("::192.168.0.1", Some(Private)),
        ("64:ff9b::169.254.169.254", Some(LinkLocal)),
        ("64:ff9b::8.8.8.8", None),
        ("2002:7f00:1::1", Some(Loopback)),
        ("2002:0808:0808::1", None),
    ];
    for (addr, expected) in cases {
        assert_eq!(class(addr), expected, "{addr}");
    }
}

/// Goal: an allowed range lets its addresses through whatever their class, also in their
/// IPv4-mapped form; nothing else is let through.
/// Method: allow 127.0.0.0/8 and fd00::/8; check addresses inside and outside them.
#[test]
fn allowed_ranges() {
    let policy = AddressPolicy::new("push endpoint", nets(&["127.0.0.0/8", "fd00::/8"]));
    assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
    assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()), "the mapped form of an allowed address");
    assert_eq!(policy.check(ip("fd12::1")), Ok(()));
    assert_eq!(policy.check(ip("8.8.8.8")), Ok(()), "public addresses need no allowance");
    assert_eq!(policy.check(ip("::1")), Err(AddressClass::Loopback), "127.0.0.0/8 does not allow ::1");
    assert_eq!(policy.check(ip("fc00::1")), Err(AddressClass::Private));
    assert_eq!(policy.check(ip("169.254.169.254")), Err(AddressClass::LinkLocal));
    let none = AddressPolicy::new("push endpoint", Vec::new());
    assert_eq!(none.check(ip("127.0.0.1")), Err(AddressClass::Loopback));
}

/// Goal: of a name's addresses the refused ones are dropped and the rest kept in order; when
/// none is left the error names the host, the addresses with their class (at most
/// REFUSED_SHOWN_MAX) and the setting that would allow them.
/// Method: a mixed list, an all-refused list, a long all-refused list, an address literal.
#[test]
fn admit_and_error_text() {
    let policy = AddressPolicy::new("push endpoint", Vec::new());
    let sock = |s: &str| SocketAddr::new(ip(s), 443);
    let mixed = vec![sock("10.0.0.1"), sock("8.8.8.8"), sock("::1"), sock("1.1.1.1")];
    assert_eq!(policy.admit("push.example", mixed).unwrap(), vec![sock("8.8.8.8"), sock("1.1.1.1")]);
    assert_eq!(policy.admit("push.example", Vec::new()).unwrap(), Vec::new(), "nothing to refuse");

    let err = policy.admit("evil.example", vec![sock("127.0.0.1"), sock("::1")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "push endpoint host evil.example resolves only to addresses Varsel does not call \
         (127.0.0.1: loopback, ::1: loopback); allow the range in delivery.tenant_url_allowed_networks"
    );
    let many: Vec<SocketAddr> = (1..=6).map(|i| sock(&format!("10.0.0.{i}"))).collect();
    let err = policy.admit("many.example", many).unwrap_err();
    assert_eq!(err.refused.len(), REFUSED_SHOWN_MAX);
    assert!(err.to_string().contains("10.0.0.4: private and 2 more); allow"), "{err}");

    let err = policy.check_literal("169.254.169.254", ip("169.254.169.254")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "push endpoint host 169.254.169.254 is an address Varsel does not call \
         (169.254.169.254: link-local); allow the range in delivery.tenant_url_allowed_networks"
    );
}

/// A listener on 127.0.0.1 that answers every connection with 204 and counts connections.
async fn peer() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = seen.send(());
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    (port, rx)
}

fn refused(r: Result<crate::providers::http::Reply, CallError>) -> OutboundRefused {
    match r {
        Err(CallError::Refused(refused)) => refused,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Goal: the tenant client refuses at connect time, before any connection is opened: for an
/// address in the URL, and for a name that resolves to loopback (what a DNS name pointing at
/// 127.0.0.1, or rebound to it, looks like); an allowed range is called; the operator's client
/// calls anything.
/// Method: a local listener that counts connections; `localhost` stands for a hostile name
/// (it resolves through the system resolver to 127.0.0.1 and/or ::1, both refused).
#[tokio::test]
async fn refused_where_connections_are_made() {
    let (port, mut seen) = peer().await;
    let timeout = Duration::from_secs(5);
    let tenant = JsonClient::tenant(timeout, AddressPolicy::new("push endpoint", Vec::new()));
    let post = |client: &JsonClient, url: String| {
        let client = client.clone();
        async move { client.send(hyper::Method::POST, &url, None, &[]).await }
    };

    let literal = refused(post(&tenant, format!("http://127.0.0.1:{port}/push/a")).await);
    assert!(literal.literal);
    assert_eq!(literal.refused, vec![(ip("127.0.0.1"), AddressClass::Loopback)]);
    let literal6 = refused(post(&tenant, format!("https://[::1]:{port}/push/a")).await);
    assert_eq!(literal6.host, "[::1]");
    let mapped = refused(post(&tenant, format!("https://[::ffff:127.0.0.1]:{port}/x")).await);
    assert_eq!(mapped.refused[0].1, AddressClass::Loopback);
    let name = refused(post(&tenant, format!("http://localhost:{port}/push/a")).await);
    assert!(!name.literal);
    assert!(
        name.to_string().starts_with("push endpoint host localhost resolves only to addresses"),
        "{name}"
    );
    assert!(seen.try_recv().is_err(), "a refused call must not connect");

    let allowed = JsonClient::tenant(timeout, AddressPolicy::new("push endpoint", nets(&["127.0.0.0/8"])));
    let reply = post(&allowed, format!("http://127.0.0.1:{port}/push/a")).await.unwrap();
    assert_eq!(reply.status, 204);
    let operator = JsonClient::new(timeout);
    let reply = post(&operator, format!("http://127.0.0.1:{port}/sms")).await.unwrap();
    assert_eq!(reply.status, 204);
    assert!(seen.recv().await.is_some() && seen.recv().await.is_some(), "both allowed calls connected");
}
