//! `varsel group …`: groups (notification lists) and their members.
//!
//! Wherever a command takes GROUP, it is a group id when it is all digits and a group name
//! otherwise; names are resolved to ids with `GetGroup` (linearizably, so a group created a
//! moment ago through another node is found).

use serde_json::json;
use varsel_proto::api::get_group_request::Key;
use varsel_proto::api::{
    ChangeMembersRequest, Consistency, CreateGroupRequest, DeleteGroupRequest, GetGroupRequest, Group,
    ListGroupsRequest, ListMembersRequest,
};

use crate::contact::{contact_table, print_contacts};
use crate::error::CliError;
use crate::keyed::{self, KeyArgs};
use crate::output::{self, Table, print_fields, print_json};
use crate::session::{PageArgs, Session, hint_more, pages};

/// Contacts to add to or remove from a group.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("members").required(true).multiple(true).args(["contact_ids", "external_ids"])))]
pub struct MemberArgs {
    /// The group (id or name).
    pub group: String,
    /// A contact by id (repeatable).
    #[arg(long = "contact")]
    pub contact_ids: Vec<u64>,
    /// A contact by your own id (repeatable).
    #[arg(long = "external-id")]
    pub external_ids: Vec<String>,
}

/// A group operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        /// Its name, unique in the tenant.
        name: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// List the groups with their member counts.
    List,
    /// Show one group.
    Get {
        /// Group id.
        #[arg(required_unless_present = "name")]
        id: Option<u64>,
        /// Find the group by name instead.
        #[arg(long, conflicts_with = "id")]
        name: Option<String>,
    },
    /// Delete a group (its contacts stay).
    Delete {
        /// The group (id or name).
        group: String,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Add contacts to a group.
    Add(MemberArgs),
    /// Remove contacts from a group.
    Remove(MemberArgs),
    /// List a group's members, a page at a time.
    Members {
        /// The group (id or name).
        group: String,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// Runs one group command.
pub async fn run(s: &Session, cmd: GroupCommand) -> Result<(), CliError> {
    match cmd {
        GroupCommand::Create { name, key } => {
            let key = key.key();
            let req = CreateGroupRequest { name, idempotency_key: key.clone() };
            let write = s.contacts(|mut c| {
                let req = req.clone();
                async move { c.create_group(req).await }
            });
            let r = keyed::outcome(&key, write).await?;
            let group = r.group.ok_or_else(no_group)?;
            if s.json {
                print_json(&keyed::with_existing(output::group_json(&group), r.existing));
            } else {
                if r.existing {
                    println!("{}", keyed::already("the group exists"));
                }
                print_group(false, &group);
            }
        }
        GroupCommand::List => {
            let req = ListGroupsRequest { consistency: s.read() };
            let r = s.contacts(|mut c| async move { c.list_groups(req).await }).await?;
            print_groups(s.json, &r.groups);
        }
        GroupCommand::Get { id, name } => {
            let key = match (id, name) {
                (Some(id), _) => Key::Id(id),
                (None, Some(n)) => Key::Name(n),
                (None, None) => return Err(CliError::input("give a group id or --name")),
            };
            print_group(s.json, &get(s, key, s.read()).await?);
        }
        GroupCommand::Delete { group, key } => {
            let id = resolve(s, &group).await?;
            let key = key.key();
            let req = DeleteGroupRequest { id, idempotency_key: key.clone() };
            let write = s.contacts(|mut c| {
                let req = req.clone();
                async move { c.delete_group(req).await }
            });
            let r = keyed::outcome(&key, write).await?;
            if s.json {
                print_json(&json!({"deleted": id, "existing": r.existing}));
            } else if r.existing {
                println!("{}", keyed::already(&format!("group {id} was deleted")));
            } else {
                println!("group {id} deleted");
            }
        }
        GroupCommand::Add(m) => change(s, &m, true).await?,
        GroupCommand::Remove(m) => change(s, &m, false).await?,
        GroupCommand::Members { group, page } => members(s, &group, &page).await?,
    }
    Ok(())
}

fn no_group() -> CliError {
    CliError::Reply("GroupReply without a group".into())
}

async fn get(s: &Session, key: Key, consistency: i32) -> Result<Group, CliError> {
    let req = GetGroupRequest { key: Some(key), consistency };
    let r = s
        .contacts(|mut c| {
            let req = req.clone();
            async move { c.get_group(req).await }
        })
        .await?;
    r.group.ok_or_else(no_group)
}

/// What a GROUP argument names: an id when all digits, a name otherwise.
pub fn group_key(group: &str) -> Key {
    // `u64::from_str` also takes "+7"; only plain digits are an id.
    let digits = !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit());
    match group.parse::<u64>() {
        Ok(id) if digits => Key::Id(id),
        _ => Key::Name(group.to_string()),
    }
}

/// The id of a GROUP argument; names are looked up.
pub async fn resolve(s: &Session, group: &str) -> Result<u64, CliError> {
    match group_key(group) {
        Key::Id(id) => Ok(id),
        key => Ok(get(s, key, Consistency::Linearizable as i32).await?.id),
    }
}

async fn change(s: &Session, m: &MemberArgs, add: bool) -> Result<(), CliError> {
    let group_id = resolve(s, &m.group).await?;
    let (ids, xids) = (m.contact_ids.clone(), m.external_ids.clone());
    let req = if add {
        ChangeMembersRequest { group_id, add_contact_ids: ids, add_external_ids: xids, ..Default::default() }
    } else {
        ChangeMembersRequest {
            group_id,
            remove_contact_ids: ids,
            remove_external_ids: xids,
            ..Default::default()
        }
    };
    let r = s
        .contacts(|mut c| {
            let req = req.clone();
            async move { c.change_members(req).await }
        })
        .await?;
    if s.json {
        print_json(
            &json!({"group_id": group_id, "added": r.added, "removed": r.removed, "member_count": r.member_count}),
        );
    } else {
        println!(
            "group {group_id}: {} added, {} removed, {} members now",
            r.added, r.removed, r.member_count
        );
    }
    Ok(())
}

async fn members(s: &Session, group: &str, page: &PageArgs) -> Result<(), CliError> {
    let group_id = resolve(s, group).await?;
    let (page_size, consistency) = (page.size(), s.read());
    let fetch = |page_token: String| async move {
        let req = ListMembersRequest { group_id, page_size, page_token, consistency };
        let r = s
            .contacts(|mut c| {
                let req = req.clone();
                async move { c.list_members(req).await }
            })
            .await?;
        Ok((r.contacts, r.next_page_token))
    };
    let mut table = contact_table();
    let next = pages(page, fetch, |contacts| print_contacts(s.json, &mut table, &contacts)).await?;
    hint_more(&next);
    Ok(())
}

fn print_group(json_out: bool, g: &Group) {
    if json_out {
        return print_json(&output::group_json(g));
    }
    print_fields(&[
        ("id", g.id.to_string()),
        ("name", g.name.clone()),
        ("members", g.member_count.to_string()),
        ("created", output::time(g.created_at_ms)),
    ]);
}

fn print_groups(json_out: bool, groups: &[Group]) {
    if json_out {
        return groups.iter().for_each(|g| print_json(&output::group_json(g)));
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![g.id.to_string(), g.name.clone(), g.member_count.to_string(), output::time(g.created_at_ms)]
        })
        .collect();
    Table::new(&["id", "name", "members", "created"]).print(&rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: GROUP arguments: digits are ids, anything else a name. Method: a few forms.
    #[test]
    fn group_keys() {
        assert_eq!(group_key("42"), Key::Id(42));
        assert_eq!(group_key("brann"), Key::Name("brann".into()));
        assert_eq!(group_key("42a"), Key::Name("42a".into()));
        assert_eq!(group_key("-1"), Key::Name("-1".into()));
        assert_eq!(group_key("+7"), Key::Name("+7".into()));
    }
}
