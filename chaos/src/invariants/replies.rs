//! Replies and receipts are durable once answered, kept once, and never placed with another
//! tenant's alert.
//!
//! A node answers a provider's webhook with success only after what it carried is committed,
//! so every reply and receipt the simulator was answered for must be in the cluster, however
//! nodes were killed meanwhile; a provider sending one again (after a failure, or as a
//! deliberate copy) must not make it count twice; and a reply from a number that several
//! tenants' alerts reached must go to the tenant whose message it answers, or to none.
//!
//! The cluster's side is read with `ListReplies` (every reply kept, attributed or not) and the
//! alerts' progress (receipts counted per channel); the simulator's side is the replies and
//! receipts a node answered with success (`/admin/replies`, `/admin/receipts`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{Alert, Channel, Consistency, GetAlertRequest, ListRepliesRequest, Reply};
use varsel_sim::ReplyRecord;

use super::{Evidence, Verdict, alert_and_contact, first};
use varsel_client::Cluster;

use crate::load::{authed, cluster_from};

/// Name in reports.
pub const KEPT: &str = "every reply a node answered is kept, once";
/// Name in reports.
pub const TENANT: &str = "no reply is placed with another tenant's alert";
/// Name in reports.
pub const RECEIPTS: &str = "every receipt a node answered is recorded";

/// Most replies read per call.
const PAGE: u32 = 1_000;

/// What the checks counted, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplyFigures {
    /// Replies the simulator was answered with success for (distinct).
    pub answered: u64,
    /// Replies the cluster keeps (distinct).
    pub kept: u64,
    /// Kept replies placed with an alert by the message they named.
    pub by_reference: u64,
    /// … by the number they were sent to.
    pub by_route: u64,
    /// … as the one tenant's latest alert to the person.
    pub by_latest: u64,
    /// Kept replies placed with no alert (acknowledging nothing).
    pub unmatched: u64,
    /// Answered but not kept.
    pub lost: u64,
    /// Kept more than once.
    pub twice: u64,
    /// Placed with an alert of another tenant than the one whose message they answer.
    pub wrong_tenant: u64,
    /// Receipts the simulator was answered with success for (distinct messages).
    pub receipts_answered: u64,
    /// Of those, not counted in their alert's progress.
    pub receipts_lost: u64,
    /// Receipt and reply items the providers sent (every attempt counts, and every copy).
    pub callbacks_sent: u64,
    /// Items sent in a request that failed (refused, cut off, timed out) and so sent again.
    pub callbacks_failed: u64,
    /// Items the providers gave up on (queue full, or every attempt and redelivery failed).
    pub callbacks_given_up: u64,
}

/// Whose alert, by id: 0 for the run's tenant, 1 for the neighbour.
type Owners = BTreeMap<u64, usize>;

