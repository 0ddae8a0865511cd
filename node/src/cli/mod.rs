//! The `varsel` subcommands other than `start`: cluster operations, the key-value client,
//! `dev` and `bench`.
//!
//! Every command that talks to a cluster takes `--endpoints a,b,c` (or `VARSEL_ENDPOINTS`) and
//! tries the next node when one is down ([`crate::client::Cluster`]). Output is a table by
//! default and JSON with `--json`.

pub mod bench;
pub mod bench_domain;
pub mod cluster;
pub mod dev;
pub mod kv;

/// Default endpoints: the API ports `varsel dev` uses.
pub const DEFAULT_ENDPOINTS: &str = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

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
