//! `varsel contact …`: add (or replace), show, list and delete contacts, import them from CSV
//! (see [`crate::import`]), and export or erase one person's data.

use std::path::PathBuf;

use serde_json::json;
use varsel_proto::api::export_contact_request::Key as ExportKey;
use varsel_proto::api::get_contact_request::Key;
use varsel_proto::api::{
    Contact, DeleteContactRequest, EraseContactRequest, ExportContactRequest, GetContactRequest,
    ListContactsRequest, UpsertContactRequest,
};

use crate::error::CliError;
use crate::keyed::{self, KeyArgs};
use crate::output::{self, Table, print_fields, print_json};
use crate::session::{PageArgs, Session, hint_more, pages};
use crate::{import, parse};

/// Largest push subscription file read (the server's limit on a subscription).
pub const PUSH_FILE_BYTES_MAX: u64 = varsel_domain::csv_import::PUSH_BYTES_MAX as u64;

/// A contact operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ContactCommand {
    /// Add a contact, or replace the one with the same external id. Replacing sets every field
    /// to what is given here: a field left out is cleared.
    Add(AddArgs),
    /// Show one contact.
    Get {
        /// Contact id.
        #[arg(required_unless_present = "external_id")]
        id: Option<u64>,
        /// Find the contact by your own id instead.
        #[arg(long, conflicts_with = "id")]
        external_id: Option<String>,
    },
    /// List contacts, a page at a time.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Delete a contact (it leaves every group).
    Delete {
        /// Contact id.
        id: u64,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Import contacts from a CSV file (columns: external_id, name, phone, email, language,
    /// push, opt_out, groups). Rows are upserted by external_id; bad rows are reported with
    /// their line numbers and the others are still imported.
    ///
    /// With `--sync GROUP` the group becomes exactly the file's rows: members missing from the
    /// file leave it, in one replicated step (see `docs/cli.md`, "List sync").
    Import {
        /// The CSV file.
        file: PathBuf,
        #[command(flatten)]
        sync: crate::list_sync::SyncArgs,
    },
    /// Print everything held about one contact as one JSON document (GDPR article 15): the
    /// contact, its groups, and per alert that reached it the acknowledgement, each message's
    /// outcome, receipts and replies; unattributed replies from its number; audit entries.
    Export {
        /// Contact id.
        #[arg(required_unless_present = "external_id")]
        id: Option<u64>,
        /// Find the contact by your own id instead.
        #[arg(long, conflicts_with = "id")]
        external_id: Option<String>,
    },
    /// Erase a contact (GDPR article 17): the contact goes, and its phone number, e-mail,
    /// replies' texts and failure reasons in delivery records are replaced by "[erased]";
    /// counts and the audit trail stay. Cannot be undone.
    Erase {
        /// Contact id.
        id: u64,
        /// Confirm: erasing cannot be undone (`contact export` first keeps a copy).
        #[arg(long)]
        yes: bool,
    },
}

/// Options of `contact add`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// Your own id for the contact (employee number, …); the contact's key.
    #[arg(long)]
    pub external_id: String,
    /// Display name (available to templates as {{name}}).
    #[arg(long)]
    pub name: Option<String>,
    /// Mobile number in E.164 (+4791234567).
    #[arg(long)]
    pub phone: Option<String>,
    /// E-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Preferred language tag (nb, en, en-GB).
    #[arg(long)]
    pub language: Option<String>,
    /// File holding the Web Push subscription JSON.
    #[arg(long)]
    pub push_file: Option<PathBuf>,
    /// Channels the contact opted out of, comma-separated (sms,voice,email,push).
    #[arg(long, default_value = "")]
    pub opt_out: String,
    /// A group to put the contact in, by name (repeatable; created if missing).
    #[arg(long = "group")]
    pub groups: Vec<String>,
}

