//! Loading, validation and environment overrides of a whole node file.

use crate::*;

const BASE: &str = r#"
node_id = 1
site = "oslo"
api_addr = "127.0.0.1:7001"
raft_addr = "127.0.0.1:7101"
data_dir = "/tmp/varsel-1"

[[peers]]
id = 2
site = "bergen"
api_addr = "127.0.0.1:7002"
raft_addr = "127.0.0.1:7102"

[tls]
ca_file = "/etc/varsel/tls/ca.pem"
cert_file = "/etc/varsel/tls/node.pem"
key_file = "/etc/varsel/tls/node.key"
"#;

fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
    NodeConfig::parse(text, Vec::new())
}

/// Goal: a valid file parses with defaults filled in.
#[test]
fn base_config_is_valid() -> Result<(), ConfigError> {
    let c = parse(BASE)?;
    assert_eq!(c.raft, RaftConfig::default());
    assert_eq!(c.peers.len(), 1);
    Ok(())
}

fn err_text(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Goal: each bad input names the field and the rule.
#[test]
fn bad_configs_name_the_field() {
    assert!(err_text(&format!("{BASE}\nbogus = 1\n")).contains("bogus"));
    assert!(err_text(&BASE.replace("node_id = 1\n", "")).contains("node_id"));
    assert!(err_text(&BASE.replace("node_id = 1", "node_id = 0")).contains("node_id"));
    let dup = BASE.replace("127.0.0.1:7101", "127.0.0.1:7001");
    assert!(err_text(&dup).contains("raft_addr"), "{}", err_text(&dup));
    let dup_port = BASE.replace("127.0.0.1:7101", "127.0.0.2:7001");
    assert!(err_text(&dup_port).contains("port 7001"));
    let dup_peer = BASE.replace("id = 2", "id = 1");
    assert!(err_text(&dup_peer).contains("peers[0].id"));
    let dup_addr = BASE.replace("127.0.0.1:7002", "127.0.0.1:7001");
    assert!(err_text(&dup_addr).contains("peers[0].api_addr"));
    let timing = format!("{BASE}\n[raft]\nheartbeat_interval_ms = 500\n");
    assert!(err_text(&timing).contains("raft.election_timeout_min_ms"));
    let payload = format!("{BASE}\n[raft]\nmax_payload_bytes = 100\n");
    assert!(err_text(&payload).contains("raft.max_payload_bytes"), "{}", err_text(&payload));
    assert!(err_text(&BASE.replace("\"oslo\"", "\"os lo\"")).contains("site"));
    let fmt = format!("{BASE}\n[log]\nformat = \"xml\"\n");
    assert!(err_text(&fmt).contains("log.format"));
    let unknown_section_field = format!("{BASE}\n[raft]\nheartbeat_ms = 100\n");
    assert!(err_text(&unknown_section_field).contains("heartbeat_ms"));
    let http = BASE.replace("data_dir", "http_addr = \"127.0.0.1:7101\"\ndata_dir");
    assert!(err_text(&http).contains("http_addr"), "{}", err_text(&http));
    let ratio = format!("{BASE}\n[telemetry]\nsampling_ratio = 1.5\n");
    assert!(err_text(&ratio).contains("telemetry.sampling_ratio"));
    let https = format!("{BASE}\n[telemetry]\notlp_endpoint = \"https://c:4317\"\n");
    assert!(err_text(&https).contains("telemetry.otlp_endpoint"));
    let batch = format!("{BASE}\n[telemetry]\nexport_queue_spans_max = 10\nexport_batch_spans_max = 11\n");
    assert!(err_text(&batch).contains("telemetry.export_batch_spans_max"));
}

/// Goal: the HTTP listener and telemetry settings parse, and environment variables reach them.
#[test]
fn http_and_telemetry_settings() -> Result<(), ConfigError> {
    let text = BASE.replace("data_dir", "http_addr = \"127.0.0.1:7201\"\ndata_dir");
    let env = vec![("VARSEL_TELEMETRY__OTLP_ENDPOINT".to_string(), "http://127.0.0.1:4317".to_string())];
    let c = NodeConfig::parse(&text, env)?;
    assert_eq!(c.http_addr, Some("127.0.0.1:7201".parse().map_err(|_| ConfigError::Env("x".into()))?));
    assert_eq!(c.telemetry.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4317"));
    assert_eq!(c.telemetry.sampling_ratio, 1.0);
    assert_eq!(parse(BASE)?.http_addr, None);
    Ok(())
}

/// Goal: the HTTP channel kinds parse with their defaults, survive the TOML round trip the
/// local cluster writes, and bad values name their field.
#[test]
fn http_channel_providers() -> Result<(), ConfigError> {
    let kinds = r#"
[[providers]]
name = "sms-http"
channel = "sms"
[providers.http_sms]
url = "https://sms.example.net/v1/send"
auth_file = "/run/secrets/sms"
static_fields = { "type" = "text", "options" = { "flash" = false } }
[providers.http_sms.receipts]
items = "events"

[[providers]]
name = "push"
channel = "push"
[providers.webpush]
vapid_private_key_file = "/run/secrets/vapid.pem"
vapid_subject = "mailto:ops@example.no"

[[providers]]
name = "voice"
channel = "voice"
[providers.voice_http]
url = "https://voice.example.net/calls"
languages = { nb = "nb-NO" }
"#;
    let c = parse(&format!("{BASE}{kinds}"))?;
    let ProviderKind::HttpSms(sms) = &c.providers[0].kind else { panic!("{:?}", c.providers[0].kind) };
    assert_eq!((sms.request.to.as_str(), sms.auth_header.as_str()), ("to", "Authorization"));
    assert_eq!(sms.receipts.as_ref().map(|r| r.delivered.clone()), Some(vec!["delivered".to_string()]));
    assert!(matches!(&c.providers[1].kind, ProviderKind::WebPush(w) if w.ttl_s == 86_400));
    assert!(matches!(&c.providers[2].kind, ProviderKind::VoiceHttp(v) if v.ack_digits == ["1"]));
    let written = toml::to_string(&c).map_err(|e| ConfigError::Toml(e.to_string()))?;
    assert_eq!(parse(&written)?, c);

    let wrong_channel = format!("{BASE}{kinds}").replacen("channel = \"sms\"", "channel = \"email\"", 1);
    assert!(err_text(&wrong_channel).contains("providers[0].http_sms"));
    let bad_path = format!("{BASE}{kinds}").replace("items = \"events\"", "items = \"a..b\"");
    assert!(err_text(&bad_path).contains("providers[0].http_sms.receipts.items"));
    let subject = format!("{BASE}{kinds}").replace("mailto:ops@example.no", "ops@example.no");
    assert!(err_text(&subject).contains("providers[1].webpush.vapid_subject"));
    let two = format!("{BASE}{kinds}").replace("[providers.voice_http]", "[providers.webpush]\nvapid_private_key_file = \"k\"\nvapid_subject = \"mailto:x\"\n[providers.voice_http]");
    assert!(err_text(&two).contains("providers[2].kind"), "{}", err_text(&two));
    Ok(())
}

/// Goal: environment variables override file values, with types kept.
#[test]
fn env_overrides() -> Result<(), ConfigError> {
    let env = vec![
        ("VARSEL_NODE_ID".to_string(), "7".to_string()),
        ("VARSEL_SITE".to_string(), "trondheim".to_string()),
        ("VARSEL_RAFT__HEARTBEAT_INTERVAL_MS".to_string(), "100".to_string()),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let c = NodeConfig::parse(BASE, env)?;
    assert_eq!((c.node_id, c.site.as_str(), c.raft.heartbeat_interval_ms), (7, "trondheim", 100));
    Ok(())
}

/// Goal: TLS is on unless switched off explicitly, and a half-configured `[tls]` names the
/// missing file.
#[test]
fn tls_is_required_unless_switched_off() -> Result<(), ConfigError> {
    let without = BASE.replace("cert_file = \"/etc/varsel/tls/node.pem\"\n", "");
    assert!(err_text(&without).contains("tls.cert_file"), "{}", err_text(&without));
    let no_table = &BASE[..BASE.find("[tls]").unwrap_or(BASE.len())];
    assert!(err_text(no_table).contains("tls.ca_file"), "{}", err_text(no_table));
    let plain = format!("{no_table}\n[tls]\ninsecure_plaintext = true\n");
    assert!(parse(&plain)?.tls.files().is_none());
    assert!(parse(BASE)?.tls.files().is_some());
    Ok(())
}

/// Goal: with TLS on, providers are told to call back over https (an http:// callback URL would
/// reach a listener that speaks only TLS and lose every receipt), and the HTTP listener's own
/// certificate comes with its key. Method: delivery.callback_url and a voice provider's
/// callback_url written http:// (refused, naming the field) and https:// (accepted); http://
/// with insecure_plaintext (accepted); http_cert_file without http_key_file and the reverse
/// (refused), both (accepted, in `files()`), and both with insecure_plaintext (refused).
#[test]
fn callbacks_are_https_and_the_http_certificate_is_whole() -> Result<(), ConfigError> {
    let delivery = |url: &str| format!("{BASE}\n[delivery]\ncallback_url = \"{url}\"\n");
    let text = err_text(&delivery("http://varsel.example.net:7201"));
    assert!(text.contains("delivery.callback_url") && text.contains("https://"), "{text}");
    assert!(parse(&delivery("https://varsel.example.net:7201")).is_ok());
    let voice = |url: &str| {
        format!(
            "{BASE}\n[[providers]]\nname = \"v\"\nchannel = \"voice\"\ninbound_secret_file = \"s\"\n\
             [providers.voice_http]\nurl = \"https://voice.example.net/calls\"\nlanguages = {{ nb = \"nb-NO\" }}\n\
             callback_url = \"{url}\"\n"
        )
    };
    let text = err_text(&voice("http://varsel.example.net"));
    assert!(text.contains("providers[0].voice_http.callback_url"), "{text}");
    assert!(parse(&voice("https://varsel.example.net")).is_ok());
    let no_table = &BASE[..BASE.find("[tls]").unwrap_or(BASE.len())];
    let plain = format!(
        "{no_table}\n[tls]\ninsecure_plaintext = true\n[delivery]\ncallback_url = \"http://n:7201\"\n"
    );
    assert!(parse(&plain).is_ok());

    let with = |lines: &str| BASE.replace("[tls]\n", &format!("[tls]\n{lines}"));
    let text = err_text(&with("http_cert_file = \"/etc/varsel/tls/public.pem\"\n"));
    assert!(text.contains("tls.http_key_file"), "{text}");
    let text = err_text(&with("http_key_file = \"/etc/varsel/tls/public.key\"\n"));
    assert!(text.contains("tls.http_cert_file"), "{text}");
    let both = with(
        "http_cert_file = \"/etc/varsel/tls/public.pem\"\nhttp_key_file = \"/etc/varsel/tls/public.key\"\n",
    );
    assert!(parse(&both)?.tls.files().is_some_and(|f| f.http.is_some()));
    let plain_both = format!(
        "{no_table}\n[tls]\ninsecure_plaintext = true\nhttp_cert_file = \"p.pem\"\nhttp_key_file = \"p.key\"\n"
    );
    assert!(err_text(&plain_both).contains("tls.http_cert_file"), "{}", err_text(&plain_both));
    Ok(())
}
