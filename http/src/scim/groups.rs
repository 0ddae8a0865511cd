//! `/Groups`: SCIM Groups as groups. `id` is the group id, `displayName` its name,
//! `externalId` its directory id, `members` its current members' contact ids. A create is
//! `CreateGroup`, then `UpdateGroup` (externalId) and `ChangeMembers`; a replace or PATCH is
//! `UpdateGroup` when the name or externalId change, and `ChangeMembers` with the difference.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;
use varsel_scim::group::{self, GROUP_ENDPOINT, GROUP_MEMBERS_MAX};
use varsel_scim::list;
use varsel_scim::meta::location;
use varsel_scim::{Meta, ScimError, ScimGroup, patch};

use super::{Answer, Req, check_if_match, not_modified, rfc3339, scim_error, version_of};
use crate::Backend;

/// Members read per `ListMembers` page.
const MEMBERS_PAGE: u32 = 1_000;

/// Most member changes sent in one `ChangeMembers` (the node's bound per request).
const MEMBER_CHANGES_PER_CALL: usize = 10_000;

/// A group by id with its members' ids, `None` when there is none.
pub(super) async fn fetch<B: Backend>(
    b: &B,
    req: &Req,
    id: u64,
) -> Result<Option<(pb::Group, Vec<u64>)>, ScimError> {
    let r = pb::GetGroupRequest {
        key: Some(pb::get_group_request::Key::Id(id)),
        consistency: pb::Consistency::Linearizable as i32,
    };
    let g = match b.contacts().get_group(req.grpc(r)?).await {
        Ok(reply) => reply.into_inner().group,
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => return Err(scim_error(&s)),
    };
    let Some(g) = g else { return Ok(None) };
    let members = members(b, req, id).await?;
    Ok(Some((g, members)))
}

async fn members<B: Backend>(b: &B, req: &Req, id: u64) -> Result<Vec<u64>, ScimError> {
    let mut out = Vec::new();
    let mut token = String::new();
    // Bounded: a group larger than a SCIM body may carry is not read whole.
    while out.len() < GROUP_MEMBERS_MAX {
        let r = pb::ListMembersRequest {
            group_id: id,
            page_size: MEMBERS_PAGE,
            page_token: token.clone(),
            consistency: pb::Consistency::Linearizable as i32,
        };
        let page = b.contacts().list_members(req.grpc(r)?).await.map_err(|s| scim_error(&s))?.into_inner();
        out.extend(page.contacts.iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(out)
}

/// A group as SCIM JSON, and its version.
pub(super) fn render(g: &pb::Group, members: &[u64], base_url: &str) -> (Value, u64) {
    let sg = ScimGroup {
        id: Some(g.id.to_string()),
        display_name: g.name.clone(),
        external_id: (!g.directory_id.is_empty()).then(|| g.directory_id.clone()),
        members: members.iter().map(u64::to_string).collect(),
    };
    let version = version_of(&group::to_resource(&sg, &Meta::new("", "", "", 0)));
    // Groups keep only their creation time.
    let t = rfc3339(g.created_at_ms);
    (group::to_resource(&sg, &Meta::new(base_url, &t, &t, version)), version)
}

fn member_ids(g: &ScimGroup) -> Result<Vec<u64>, ScimError> {
    g.members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.parse().map_err(|_| ScimError::invalid_value(format!("'members[{i}].value': no User '{m}'")))
        })
        .collect()
}

/// POST /Groups: 409 `uniqueness` when the displayName is taken.
pub(super) async fn create<B: Backend>(b: &B, req: &Req) -> Result<Answer, ScimError> {
    let sg = group::from_resource(&req.json()?)?;
    let members = member_ids(&sg)?;
    let by_name = pb::GetGroupRequest {
        key: Some(pb::get_group_request::Key::Name(sg.display_name.trim().to_string())),
        consistency: pb::Consistency::Linearizable as i32,
    };
    match b.contacts().get_group(req.grpc(by_name)?).await {
        Ok(_) => return Err(ScimError::uniqueness(format!("displayName '{}' is taken", sg.display_name))),
        Err(s) if s.code() == tonic::Code::NotFound => {}
        Err(s) => return Err(scim_error(&s)),
    }
    let r = pb::CreateGroupRequest { name: sg.display_name.clone(), idempotency_key: String::new() };
    let reply = b.contacts().create_group(req.grpc(r)?).await.map_err(|s| scim_error(&s))?.into_inner();
    let g = reply.group.ok_or_else(|| ScimError::new(500, None, "the node answered no group"))?;
    // The group exists now; should its externalId or members be refused, it goes again.
    if let Err(e) = fill(b, req, &g, &sg, &members).await {
        let r = pb::DeleteGroupRequest { id: g.id, idempotency_key: String::new() };
        let _ = b.contacts().delete_group(req.grpc(r)?).await;
        return Err(e);
    }
    let (g, members) =
        fetch(b, req, g.id).await?.ok_or_else(|| ScimError::not_found(format!("no Group '{}'", g.id)))?;
    let (body, version) = render(&g, &members, &req.base_url);
    Ok(Answer {
        status: StatusCode::CREATED,
        body: Some(body),
        version: Some(version),
        location: Some(location(&req.base_url, GROUP_ENDPOINT, &g.id.to_string())),
    })
}

