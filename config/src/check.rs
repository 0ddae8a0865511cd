//! Rules shared by several sections: names, `host:port` addresses, URLs.

use crate::error::ConfigError;

/// Checks a name (a site, a provider): 1-63 letters, digits, `-` or `_`.
pub(crate) fn check_name(field: &str, v: &str) -> Result<(), ConfigError> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        let rule = format!("must be 1-63 characters of letters, digits, '-' or '_', got {v:?}");
        Err(ConfigError::invalid(field, rule))
    }
}

/// Checks a `host:port` address.
pub(crate) fn check_host_port(field: &str, v: &str) -> Result<(), ConfigError> {
    let ok = v.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        let rule = format!("must be host:port, got {v:?}");
        Err(ConfigError::invalid(field, rule))
    }
}

/// Checks an `http://` or `https://` URL.
pub fn check_url(field: &str, url: &str) -> Result<(), ConfigError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://")) && url.parse::<http::Uri>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(field, format!("must be an http(s):// URL, got {url:?}")))
    }
}
