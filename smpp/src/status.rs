//! SMPP 3.4 command status codes (§5.1.3, table 5-2) and how Varsel treats them.
//!
//! A status is a plain `u32` on the wire; SMSCs also use the vendor range
//! 0x400–0x4FF, so [`CommandStatus`] is an open newtype rather than a closed enum:
//! decoding never fails on a status we do not know.
//!
//! The classification answers the one question the SMS provider asks after a
//! rejected `submit_sm`: should this message be retried (here, later, or through
//! another provider), or is it broken whatever we do?

use std::fmt;

/// An SMPP `command_status` value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CommandStatus(pub u32);

/// Declares the named constants and the name table in one place so the two cannot drift.
macro_rules! statuses {
    ($($name:ident = $value:expr, $doc:expr;)*) => {
        #[allow(missing_docs)]
        impl CommandStatus {
            $(
                #[doc = $doc]
                pub const $name: CommandStatus = CommandStatus($value);
            )*
        }

        /// Every named status, for [`CommandStatus::name`].
        const NAMES: &[(u32, &str)] = &[$(($value, stringify!($name)),)*];
    };
}

statuses! {
    ESME_ROK = 0x00, "No error.";
    ESME_RINVMSGLEN = 0x01, "Message length is invalid.";
    ESME_RINVCMDLEN = 0x02, "Command length is invalid.";
    ESME_RINVCMDID = 0x03, "Invalid command ID.";
    ESME_RINVBNDSTS = 0x04, "Incorrect bind status for the given command.";
    ESME_RALYBND = 0x05, "ESME already in bound state.";
    ESME_RINVPRTFLG = 0x06, "Invalid priority flag.";
    ESME_RINVREGDLVFLG = 0x07, "Invalid registered delivery flag.";
    ESME_RSYSERR = 0x08, "System error.";
    ESME_RINVSRCADR = 0x0A, "Invalid source address.";
    ESME_RINVDSTADR = 0x0B, "Invalid destination address.";
    ESME_RINVMSGID = 0x0C, "Message ID is invalid.";
    ESME_RBINDFAIL = 0x0D, "Bind failed.";
    ESME_RINVPASWD = 0x0E, "Invalid password.";
    ESME_RINVSYSID = 0x0F, "Invalid system ID.";
    ESME_RCANCELFAIL = 0x11, "cancel_sm failed.";
    ESME_RREPLACEFAIL = 0x13, "replace_sm failed.";
    ESME_RMSGQFUL = 0x14, "Message queue full.";
    ESME_RINVSERTYP = 0x15, "Invalid service type.";
    ESME_RINVNUMDESTS = 0x33, "Invalid number of destinations.";
    ESME_RINVDLNAME = 0x34, "Invalid distribution list name.";
    ESME_RINVDESTFLAG = 0x40, "Destination flag is invalid (submit_multi).";
    ESME_RINVSUBREP = 0x42, "Invalid 'submit with replace' request.";
    ESME_RINVESMCLASS = 0x43, "Invalid esm_class field data.";
    ESME_RCNTSUBDL = 0x44, "Cannot submit to distribution list.";
    ESME_RSUBMITFAIL = 0x45, "submit_sm or submit_multi failed.";
    ESME_RINVSRCTON = 0x48, "Invalid source address TON.";
    ESME_RINVSRCNPI = 0x49, "Invalid source address NPI.";
    ESME_RINVDSTTON = 0x50, "Invalid destination address TON.";
    ESME_RINVDSTNPI = 0x51, "Invalid destination address NPI.";
    ESME_RINVSYSTYP = 0x53, "Invalid system_type field.";
    ESME_RINVREPFLAG = 0x54, "Invalid replace_if_present flag.";
    ESME_RINVNUMMSGS = 0x55, "Invalid number of messages.";
    ESME_RTHROTTLED = 0x58, "Throttling error (ESME has exceeded allowed message limits).";
    ESME_RINVSCHED = 0x61, "Invalid scheduled delivery time.";
    ESME_RINVEXPIRY = 0x62, "Invalid message validity period (expiry time).";
    ESME_RINVDFTMSGID = 0x63, "Predefined message invalid or not found.";
    ESME_RX_T_APPN = 0x64, "ESME receiver temporary application error.";
    ESME_RX_P_APPN = 0x65, "ESME receiver permanent application error.";
    ESME_RX_R_APPN = 0x66, "ESME receiver reject message error.";
    ESME_RQUERYFAIL = 0x67, "query_sm request failed.";
    ESME_RINVOPTPARSTREAM = 0xC0, "Error in the optional part of the PDU body.";
    ESME_ROPTPARNOTALLWD = 0xC1, "Optional parameter not allowed.";
    ESME_RINVPARLEN = 0xC2, "Invalid parameter length.";
    ESME_RMISSINGOPTPARAM = 0xC3, "Expected optional parameter missing.";
    ESME_RINVOPTPARAMVAL = 0xC4, "Invalid optional parameter value.";
    ESME_RDELIVERYFAILURE = 0xFE, "Delivery failure (used for data_sm_resp).";
    ESME_RUNKNOWNERR = 0xFF, "Unknown error.";
}

