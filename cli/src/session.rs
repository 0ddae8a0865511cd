//! What every API command holds: the cluster, the bearer token, the output and read options;
//! and the paging loop the list commands share.
//!
//! Every call goes through [`Cluster::call`], so a node that is down is skipped, and every
//! client is built with the [`Bearer`] interceptor, so no request leaves without the token.

use std::future::Future;

use varsel_proto::api::Consistency;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::audit_service_client::AuditServiceClient;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::tenant_service_client::TenantServiceClient;
use varsel_proto::api::webhook_service_client::WebhookServiceClient;

use crate::auth::TokenArgs;
use crate::error::CliError;
pub use varsel_client::Authed;
use varsel_client::{Answered, Bearer, Cluster, Trust};

/// Largest page the list commands ask for (the server's maximum too).
pub const PAGE_SIZE_MAX: u32 = 1000;
/// Page size when none is given.
pub const PAGE_SIZE_DEFAULT: u32 = 100;
/// Most pages one `--all` listing fetches: a server that never ends a listing stops here.
/// At [`PAGE_SIZE_MAX`] that is ten million records, ten times the largest contact list.
pub const LIST_PAGES_MAX: usize = 10_000;

/// The `--help` heading of the options every cluster command shares.
pub const CONNECTION_HEADING: &str = "Connection and output";

/// Options shared by the API commands besides endpoints and output format.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The token options.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Read through the leader's read index (sees every write acknowledged before), instead
    /// of the answering node's own state, which may lag by the replication delay.
    #[arg(long, global = true, help_heading = CONNECTION_HEADING)]
    pub linearizable: bool,
}

/// A connection to the cluster's API on behalf of one credential.
#[derive(Debug)]
pub struct Session {
    /// The cluster.
    pub cluster: Cluster,
    /// The endpoints as given, to build clusters with other timeouts (imports, streams).
    pub endpoints: String,
    /// The cluster CA the endpoints are trusted by.
    pub trust: Trust,
    /// The token interceptor.
    pub bearer: Bearer,
    /// Print JSON instead of tables.
    pub json: bool,
    /// Consistency of reads.
    pub consistency: Consistency,
}

impl Session {
    /// A session from the command-line options; fails without a usable token.
    pub fn new(endpoints: &str, trust: Trust, json: bool, args: &ApiArgs) -> Result<Self, CliError> {
        let bearer = crate::auth::bearer(&args.token.resolve()?)?;
        let consistency = if args.linearizable { Consistency::Linearizable } else { Consistency::Local };
        Ok(Self {
            cluster: Cluster::parse(endpoints, &trust)?,
            endpoints: endpoints.to_string(),
            trust,
            bearer,
            json,
            consistency,
        })
    }

    /// The read consistency as the wire value.
    pub fn read(&self) -> i32 {
        self.consistency as i32
    }

    /// Calls the tenant service on whichever node answers.
    pub async fn tenants<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: Fn(TenantServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let b = &self.bearer;
        Ok(self
            .cluster
            .call(|c| f(TenantServiceClient::with_interceptor(c, b.clone())))
            .await?
            .value
            .into_inner())
    }

    /// Calls the contact service on whichever node answers.
    pub async fn contacts<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: Fn(ContactServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let b = &self.bearer;
        Ok(self
            .cluster
            .call(|c| f(ContactServiceClient::with_interceptor(c, b.clone())))
            .await?
            .value
            .into_inner())
    }

    /// Calls the alert service on whichever node answers.
    pub async fn alerts<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: Fn(AlertServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        Ok(self.alerts_answered(&self.cluster, f).await?.value.into_inner())
    }

    /// Calls the alert service through `cluster`, telling which node answered.
    pub async fn alerts_answered<T, F, Fut>(
        &self,
        cluster: &Cluster,
        f: F,
    ) -> Result<Answered<tonic::Response<T>>, CliError>
    where
        F: Fn(AlertServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let b = &self.bearer;
        Ok(cluster.call(|c| f(AlertServiceClient::with_interceptor(c, b.clone()))).await?)
    }

    /// Calls the audit service on whichever node answers.
    pub async fn audit<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: Fn(AuditServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let b = &self.bearer;
        Ok(self
            .cluster
            .call(|c| f(AuditServiceClient::with_interceptor(c, b.clone())))
            .await?
            .value
            .into_inner())
    }

