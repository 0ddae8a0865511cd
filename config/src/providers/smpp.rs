//! `[providers.smpp]`: SMS over SMPP 3.4 (see `delivery::providers::smpp`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::secret::{SecretSource, check_source};

/// Most binds (sessions) one provider keeps per node; SMSC accounts allow a handful.
pub const SMPP_BINDS_MAX: usize = varsel_smpp::config::MAX_BINDS;
/// Largest window of outstanding `submit_sm` per bind.
pub const SMPP_WINDOW_MAX: usize = varsel_smpp::config::MAX_WINDOW;
/// Largest receipt map (message id → message key) a provider may keep; about 200 bytes each.
pub const SMPP_RECEIPT_MAP_ENTRIES_MAX: usize = 10_000_000;

/// Settings of an SMPP 3.4 provider (an SMS centre, "SMSC"). Every node binds on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppProviderConfig {
    /// The SMSC, `host:port`.
    pub addr: String,
    /// Account name at the SMSC (at most 15 octets).
    pub system_id: String,
    /// File holding the account password (at most 8 octets after trimming).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding the password (instead of `password_file`); it
    /// must not start with `VARSEL_`.
    #[serde(default)]
    pub password_env: Option<String>,
    /// ESME type sent in the bind (at most 12 octets); usually empty.
    #[serde(default)]
    pub system_type: String,
    /// Sessions bound at once from this node, 1 to 64.
    #[serde(default = "default_binds")]
    pub binds: usize,
    /// Outstanding `submit_sm` per bind, 1 to 1000; the SMSC's contract says how many.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Interval of `enquire_link` keep-alives on an idle bind.
    #[serde(default = "default_enquire_link_interval_ms")]
    pub enquire_link_interval_ms: u64,
    /// Sender shown on phones: an alphanumeric id (`Kommunen`, at most 11 characters) or a
    /// number (`+4790000000`, or a short code `2222`).
    pub source_addr: String,
    /// Type of number of `source_addr`; chosen from it when absent (alphanumeric 5,
    /// international 1, short code 3).
    #[serde(default)]
    pub source_ton: Option<u8>,
    /// Numbering plan of `source_addr`; chosen from it when absent (alphanumeric and short
    /// code 0, international 1).
    #[serde(default)]
    pub source_npi: Option<u8>,
    /// How a text longer than one SMS goes: `udh8`, `udh16` or `message_payload`.
    #[serde(default)]
    pub long_message: SmppLongMessage,
    /// Ask the SMSC for delivery receipts.
    #[serde(default = "default_true")]
    pub registered_delivery: bool,
    /// How this SMSC writes a message id in receipts compared with its `submit_sm_resp`:
    /// `same`, `hex_response_decimal_receipt` or `decimal_response_hex_receipt`.
    #[serde(default)]
    pub receipt_id_format: SmppReceiptIdFormat,
    /// `data_coding` of GSM-7 texts (sent unpacked, one septet per octet). 0 is the SMSC's
    /// default alphabet, which most SMSCs take as GSM 03.38; some want 1 (IA5) instead.
    #[serde(default)]
    pub gsm7_data_coding: u8,
    /// Most accepted messages remembered for matching receipts (the oldest is forgotten
    /// first); 1000 to 10 000 000, about 200 bytes each.
    #[serde(default = "default_receipt_map_entries")]
    pub receipt_map_entries: usize,
}

/// How long messages are sent over SMPP (see `varsel_smpp::concat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmppLongMessage {
    /// A `submit_sm` per segment with an 8-bit-reference concatenation header.
    #[default]
    Udh8,
    /// A `submit_sm` per segment with a 16-bit-reference header (152 septets per segment).
    Udh16,
    /// One `submit_sm` with the whole text in the `message_payload` TLV; the SMSC splits it.
    MessagePayload,
}

/// How an SMSC renders the same message id in responses and receipts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmppReceiptIdFormat {
    /// The same string (compared ignoring case and leading zeros).
    #[default]
    Same,
    /// Hexadecimal in `submit_sm_resp`, decimal in receipts.
    HexResponseDecimalReceipt,
    /// Decimal in `submit_sm_resp`, hexadecimal in receipts.
    DecimalResponseHexReceipt,
}

fn default_binds() -> usize {
    1
}
fn default_window() -> usize {
    10
}
fn default_enquire_link_interval_ms() -> u64 {
    30_000
}
fn default_true() -> bool {
    true
}
fn default_receipt_map_entries() -> usize {
    1_000_000
}

impl SmppProviderConfig {
    /// The password's source.
    pub fn password_source(&self) -> SecretSource<'_> {
        SecretSource { file: self.password_file.as_deref(), env: self.password_env.as_deref() }
    }

    /// Checks every field; `prefix` is the table's path, e.g. `providers[0].smpp`.
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        let invalid = |f: &str, rule: String| Err(ConfigError::invalid(format!("{prefix}.{f}"), rule));
        crate::check::check_host_port(&format!("{prefix}.addr"), &self.addr)?;
        check_source(&format!("{prefix}.password"), self.password_source())?;
        if !(1..=SMPP_BINDS_MAX).contains(&self.binds) {
            return invalid("binds", format!("must be 1 to {SMPP_BINDS_MAX}, got {}", self.binds));
        }
        if !(1..=SMPP_WINDOW_MAX).contains(&self.window) {
            return invalid("window", format!("must be 1 to {SMPP_WINDOW_MAX}, got {}", self.window));
        }
        if self.enquire_link_interval_ms < 1_000 {
            return invalid("enquire_link_interval_ms", "must be at least 1000".into());
        }
        if let Err(e) =
            varsel_smpp::address::source_address(&self.source_addr, self.source_ton, self.source_npi)
        {
            return invalid("source_addr", e);
        }
        if !(1_000..=SMPP_RECEIPT_MAP_ENTRIES_MAX).contains(&self.receipt_map_entries) {
            let rule = format!("must be 1000 to {SMPP_RECEIPT_MAP_ENTRIES_MAX}");
            return invalid("receipt_map_entries", rule);
        }
        // Lengths of system_id and system_type are the bind's own rules; checked by the
        // client's validate with the password once it is read.
        let bind = varsel_smpp::BindConfig {
            system_type: self.system_type.clone(),
            ..varsel_smpp::BindConfig::new(&self.system_id, "")
        };
        bind.validate().or_else(|e| invalid("system_id", e.to_string()))
    }
}

impl SmppProviderConfig {
    /// [`Self::validate`], then reads the password now, so a missing or unreadable secret stops
    /// the node before it starts; `prefix` is `providers[i].smpp`.
    pub fn validate_with_secret(&self, prefix: &str) -> Result<(), ConfigError> {
        self.validate(prefix)?;
        let password = crate::secret::read_secret(&format!("{prefix}.password"), self.password_source())?;
        if password.len() >= varsel_smpp::pdu::max_len::PASSWORD {
            let rule =
                format!("must be at most {} octets (SMPP 3.4)", varsel_smpp::pdu::max_len::PASSWORD - 1);
            return Err(ConfigError::invalid(format!("{prefix}.password"), rule));
        }
        Ok(())
    }
}
