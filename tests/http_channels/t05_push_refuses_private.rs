use std::time::Duration;

use serde_json::json;
use varsel_config::ProviderKind;
use varsel_config::providers::WebPushConfig;
use varsel_domain::Channel as C;
use varsel_proto::api::Channel;

use crate::fixture::{Channels, counts, provider, step, write_secret};
use crate::peer::{Answer, Peer};

/// A subscription's public key and auth secret (RFC 8291 Appendix A); the test never decrypts.
const P256DH: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

/// Time the refusal is given to appear in a node's log after the alert completed.
const LOGGED_WITHIN: Duration = Duration::from_secs(10);

/// Goal: a tenant cannot make a node call its own loopback through a Web Push subscription:
/// with no range allowed in `delivery.tenant_url_allowed_networks`, a push to
/// `https://127.0.0.1:PORT/...` is refused before any connection, fails that message for good
/// (not retried for two minutes, not counted against the provider), and the reason the
/// operator needs ("... 127.0.0.1: loopback); allow the range in
/// delivery.tenant_url_allowed_networks") is recorded as the message's failure reason. The API
/// shows no per-message reasons, so the test finds the same text in the log of the node that
/// sent it.
/// Method: a push service on 127.0.0.1 that would accept anything; a cluster started without
/// the loopback allowance the other tests use; one alert to two contacts subscribed there, one
/// at `https://` as a browser's subscription would be, one at `http://` (allowed by the
/// provider's test switch), which the plain-HTTP service would record if it were called; the
/// alert's counts, the service's recorded requests (none) and the nodes' logs.
#[tokio::test(flavor = "multi_thread")]
async fn push_to_loopback_is_refused() {
    let service = Peer::start(|_| Answer { status: 201, headers: vec![], body: String::new() }).await;
    let f = Channels::start_allowing(&[], |dir| {
        // A raw P-256 private key in base64url (32 bytes of 1); it protects nothing.
        let key = write_secret(dir, "vapid.key", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE");
        let text = format!(
            "vapid_private_key_file = \"{}\"\nvapid_subject = \"mailto:ops@example.no\"\n\
             allow_http_endpoints = true",
            key.display()
        );
        vec![provider(
            "webpush",
            C::Push,
            dir,
            ProviderKind::WebPush(toml::from_str::<WebPushConfig>(&text).unwrap()),
        )]
    })
    .await;
    for scheme in ["https", "http"] {
        let endpoint = format!("{scheme}://127.0.0.1:{}/push/internal", service.addr.port());
        let subscription =
            json!({"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH}}).to_string();
        f.contact(&format!("inside-{scheme}"), None, Some(&subscription), "alle").await;
    }

    let alert = f.alert("push-private", "alle", vec![step(&[Channel::Push], 0)]).await;
    let p = f.wait_completed(alert.id).await.progress.unwrap();
    let c = counts(&p, Channel::Push);
    assert_eq!((c.sent, c.failed), (0, 2), "{c:?}");
    assert!(
        service.requests().is_empty(),
        "the push service on loopback was called: {:?}",
        service.requests()
    );

    let reason = "push endpoint host 127.0.0.1 is an address Varsel does not call (127.0.0.1: loopback); \
                  allow the range in delivery.tenant_url_allowed_networks";
    let deadline = std::time::Instant::now() + LOGGED_WITHIN;
    loop {
        let logged = f.c.ids().iter().any(|id| {
            let path = &f.c.lc.node(*id).unwrap().log_path;
            std::fs::read_to_string(path).unwrap_or_default().contains(reason)
        });
        if logged {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no node logged the refusal {reason:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
