//! `varsel webhook create|list|delete|enable|deliveries`: a tenant's signed outbound webhooks
//! (see `docs/reference/webhooks.md`).

use varsel_proto::api::{
    CreateWebhookRequest, DeleteWebhookRequest, EnableWebhookRequest, ListWebhookDeliveriesRequest,
    ListWebhooksRequest, Webhook, WebhookDelivery, WebhookState,
};

use crate::error::CliError;
use crate::keyed::{self, KeyArgs};
use crate::output::{self, Table, print_json};
use crate::session::{PageArgs, Session, hint_more, pages};

/// A webhook operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum WebhookCommand {
    /// Subscribe an endpoint to events; prints the signing secret once.
    Create {
        /// The endpoint, https:// (http:// to loopback only with --allow-insecure on a test node).
        url: String,
        /// Event types, comma-separated (e.g. alert.created,alert.completed), or * for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        events: Vec<String>,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
        /// Allow plain http to a loopback address (only where the node's configuration allows it).
        #[arg(long)]
        allow_insecure: bool,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// List the tenant's webhooks with their state (disabled ones with the reason).
    List,
    /// Delete a webhook and the events waiting for it.
    Delete {
        /// The webhook's id.
        id: u64,
    },
    /// Enable a webhook again after it was disabled for failing.
    Enable {
        /// The webhook's id.
        id: u64,
    },
    /// Recent delivery attempts of a webhook, newest first.
    Deliveries {
        /// The webhook's id.
        id: u64,
        #[command(flatten)]
        page: PageArgs,
    },
}

/// The JSON form of a webhook.
pub fn webhook_json(w: &Webhook) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": w.id, "url": w.url, "events": w.events, "description": w.description,
        "allow_insecure": w.allow_insecure, "created_at_ms": w.created_at_ms, "state": state(w),
        "disabled_reason": w.disabled_reason, "consecutive_failures": w.consecutive_failures,
        "delivered": w.delivered, "attempts": w.attempts, "dropped": w.dropped,
    });
    if !w.secret.is_empty() {
        v["secret"] = w.secret.clone().into();
    }
    v
}

fn state(w: &Webhook) -> &'static str {
    if w.state == WebhookState::Disabled as i32 { "disabled" } else { "enabled" }
}

fn delivery_json(d: &WebhookDelivery) -> serde_json::Value {
    serde_json::json!({
        "seq": d.seq, "message_id": d.message_id, "event_type": d.event_type,
        "event_at_ms": d.event_at_ms, "at_ms": d.at_ms, "node_id": d.node_id, "status": d.status,
        "ok": d.ok, "error": d.error, "duration_ms": d.duration_ms, "attempt": d.attempt,
    })
}

fn print_webhooks(json: bool, hooks: &[Webhook]) {
    if json {
        return hooks.iter().for_each(|w| print_json(&webhook_json(w)));
    }
    let mut table =
        Table::new(&["id", "state", "url", "events", "delivered", "failures", "dropped", "reason"]);
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .map(|w| {
            vec![
                w.id.to_string(),
                state(w).into(),
                w.url.clone(),
                w.events.join(","),
                w.delivered.to_string(),
                w.consecutive_failures.to_string(),
                w.dropped.to_string(),
                w.disabled_reason.clone(),
            ]
        })
        .collect();
    table.print(&rows);
}

fn no_webhook() -> CliError {
    CliError::Input("the answer carried no webhook".into())
}

/// Runs one webhook command.
pub async fn run(s: &Session, cmd: WebhookCommand) -> Result<(), CliError> {
    match cmd {
        WebhookCommand::Create { url, events, description, allow_insecure, key } => {
            let key = key.key();
            let req = CreateWebhookRequest {
                url,
                events,
                description,
                allow_insecure,
                idempotency_key: key.clone(),
            };
            let write = s.webhooks(|mut c| {
                let req = req.clone();
                async move { c.create_webhook(req).await }
            });
            let w = keyed::outcome(&key, write).await?.webhook.ok_or_else(no_webhook)?;
            if s.json {
                print_json(&webhook_json(&w));
            } else {
                print_webhooks(false, std::slice::from_ref(&w));
                println!("secret: {} (shown once: keep it to verify signatures)", w.secret);
            }
        }
        WebhookCommand::List => {
            let req = ListWebhooksRequest { consistency: s.read() };
            let r = s.webhooks(|mut c| async move { c.list_webhooks(req).await }).await?;
            print_webhooks(s.json, &r.webhooks);
        }
        WebhookCommand::Delete { id } => {
            s.webhooks(|mut c| async move { c.delete_webhook(DeleteWebhookRequest { id }).await }).await?;
            if !s.json {
                println!("webhook {id} deleted");
            }
        }
        WebhookCommand::Enable { id } => {
            let r = s
                .webhooks(|mut c| async move { c.enable_webhook(EnableWebhookRequest { id }).await })
                .await?;
            print_webhooks(s.json, &r.webhook.into_iter().collect::<Vec<_>>());
        }
        WebhookCommand::Deliveries { id, page } => deliveries(s, id, page).await?,
    }
    Ok(())
}

async fn deliveries(s: &Session, webhook_id: u64, page: PageArgs) -> Result<(), CliError> {
    let (page_size, consistency) = (page.size(), s.read());
    let fetch = |page_token: String| async move {
        let req = ListWebhookDeliveriesRequest { webhook_id, page_size, page_token, consistency };
        let r = s
            .webhooks(|mut c| {
                let req = req.clone();
                async move { c.list_webhook_deliveries(req).await }
            })
            .await?;
        Ok((r.deliveries, r.next_page_token))
    };
    let mut table = Table::new(&["seq", "at", "message", "type", "attempt", "status", "ok", "ms", "error"]);
    let next = pages(&page, fetch, |rows: Vec<WebhookDelivery>| {
        if s.json {
            return rows.iter().for_each(|d| print_json(&delivery_json(d)));
        }
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|d| {
                vec![
                    d.seq.to_string(),
                    output::time(d.at_ms),
                    d.message_id.clone(),
                    d.event_type.clone(),
                    d.attempt.to_string(),
                    d.status.to_string(),
                    d.ok.to_string(),
                    d.duration_ms.to_string(),
                    d.error.clone(),
                ]
            })
            .collect();
        table.print(&rows);
    })
    .await?;
    hint_more(&next);
    Ok(())
}
