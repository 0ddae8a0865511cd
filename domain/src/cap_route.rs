//! Where a tenant's incoming CAP 1.2 messages go: routes from a message's sender, event or
//! code to groups, and the group exercises go to. Pure rules; the node applies them when a
//! CAP message arrives (`POST /api/v1/cap`), the state machine stores them per tenant.
//!
//! A route matches a message when every criterion it sets matches (an empty criterion matches
//! anything), compared ignoring ASCII case: `sender` against `alert/sender`, `event` against any
//! `info/event`, `code` against any `alert/code`. A message goes to the union of the groups of
//! every route that matches. A route with no criteria is a catch-all.
//!
//! ```
//! use varsel_domain::cap_route::{CapConfig, CapRoute};
//! let config = CapConfig {
//!     routes: vec![
//!         CapRoute { event: "Flom".into(), groups: vec!["elvebredden".into()], ..Default::default() },
//!         CapRoute { sender: "met@met.no".into(), groups: vec!["alle".into()], ..Default::default() },
//!     ],
//!     exercise_group: "ovelse".into(),
//! };
//! assert_eq!(config.groups_for("met@met.no", &["flom"], &[]), ["alle", "elvebredden"]);
//! assert!(config.groups_for("other@example.no", &["Storm"], &[]).is_empty());
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::csv_import::GROUP_NAME_CHARS_MAX;
use crate::error::{Rule, ValidationError, ValidationErrors};

/// Most routes a tenant may have: a county's agencies and event kinds fit many times over, and
/// a message is matched against all of them.
pub const ROUTES_MAX: usize = 200;

/// Most groups one route sends to.
pub const ROUTE_GROUPS_MAX: usize = 64;

/// Longest criterion (a sender, an event or a code).
pub const CRITERION_CHARS_MAX: usize = 256;

/// A tenant's CAP configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapConfig {
    /// The routes, matched all together.
    pub routes: Vec<CapRoute>,
    /// The group `status` Exercise messages go to (and nothing else); empty: exercises are
    /// refused.
    pub exercise_group: String,
}

/// One route: which messages, to which groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapRoute {
    /// `alert/sender` to match; empty: any.
    pub sender: String,
    /// `info/event` to match; empty: any.
    pub event: String,
    /// `alert/code` to match; empty: any.
    pub code: String,
    /// Group names the message goes to.
    pub groups: Vec<String>,
}

impl CapRoute {
    fn matches(&self, sender: &str, events: &[&str], codes: &[&str]) -> bool {
        let any =
            |want: &str, have: &[&str]| want.is_empty() || have.iter().any(|h| h.eq_ignore_ascii_case(want));
        any(&self.sender, &[sender]) && any(&self.event, events) && any(&self.code, codes)
    }
}

impl CapConfig {
    /// The groups a message of `sender` with `events` and `codes` goes to, sorted, each once.
    pub fn groups_for(&self, sender: &str, events: &[&str], codes: &[&str]) -> Vec<String> {
        let groups: BTreeSet<&String> = self
            .routes
            .iter()
            .filter(|r| r.matches(sender, events, codes))
            .flat_map(|r| r.groups.iter())
            .collect();
        groups.into_iter().cloned().collect()
    }

    /// Checks the bounds; every error names its field (`routes[2].groups[0]`) and rule.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.routes.len() > ROUTES_MAX {
            errors.push(ValidationError::new(
                "routes",
                Rule::TooMany,
                format!("at most {ROUTES_MAX} routes, not {}", self.routes.len()),
            ));
        }
        for (i, r) in self.routes.iter().enumerate() {
            for (name, v) in [("sender", &r.sender), ("event", &r.event), ("code", &r.code)] {
                check_text(&mut errors, &format!("routes[{i}].{name}"), v, CRITERION_CHARS_MAX);
            }
            if r.groups.is_empty() {
                errors.push(ValidationError::new(
                    format!("routes[{i}].groups"),
                    Rule::Required,
                    "a route sends to at least one group",
                ));
            }
            if r.groups.len() > ROUTE_GROUPS_MAX {
                errors.push(ValidationError::new(
                    format!("routes[{i}].groups"),
                    Rule::TooMany,
                    format!("at most {ROUTE_GROUPS_MAX} groups, not {}", r.groups.len()),
                ));
            }
            for (j, g) in r.groups.iter().enumerate() {
                let field = format!("routes[{i}].groups[{j}]");
                if g.trim().is_empty() {
                    errors.push(ValidationError::new(
                        field.clone(),
                        Rule::Required,
                        "a group name is required",
                    ));
                }
                check_text(&mut errors, &field, g, GROUP_NAME_CHARS_MAX);
            }
        }
        check_text(&mut errors, "exercise_group", &self.exercise_group, GROUP_NAME_CHARS_MAX);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

fn check_text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        errors.push(ValidationError::new(field, Rule::TooLong, format!("at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        errors.push(ValidationError::new(field, Rule::Characters, "control characters are not allowed"));
    }
}

/// A CAP message as the tenant received it: kept so a repost is recognised (idempotency by
/// `sender`, `identifier` and `sent`), an Update or Cancel finds the alert it names, Test and
/// Draft messages are stored without being sent, and the alert's CAP document and the feed
/// can be served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapRecord {
    /// The message's idempotency key (a hash of sender, identifier and sent).
    pub key: String,
    /// `alert/sent`, ms since the Unix epoch.
    pub sent_ms: u64,
    /// `alert/status` (Actual, Exercise, System, Test, Draft).
    pub status: String,
    /// `alert/msgType` (Alert, Update, Cancel, Ack, Error).
    pub msg_type: String,
    /// `alert/scope` (Public, Restricted, Private).
    pub scope: String,
    /// The alert it created, if it created one.
    pub alert: Option<u64>,
    /// The message as received (checked by the CAP reader before it was stored).
    pub xml: String,
}