/// Checks the three invariants; answers their verdicts and the figures.
pub async fn check(e: &Evidence) -> (Vec<Verdict>, ReplyFigures) {
    let mut figures = ReplyFigures::default();
    if let Ok(s) = e.sim.stats().await {
        let (r, p) = (s.receipts, s.replies);
        figures.callbacks_sent = r.sent + p.sent;
        figures.callbacks_failed = (r.sent + p.sent).saturating_sub(r.acknowledged + p.acknowledged);
        figures.callbacks_given_up = r.given_up + p.given_up;
    }
    let mut tenants: Vec<(&str, &BTreeMap<u64, Alert>)> = vec![(e.token.as_str(), &e.alerts)];
    // One client for every read of the check (a few per alert).
    let cluster = match cluster_from(&e.nodes, 0) {
        Ok(c) => c,
        Err(err) => {
            let why = format!("no client for the cluster: {err}");
            return ([KEPT, TENANT, RECEIPTS].map(|n| Verdict::new(n, false, why.clone())).to_vec(), figures);
        }
    };
    if let Some(n) = &e.neighbour {
        tenants.push((n.token.as_str(), &n.alerts));
    }
    let owners: Owners = tenants
        .iter()
        .enumerate()
        .flat_map(|(i, (_, alerts))| alerts.keys().map(move |id| (*id, i)))
        .collect();
    let (kept, readable) = match read_kept(e, &cluster, &tenants).await {
        Ok(kept) => kept,
        Err(why) => {
            let unread =
                |name| Verdict::new(name, false, format!("the kept replies could not be read: {why}"));
            return (
                vec![unread(KEPT), unread(TENANT), receipts(e, &cluster, &tenants, &mut figures).await],
                figures,
            );
        }
    };
    // Replies to alerts of this run's tenants only: a simulator shared by several runs (compose
    // mode) remembers earlier ones too.
    let answered: BTreeMap<&str, &ReplyRecord> = e
        .replies
        .iter()
        .filter(|r| !r.id.is_empty())
        .filter(|r| alert_and_contact(&r.key).is_some_and(|(a, _)| readable.contains(&a)))
        .map(|r| (r.id.as_str(), r))
        .collect();
    figures.answered = answered.len() as u64;
    // One kept reply is listed once per tenant it may be for: the same sequence number.
    let mut seqs: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for r in &kept {
        seqs.entry(r.reply_id.as_str()).or_default().insert(r.seq);
    }
    let mut distinct: BTreeMap<u64, &Reply> = BTreeMap::new();
    for r in &kept {
        distinct.insert(r.seq, r);
    }
    figures.kept = distinct.len() as u64;
    for r in distinct.values() {
        match r.attributed_by.as_str() {
            "reference" => figures.by_reference += 1,
            "route" => figures.by_route += 1,
            "latest" => figures.by_latest += 1,
            _ => figures.unmatched += 1,
        }
    }
    let lost: Vec<&str> = answered.keys().filter(|id| !seqs.contains_key(*id)).copied().collect();
    let twice: Vec<(&str, usize)> =
        seqs.iter().filter(|(_, s)| s.len() > 1).map(|(id, s)| (*id, s.len())).collect();
    figures.lost = lost.len() as u64;
    figures.twice = twice.len() as u64;
    let kept_verdict = Verdict::new(
        KEPT,
        lost.is_empty() && twice.is_empty(),
        format!(
            "{} replies answered, {} kept ({} by reference, {} by route, {} as the latest alert, {} unmatched); \
             {} lost{}; {} kept twice{}",
            figures.answered,
            figures.kept,
            figures.by_reference,
            figures.by_route,
            figures.by_latest,
            figures.unmatched,
            lost.len(),
            if lost.is_empty() { String::new() } else { format!(": {}", first(&lost, 5)) },
            twice.len(),
            if twice.is_empty() { String::new() } else { format!(": {}", first(&twice, 5)) },
        ),
    );

    // The tenant a reply is for is the one whose message it answers (the simulator's record).
    let mut wrong = Vec::new();
    let mut judged = 0u64;
    for r in distinct.values().filter(|r| r.alert_id != 0) {
        let Some(answered) = answered.get(r.reply_id.as_str()) else { continue };
        let Some((replied_to, _)) = alert_and_contact(&answered.key) else { continue };
        let (Some(placed), Some(meant)) = (owners.get(&r.alert_id), owners.get(&replied_to)) else {
            continue;
        };
        judged += 1;
        if placed != meant {
            wrong.push(format!(
                "{} (answers alert {replied_to}, placed with alert {})",
                r.reply_id, r.alert_id
            ));
        }
    }
    figures.wrong_tenant = wrong.len() as u64;
    let tenant_verdict = Verdict::new(
        TENANT,
        wrong.is_empty(),
        format!(
            "{judged} replies placed with an alert of a known tenant ({} tenants), {} with another tenant's{}",
            tenants.len(),
            wrong.len(),
            if wrong.is_empty() { String::new() } else { format!(": {}", first(&wrong, 5)) },
        ),
    );
    let receipts_verdict = receipts(e, &cluster, &tenants, &mut figures).await;
    (vec![kept_verdict, tenant_verdict, receipts_verdict], figures)
}

/// Every reply the cluster keeps that the run can see: each alert's (every accepted alert, and
/// any other alert a reply answered), and the unmatched ones of each tenant and of none; and
/// the alerts the run's tenants could read.
async fn read_kept(
    e: &Evidence,
    cluster: &Cluster,
    tenants: &[(&str, &BTreeMap<u64, Alert>)],
) -> Result<(Vec<Reply>, BTreeSet<u64>), String> {
    let mut alerts: BTreeSet<u64> = tenants.iter().flat_map(|(_, a)| a.keys().copied()).collect();
    alerts.extend(e.replies.iter().filter_map(|r| alert_and_contact(&r.key)).map(|(a, _)| a));
    let mut out = Vec::new();
    let mut readable = BTreeSet::new();
    for alert in alerts {
        let mut found = false;
        for (token, _) in tenants {
            match list(cluster, token, alert, false).await {
                Ok(replies) => {
                    out.extend(replies);
                    readable.insert(alert);
                    found = true;
                    break;
                }
                Err(ListError::NotFound) => continue,
                Err(ListError::Other(why)) => return Err(format!("alert {alert}: {why}")),
            }
        }
        if !found {
            tracing::debug!(alert, "an alert replied to belongs to no tenant of the run");
        }
    }
    for (token, _) in tenants {
        let unmatched = list(cluster, token, 0, true).await.map_err(|w| format!("unmatched: {w:?}"))?;
        out.extend(unmatched);
    }
    let superadmin = e.nodes.first().map(|n| n.access.superadmin.clone()).unwrap_or_default();
    let nobody =
        list(cluster, &superadmin, 0, true).await.map_err(|w| format!("unmatched of no tenant: {w:?}"))?;
    out.extend(nobody);
    Ok((out, readable))
}

