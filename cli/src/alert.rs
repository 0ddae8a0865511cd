//! `varsel alert …`: send, show, list, cancel and acknowledge alerts, and watch them
//! ([`crate::watch`]).
//!
//! `alert send` always carries an idempotency key: the one given, or a new random one that is
//! printed with the result. [`varsel_client::Cluster::call`] sends the same request, key
//! included, on every retry within the run, so a request whose outcome was unknown (the node
//! died after forwarding it) is never applied twice; a user who retries the whole command
//! with `--idempotency-key` gets the same guarantee.

use std::path::PathBuf;

use clap::ArgGroup;
use serde_json::json;
use varsel_proto::api::get_group_request::Key;
use varsel_proto::api::{
    AckRequest, Alert, CancelAlertRequest, ChannelContent, Content, CreateAlertRequest, GetAlertRequest,
    ListAlertsRequest, PreviewAlertRequest, Priority, ResumeAlertRequest, Targets,
};

use crate::error::CliError;
use crate::group::group_key;
use crate::keyed::{self, KeyArgs};
use crate::output::{self, Table, print_json};
use crate::parse;
use crate::session::{PageArgs, Session, hint_more, pages};
use crate::watch;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PriorityArg {
    /// Life and health: overtakes all other traffic.
    Crisis,
    /// Needs attention soon.
    Urgent,
    /// Tests, information.
    Routine,
}

impl From<PriorityArg> for Priority {
    fn from(p: PriorityArg) -> Self {
        match p {
            PriorityArg::Crisis => Priority::Crisis,
            PriorityArg::Urgent => Priority::Urgent,
            PriorityArg::Routine => Priority::Routine,
        }
    }
}

/// Options of `alert send`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(ArgGroup::new("inline").multiple(true).args(
    ["sms", "email_subject", "email_text", "email_html", "voice", "push_title", "push_body"]
)))]
pub struct SendArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The alert's title (for the audit trail and lists; not sent to recipients).
    #[arg(long)]
    pub title: String,
    /// How urgent: crisis alerts overtake all other traffic.
    #[arg(long, value_enum, default_value = "routine")]
    pub priority: PriorityArg,
    /// SMS text.
    #[arg(long)]
    pub sms: Option<String>,
    /// E-mail subject (with --email-text and/or --email-html).
    #[arg(long)]
    pub email_subject: Option<String>,
    /// E-mail plain-text body.
    #[arg(long)]
    pub email_text: Option<String>,
    /// E-mail HTML body.
    #[arg(long)]
    pub email_html: Option<String>,
    /// Text-to-speech script for voice calls.
    #[arg(long)]
    pub voice: Option<String>,
    /// Push notification title.
    #[arg(long)]
    pub push_title: Option<String>,
    /// Push notification body.
    #[arg(long)]
    pub push_body: Option<String>,
    /// Language of the inline texts above.
    #[arg(long, default_value = "nb")]
    pub language: String,
    /// Use a stored template instead of inline texts.
    #[arg(long, conflicts_with_all = ["inline", "content_file"])]
    pub template: Option<String>,
    /// Read the content (several languages) from a .toml or .json content file.
    #[arg(long, conflicts_with = "inline")]
    pub content_file: Option<PathBuf>,
    /// A template variable, key=value (repeatable): {{key}} in the texts.
    #[arg(long = "var", value_parser = parse::var)]
    pub vars: Vec<(String, String)>,
    /// Channel policy: steps `channels@delay` separated by `;`, e.g. "sms,push@0;voice@300;email@10m".
    /// Default: every channel with content, at once.
    #[arg(long)]
    pub policy: Option<String>,
    /// When to start: RFC 3339 (2026-12-01T08:00:00+01:00) or +10m from now. Default: now.
    #[arg(long)]
    pub send_at: Option<String>,
    /// When to stop trying: RFC 3339 or +6h from now. Default: 24 hours after the start.
    #[arg(long)]
    pub expires_at: Option<String>,
    /// An answer option ("are you safe?"), repeatable, 2 to 9 in order (recipients choose by
    /// number): a label in --language, or labels per language `nb=Trygg|en=Safe`. Recipients
    /// answer by SMS reply, voice keypad, or the response page {{answer_link}} points to.
    #[arg(long = "answer")]
    pub answers: Vec<String>,
    /// The number of an answer that acknowledges the alert (stops escalation for whoever
    /// chooses it), repeatable.
    #[arg(long = "answer-acknowledges")]
    pub answer_acknowledges: Vec<u32>,
    /// Idempotency key: the same key again returns the first alert, never a second one.
    /// Default: a new random key, printed with the result.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Watch the alert's progress after sending it.
    #[arg(long)]
    pub watch: bool,
}