impl AddArgs {
    /// The contact to send.
    pub fn to_contact(&self) -> Result<Contact, CliError> {
        let push_subscription = match &self.push_file {
            Some(p) => parse::read_bounded(p, PUSH_FILE_BYTES_MAX)?.trim().to_string(),
            None => String::new(),
        };
        let opted_out =
            parse::channel_list(&self.opt_out).map_err(|e| CliError::input(format!("--opt-out: {e}")))?;
        Ok(Contact {
            external_id: self.external_id.clone(),
            name: self.name.clone().unwrap_or_default(),
            phone: self.phone.clone().unwrap_or_default(),
            email: self.email.clone().unwrap_or_default(),
            push_subscription,
            language: self.language.clone().unwrap_or_default(),
            opted_out,
            groups: self.groups.clone(),
            ..Default::default()
        })
    }
}

/// Runs one contact command.
pub async fn run(s: &Session, cmd: ContactCommand) -> Result<(), CliError> {
    match cmd {
        ContactCommand::Add(args) => add(s, &args).await,
        ContactCommand::Get { id, external_id } => {
            let key = match (id, external_id) {
                (Some(id), _) => Key::Id(id),
                (None, Some(x)) => Key::ExternalId(x),
                (None, None) => return Err(CliError::input("give a contact id or --external-id")),
            };
            let req = GetContactRequest { key: Some(key), consistency: s.read() };
            let r = s
                .contacts(|mut c| {
                    let req = req.clone();
                    async move { c.get_contact(req).await }
                })
                .await?;
            let contact =
                r.contact.ok_or_else(|| CliError::Reply("ContactReply without a contact".into()))?;
            print_contact(s.json, &contact);
            Ok(())
        }
        ContactCommand::List { page } => list(s, &page).await,
        ContactCommand::Delete { id, key } => {
            let key = key.key();
            let req = DeleteContactRequest { id, idempotency_key: key.clone() };
            let write = s.contacts(|mut c| {
                let req = req.clone();
                async move { c.delete_contact(req).await }
            });
            let r = keyed::outcome(&key, write).await?;
            if s.json {
                print_json(&json!({"deleted": id, "existing": r.existing}));
            } else if r.existing {
                println!("{}", keyed::already(&format!("contact {id} was deleted")));
            } else {
                println!("contact {id} deleted");
            }
            Ok(())
        }
        ContactCommand::Import { file, sync } => match sync.options()? {
            Some(options) => crate::list_sync::run(s, &file, options).await,
            None => import::run(s, &file).await,
        },
        ContactCommand::Export { id, external_id } => export(s, id, external_id).await,
        ContactCommand::Erase { id, yes } => erase(s, id, yes).await,
    }
}

async fn export(s: &Session, id: Option<u64>, external_id: Option<String>) -> Result<(), CliError> {
    let key = match (id, external_id) {
        (Some(id), _) => ExportKey::Id(id),
        (None, Some(x)) => ExportKey::ExternalId(x),
        (None, None) => return Err(CliError::input("give a contact id or --external-id")),
    };
    let req = ExportContactRequest { key: Some(key), consistency: s.read() };
    let r = s
        .contacts(|mut c| {
            let req = req.clone();
            async move { c.export_contact(req).await }
        })
        .await?;
    // The document is JSON already, for people and scripts alike.
    println!("{}", r.json);
    Ok(())
}

async fn erase(s: &Session, id: u64, yes: bool) -> Result<(), CliError> {
    if !yes {
        return Err(CliError::input(format!(
            "erasing contact {id} cannot be undone; run `varsel contact export {id}` first if a copy is needed, \
             then add --yes"
        )));
    }
    let req = EraseContactRequest { id };
    let r = s.contacts(|mut c| async move { c.erase_contact(req).await }).await?;
    if s.json {
        print_json(&json!({
            "erased": id,
            "alerts": r.alerts,
            "memberships": r.memberships,
            "outcomes": r.outcomes,
            "receipts": r.receipts,
            "replies": r.replies,
            "log_index": r.log_index,
        }));
    } else {
        println!(
            "contact {id} erased: personal data replaced in {} outcomes, {} receipts and {} replies of {} alerts; \
             {} group memberships ended (log index {})",
            r.outcomes, r.receipts, r.replies, r.alerts, r.memberships, r.log_index
        );
    }
    Ok(())
}