/// Why a listing could not be read.
#[derive(Debug)]
pub(crate) enum ListError {
    NotFound,
    Other(String),
}

/// Every page of one listing, read linearizably: an alert's replies, or the unmatched ones the
/// token's tenant may see (the superadmin's: those for no tenant).
pub(crate) async fn list(
    cluster: &Cluster,
    token: &str,
    alert_id: u64,
    unmatched: bool,
) -> Result<Vec<Reply>, ListError> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let req = ListRepliesRequest {
            alert_id,
            unmatched,
            tenant_id: 0,
            page_size: PAGE,
            page_token: page_token.clone(),
            consistency: Consistency::Linearizable as i32,
        };
        let got = cluster
            .call(|ch| {
                let req = authed(token, req.clone());
                async move { AlertServiceClient::new(ch).list_replies(req).await }
            })
            .await;
        let page = match got {
            Ok(a) => a.value.into_inner(),
            Err(err) if err.status().is_some_and(|s| s.code() == tonic::Code::NotFound) => {
                return Err(ListError::NotFound);
            }
            Err(err) => return Err(ListError::Other(err.to_string())),
        };
        out.extend(page.replies);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// Every delivered receipt a node answered is counted in its alert's progress: per alert, the
/// SMS delivered count is at least the distinct messages whose delivered receipt was answered.
/// The alerts are read again now: receipts of the last alerts arrive after they finished.
async fn receipts(
    e: &Evidence,
    cluster: &Cluster,
    tenants: &[(&str, &BTreeMap<u64, Alert>)],
    figures: &mut ReplyFigures,
) -> Verdict {
    let mut answered: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for r in e.receipts.iter().filter(|r| r.delivered && r.key.ends_with("-sms-0")) {
        if let Some((alert, contact)) = alert_and_contact(&r.key) {
            answered.entry(alert).or_default().insert(contact);
        }
    }
    let owner: BTreeMap<u64, &str> =
        tenants.iter().flat_map(|(token, a)| a.keys().map(move |id| (*id, *token))).collect();
    let mut short = Vec::new();
    let mut unread = Vec::new();
    for (alert, contacts) in &answered {
        let Some(token) = owner.get(alert) else { continue };
        figures.receipts_answered += contacts.len() as u64;
        let recorded = match read_alert(cluster, token, *alert).await {
            Ok(a) => a
                .progress
                .as_ref()
                .and_then(|p| p.channels.iter().find(|c| c.channel == Channel::Sms as i32))
                .map_or(0, |c| c.delivered),
            Err(why) => {
                unread.push(format!("alert {alert}: {why}"));
                continue;
            }
        };
        if recorded < contacts.len() as u64 {
            figures.receipts_lost += contacts.len() as u64 - recorded;
            short.push(format!("alert {alert}: {recorded} recorded of {} answered", contacts.len()));
        }
    }
    Verdict::new(
        RECEIPTS,
        short.is_empty() && unread.is_empty(),
        format!(
            "{} delivered SMS receipts answered over {} alerts, {} not recorded{}{}",
            figures.receipts_answered,
            answered.len(),
            figures.receipts_lost,
            if short.is_empty() { String::new() } else { format!(": {}", first(&short, 5)) },
            if unread.is_empty() { String::new() } else { format!("; unreadable: {}", first(&unread, 3)) },
        ),
    )
}

/// One alert as it is now, read linearizably.
async fn read_alert(cluster: &Cluster, token: &str, id: u64) -> Result<Alert, String> {
    let got = cluster
        .call(|ch| {
            let req = authed(token, GetAlertRequest { id, consistency: Consistency::Linearizable as i32 });
            async move { AlertServiceClient::new(ch).get_alert(req).await }
        })
        .await
        .map_err(|err| err.to_string())?;
    got.value.into_inner().alert.ok_or_else(|| "no alert in the answer".to_string())
}