/// Statuses that reject the message itself: sending the same PDU again, here or
/// through another bind, fails the same way. Everything else that is neither OK
/// nor a throttle is treated as transient.
const PERMANENT: &[CommandStatus] = &[
    CommandStatus::ESME_RINVMSGLEN,
    CommandStatus::ESME_RINVCMDLEN,
    CommandStatus::ESME_RINVCMDID,
    CommandStatus::ESME_RINVPRTFLG,
    CommandStatus::ESME_RINVREGDLVFLG,
    CommandStatus::ESME_RINVSRCADR,
    CommandStatus::ESME_RINVDSTADR,
    CommandStatus::ESME_RINVSERTYP,
    CommandStatus::ESME_RINVESMCLASS,
    CommandStatus::ESME_RINVSRCTON,
    CommandStatus::ESME_RINVSRCNPI,
    CommandStatus::ESME_RINVDSTTON,
    CommandStatus::ESME_RINVDSTNPI,
    CommandStatus::ESME_RINVREPFLAG,
    CommandStatus::ESME_RINVSCHED,
    CommandStatus::ESME_RINVEXPIRY,
    CommandStatus::ESME_RINVDFTMSGID,
    CommandStatus::ESME_RX_P_APPN,
    CommandStatus::ESME_RX_R_APPN,
    CommandStatus::ESME_RINVOPTPARSTREAM,
    CommandStatus::ESME_ROPTPARNOTALLWD,
    CommandStatus::ESME_RINVPARLEN,
    CommandStatus::ESME_RMISSINGOPTPARAM,
    CommandStatus::ESME_RINVOPTPARAMVAL,
];

impl CommandStatus {
    /// The spec name (`"ESME_RTHROTTLED"`), or `None` for vendor or unassigned codes.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(v, _)| *v == self.0).map(|(_, n)| *n)
    }

    /// `true` for `ESME_ROK`.
    pub fn is_ok(self) -> bool {
        self == Self::ESME_ROK
    }

    /// `true` when the SMSC asks us to slow down (`ESME_RTHROTTLED`, `ESME_RMSGQFUL`):
    /// the message was not accepted and may be sent again after a pause.
    pub fn is_throttle(self) -> bool {
        self == Self::ESME_RTHROTTLED || self == Self::ESME_RMSGQFUL
    }

    /// `true` when the message itself is at fault (bad address, bad length, bad
    /// parameter): retrying it unchanged cannot succeed.
    pub fn is_permanent(self) -> bool {
        PERMANENT.contains(&self)
    }

    /// `true` for errors that are neither OK, throttling nor permanent: system
    /// errors, submit failures, bind-state problems and vendor-specific codes. The
    /// message may succeed if sent again later or elsewhere.
    pub fn is_transient(self) -> bool {
        !self.is_ok() && !self.is_throttle() && !self.is_permanent()
    }

    /// `true` for the bind statuses that mean our credentials are wrong, which no
    /// amount of quick reconnecting will fix.
    pub fn is_credentials(self) -> bool {
        self == Self::ESME_RINVPASWD || self == Self::ESME_RINVSYSID
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

impl fmt::Debug for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the classification is a partition. Method: walk every named code and a
    /// vendor one and check each lands in exactly one class.
    #[test]
    fn classes_partition_all_codes() {
        let vendor = CommandStatus(0x400);
        for status in NAMES.iter().map(|(v, _)| CommandStatus(*v)).chain([vendor]) {
            let classes =
                [status.is_ok(), status.is_throttle(), status.is_permanent(), status.is_transient()];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{status}");
        }
        assert!(CommandStatus::ESME_RTHROTTLED.is_throttle());
        assert!(CommandStatus::ESME_RMSGQFUL.is_throttle());
        assert!(CommandStatus::ESME_RINVDSTADR.is_permanent());
        assert!(CommandStatus::ESME_RINVMSGLEN.is_permanent());
        assert!(CommandStatus::ESME_RSYSERR.is_transient());
        assert!(CommandStatus::ESME_RSUBMITFAIL.is_transient());
        assert!(vendor.is_transient());
    }

    /// Goal: logs show names and hex. Method: format a known and an unknown code.
    #[test]
    fn display_names_and_hex() {
        assert_eq!(CommandStatus::ESME_RTHROTTLED.to_string(), "ESME_RTHROTTLED (0x00000058)");
        assert_eq!(CommandStatus(0x0000_0401).to_string(), "0x00000401");
        assert_eq!(CommandStatus::ESME_RX_T_APPN.0, 0x64);
    }
}