async fn add(s: &Session, args: &AddArgs) -> Result<(), CliError> {
    let req = UpsertContactRequest { contact: Some(args.to_contact()?), ..Default::default() };
    let r = s
        .contacts(|mut c| {
            let req = req.clone();
            async move { c.upsert_contact(req).await }
        })
        .await?;
    let contact = r.contact.ok_or_else(|| CliError::Reply("ContactReply without a contact".into()))?;
    if s.json {
        print_json(&json!({"contact": output::contact_json(&contact), "created": r.created}));
    } else {
        let what = if r.created { "created" } else { "replaced" };
        println!("contact {} ({}) {what}", contact.id, contact.external_id);
    }
    Ok(())
}

async fn list(s: &Session, page: &PageArgs) -> Result<(), CliError> {
    let (size, consistency) = (page.size(), s.read());
    let fetch = |page_token: String| async move {
        let req = ListContactsRequest { page_size: size, page_token, consistency };
        let r = s
            .contacts(|mut c| {
                let req = req.clone();
                async move { c.list_contacts(req).await }
            })
            .await?;
        Ok((r.contacts, r.next_page_token))
    };
    let mut table = contact_table();
    let next = pages(page, fetch, |contacts| print_contacts(s.json, &mut table, &contacts)).await?;
    hint_more(&next);
    Ok(())
}

/// The table contacts are listed in (also by `group members`).
pub fn contact_table() -> Table {
    Table::new(&[
        "id",
        "external id",
        "name",
        "phone",
        "email",
        "lang",
        "push",
        "opted out",
        "groups",
        "updated",
    ])
}

/// Prints a page of contacts as table rows or JSON lines.
pub fn print_contacts(json_out: bool, table: &mut Table, contacts: &[Contact]) {
    if json_out {
        return contacts.iter().for_each(|c| print_json(&output::contact_json(c)));
    }
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.external_id.clone(),
                c.name.clone(),
                c.phone.clone(),
                c.email.clone(),
                c.language.clone(),
                push_state(c).into(),
                output::channels(&c.opted_out),
                c.groups.join(","),
                output::time(c.updated_at_ms),
            ]
        })
        .collect();
    table.print(&rows);
}

fn push_state(c: &Contact) -> &'static str {
    match (c.push_subscription.is_empty(), c.push_invalid) {
        (true, _) => "",
        (false, false) => "yes",
        (false, true) => "invalid",
    }
}

fn print_contact(json_out: bool, c: &Contact) {
    if json_out {
        return print_json(&output::contact_json(c));
    }
    print_fields(&[
        ("id", c.id.to_string()),
        ("external id", c.external_id.clone()),
        ("name", c.name.clone()),
        ("phone", c.phone.clone()),
        ("email", c.email.clone()),
        ("language", c.language.clone()),
        ("push", push_state(c).into()),
        ("opted out", output::channels(&c.opted_out)),
        ("groups", c.groups.join(", ")),
        ("updated", output::time(c.updated_at_ms)),
    ]);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: `contact add` options become the contact sent, opt-outs as channel values.
    /// Method: convert a full set of options; then a bad opt-out channel.
    #[test]
    fn add_args_to_contact() {
        let mut args = AddArgs {
            external_id: "k-1".into(),
            name: Some("Kari".into()),
            phone: Some("+4791234567".into()),
            email: None,
            language: Some("nb".into()),
            push_file: None,
            opt_out: "sms, voice".into(),
            groups: vec!["brann".into(), "stab".into()],
        };
        let c = args.to_contact().unwrap();
        assert_eq!((c.external_id.as_str(), c.email.as_str(), c.groups.len()), ("k-1", "", 2));
        let sms_voice =
            vec![varsel_proto::api::Channel::Sms as i32, varsel_proto::api::Channel::Voice as i32];
        assert_eq!(c.opted_out, sms_voice);
        args.opt_out = "sms,fax".into();
        assert!(args.to_contact().unwrap_err().to_string().contains("--opt-out"));
    }
}
