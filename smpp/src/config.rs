//! Configuration of one bind ([`BindConfig`]) and of a client with several
//! binds ([`ClientConfig`]). Every field is documented with its default; every
//! queue and window has a named upper bound that `validate()` enforces.

use crate::error::ConnectError;
use crate::pdu::max_len;
use std::fmt;
use std::time::Duration;

/// Largest window (outstanding `submit_sm` per bind) we accept. SMSCs typically
/// allow 10–100; a larger window only hides a slow SMSC behind more messages
/// whose outcome becomes unknown if the connection drops.
pub const MAX_WINDOW: usize = 1_000;
/// Largest inbound channel we accept for [`Session::connect`](crate::Session::connect).
pub const MAX_INBOUND_QUEUE: usize = 100_000;
/// Most binds one client keeps (SMSC accounts usually allow a handful).
pub const MAX_BINDS: usize = 64;

/// How we bind (§4.1): which directions of traffic the session carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BindType {
    /// Submit only.
    Transmitter,
    /// Receive only (receipts and MO).
    Receiver,
    /// Both, on one connection.
    #[default]
    Transceiver,
}

/// A password that never shows in `Debug` or logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The password itself, for the bind PDU only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Everything one session needs: credentials, window and timers.
#[derive(Clone, Debug)]
pub struct BindConfig {
    /// Account name at the SMSC (≤15 octets).
    pub system_id: String,
    /// Account password (≤8 octets).
    pub password: Password,
    /// ESME type (≤12 octets); default empty.
    pub system_type: String,
    /// Bind type; default transceiver.
    pub bind_type: BindType,
    /// TON for `address_range`; default 0.
    pub addr_ton: u8,
    /// NPI for `address_range`; default 0.
    pub addr_npi: u8,
    /// Addresses served (≤40 octets); default empty.
    pub address_range: String,
    /// Outstanding `submit_sm` allowed on this bind, 1..=[`MAX_WINDOW`]; default 10.
    pub window: usize,
    /// Time to open the TCP connection; default 5 s.
    pub connect_timeout: Duration,
    /// Time from sending the bind to its response; default 10 s.
    pub bind_timeout: Duration,
    /// Time from writing a `submit_sm` to its response, after which the outcome
    /// is unknown; default 30 s.
    pub response_timeout: Duration,
    /// Time `submit` waits for a free window slot before giving up (not sent); default 30 s.
    pub window_wait: Duration,
    /// Interval between our `enquire_link`s; default 30 s.
    pub enquire_link_interval: Duration,
    /// Time an `enquire_link_resp` may take before the session is declared dead; default 10 s.
    pub enquire_link_timeout: Duration,
    /// Time `unbind` waits for outstanding responses and then for `unbind_resp`; default 5 s.
    pub unbind_timeout: Duration,
    /// Capacity of the inbound event channel created by `Session::connect`,
    /// 1..=[`MAX_INBOUND_QUEUE`]; default 1024.
    pub inbound_queue: usize,
    /// How long a `deliver_sm` waits for room in a full inbound channel before we
    /// answer `ESME_RX_T_APPN` so the SMSC redelivers later; default 5 s.
    pub inbound_wait: Duration,
}

impl BindConfig {
    /// A transceiver bind with default timers.
    pub fn new(system_id: impl Into<String>, password: impl Into<String>) -> Self {
        BindConfig {
            system_id: system_id.into(),
            password: Password::new(password),
            system_type: String::new(),
            bind_type: BindType::Transceiver,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            window: 10,
            connect_timeout: Duration::from_secs(5),
            bind_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            window_wait: Duration::from_secs(30),
            enquire_link_interval: Duration::from_secs(30),
            enquire_link_timeout: Duration::from_secs(10),
            unbind_timeout: Duration::from_secs(5),
            inbound_queue: 1024,
            inbound_wait: Duration::from_secs(5),
        }
    }

    /// Checks every field and says exactly which one is wrong.
    pub fn validate(&self) -> Result<(), ConnectError> {
        check_str("system_id", &self.system_id, max_len::SYSTEM_ID)?;
        check_str("password", self.password.expose(), max_len::PASSWORD)?;
        check_str("system_type", &self.system_type, max_len::SYSTEM_TYPE)?;
        check_str("address_range", &self.address_range, max_len::ADDRESS_RANGE)?;
        check_range("window", self.window, 1, MAX_WINDOW)?;
        check_range("inbound_queue", self.inbound_queue, 1, MAX_INBOUND_QUEUE)?;
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("bind_timeout", self.bind_timeout),
            ("response_timeout", self.response_timeout),
            ("enquire_link_interval", self.enquire_link_interval),
            ("enquire_link_timeout", self.enquire_link_timeout),
            ("unbind_timeout", self.unbind_timeout),
        ] {
            if d.is_zero() {
                return Err(ConnectError::Config(format!("{name} must be greater than zero")));
            }
        }
        Ok(())
    }
}

