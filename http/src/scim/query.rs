//! Queries: `GET /Users`, `GET /Groups`, `POST /.search` (root and per resource).
//!
//! `id eq`, `userName eq` (a contact's `external_id`, compared exactly by the node's index),
//! `externalId eq` (the directory-id index) and, for Groups, `displayName eq` (the group-name
//! index) read one record. Any other filter, or none, reads the tenant's contacts or groups
//! page by page, at most [`SCAN_USERS_MAX`] contacts: a bigger tenant is answered 400
//! `tooMany`, naming the indexed filters to use instead. Every candidate is still matched
//! against the whole filter, so an index only narrows, never widens, the result.

use serde_json::Value;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;
use varsel_scim::filter::IndexedAttr;
use varsel_scim::list::{self, Query};
use varsel_scim::{Filter, ScimError};

use super::{Answer, Req, groups, scim_error, users};
use crate::Backend;

/// Most contacts a query without an indexed filter reads. Entra and Okta query by `userName`
/// or `externalId`, which are indexed; a scan is for people reading lists, and 50,000 contacts
/// read in well under a second.
pub const SCAN_USERS_MAX: usize = 50_000;

/// Contacts read per `ListContacts` page of a scan.
const SCAN_PAGE: u32 = 1_000;

/// Which resources a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Users,
    Groups,
}

/// GET /Users, GET /Groups.
pub(super) async fn get<B: Backend>(b: &B, req: &Req, kind: Kind) -> Result<Answer, ScimError> {
    let q = list::parse_query(
        req.param("filter"),
        req.param("attributes"),
        req.param("excludedAttributes"),
        req.param("startIndex"),
        req.param("count"),
    )?;
    run(b, req, &q, Some(kind)).await
}

/// POST .search: at the root (`None`, both kinds) or under one resource type.
pub(super) async fn search<B: Backend>(b: &B, req: &Req, kind: Option<Kind>) -> Result<Answer, ScimError> {
    let q = list::parse_search_request(&req.json()?)?;
    run(b, req, &q, kind).await
}

async fn run<B: Backend>(b: &B, req: &Req, q: &Query, kind: Option<Kind>) -> Result<Answer, ScimError> {
    let mut all = Vec::new();
    if kind != Some(Kind::Groups) {
        all.extend(user_candidates(b, req, q.filter.as_ref()).await?);
    }
    if kind != Some(Kind::Users) {
        all.extend(group_candidates(b, req, q.filter.as_ref()).await?);
    }
    all.retain(|v| q.filter.as_ref().is_none_or(|f| f.matches(v)));
    let window = q.paging.window(all.len());
    let page: Vec<Value> = all
        .get(window)
        .unwrap_or_default()
        .iter()
        .map(|v| list::project(v, &q.attributes, &q.excluded_attributes))
        .collect();
    let n = page.len();
    Ok(Answer::ok(list::list_response(page, q.paging.start_index, n, all.len())))
}

async fn user_candidates<B: Backend>(
    b: &B,
    req: &Req,
    filter: Option<&Filter>,
) -> Result<Vec<Value>, ScimError> {
    if let Some(p) = filter.and_then(Filter::point_lookup) {
        let key = match p.attr {
            IndexedAttr::Id => match p.value.parse() {
                Ok(id) => Some(pb::get_contact_request::Key::Id(id)),
                Err(_) => return Ok(Vec::new()),
            },
            IndexedAttr::UserName => Some(pb::get_contact_request::Key::ExternalId(p.value.clone())),
            IndexedAttr::ExternalId => Some(pb::get_contact_request::Key::DirectoryId(p.value.clone())),
            IndexedAttr::DisplayName => None,
        };
        if let Some(key) = key {
            let found = users::fetch(b, req, key).await?;
            return Ok(found.iter().map(|c| users::render(c, &req.base_url).0).collect());
        }
    }
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let r = pb::ListContactsRequest {
            page_size: SCAN_PAGE,
            page_token: token.clone(),
            consistency: pb::Consistency::Linearizable as i32,
        };
        let page = b.contacts().list_contacts(req.grpc(r)?).await.map_err(|s| scim_error(&s))?.into_inner();
        out.extend(page.contacts.iter().map(|c| users::render(c, &req.base_url).0));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        if out.len() >= SCAN_USERS_MAX {
            return Err(ScimError::too_many(format!(
                "the tenant has more than {SCAN_USERS_MAX} Users; filter with userName eq or externalId eq"
            )));
        }
        token = page.next_page_token;
    }
}

async fn group_candidates<B: Backend>(
    b: &B,
    req: &Req,
    filter: Option<&Filter>,
) -> Result<Vec<Value>, ScimError> {
    let point = filter.and_then(Filter::point_lookup);
    let ids: Vec<u64> = match point.as_ref().map(|p| (p.attr, p.value.as_str())) {
        Some((IndexedAttr::Id, v)) => v.parse().map(|id| vec![id]).unwrap_or_default(),
        Some((IndexedAttr::DisplayName, v)) => {
            let r = pb::GetGroupRequest {
                key: Some(pb::get_group_request::Key::Name(v.to_string())),
                consistency: pb::Consistency::Linearizable as i32,
            };
            match b.contacts().get_group(req.grpc(r)?).await {
                Ok(g) => g.into_inner().group.map(|g| vec![g.id]).unwrap_or_default(),
                Err(s) if s.code() == tonic::Code::NotFound => Vec::new(),
                Err(s) => return Err(scim_error(&s)),
            }
        }
        _ => {
            let r = pb::ListGroupsRequest { consistency: pb::Consistency::Linearizable as i32 };
            let all = b.contacts().list_groups(req.grpc(r)?).await.map_err(|s| scim_error(&s))?.into_inner();
            all.groups.iter().map(|g| g.id).collect()
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some((g, members)) = groups::fetch(b, req, id).await? {
            out.push(groups::render(&g, &members, &req.base_url).0);
        }
    }
    Ok(out)
}