    /// Calls the webhook service on whichever node answers.
    pub async fn webhooks<T, F, Fut>(&self, f: F) -> Result<T, CliError>
    where
        F: Fn(WebhookServiceClient<Authed>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let b = &self.bearer;
        Ok(self
            .cluster
            .call(|c| f(WebhookServiceClient::with_interceptor(c, b.clone())))
            .await?
            .value
            .into_inner())
    }
}

/// Paging options of the list commands.
#[derive(Debug, Clone, clap::Args)]
pub struct PageArgs {
    /// Records per page (1 to 1000). Default: 100, or 1000 with --all.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(PAGE_SIZE_MAX)))]
    pub page_size: Option<u32>,
    /// Continue a listing from the token a previous page ended with.
    #[arg(long, default_value = "")]
    pub page_token: String,
    /// Follow the page tokens to the end of the list.
    #[arg(long)]
    pub all: bool,
}

impl PageArgs {
    /// The page size to ask for.
    pub fn size(&self) -> u32 {
        self.page_size.unwrap_or(if self.all { PAGE_SIZE_MAX } else { PAGE_SIZE_DEFAULT })
    }
}

/// Fetches pages with `fetch(token)` and hands each to `sink`: one page, or with `--all` every
/// page until the server returns an empty token. Returns the token to continue from (empty
/// when the list is complete). A server that returns the token it was given would loop
/// forever, so that is an error, and so is passing [`LIST_PAGES_MAX`].
pub async fn pages<T, F, Fut>(
    args: &PageArgs,
    fetch: F,
    mut sink: impl FnMut(Vec<T>),
) -> Result<String, CliError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), CliError>>,
{
    let mut token = args.page_token.clone();
    for _ in 0..LIST_PAGES_MAX {
        let (items, next) = fetch(token.clone()).await?;
        sink(items);
        if next.is_empty() || !args.all {
            return Ok(next);
        }
        if next == token {
            return Err(CliError::Reply(format!("the server returned the same page token twice ({next:?})")));
        }
        token = next;
    }
    Err(CliError::input(format!(
        "the list has more than {LIST_PAGES_MAX} pages; give a larger --page-size (at most {PAGE_SIZE_MAX})"
    )))
}

/// Tells a user who listed one page how to get the rest (on stderr, so JSON output stays clean).
pub fn hint_more(next_page_token: &str) {
    if !next_page_token.is_empty() {
        eprintln!("(more: add --all, or --page-token {next_page_token})");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;

    fn args(all: bool) -> PageArgs {
        PageArgs { page_size: None, page_token: String::new(), all }
    }

    /// Goal: `--all` follows tokens to the end; without it one page and the next token.
    /// Method: a fake server of three pages keyed by token.
    #[tokio::test]
    async fn pages_follow_tokens() {
        let server = |t: String| async move {
            Ok::<_, CliError>(match t.as_str() {
                "" => (vec![1, 2], "a".to_string()),
                "a" => (vec![3], "b".to_string()),
                _ => (vec![4], String::new()),
            })
        };
        let seen = Mutex::new(Vec::new());
        let next = pages(&args(true), server, |p| seen.lock().unwrap().extend(p)).await.unwrap();
        assert_eq!((seen.into_inner().unwrap(), next), (vec![1, 2, 3, 4], String::new()));
        let mut one = Vec::new();
        let next = pages(&args(false), server, |p| one.extend(p)).await.unwrap();
        assert_eq!((one, next), (vec![1, 2], "a".to_string()));
        assert_eq!(args(true).size(), PAGE_SIZE_MAX);
        assert_eq!(args(false).size(), PAGE_SIZE_DEFAULT);
    }

    /// Goal: a server stuck on one token does not make `--all` loop forever.
    /// Method: a fake server that always answers with the token "x".
    #[tokio::test]
    async fn pages_stop_on_a_repeated_token() {
        let stuck = |_t: String| async move { Ok::<_, CliError>((vec![0u8], "x".to_string())) };
        let e = pages(&args(true), stuck, |_| {}).await.unwrap_err();
        assert!(e.to_string().contains("same page token"), "{e}");
    }
}
