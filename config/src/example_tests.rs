//! The provider example shipped in `deploy/examples/providers.toml` is a valid configuration.

use crate::NodeConfig;
use crate::providers::{ProviderKind, SmppLongMessage, SmtpTls};

const BASE: &str = r#"
node_id = 1
site = "oslo"
api_addr = "127.0.0.1:7001"
raft_addr = "127.0.0.1:7101"
data_dir = "/tmp/varsel-1"

[tls]
insecure_plaintext = true
"#;

/// Goal: the deploy example parses and validates, with the kinds and secrets it promises.
/// Method: the file appended to a minimal node configuration, its `/run/secrets/` paths
/// pointed at a temp dir holding the secrets.
#[test]
fn deploy_example_is_valid() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    for (file, secret) in [("smpp-password", "pw"), ("smtp-password", "pw2"), ("unsubscribe-key", "k")] {
        std::fs::write(dir.path().join(file), secret)?;
    }
    let example = include_str!("../../deploy/examples/providers.toml");
    let secrets = format!("{}/", dir.path().display());
    let text = format!("{BASE}\n{}", example.replace("/run/secrets/", &secrets));
    let c = NodeConfig::parse(&text, Vec::new())?;
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sms-primary", "sms-gateway-a", "sms-gateway-b", "voice-a", "webpush", "email"]);
    let ProviderKind::Smpp(smpp) = &c.providers[0].kind else { return Err("first provider is SMPP".into()) };
    assert_eq!((smpp.binds, smpp.window, smpp.long_message), (2, 20, SmppLongMessage::Udh8));
    let tables: Vec<_> = c.providers.iter().map(|p| p.kind.table()).collect();
    assert_eq!(tables, ["smpp", "http_sms", "http_sms", "voice_http", "webpush", "smtp"]);
    let ProviderKind::Smtp(smtp) = &c.providers[5].kind else { return Err("last provider is SMTP".into()) };
    assert_eq!((smtp.tls, smtp.port()), (SmtpTls::Starttls, 587));
    // Without the secret files the same configuration is refused, naming the field.
    let missing = format!("{BASE}\n{example}");
    let err = NodeConfig::parse(&missing, Vec::new()).err().ok_or("missing secrets accepted")?;
    assert!(err.to_string().contains("smpp-password"), "{err}");
    Ok(())
}

/// Goal: provider kinds are checked against their channel and their own rules.
/// Method: an SMPP table on an e-mail provider, an inline-free SMPP table with no password
/// source, a `VARSEL_` password variable, and SMTP credentials in clear to a remote host.
#[test]
fn provider_kind_rules() {
    let smpp = |channel: &str, extra: &str| {
        format!(
            "{BASE}\n[[providers]]\nname = \"s\"\nchannel = \"{channel}\"\n[providers.smpp]\naddr = \"127.0.0.1:2775\"\nsystem_id = \"v\"\nsource_addr = \"Kommunen\"\n{extra}\n"
        )
    };
    let err =
        |text: String| NodeConfig::parse(&text, Vec::new()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(smpp("email", "password_env = \"PW\"")).contains("providers[0].channel"));
    assert!(err(smpp("sms", "")).contains("providers[0].smpp.password"));
    assert!(err(smpp("sms", "password_env = \"VARSEL_PW\"")).contains("VARSEL_"));
    assert!(err(smpp("sms", "password_env = \"PW\"\nwindow = 0")).contains("providers[0].smpp.window"));
    let smtp = format!(
        "{BASE}\n[[providers]]\nname = \"m\"\nchannel = \"email\"\n[providers.smtp]\nhost = \"relay.example\"\ntls = \"none\"\nusername = \"u\"\npassword_env = \"PW\"\nfrom_address = \"v@k.no\"\n"
    );
    assert!(err(smtp).contains("providers[0].smtp.tls"));
}
