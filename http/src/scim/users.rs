//! `/Users`: SCIM Users as contacts. `id` is the contact id, `userName` its `external_id`,
//! `externalId` its directory id, `active` the negation of `inactive`. A create, replace or
//! PATCH is one `UpsertContact` carrying the directory attributes (one replicated entry).

use axum::http::{Method, StatusCode};
use serde_json::Number;
use serde_json::Value;
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;
use varsel_scim::list;
use varsel_scim::meta::location;
use varsel_scim::user::{self, USER_ENDPOINT};
use varsel_scim::{Meta, ScimError, ScimPlace, ScimUser, patch};

use super::{Answer, Req, check_if_match, not_modified, rfc3339, scim_error, version_of};
use crate::Backend;

/// A contact by key, `None` when there is none (or it is another tenant's).
pub(super) async fn fetch<B: Backend>(
    b: &B,
    req: &Req,
    key: pb::get_contact_request::Key,
) -> Result<Option<pb::Contact>, ScimError> {
    let r = pb::GetContactRequest { key: Some(key), consistency: pb::Consistency::Linearizable as i32 };
    match b.contacts().get_contact(req.grpc(r)?).await {
        Ok(reply) => Ok(reply.into_inner().contact),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(scim_error(&s)),
    }
}

/// The SCIM User of a contact.
pub(super) fn scim_user(c: &pb::Contact) -> ScimUser {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ScimUser {
        id: Some(c.id.to_string()),
        user_name: c.external_id.clone(),
        external_id: some(&c.directory_id),
        display_name: some(&c.name),
        phone: some(&c.phone),
        email: some(&c.email),
        preferred_language: some(&c.language),
        active: !c.inactive,
        locations: (!c.locations.is_empty()).then(|| {
            c.locations
                .iter()
                .map(|l| ScimPlace {
                    name: l.name.clone(),
                    latitude: Number::from_f64(l.lat).unwrap_or_else(|| Number::from(0)),
                    longitude: Number::from_f64(l.lon).unwrap_or_else(|| Number::from(0)),
                    address: some(&l.address),
                })
                .collect()
        }),
    }
}

/// A contact as SCIM JSON, and its version.
pub(super) fn render(c: &pb::Contact, base_url: &str) -> (Value, u64) {
    let u = scim_user(c);
    let version = version_of(&user::to_resource(&u, &Meta::new("", "", "", 0)));
    let created = if c.created_at_ms == 0 { c.updated_at_ms } else { c.created_at_ms };
    let meta = Meta::new(base_url, &rfc3339(created), &rfc3339(c.updated_at_ms), version);
    (user::to_resource(&u, &meta), version)
}

fn parse_id(id: &str) -> Result<u64, ScimError> {
    id.parse().map_err(|_| ScimError::not_found(format!("no User '{id}'")))
}

/// POST /Users: a new contact (409 `uniqueness` when the userName is taken).
pub(super) async fn create<B: Backend>(b: &B, req: &Req) -> Result<Answer, ScimError> {
    let u = user::from_resource(&req.json()?)?;
    let c = write(b, req, &u, None, None).await?;
    let (body, version) = render(&c, &req.base_url);
    Ok(Answer {
        status: StatusCode::CREATED,
        body: Some(body),
        version: Some(version),
        location: Some(location(&req.base_url, USER_ENDPOINT, &c.id.to_string())),
    })
}

/// Writes `u` as a contact: created (`replace` none) or replacing contact `replace`, keeping
/// what SCIM does not carry (push subscription, opt-outs) from `current`.
async fn write<B: Backend>(
    b: &B,
    req: &Req,
    u: &ScimUser,
    replace: Option<u64>,
    current: Option<&pb::Contact>,
) -> Result<pb::Contact, ScimError> {
    let contact = pb::Contact {
        external_id: u.user_name.clone(),
        name: u.display_name.clone().unwrap_or_default(),
        phone: u.phone.clone().unwrap_or_default(),
        email: u.email.clone().unwrap_or_default(),
        language: u.preferred_language.clone().unwrap_or_default(),
        push_subscription: current.map(|c| c.push_subscription.clone()).unwrap_or_default(),
        opted_out: current.map(|c| c.opted_out.clone()).unwrap_or_default(),
        locations: u
            .locations
            .iter()
            .flatten()
            .map(|p| pb::Location {
                name: p.name.clone(),
                lat: p.latitude.as_f64().unwrap_or(f64::NAN),
                lon: p.longitude.as_f64().unwrap_or(f64::NAN),
                address: p.address.clone().unwrap_or_default(),
            })
            .collect(),
        ..Default::default()
    };
    let r = pb::UpsertContactRequest {
        contact: Some(contact),
        directory: Some(pb::DirectoryAttributes {
            directory_id: u.external_id.clone().unwrap_or_default(),
            inactive: !u.active,
        }),
        replace_id: replace.unwrap_or(0),
        create_only: replace.is_none(),
        // Without the location extension in the body the contact's places stay as they are.
        keep_locations: u.locations.is_none(),
    };
    let reply = b.contacts().upsert_contact(req.grpc(r)?).await.map_err(|s| scim_error(&s))?;
    reply.into_inner().contact.ok_or_else(|| ScimError::new(500, None, "the node answered no contact"))
}

/// GET, PUT, PATCH, DELETE /Users/{id}.
pub(super) async fn resource<B: Backend>(b: &B, req: &Req, id: &str) -> Result<Answer, ScimError> {
    let n = parse_id(id)?;
    let Some(current) = fetch(b, req, pb::get_contact_request::Key::Id(n)).await? else {
        return Err(ScimError::not_found(format!("no User '{id}'")));
    };
    let (resource, version) = render(&current, &req.base_url);
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
            let r = pb::DeleteContactRequest { id: n, idempotency_key: String::new() };
            b.contacts().delete_contact(req.grpc(r)?).await.map_err(|s| scim_error(&s))?;
            return Ok(Answer { status: StatusCode::NO_CONTENT, body: None, version: None, location: None });
        }
        Method::PUT => req.json()?,
        Method::PATCH => {
            let mut patched = resource;
            patch::apply(&mut patched, &req.json()?)?;
            patched
        }
        _ => return Err(ScimError::method_not_allowed("/Users/{id} answers GET, PUT, PATCH and DELETE")),
    };
    let u = user::from_resource(&replacement)?;
    let c = write(b, req, &u, Some(n), Some(&current)).await?;
    let (body, version) = render(&c, &req.base_url);
    Ok(Answer::ok(body).with_version(version))
}
