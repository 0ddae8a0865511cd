//! `ContactService`: contacts, groups and membership, bulk CSV import, and one person's data
//! exported or erased (GDPR articles 15 and 17).

use std::sync::Arc;

use futures::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use varsel_domain::csv_import::{self, ImportParse};
use varsel_domain::location::Location;
use varsel_domain::model::{ContactInput, ContactRef};
use varsel_proto::api as pb;
use varsel_proto::api::contact_service_server::ContactService;
use varsel_raft_store::ops::{DomainReply, Op, UpsertReport};
use varsel_raft_store::state_machine::domain::{export, query};

use super::convert::{
    contact_dir_pb, contact_from_row, contact_input, directory_input, group_pb, locations_input, page_size,
    page_token,
};
use super::list_sync::SyncOptions;
use super::{ApiContext, idempotency_key, unexpected};
use crate::auth::{Authenticated, require_tenant, require_writer};
use varsel_domain::Rule;

use crate::error::{ApiError, ApiResult};

/// Largest CSV file accepted by one import call.
pub const IMPORT_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Most contacts in one Raft entry of an import.
pub const IMPORT_BATCH_ROWS_MAX: usize = 1_000;
/// Largest encoded size of one import batch (well under the 1 MiB entry limit).
pub const IMPORT_BATCH_BYTES_MAX: usize = 512 * 1024;
/// Import batches in flight at once: enough to keep the leader's log busy.
pub const IMPORT_BATCHES_IN_FLIGHT: usize = 4;
/// Default page size of lists.
pub const PAGE_DEFAULT: usize = 100;
/// Imports one tenant may run at once on one node. An import holds its whole file in memory
/// (up to [`IMPORT_BYTES_MAX`]) while it is parsed and written, so a tenant that starts many
/// at once would take the node's memory from everyone else.
pub const IMPORTS_PER_TENANT_MAX: usize = 2;
/// Imports all tenants together may run at once on one node.
pub const IMPORTS_PER_NODE_MAX: usize = 4;

/// The imports running on this node, per tenant.
#[derive(Debug, Default)]
struct ImportSlots(std::sync::Mutex<std::collections::HashMap<u64, usize>>);

/// A running import's slot, given back when it is dropped.
struct ImportSlot {
    slots: Arc<ImportSlots>,
    tenant: u64,
}

impl ImportSlots {
    /// A slot for `tenant`, or RESOURCE_EXHAUSTED naming the bound it would break.
    fn take(self: &Arc<Self>, tenant: u64) -> ApiResult<ImportSlot> {
        let mut running = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = running.values().sum();
        let mine = running.get(&tenant).copied().unwrap_or(0);
        if mine >= IMPORTS_PER_TENANT_MAX {
            return Err(ApiError::ResourceExhausted(format!(
                "this tenant already runs {mine} imports on this node (at most {IMPORTS_PER_TENANT_MAX} at once); \
                 wait for one to finish"
            )));
        }
        if total >= IMPORTS_PER_NODE_MAX {
            return Err(ApiError::ResourceExhausted(format!(
                "this node already runs {total} imports (at most {IMPORTS_PER_NODE_MAX} at once); try again shortly \
                 or through another node"
            )));
        }
        running.insert(tenant, mine + 1);
        Ok(ImportSlot { slots: self.clone(), tenant })
    }
}

impl Drop for ImportSlot {
    fn drop(&mut self) {
        let mut running = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.tenant);
            }
        }
    }
}

/// The contact service of one node.
#[derive(Debug, Clone)]
pub struct Contacts {
    ctx: ApiContext,
    imports: Arc<ImportSlots>,
}

impl Contacts {
    /// A service on `ctx`.
    pub fn new(ctx: ApiContext) -> Self {
        Self { ctx, imports: Arc::default() }
    }

    /// The context the service runs in (for [`super::list_sync`]).
    pub(super) fn context(&self) -> &ApiContext {
        &self.ctx
    }

    fn contact_reply(&self, tenant: u64, id: u64, created: bool) -> ApiResult<Response<pb::ContactReply>> {
        let txn = self.ctx.replica.state.read_txn();
        let (c, groups) = query::contact(&txn, tenant, id)?
            .ok_or_else(|| ApiError::NotFound(format!("contact {id} does not exist")))?;
        let d = query::directory(&txn, tenant, id)?;
        let places = query::locations(&txn, tenant, id)?;
        Ok(Response::new(pb::ContactReply {
            contact: Some(contact_dir_pb(&c, &groups, d.as_ref(), &places)),
            created,
        }))
    }