impl SendArgs {
    /// The request, at `now_ms` (for relative times), with this idempotency key.
    pub fn to_request(&self, now_ms: u64, idempotency_key: String) -> Result<CreateAlertRequest, CliError> {
        let (content, template_name) = self.content()?;
        let policy = self.policy.as_deref().map(parse::policy).transpose()?.unwrap_or_default();
        let when = |option: &str, v: &Option<String>| {
            v.as_deref().map(|s| parse::when(option, s, now_ms)).transpose()
        };
        Ok(CreateAlertRequest {
            idempotency_key,
            title: self.title.clone(),
            priority: Priority::from(self.priority) as i32,
            content,
            template_name,
            variables: parse::variables(&self.vars)?,
            targets: Some(self.targets.to_targets()?),
            policy,
            send_at_ms: when("--send-at", &self.send_at)?.unwrap_or(0),
            expires_at_ms: when("--expires-at", &self.expires_at)?.unwrap_or(0),
            answer_options: self.answer_options()?,
        })
    }

    /// `--answer` and `--answer-acknowledges` as options; the server checks the rest.
    fn answer_options(&self) -> Result<Vec<varsel_proto::api::AnswerOption>, CliError> {
        for n in &self.answer_acknowledges {
            if *n == 0 || *n as usize > self.answers.len() {
                let m =
                    format!("--answer-acknowledges {n}: there are {} --answer options", self.answers.len());
                return Err(CliError::input(m));
            }
        }
        let mut out = Vec::with_capacity(self.answers.len());
        for (i, text) in self.answers.iter().enumerate() {
            let mut labels = std::collections::HashMap::new();
            if text.contains('=') {
                for part in text.split('|') {
                    let Some((lang, label)) = part.split_once('=') else {
                        return Err(CliError::input(format!(
                            "--answer {text:?}: {part:?} is not language=label"
                        )));
                    };
                    labels.insert(lang.trim().to_string(), label.trim().to_string());
                }
            } else {
                labels.insert(self.language.clone(), text.trim().to_string());
            }
            let acknowledges = self.answer_acknowledges.contains(&(i as u32 + 1));
            out.push(varsel_proto::api::AnswerOption { labels, acknowledges });
        }
        Ok(out)
    }

    fn content(&self) -> Result<(Option<Content>, String), CliError> {
        if let Some(name) = &self.template {
            return Ok((None, name.clone()));
        }
        if let Some(path) = &self.content_file {
            return Ok((Some(parse::content_file(path)?), String::new()));
        }
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let variant = ChannelContent {
            sms_text: text(&self.sms),
            email_subject: text(&self.email_subject),
            email_text: text(&self.email_text),
            email_html: text(&self.email_html),
            voice_script: text(&self.voice),
            push_title: text(&self.push_title),
            push_body: text(&self.push_body),
        };
        if variant == ChannelContent::default() {
            return Err(CliError::input(
                "give the content: --sms, --email-subject/--email-text/--email-html, --voice, \
                 --push-title/--push-body; or --content-file FILE; or --template NAME",
            ));
        }
        let content = Content {
            default_language: self.language.clone(),
            variants: [(self.language.clone(), variant)].into_iter().collect(),
        };
        Ok((Some(content), String::new()))
    }
}

/// Who an alert goes to: groups, contacts and areas.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// A target group, by id or name (repeatable).
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// A target contact, by id (repeatable).
    #[arg(long = "contact")]
    pub contacts: Vec<u64>,
    /// A target contact, by your own id (repeatable).
    #[arg(long = "external-id")]
    pub external_ids: Vec<String>,
    /// Everyone with a place inside a polygon, CAP syntax "lat,lon lat,lon ...", the first
    /// point repeated last, at least 4 pairs (repeatable).
    #[arg(long = "area-polygon")]
    pub area_polygons: Vec<String>,
    /// Everyone with a place inside a circle, CAP syntax "lat,lon radius_km" (repeatable).
    #[arg(long = "area-circle")]
    pub area_circles: Vec<String>,
    /// Only the members of this group (by name) among those inside the areas (repeatable:
    /// members of any of them).
    #[arg(long = "within-group")]
    pub within_groups: Vec<String>,
    /// Send even when no one has a place inside the areas (otherwise refused).
    #[arg(long)]
    pub allow_empty: bool,
}