async fn fill<B: Backend>(
    b: &B,
    req: &Req,
    g: &pb::Group,
    sg: &ScimGroup,
    members: &[u64],
) -> Result<(), ScimError> {
    if sg.external_id.is_some() {
        update(b, req, g.id, sg).await?;
    }
    change_members(b, req, g.id, members.to_vec(), Vec::new()).await
}

async fn update<B: Backend>(b: &B, req: &Req, id: u64, sg: &ScimGroup) -> Result<(), ScimError> {
    let r = pb::UpdateGroupRequest {
        id,
        name: sg.display_name.clone(),
        directory_id: sg.external_id.clone().unwrap_or_default(),
    };
    b.contacts().update_group(req.grpc(r)?).await.map_err(|s| scim_error(&s))?;
    Ok(())
}

/// Adds and removes members, at most [`MEMBER_CHANGES_PER_CALL`] per call. An unknown
/// contact is 400 `invalidValue` naming it.
async fn change_members<B: Backend>(
    b: &B,
    req: &Req,
    id: u64,
    mut add: Vec<u64>,
    mut remove: Vec<u64>,
) -> Result<(), ScimError> {
    while !add.is_empty() || !remove.is_empty() {
        let a: Vec<u64> = add.drain(..add.len().min(MEMBER_CHANGES_PER_CALL)).collect();
        let room = MEMBER_CHANGES_PER_CALL - a.len();
        let r: Vec<u64> = remove.drain(..remove.len().min(room)).collect();
        let m = pb::ChangeMembersRequest {
            group_id: id,
            add_contact_ids: a,
            remove_contact_ids: r,
            ..Default::default()
        };
        match b.contacts().change_members(req.grpc(m)?).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(ScimError::invalid_value(format!("members: {}", s.message())));
            }
            Err(s) => return Err(scim_error(&s)),
        }
    }
    Ok(())
}

/// GET, PUT, PATCH, DELETE /Groups/{id}.
pub(super) async fn resource<B: Backend>(b: &B, req: &Req, id: &str) -> Result<Answer, ScimError> {
    let n: u64 = id.parse().map_err(|_| ScimError::not_found(format!("no Group '{id}'")))?;
    let Some((g, members)) = fetch(b, req, n).await? else {
        return Err(ScimError::not_found(format!("no Group '{id}'")));
    };
    let (resource, version) = render(&g, &members, &req.base_url);
    if req.method != Method::GET {
        check_if_match(req, version)?;
    }
    let replacement = match req.method {
        Method::GET => {
            if let Some(a) = not_modified(req, version) {
                return Ok(a);
            }
            let q = list::parse_query(
                None,
                req.param("attributes"),
                req.param("excludedAttributes"),
                None,
                None,
            )?;
            let body = list::project(&resource, &q.attributes, &q.excluded_attributes);
            return Ok(Answer::ok(body).with_version(version));
        }
        Method::DELETE => {
            let r = pb::DeleteGroupRequest { id: n, idempotency_key: String::new() };
            b.contacts().delete_group(req.grpc(r)?).await.map_err(|s| scim_error(&s))?;
            return Ok(Answer { status: StatusCode::NO_CONTENT, body: None, version: None, location: None });
        }
        Method::PUT => req.json()?,
        Method::PATCH => {
            let mut patched = resource;
            patch::apply(&mut patched, &req.json()?)?;
            patched
        }
        _ => return Err(ScimError::method_not_allowed("/Groups/{id} answers GET, PUT, PATCH and DELETE")),
    };
    let sg = group::from_resource(&replacement)?;
    let wanted = member_ids(&sg)?;
    let old_dir = (!g.directory_id.is_empty()).then(|| g.directory_id.clone());
    if sg.display_name != g.name || sg.external_id != old_dir {
        update(b, req, n, &sg).await?;
    }
    let have: BTreeSet<u64> = members.iter().copied().collect();
    let want: BTreeSet<u64> = wanted.iter().copied().collect();
    let add = wanted.iter().copied().filter(|m| !have.contains(m)).collect();
    let remove = members.iter().copied().filter(|m| !want.contains(m)).collect();
    change_members(b, req, n, add, remove).await?;
    let (g, members) =
        fetch(b, req, n).await?.ok_or_else(|| ScimError::not_found(format!("no Group '{id}'")))?;
    let (body, version) = render(&g, &members, &req.base_url);
    Ok(Answer::ok(body).with_version(version))
}