    fn resolve_group(&self, tenant: u64, id: u64, name: &str) -> ApiResult<u64> {
        let txn = self.ctx.replica.state.read_txn();
        let found = if name.is_empty() {
            query::group(&txn, tenant, id)?.map(|g| g.id)
        } else {
            query::group_id(&txn, tenant, name)?
        };
        found.ok_or_else(|| {
            ApiError::NotFound(format!(
                "group {} does not exist",
                if name.is_empty() { id.to_string() } else { format!("{name:?}") }
            ))
        })
    }
}

/// A proto group with its directory id.
fn group_dir_pb<T: varsel_raft_store::engine::KvTree>(
    txn: &varsel_raft_store::state_machine::Txn<'_, T>,
    tenant: u64,
    g: &varsel_domain::model::Group,
) -> ApiResult<pb::Group> {
    let mut out = group_pb(g);
    out.directory_id = query::group_directory_id(txn, tenant, g.id)?.unwrap_or_default();
    Ok(out)
}

/// Splits contacts into batches bounded by rows and encoded bytes.
/// A row to import: the contact, and its places when the file has place columns.
type ImportRow = (ContactInput, Option<Vec<Location>>);

fn batches(rows: Vec<ImportRow>) -> Vec<Vec<ImportRow>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let size = postcard::to_stdvec(&row).map_or(IMPORT_BATCH_BYTES_MAX, |v| v.len());
        if !current.is_empty()
            && (current.len() >= IMPORT_BATCH_ROWS_MAX || bytes + size > IMPORT_BATCH_BYTES_MAX)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(row);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The entry for a batch: a plain upsert, or one with the rows' places when the file has
/// place columns (so a file without them is imported as before, by any node).
fn import_op(batch: Vec<ImportRow>) -> Op {
    let mut locations = Vec::new();
    let mut contacts = Vec::with_capacity(batch.len());
    for (c, places) in batch {
        if let Some(places) = places {
            locations.push((c.external_id.clone(), places));
        }
        contacts.push(c);
    }
    let op = Op::UpsertContacts { contacts };
    if locations.is_empty() { op } else { Op::WithLocations { op: Box::new(op), locations } }
}

