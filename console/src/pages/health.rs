//! Cluster health as the page's node sees it: sites and nodes, the leader, replication lag (the
//! leader alone knows it), clocks, disk, and provider circuits.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;
use varsel_http::Backend;

use super::{Ctx, Nav, page};
use crate::guard;
use crate::health::CircuitState;
use crate::session;
use crate::{ClusterView, Console};

/// The health page.
pub async fn page_handler<B: Backend, V: ClusterView>(
    c: &Arc<Console<B, V>>,
    headers: &HeaderMap,
) -> Response {
    let lang = session::language(headers);
    let s = match guard::session(c, headers) {
        Ok(s) => s,
        Err(r) => return r.respond(lang),
    };
    let ctx = Ctx { lang, session: Some(&s), path: "/console/health", nav: Nav::Health };
    let t = ctx.t();
    let h = c.view.health();
    let yes_no = |b: bool| if b { t.yes } else { t.no };
    page(
        &ctx,
        t.health_title,
        html! {
            p.hint { (t.health_hint) }
            dl.summary #health-node {
                dt { (t.health_node) } dd { (h.node_id) " (" (h.site) ")" }
                dt { (t.health_role) } dd { (h.role) }
                dt { (t.health_leader) } dd #leader { @match h.leader_id { Some(l) => (l), None => (t.health_no_leader) } }
                dt { (t.health_term) } dd { (h.term) }
                dt { (t.health_ready) } dd { (yes_no(h.ready)) @if !h.ready { " — " (h.not_ready_reason) } }
                dt { (t.health_applied) } dd { (h.applied_index) " / " (h.last_log_index) }
                dt { (t.health_clock_offset) } dd { (h.clock_offset_ms) " ms" }
                dt { (t.health_clock_skew) } dd {
                    @match h.clock_skew_ms { Some(s) => { (s) " ms" }, None => (t.health_unknown) }
                    @if h.clock_out_of_bounds { strong.error { " " (t.health_clock_bad) } }
                }
                dt { (t.health_disk) } dd { (h.disk_free_bytes / (1024 * 1024)) " MiB" @if h.disk_full { strong.error { " " (t.health_disk_full) } } }
            }
            table #members {
                caption { (t.health_members) }
                thead { tr {
                    th scope="col" { (t.health_node) } th scope="col" { (t.health_site) } th scope="col" { (t.health_address) }
                    th scope="col" { (t.health_voter) } th scope="col" { (t.health_role) } th scope="col" { (t.health_lag) }
                    th scope="col" { (t.health_shards_held) }
                } }
                tbody { @for m in &h.members {
                    tr {
                        th scope="row" { (m.id) } td { (m.site) } td { (m.api_addr) } td { (yes_no(m.voter)) }
                        td { @if Some(m.id) == h.leader_id { (t.health_is_leader) } }
                        td.num { @match m.lag_entries { Some(l) => (l), None => "–" } }
                        td.num data-k="shards-held" { (m.shards_held) }
                    }
                } }
            }
            table #providers {
                caption { (t.health_providers) }
                thead { tr { th scope="col" { (t.channel) } th scope="col" { (t.health_provider) } th scope="col" { (t.health_circuit) } } }
                tbody { @for p in &h.providers {
                    tr {
                        td { (p.channel) } td { (p.provider) }
                        td { @match p.state {
                            CircuitState::Closed => span.ok { (t.circuit_closed) },
                            CircuitState::HalfOpen => span.warn { (t.circuit_half_open) },
                            CircuitState::Open => strong.error { (t.circuit_open) },
                        } }
                    }
                } }
            }
            @if h.providers.is_empty() { p { (t.health_no_providers) } }
        },
    )
}

/// `GET /console/health`.
pub async fn show<B: Backend, V: ClusterView>(
    State(c): State<Arc<Console<B, V>>>,
    headers: HeaderMap,
) -> Response {
    page_handler(&c, &headers).await
}