impl TargetArgs {
    /// The request's targets; at least one is needed.
    pub fn to_targets(&self) -> Result<Targets, CliError> {
        if self.groups.is_empty()
            && self.contacts.is_empty()
            && self.external_ids.is_empty()
            && self.area_polygons.is_empty()
            && self.area_circles.is_empty()
        {
            return Err(CliError::input(
                "give at least one target: --group, --contact, --external-id, --area-polygon or --area-circle",
            ));
        }
        let mut t = Targets {
            contact_ids: self.contacts.clone(),
            contact_external_ids: self.external_ids.clone(),
            area_polygons: self.area_polygons.clone(),
            area_circles: self.area_circles.clone(),
            within_groups: self.within_groups.clone(),
            allow_empty_area: self.allow_empty,
            ..Default::default()
        };
        for g in &self.groups {
            match group_key(g) {
                Key::Id(id) => t.group_ids.push(id),
                Key::Name(name) => t.group_names.push(name),
            }
        }
        Ok(t)
    }
}

/// An alert operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AlertCommand {
    /// Send an alert to groups, contacts and areas.
    Send(Box<SendArgs>),
    /// Count who targets would reach now, per channel, before sending anything (areas
    /// included): `varsel alert preview --area-polygon "..."`.
    Preview(TargetArgs),
    /// Show an alert with its progress per channel.
    Get {
        /// Alert id.
        id: u64,
    },
    /// List alerts, newest first, a page at a time.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Cancel an alert: nothing more is sent for it.
    Cancel {
        /// Alert id.
        id: u64,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Send on an alert held after a restore from a backup (status held), from where it was.
    /// Cancel it instead if it should not go out any more.
    Resume {
        /// Alert id.
        id: u64,
    },
    /// Record an acknowledgement on behalf of a recipient (e.g. taken by phone); stops
    /// escalation for them.
    Ack {
        /// Alert id.
        id: u64,
        /// The recipient's contact id.
        #[arg(long)]
        contact: u64,
    },
    /// Follow an alert's progress live until it is finished, then print the final report.
    Watch {
        /// Alert id.
        id: u64,
    },
    /// What recipients replied to an alert (newest first), or with --unmatched the replies
    /// that could be matched to no alert without doubt and so acknowledged nothing.
    Replies(crate::replies::RepliesArgs),
}

/// Runs one alert command.
pub async fn run(s: &Session, cmd: AlertCommand) -> Result<(), CliError> {
    match cmd {
        AlertCommand::Send(args) => send(s, &args).await,
        AlertCommand::Preview(targets) => preview(s, &targets).await,
        AlertCommand::Get { id } => {
            let consistency = s.read();
            let r = s
                .alerts(|mut c| async move { c.get_alert(GetAlertRequest { id, consistency }).await })
                .await?;
            let alert = r.alert.ok_or_else(no_alert)?;
            if s.json {
                print_json(&output::alert_json(&alert));
            } else {
                watch::print_report(&alert);
            }
            Ok(())
        }
        AlertCommand::List { page } => list(s, &page).await,
        AlertCommand::Cancel { id, key } => {
            let key = key.key();
            let req = CancelAlertRequest { id, idempotency_key: key.clone() };
            let r = keyed::outcome(
                &key,
                s.alerts(|mut c| {
                    let req = req.clone();
                    async move { c.cancel_alert(req).await }
                }),
            )
            .await?;
            let alert = r.alert.ok_or_else(no_alert)?;
            if s.json {
                print_json(&keyed::with_existing(output::alert_json(&alert), r.existing));
            } else if r.existing {
                println!("{}", keyed::already(&format!("alert {id} is {}", output::status(alert.status))));
            } else {
                println!("alert {id} is {}", output::status(alert.status));
            }
            Ok(())
        }
        AlertCommand::Resume { id } => {
            let req = ResumeAlertRequest { id };
            let r = s.alerts(|mut c| async move { c.resume_alert(req).await }).await?;
            let alert = r.alert.ok_or_else(no_alert)?;
            if s.json {
                print_json(&output::alert_json(&alert));
            } else {
                println!("alert {id} is {}", output::status(alert.status));
            }
            Ok(())
        }
        AlertCommand::Ack { id, contact } => {
            let req = AckRequest { alert_id: id, contact_id: contact };
            let r = s.alerts(|mut c| async move { c.acknowledge(req).await }).await?;
            if s.json {
                print_json(&json!({"alert_id": id, "contact_id": contact, "already": r.already}));
            } else if r.already {
                println!("contact {contact} had already acknowledged alert {id}");
            } else {
                println!("acknowledgement of alert {id} by contact {contact} recorded");
            }
            Ok(())
        }
        AlertCommand::Watch { id } => watch::watch(s, id).await,
        AlertCommand::Replies(args) => crate::replies::run(s, args).await,
    }
}