/// Longest wait for the next chunk of an upload. An import holds one of its tenant's and the
/// node's few import slots while it uploads; a client that stops sending without closing the
/// stream would otherwise hold one for as long as its connection lives.
const UPLOAD_IDLE_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole upload; returns its bytes and its first chunk without data (the file's
/// name and the import's options).
async fn read_upload(mut stream: Streaming<pb::ImportChunk>) -> ApiResult<(Vec<u8>, pb::ImportChunk)> {
    let mut data = Vec::new();
    let mut first: Option<pb::ImportChunk> = None;
    loop {
        let Ok(next) = tokio::time::timeout(UPLOAD_IDLE_MAX, stream.next()).await else {
            return Err(ApiError::DeadlineExceeded(format!(
                "file: no data for {} s; the upload was abandoned (nothing of it was imported)",
                UPLOAD_IDLE_MAX.as_secs()
            )));
        };
        let Some(chunk) = next else { break };
        let chunk =
            chunk.map_err(|s| ApiError::InvalidArgument(format!("upload broke off: {}", s.message())))?;
        if data.len() + chunk.data.len() > IMPORT_BYTES_MAX {
            return Err(ApiError::ResourceExhausted(format!(
                "file: larger than {IMPORT_BYTES_MAX} bytes; split it into several imports"
            )));
        }
        data.extend_from_slice(&chunk.data);
        if first.is_none() {
            first = Some(pb::ImportChunk { data: Vec::new(), ..chunk });
        }
    }
    Ok((data, first.unwrap_or_default()))
}

/// The rows the parser rejected, as the report lists them.
pub(super) fn rejected_rows(parsed: &ImportParse) -> Vec<pb::RejectedRow> {
    parsed
        .rejected
        .iter()
        .map(|r| pb::RejectedRow {
            line: r.line,
            external_id: r.external_id.clone().unwrap_or_default(),
            errors: r.errors.iter().map(ToString::to_string).collect(),
        })
        .collect()
}

impl Contacts {
    pub(super) async fn import(
        &self,
        actor: Authenticated,
        parsed: ImportParse,
    ) -> ApiResult<pb::ImportReport> {
        let rows: Vec<(u64, String)> =
            parsed.accepted.iter().map(|r| (r.line, r.external_id.clone())).collect();
        let inputs: Vec<ImportRow> =
            parsed.accepted.iter().map(|r| (contact_from_row(r), r.locations.clone())).collect();
        let mut report = pb::ImportReport {
            rows: (parsed.accepted.len() + parsed.rejected.len()) as u64,
            blank_rows: parsed.blank_rows,
            rejected: rejected_rows(&parsed),
            ..Default::default()
        };
        let batches = batches(inputs);
        report.raft_entries = batches.len() as u64;
        let ctx = &self.ctx;
        let actor = &actor;
        let mut results = futures::stream::iter(batches.into_iter().map(|b| async move {
            let n = b.len();
            (n, ctx.propose(actor, import_op(b)).await)
        }))
        .buffered(IMPORT_BATCHES_IN_FLIGHT);
        let mut offset = 0;
        while let Some((n, result)) = results.next().await {
            match result {
                Ok(DomainReply::Upserted(u)) => merge(&mut report, &u, &rows[offset..offset + n]),
                Ok(other) => return Err(unexpected(other)),
                Err(e) if e.is_retryable() => {
                    let reason = e.to_string();
                    // Earlier batches are committed and stay; rows are upserted by external id,
                    // so sending the whole file again is safe.
                    let line = rows.get(offset).map_or(0, |r| r.0);
                    return Err(ApiError::Unavailable(format!(
                        "import stopped at line {line}: {reason}. The {offset} accepted rows before it are \
                         stored; send the file again (rows are matched by external_id, nothing is doubled)"
                    )));
                }
                Err(e) => return Err(e),
            }
            offset += n;
        }
        Ok(report)
    }
}

fn merge(report: &mut pb::ImportReport, u: &UpsertReport, rows: &[(u64, String)]) {
    report.created += u.created;
    report.updated += u.updated;
    report.groups_created += u.groups_created;
    for (i, reason) in &u.refused {
        if let Some((line, ext)) = rows.get(*i as usize) {
            report.rejected.push(pb::RejectedRow {
                line: *line,
                external_id: ext.clone(),
                errors: vec![reason.clone()],
            });
        }
    }
}

#[tonic::async_trait]
impl ContactService for Contacts {
    async fn upsert_contact(
        &self,
        req: Request<pb::UpsertContactRequest>,
    ) -> Result<Response<pb::ContactReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let c =
            r.contact.as_ref().ok_or_else(|| ApiError::invalid("contact", Rule::Required, "is required"))?;
        let input = contact_input(c)?;
        let op = if r.directory.is_some() || r.replace_id != 0 || r.create_only {
            // One entry for the contact and its directory attributes.
            Op::UpsertContactDirectory {
                contact: input,
                directory: r.directory.as_ref().map(directory_input).transpose()?,
                replace: (r.replace_id != 0).then_some(r.replace_id),
                create_only: r.create_only,
            }
        } else {
            Op::UpsertContacts { contacts: vec![input] }
        };
        // The places go in the same entry. An upsert replaces them; one that gives none and
        // finds none stays the plain upsert older nodes know.
        let places = locations_input(&c.locations)?;
        let had = {
            let txn = self.ctx.replica.state.read_txn();
            match query::contact_id(&txn, actor.tenant, c.external_id.trim()).map_err(ApiError::from)? {
                Some(id) => !query::locations(&txn, actor.tenant, id).map_err(ApiError::from)?.is_empty(),
                None => false,
            }
        };
        let op = if r.keep_locations || (places.is_empty() && !had && r.replace_id == 0) {
            op
        } else {
            Op::WithLocations {
                op: Box::new(op),
                locations: vec![(c.external_id.trim().to_string(), places)],
            }
        };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Upserted(u) => {
                if let Some((_, reason)) = u.refused.first() {
                    return Err(ApiError::ResourceExhausted(reason.clone()).into());
                }
                let id = u.ids.first().copied().unwrap_or(0);
                Ok(self.contact_reply(actor.tenant, id, u.created == 1)?)
            }
            other => Err(unexpected(other).into()),
        }
    }

    async fn get_contact(
        &self,
        req: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::ContactReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let id = match r.key {
            Some(pb::get_contact_request::Key::Id(id)) => id,
            Some(pb::get_contact_request::Key::ExternalId(ext)) => {
                query::contact_id(&self.ctx.replica.state.read_txn(), actor.tenant, &ext)
                    .map_err(ApiError::from)?
                    .ok_or_else(|| ApiError::NotFound(format!("no contact with external_id {ext:?}")))?
            }
            Some(pb::get_contact_request::Key::DirectoryId(dir)) => {
                query::contact_by_directory_id(&self.ctx.replica.state.read_txn(), actor.tenant, &dir)
                    .map_err(ApiError::from)?
                    .ok_or_else(|| ApiError::NotFound(format!("no contact with directory_id {dir:?}")))?
            }
            None => {
                return Err(
                    ApiError::invalid("key", Rule::Required, "give id, external_id or directory_id").into()
                );
            }
        };
        Ok(self.contact_reply(actor.tenant, id, false)?)
    }

    async fn delete_contact(
        &self,
        req: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<pb::DeleteContactReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let op = Op::DeleteContact { id: r.id, idempotency_key: idempotency_key(&r.idempotency_key)? };
        let (_, existing) = self.ctx.propose_keyed(&actor, op).await?;
        Ok(Response::new(pb::DeleteContactReply { existing }))
    }

    async fn list_contacts(
        &self,
        req: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let limit = page_size(r.page_size, PAGE_DEFAULT);
        let txn = self.ctx.replica.state.read_txn();
        let page =
            query::contacts(&txn, actor.tenant, page_token(&r.page_token)?, limit).map_err(ApiError::from)?;
        let next = if page.len() == limit {
            page.last().map(|c| c.id.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let contacts = page
            .iter()
            .map(|c| {
                let d = query::directory(&txn, actor.tenant, c.id)?;
                Ok(contact_dir_pb(c, &[], d.as_ref(), &query::locations(&txn, actor.tenant, c.id)?))
            })
            .collect::<Result<_, varsel_raft_store::error::EngineError>>()
            .map_err(ApiError::from)?;
        Ok(Response::new(pb::ListContactsReply { contacts, next_page_token: next }))
    }

    async fn import_contacts(
        &self,
        req: Request<Streaming<pb::ImportChunk>>,
    ) -> Result<Response<pb::ImportReport>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let _slot = self.imports.take(actor.tenant)?;
        let (data, first) = read_upload(req.into_inner()).await?;
        let sync = SyncOptions::from_chunk(&first)?;
        let parsed = tokio::task::spawn_blocking(move || csv_import::parse_contacts(data.as_slice()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::invalid("file", Rule::CsvRecord, e.to_string()))?;
        let report = match sync {
            Some(opts) => self.sync(actor, parsed, opts).await?,
            None => self.import(actor, parsed).await?,
        };
        Ok(Response::new(report))
    }

    async fn create_group(
        &self,
        req: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::GroupReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let op = Op::CreateGroup {
            name: r.name.trim().to_string(),
            idempotency_key: idempotency_key(&r.idempotency_key)?,
        };
        match self.ctx.propose_keyed(&actor, op).await? {
            (DomainReply::Group(g), existing) => {
                Ok(Response::new(pb::GroupReply { group: Some(group_pb(&g)), existing }))
            }
            (other, _) => Err(unexpected(other).into()),
        }
    }

    async fn get_group(&self, req: Request<pb::GetGroupRequest>) -> Result<Response<pb::GroupReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let (id, name) = match r.key {
            Some(pb::get_group_request::Key::Id(id)) => (id, String::new()),
            Some(pb::get_group_request::Key::Name(n)) => (0, n),
            None => return Err(ApiError::invalid("key", Rule::Required, "give id or name").into()),
        };
        let id = self.resolve_group(actor.tenant, id, &name)?;
        let g = query::group(&self.ctx.replica.state.read_txn(), actor.tenant, id).map_err(ApiError::from)?;
        let g = g.ok_or_else(|| ApiError::NotFound(format!("group {id} does not exist")))?;
        let g = group_dir_pb(&self.ctx.replica.state.read_txn(), actor.tenant, &g)?;
        Ok(Response::new(pb::GroupReply { group: Some(g), existing: false }))
    }

    async fn list_groups(
        &self,
        req: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        self.ctx.consistency(req.get_ref().consistency).await?;
        let txn = self.ctx.replica.state.read_txn();
        let groups = query::groups(&txn, actor.tenant).map_err(ApiError::from)?;
        let groups = groups.iter().map(|g| group_dir_pb(&txn, actor.tenant, g)).collect::<ApiResult<_>>()?;
        Ok(Response::new(pb::ListGroupsReply { groups }))
    }

    async fn delete_group(
        &self,
        req: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let op = Op::DeleteGroup { id: r.id, idempotency_key: idempotency_key(&r.idempotency_key)? };
        let (_, existing) = self.ctx.propose_keyed(&actor, op).await?;
        Ok(Response::new(pb::DeleteGroupReply { existing }))
    }

    async fn change_members(
        &self,
        req: Request<pb::ChangeMembersRequest>,
    ) -> Result<Response<pb::ChangeMembersReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let refs = |ids: &[u64], ext: &[String]| -> Vec<ContactRef> {
            ids.iter()
                .map(|i| ContactRef::Id(*i))
                .chain(ext.iter().map(|e| ContactRef::External(e.clone())))
                .collect()
        };
        let op = Op::ChangeMembers {
            group: r.group_id,
            add: refs(&r.add_contact_ids, &r.add_external_ids),
            remove: refs(&r.remove_contact_ids, &r.remove_external_ids),
        };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Members { added, removed, member_count } => {
                Ok(Response::new(pb::ChangeMembersReply { added, removed, member_count }))
            }
            other => Err(unexpected(other).into()),
        }
    }

    async fn list_members(
        &self,
        req: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let limit = page_size(r.page_size, PAGE_DEFAULT);
        let txn = self.ctx.replica.state.read_txn();
        let group = query::group(&txn, actor.tenant, r.group_id).map_err(ApiError::from)?;
        let group =
            group.ok_or_else(|| ApiError::NotFound(format!("group {} does not exist", r.group_id)))?;
        let mut from = page_token(&r.page_token)?.unwrap_or(0);
        let mut contacts = Vec::new();
        // Ended memberships are skipped; read on until the page is full or the group ends.
        while contacts.len() < limit && from < group.next_seq {
            let ms = query::memberships(&txn, actor.tenant, group.id, from, group.next_seq, limit)
                .map_err(ApiError::from)?;
            let Some((last, _)) = ms.last() else { break };
            from = last + 1;
            for (_, m) in ms.iter().filter(|(_, m)| m.removed_at.is_none()) {
                if let Some(c) =
                    query::contact_record(&txn, actor.tenant, m.contact).map_err(ApiError::from)?
                {
                    let d = query::directory(&txn, actor.tenant, c.id).map_err(ApiError::from)?;
                    let places = query::locations(&txn, actor.tenant, c.id).map_err(ApiError::from)?;
                    contacts.push(contact_dir_pb(&c, &[], d.as_ref(), &places));
                }
            }
        }
        let next = if from < group.next_seq { from.to_string() } else { String::new() };
        Ok(Response::new(pb::ListMembersReply { contacts, next_page_token: next }))
    }

    async fn export_contact(
        &self,
        req: Request<pb::ExportContactRequest>,
    ) -> Result<Response<pb::ExportContactReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_tenant(&actor)?;
        let r = req.into_inner();
        self.ctx.consistency(r.consistency).await?;
        let id = match r.key {
            Some(pb::export_contact_request::Key::Id(id)) => id,
            Some(pb::export_contact_request::Key::ExternalId(ext)) => {
                query::contact_id(&self.ctx.replica.state.read_txn(), actor.tenant, &ext)
                    .map_err(ApiError::from)?
                    .ok_or_else(|| ApiError::NotFound(format!("no contact with external_id {ext:?}")))?
            }
            None => return Err(ApiError::invalid("key", Rule::Required, "give id or external_id").into()),
        };
        let state = self.ctx.replica.state.clone();
        let tenant = actor.tenant;
        // A read of every alert of the tenant: off the runtime's workers.
        let found = tokio::task::spawn_blocking(move || export::export(&state.read_txn(), tenant, id))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::from)?;
        let doc = found.ok_or_else(|| ApiError::NotFound(format!("contact {id} does not exist")))?;
        let json = serde_json::to_string_pretty(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Response::new(pb::ExportContactReply { json }))
    }

    async fn update_group(
        &self,
        req: Request<pb::UpdateGroupRequest>,
    ) -> Result<Response<pb::GroupReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let r = req.into_inner();
        let directory_id = r.directory_id.trim();
        let op = Op::UpdateGroup {
            id: r.id,
            name: r.name.trim().to_string(),
            directory_id: (!directory_id.is_empty()).then(|| directory_id.to_string()),
        };
        match self.ctx.propose(&actor, op).await? {
            DomainReply::Group(g) => {
                let g = group_dir_pb(&self.ctx.replica.state.read_txn(), actor.tenant, &g)?;
                Ok(Response::new(pb::GroupReply { group: Some(g), existing: false }))
            }
            other => Err(unexpected(other).into()),
        }
    }

    async fn erase_contact(
        &self,
        req: Request<pb::EraseContactRequest>,
    ) -> Result<Response<pb::EraseContactReply>, Status> {
        let actor = self.ctx.actor(&req).await?;
        require_writer(&actor)?;
        let id = req.into_inner().id;
        match self.ctx.propose_at(&actor, Op::EraseContact { id }).await? {
            (DomainReply::Erased(r), log_index) => Ok(Response::new(pb::EraseContactReply {
                alerts: r.alerts,
                memberships: r.memberships,
                outcomes: r.outcomes,
                receipts: r.receipts,
                replies: r.replies,
                log_index,
            })),
            (other, _) => Err(unexpected(other).into()),
        }
    }
}
