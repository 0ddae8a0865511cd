//! `varsel certs …`: the cluster's certificates, made locally with no external tool.
//!
//! - `ca` makes the cluster CA (`ca.pem`, and `ca.key`, which signs everything else: keep it
//!   offline, on the operator's machine, not on the nodes);
//! - `node` makes a node's certificate, naming its node id (`varsel://node/<id>`, which the
//!   Raft port checks), its site, and the DNS names and addresses it is reached at;
//! - `client` makes a client certificate (for tools that authenticate by certificate; the Raft
//!   port refuses it because it names no node).
//!
//! Private keys are written readable by their owner only (0600); certificates 0644. Existing
//! files are not replaced without `--force`, so a CA is never overwritten by mistake (rotating
//! it means a new CA in a new directory, see `docs/runbooks/rotate-certificates.md`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use varsel_client::pki::{self, Ca, NodeNames, Pem};

use crate::error::CliError;

/// A certificate to make.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CertsCommand {
    /// Make the cluster CA: `<out>/ca.pem` and `<out>/ca.key`.
    Ca {
        /// Directory to write to (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// The CA's name, shown in every certificate it signs.
        #[arg(long, default_value = "Varsel cluster CA")]
        name: String,
        /// Days the CA is valid.
        #[arg(long, default_value_t = pki::CA_DAYS)]
        days: u32,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Make a node's certificate: `<out>/node-<id>.pem` and `<out>/node-<id>.key`.
    Node {
        /// Directory holding `ca.pem` and `ca.key`.
        #[arg(long)]
        ca: PathBuf,
        /// The node id the certificate names.
        #[arg(long)]
        node_id: u64,
        /// The node's site.
        #[arg(long)]
        site: String,
        /// A DNS name the node is reached at (repeat for several).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// An address the node is reached at (repeat for several).
        #[arg(long = "ip")]
        ips: Vec<IpAddr>,
        /// Directory to write to (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = pki::LEAF_DAYS)]
        days: u32,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
    },
    /// Make a client certificate: `<out>/<name>.pem` and `<out>/<name>.key`.
    Client {
        /// Directory holding `ca.pem` and `ca.key`.
        #[arg(long)]
        ca: PathBuf,
        /// The client's name (letters, digits, `-`, `_`).
        #[arg(long)]
        name: String,
        /// Directory to write to (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = pki::LEAF_DAYS)]
        days: u32,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
    },
}

fn pki_err(e: pki::PkiError) -> CliError {
    CliError::input(e.to_string())
}

fn load_ca(dir: &Path) -> Result<Ca, CliError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map_err(|e| CliError::file(&path, format!("{e} (make the CA with `varsel certs ca`)")))
    };
    Ca::load(&read("ca.pem")?, &read("ca.key")?).map_err(pki_err)
}

/// Writes a certificate and its key as `<out>/<stem>.pem` and `<out>/<stem>.key`.
fn write_pair(out: &Path, stem: &str, pem: &Pem, force: bool) -> Result<(), CliError> {
    let (cert, key) = (out.join(format!("{stem}.pem")), out.join(format!("{stem}.key")));
    for f in [&cert, &key] {
        if f.exists() && !force {
            return Err(CliError::file(f, "exists; give --force to replace it"));
        }
    }
    pki::write(&cert, &pem.cert, false).map_err(pki_err)?;
    pki::write(&key, &pem.key, true).map_err(pki_err)?;
    println!("wrote {} and {} (private, 0600)", cert.display(), key.display());
    Ok(())
}

/// Runs one `certs` command.
pub fn run(cmd: CertsCommand) -> Result<(), CliError> {
    match cmd {
        CertsCommand::Ca { out, name, days, force } => {
            let ca = Ca::new(&name, days).map_err(pki_err)?;
            write_pair(&out, "ca", ca.pem(), force)
        }
        CertsCommand::Node { ca, node_id, site, dns, ips, out, days, force } => {
            if dns.is_empty() && ips.is_empty() {
                return Err(CliError::input(
                    "--dns or --ip: give at least one name or address the node is reached at",
                ));
            }
            let names = NodeNames { node_id, site, dns, ips };
            let pem = load_ca(&ca)?.node(&names, days).map_err(pki_err)?;
            write_pair(&out, &format!("node-{node_id}"), &pem, force)
        }
        CertsCommand::Client { ca, name, out, days, force } => {
            let ok =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(CliError::input(format!("--name: letters, digits, '-' or '_', got {name:?}")));
            }
            let pem = load_ca(&ca)?.client(&name, days).map_err(pki_err)?;
            write_pair(&out, &name, &pem, force)
        }
    }
}
