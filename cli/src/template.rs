//! `varsel template …`: named alert content, stored per tenant.
//!
//! A template file is TOML or JSON (by extension) in the content-file format documented in
//! `docs/reference/cli.md` (see [`crate::parse::ContentFile`]). `template get` prints the
//! template in that same TOML form, so it can be saved, edited and put back.

use std::path::PathBuf;

use serde_json::json;
use varsel_proto::api::{
    ChannelContent, Content, GetTemplateRequest, ListTemplatesRequest, PutTemplateRequest, Template,
};

use crate::error::CliError;
use crate::output::{self, Table, print_json};
use crate::parse::{self, ContentFile};
use crate::session::Session;

/// A template operation.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TemplateCommand {
    /// Store a template (replacing one of the same name).
    Put {
        /// Its name, used by `alert send --template`.
        name: String,
        /// The content file (.toml or .json).
        #[arg(long)]
        file: PathBuf,
    },
    /// Print a template as a content file (TOML), or JSON with --json.
    Get {
        /// Its name.
        name: String,
    },
    /// List the templates.
    List,
}

/// Runs one template command.
pub async fn run(s: &Session, cmd: TemplateCommand) -> Result<(), CliError> {
    match cmd {
        TemplateCommand::Put { name, file } => {
            let content = parse::content_file(&file)?;
            let req = PutTemplateRequest {
                template: Some(Template { name, content: Some(content), updated_at_ms: 0 }),
            };
            let r = s
                .alerts(|mut c| {
                    let req = req.clone();
                    async move { c.put_template(req).await }
                })
                .await?;
            let t = r.template.ok_or_else(no_template)?;
            if s.json {
                print_json(&template_json(&t));
            } else {
                let c = t.content.clone().unwrap_or_default();
                println!(
                    "template {} stored: languages {}; channels {}",
                    t.name,
                    languages(&c),
                    channels(&c)
                );
            }
        }
        TemplateCommand::Get { name } => {
            let req = GetTemplateRequest { name, consistency: s.read() };
            let r = s
                .alerts(|mut c| {
                    let req = req.clone();
                    async move { c.get_template(req).await }
                })
                .await?;
            let t = r.template.ok_or_else(no_template)?;
            if s.json {
                print_json(&template_json(&t));
            } else {
                print!("{}", template_toml(&t)?);
            }
        }
        TemplateCommand::List => {
            let req = ListTemplatesRequest { consistency: s.read() };
            let r = s.alerts(|mut c| async move { c.list_templates(req).await }).await?;
            print_templates(s.json, &r.templates);
        }
    }
    Ok(())
}

fn no_template() -> CliError {
    CliError::Reply("TemplateReply without a template".into())
}

fn template_json(t: &Template) -> serde_json::Value {
    json!({
        "name": t.name, "updated_at_ms": t.updated_at_ms,
        "content": t.content.as_ref().map(output::content_json),
    })
}

/// The template as a content file, with a comment saying what it is.
fn template_toml(t: &Template) -> Result<String, CliError> {
    let file = ContentFile::from_content(t.content.clone().unwrap_or_default());
    let body = toml::to_string(&file).map_err(|e| CliError::Reply(format!("template {}: {e}", t.name)))?;
    Ok(format!("# template {:?}, updated {}\n{body}", t.name, output::time(t.updated_at_ms)))
}

/// The language tags, sorted, the default first.
pub fn languages(c: &Content) -> String {
    let mut others: Vec<&str> =
        c.variants.keys().map(String::as_str).filter(|l| *l != c.default_language).collect();
    others.sort_unstable();
    let mut all = vec![c.default_language.as_str()];
    all.extend(others);
    all.join(",")
}

/// The channels the default language has content for.
pub fn channels(c: &Content) -> String {
    let Some(v) = c.variants.get(&c.default_language) else { return "none".into() };
    let has = |x: &ChannelContent| {
        [
            ("sms", !x.sms_text.is_empty()),
            ("voice", !x.voice_script.is_empty()),
            ("email", !x.email_subject.is_empty()),
            ("push", !x.push_title.is_empty() || !x.push_body.is_empty()),
        ]
    };
    let names: Vec<&str> = has(v).into_iter().filter(|(_, set)| *set).map(|(n, _)| n).collect();
    if names.is_empty() { "none".into() } else { names.join(",") }
}

fn print_templates(json_out: bool, templates: &[Template]) {
    if json_out {
        return templates.iter().for_each(|t| print_json(&template_json(t)));
    }
    let rows: Vec<Vec<String>> = templates
        .iter()
        .map(|t| {
            let c = t.content.clone().unwrap_or_default();
            vec![t.name.clone(), languages(&c), channels(&c), output::time(t.updated_at_ms)]
        })
        .collect();
    Table::new(&["name", "languages", "channels", "updated"]).print(&rows);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: `template get` prints TOML that `template put` reads back to the same content.
    /// Method: render a two-language template and parse the output.
    #[test]
    fn get_output_round_trips() {
        let text = "default_language = \"nb\"\n[variants.nb]\nsms_text = \"Evakuer {{area}}\"\n\
                    email_subject = \"Varsel\"\nemail_text = \"Evakuer\"\n[variants.en]\nsms_text = \"Evacuate\"\n";
        let content = parse::content_from_str(text, true).unwrap();
        let t = Template { name: "evak".into(), content: Some(content.clone()), updated_at_ms: 0 };
        let out = template_toml(&t).unwrap();
        assert!(out.starts_with("# template \"evak\""));
        assert_eq!(parse::content_from_str(&out, true).unwrap(), content);
        assert_eq!((languages(&content).as_str(), channels(&content).as_str()), ("nb,en", "sms,email"));
    }
}