fn no_alert() -> CliError {
    CliError::Reply("AlertReply without an alert".into())
}

/// Time one preview may take on one node: counting an area of a national register reads every
/// contact inside it (seconds), and a retry elsewhere would only start over.
const PREVIEW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn preview(s: &Session, targets: &TargetArgs) -> Result<(), CliError> {
    let req = PreviewAlertRequest { targets: Some(targets.to_targets()?), consistency: s.read() };
    let cluster = varsel_client::Cluster::parse(&s.endpoints, &s.trust)?
        .with_deadline(PREVIEW_TIMEOUT * 2)
        .with_attempt_timeout(PREVIEW_TIMEOUT);
    let r = s
        .alerts_answered(&cluster, |mut c| {
            let req = req.clone();
            async move { c.preview_alert(req).await }
        })
        .await?
        .value
        .into_inner();
    if s.json {
        print_json(&json!({
            "contacts": r.contacts, "in_areas": r.in_areas,
            "channels": {"sms": r.sms, "voice": r.voice, "email": r.email, "push": r.push},
        }));
        return Ok(());
    }
    println!("{} contacts would be reached ({} of them inside the areas)", r.contacts, r.in_areas);
    println!("  reachable by sms {}, voice {}, email {}, push {}", r.sms, r.voice, r.email, r.push);
    Ok(())
}

async fn send(s: &Session, args: &SendArgs) -> Result<(), CliError> {
    let key = args.idempotency_key.clone().unwrap_or_else(parse::new_idempotency_key);
    let req = args.to_request(varsel_domain::clock::wall_ms(), key.clone())?;
    let r = keyed::outcome(
        &key,
        s.alerts(|mut c| {
            let req = req.clone();
            async move { c.create_alert(req).await }
        }),
    )
    .await?;
    let alert = r.alert.ok_or_else(no_alert)?;
    print_sent(s.json, &alert, r.existing, &key);
    if args.watch {
        watch::watch(s, alert.id).await?;
    }
    Ok(())
}

fn print_sent(json_out: bool, a: &Alert, existing: bool, key: &str) {
    if json_out {
        return print_json(
            &json!({"alert": output::alert_json(a), "existing": existing, "idempotency_key": key}),
        );
    }
    if existing {
        println!("alert {} already existed with this idempotency key: nothing new was sent", a.id);
    } else {
        println!("alert {} accepted", a.id);
    }
    output::print_fields(&[
        ("status", output::status(a.status)),
        ("priority", output::priority(a.priority)),
        ("recipients planned", a.recipients_planned.to_string()),
        ("policy", output::policy(&a.policy)),
        ("start", output::time(if a.send_at_ms > 0 { a.send_at_ms } else { a.created_at_ms })),
        ("expires", output::time(a.expires_at_ms)),
        ("idempotency key", format!("{key} (retry with --idempotency-key {key}: never sends twice)")),
    ]);
}

async fn list(s: &Session, page: &PageArgs) -> Result<(), CliError> {
    let (page_size, consistency) = (page.size(), s.read());
    let fetch = |page_token: String| async move {
        let req = ListAlertsRequest { page_size, page_token, consistency };
        let r = s
            .alerts(|mut c| {
                let req = req.clone();
                async move { c.list_alerts(req).await }
            })
            .await?;
        Ok((r.alerts, r.next_page_token))
    };
    let mut table = Table::new(&["id", "title", "priority", "status", "recipients", "ack", "created"]);
    let next = pages(page, fetch, |alerts: Vec<Alert>| {
        if s.json {
            return alerts.iter().for_each(|a| print_json(&output::alert_json(a)));
        }
        let rows: Vec<Vec<String>> = alerts.iter().map(alert_row).collect();
        table.print(&rows);
    })
    .await?;
    hint_more(&next);
    Ok(())
}