/// A client of several binds to one SMSC.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// SMSC address, `host:port`.
    pub addr: String,
    /// Credentials, window (per bind) and timers of each bind.
    pub bind: BindConfig,
    /// Number of sessions to keep bound, 1..=[`MAX_BINDS`]; default 1.
    pub binds: usize,
    /// First reconnect delay after a failure; default 500 ms.
    pub reconnect_backoff_min: Duration,
    /// Longest reconnect delay, also used after a credentials rejection; default 30 s.
    pub reconnect_backoff_max: Duration,
    /// First pause of a bind after the SMSC throttles it; default 200 ms.
    pub throttle_backoff_min: Duration,
    /// Longest such pause; default 5 s.
    pub throttle_backoff_max: Duration,
    /// How many times `SmppClient::submit` resends a throttled message itself
    /// (after the bind's pause) before returning `Throttled`; default 3. A
    /// throttled message was not accepted, so resending cannot duplicate it.
    pub throttle_retries: u32,
    /// How long `submit` waits for some bind to be up before `NotBound`; default 10 s.
    pub bound_wait: Duration,
    /// Capacity of the merged inbound channel, 1..=[`MAX_INBOUND_QUEUE`]; default 4096.
    pub inbound_queue: usize,
}

impl ClientConfig {
    /// A one-bind client with defaults.
    pub fn new(addr: impl Into<String>, bind: BindConfig) -> Self {
        ClientConfig {
            addr: addr.into(),
            bind,
            binds: 1,
            reconnect_backoff_min: Duration::from_millis(500),
            reconnect_backoff_max: Duration::from_secs(30),
            throttle_backoff_min: Duration::from_millis(200),
            throttle_backoff_max: Duration::from_secs(5),
            throttle_retries: 3,
            bound_wait: Duration::from_secs(10),
            inbound_queue: 4096,
        }
    }

    /// Checks every field and says exactly which one is wrong.
    pub fn validate(&self) -> Result<(), ConnectError> {
        self.bind.validate()?;
        if self.addr.is_empty() {
            return Err(ConnectError::Config("addr must not be empty".into()));
        }
        check_range("binds", self.binds, 1, MAX_BINDS)?;
        check_range("inbound_queue", self.inbound_queue, 1, MAX_INBOUND_QUEUE)?;
        if self.reconnect_backoff_min.is_zero() || self.reconnect_backoff_min > self.reconnect_backoff_max {
            return Err(ConnectError::Config(
                "reconnect_backoff_min must be > 0 and <= reconnect_backoff_max".into(),
            ));
        }
        if self.throttle_backoff_min.is_zero() || self.throttle_backoff_min > self.throttle_backoff_max {
            return Err(ConnectError::Config(
                "throttle_backoff_min must be > 0 and <= throttle_backoff_max".into(),
            ));
        }
        Ok(())
    }
}

fn check_str(field: &str, value: &str, max_with_nul: usize) -> Result<(), ConnectError> {
    if value.len() >= max_with_nul || value.as_bytes().contains(&0) {
        return Err(ConnectError::Config(format!(
            "{field} must be at most {} octets with no NUL byte (got {})",
            max_with_nul - 1,
            value.len()
        )));
    }
    Ok(())
}

fn check_range(field: &str, value: usize, min: usize, max: usize) -> Result<(), ConnectError> {
    if value < min || value > max {
        return Err(ConnectError::Config(format!("{field} must be in {min}..={max} (got {value})")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: validation names the bad field and Debug hides the password.
    /// Method: a long password, a zero window, and a formatted config.
    #[test]
    fn validate_and_redact() {
        let mut c = BindConfig::new("varsel", "secret");
        assert!(c.validate().is_ok());
        assert!(!format!("{c:?}").contains("secret"));
        c.password = Password::new("123456789");
        assert!(c.validate().err().map(|e| e.to_string()).unwrap_or_default().contains("password"));
        c.password = Password::new("ok");
        c.window = 0;
        assert!(c.validate().err().map(|e| e.to_string()).unwrap_or_default().contains("window"));
        let mut cc = ClientConfig::new("127.0.0.1:2775", BindConfig::new("a", "b"));
        cc.reconnect_backoff_min = Duration::from_secs(60);
        assert!(cc.validate().is_err());
    }
}
