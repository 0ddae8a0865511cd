//! The `varsel` command: every operator command, `dev` and `bench`, and output formatting.
//! `varsel start` runs a node through `varsel_node::run`; everything else is here.
//!
//! Every command that talks to a cluster takes `--endpoints a,b,c` (or `VARSEL_ENDPOINTS`) and
//! tries the next node when one is down ([`varsel_client::Cluster`]). Output is a table by
//! default and JSON with `--json`.
//!
//! # Layout
//!
//! - [`cluster`], [`kv`], [`dev`], [`bench`]: cluster operation and demonstration.
//! - [`voice`]: `voice render`, a voice script spoken into a WAV file for a preview.
//! - [`certs`]: the cluster CA, node and client certificates.
//! - The public API, one file per command group: [`tenant`] (tenants, limits, credentials),
//!   [`contact`] and [`import`] (contacts, CSV import), [`list_sync`] (`import --sync`),
//!   [`group`], [`template`], [`alert`] and [`watch`] (live progress), [`audit`], [`webhook`].
//! - Their shared parts: [`auth`] (the token and the interceptor that sends it), [`session`]
//!   (cluster + token + options; paging), [`parse`] (command-line text to protocol values),
//!   [`output`] (tables, times, JSON), [`keyed`] (idempotency keys of writes), [`error`].
//!
//! The commands are documented for users in `docs/reference/cli.md`.

pub mod alert;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod bench_area;
pub mod bench_console;
pub mod bench_domain;
pub mod bench_etcd;
pub mod bench_fanout;
pub mod bench_rest;
pub mod bench_retention;
pub mod certs;
pub mod cluster;
pub mod contact;
pub mod demo;
pub mod dev;
pub mod dev_webhooks;
pub mod error;
#[cfg(test)]
mod fake;
pub mod group;
pub mod import;
pub mod keyed;
pub mod kv;
pub mod list_sync;
pub mod output;
pub mod parse;
pub mod replies;
pub mod session;
pub mod template;
pub mod tenant;
pub mod voice;
pub mod watch;
pub mod webhook;

/// Default endpoints: the API ports `varsel dev` uses.
pub const DEFAULT_ENDPOINTS: &str = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

/// The CA certificate `varsel dev` makes in its default data directory; commands trust it
/// when no `--ca-file` is given and it exists.
pub const DEV_CA_FILE: &str = ".varsel-dev/tls/ca.pem";

/// Whether every endpoint of a comma-separated list (`host:port`, `https://host:port`, …) is
/// on this machine: `localhost` or a loopback address.
pub fn all_loopback(endpoints: &str) -> bool {
    endpoints.split(',').map(str::trim).filter(|e| !e.is_empty()).all(|e| {
        let e = e.split_once("://").map_or(e, |(_, rest)| rest);
        let host = e.rsplit_once(':').map_or(e, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    })
}

/// Prints rows as an aligned table with a header.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.clone());
    }
}

#[cfg(test)]
mod loopback_tests {
    use super::all_loopback;

    /// Goal: the dev CA is offered only to endpoints on this machine. Method: loopback forms
    /// (v4, v6 in brackets, localhost, with a scheme) and lists with one remote host.
    #[test]
    fn only_this_machine_is_loopback() {
        assert!(all_loopback("127.0.0.1:7001,127.0.0.1:7002"));
        assert!(all_loopback("[::1]:7001, localhost:7002"));
        assert!(all_loopback("https://127.0.0.2:7001"));
        assert!(!all_loopback("127.0.0.1:7001,10.0.0.5:7001"));
        assert!(!all_loopback("varsel.example.net:7001"));
        assert!(!all_loopback("localhost.evil.example:7001"));
    }
}