fn alert_row(a: &Alert) -> Vec<String> {
    let p = a.progress.clone().unwrap_or_default();
    vec![
        a.id.to_string(),
        a.title.clone(),
        output::priority(a.priority),
        output::status(a.status),
        format!("{}/{}", p.recipients, a.recipients_planned),
        p.acknowledged.to_string(),
        output::time(a.created_at_ms),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;
    use varsel_proto::api::Channel;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        send: SendArgs,
    }

    fn parse_args(args: &[&str]) -> Result<SendArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("send").chain(args.iter().copied())).map(|c| c.send)
    }

    /// Goal: a full `alert send` command line becomes the request the server expects.
    /// Method: parse flags with clap, convert at a fixed time, check every part.
    #[test]
    fn send_flags_to_request() {
        let args = parse_args(&[
            "--group",
            "brann",
            "--group",
            "7",
            "--external-id",
            "k-1",
            "--title",
            "Brann",
            "--priority",
            "crisis",
            "--sms",
            "Evakuer {{area}}",
            "--var",
            "area=sentrum",
            "--policy",
            "sms@0;voice@5m",
            "--send-at",
            "+10m",
        ])
        .unwrap();
        let now = 1_800_000_000_000;
        let req = args.to_request(now, "key-1".into()).unwrap();
        let t = req.targets.clone().unwrap();
        assert_eq!(
            (t.group_names, t.group_ids, t.contact_external_ids),
            (vec!["brann".into()], vec![7], vec!["k-1".into()])
        );
        assert_eq!((req.priority, req.idempotency_key.as_str()), (Priority::Crisis as i32, "key-1"));
        let content = req.content.unwrap();
        assert_eq!(content.default_language, "nb");
        assert_eq!(content.variants["nb"].sms_text, "Evakuer {{area}}");
        assert_eq!(req.variables["area"], "sentrum");
        assert_eq!(
            (req.policy[1].channels.clone(), req.policy[1].after_seconds),
            (vec![Channel::Voice as i32], 300)
        );
        assert_eq!((req.send_at_ms, req.expires_at_ms), (now + 600_000, 0));
    }

    /// Goal: the content sources exclude each other and one is required; a target is required.
    /// Method: parse conflicting and incomplete command lines.
    #[test]
    fn send_flag_rules() {
        assert!(parse_args(&["--group", "g", "--title", "t", "--sms", "x", "--template", "evak"]).is_err());
        assert!(
            parse_args(&["--group", "g", "--title", "t", "--push-body", "x", "--content-file", "c.toml"])
                .is_err()
        );
        let tpl = parse_args(&["--group", "g", "--title", "t", "--template", "evak"]).unwrap();
        let req = tpl.to_request(0, "k".into()).unwrap();
        assert_eq!((req.template_name.as_str(), req.content), ("evak", None));
        let none = parse_args(&["--group", "g", "--title", "t"]).unwrap();
        assert!(none.to_request(0, "k".into()).unwrap_err().to_string().contains("--content-file"));
        let nobody = parse_args(&["--title", "t", "--sms", "x"]).unwrap();
        assert!(nobody.to_request(0, "k".into()).unwrap_err().to_string().contains("target"));
    }

    /// Goal: `--answer` gives options in order, a plain label in `--language` or labels per
    /// language; `--answer-acknowledges` marks them by number and names a number out of range.
    #[test]
    fn answer_flags() {
        let base = ["--group", "g", "--title", "t", "--sms", "Trygg? {{answer_link}}", "--language", "nn"];
        let with = |extra: &[&str]| parse_args(&[&base[..], extra].concat());
        let args = with(&[
            "--answer",
            "Trygg",
            "--answer",
            "nn=Treng hjelp|en=Need help",
            "--answer-acknowledges",
            "1",
        ])
        .unwrap();
        let o = args.to_request(0, "k".into()).unwrap().answer_options;
        assert_eq!(o.len(), 2);
        assert_eq!((o[0].labels.get("nn").map(String::as_str), o[0].acknowledges), (Some("Trygg"), true));
        assert_eq!(o[1].labels.get("en").map(String::as_str), Some("Need help"));
        assert!(!o[1].acknowledges);
        let out_of_range = with(&["--answer", "A", "--answer", "B", "--answer-acknowledges", "3"]).unwrap();
        let e = out_of_range.to_request(0, "k".into()).unwrap_err().to_string();
        assert!(e.contains("--answer-acknowledges 3"), "{e}");
        let bad = with(&["--answer", "nn=A|B"]).unwrap();
        assert!(bad.to_request(0, "k".into()).unwrap_err().to_string().contains("language=label"));
    }
}
