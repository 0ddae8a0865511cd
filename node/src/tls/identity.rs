//! What a certificate says about a node: the node id it names, as the URI
//! `varsel://node/<id>` among its subject alternative names, and when it expires.

use rustls::pki_types::CertificateDer;
use varsel_raft_store::NodeId;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};

pub use varsel_config::tls::NODE_ID_URI_PREFIX as URI_PREFIX;

/// The node id `cert` names. Exactly one `varsel://node/<id>` URI with a positive id is
/// accepted: a certificate naming two nodes could speak for either.
pub fn node_id(cert: &CertificateDer<'_>) -> Result<NodeId, String> {
    let (_, x509) =
        X509Certificate::from_der(cert.as_ref()).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let san = x509
        .subject_alternative_name()
        .map_err(|e| format!("unreadable subject alternative names: {e}"))?
        .ok_or_else(|| format!("names no node: it has no subject alternative name {URI_PREFIX}<id>"))?;
    let mut ids = san.value.general_names.iter().filter_map(|n| match n {
        GeneralName::URI(uri) => uri.strip_prefix(URI_PREFIX),
        _ => None,
    });
    let Some(first) = ids.next() else {
        return Err(format!("names no node: no subject alternative name {URI_PREFIX}<id>"));
    };
    if ids.next().is_some() {
        return Err(format!("names more than one node ({URI_PREFIX}…)"));
    }
    match first.parse::<NodeId>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("{URI_PREFIX}{first}: the node id must be a positive integer")),
    }
}

/// When `cert` stops being valid, in seconds since the Unix epoch.
pub fn not_after_s(cert: &CertificateDer<'_>) -> Result<i64, String> {
    let (_, x509) =
        X509Certificate::from_der(cert.as_ref()).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(x509.validity().not_after.timestamp())
}
