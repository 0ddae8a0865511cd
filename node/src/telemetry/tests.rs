use std::collections::HashMap;

use opentelemetry::{Key, Value};

use super::*;
use varsel_config::NodeConfig;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name: &str| map.get(name).cloned()
}

fn config() -> NodeConfig {
    let text = r#"
node_id = 3
site = "bergen"
api_addr = "127.0.0.1:7003"
raft_addr = "127.0.0.1:7103"
data_dir = "/tmp/varsel-3"
[tls]
insecure_plaintext = true
[telemetry]
otlp_endpoint = "http://collector:4317"
service_name = "varsel-test"
"#;
    match NodeConfig::parse(text, Vec::new()) {
        Ok(c) => c,
        Err(e) => panic!("test config: {e}"),
    }
}

/// Goal: the traces endpoint follows the documented precedence, and OTEL_SDK_DISABLED wins.
#[test]
fn traces_endpoint_precedence() {
    let c = config();
    assert_eq!(traces_endpoint(&c.telemetry, env_of(&[])).as_deref(), Some("http://collector:4317"));
    let generic = env_of(&[(ENV_ENDPOINT, "http://generic:4317")]);
    assert_eq!(traces_endpoint(&c.telemetry, generic).as_deref(), Some("http://generic:4317"));
    let both = env_of(&[(ENV_ENDPOINT, "http://generic:4317"), (ENV_TRACES_ENDPOINT, "http://traces:4317")]);
    assert_eq!(traces_endpoint(&c.telemetry, both).as_deref(), Some("http://traces:4317"));
    let empty = env_of(&[(ENV_TRACES_ENDPOINT, " ")]);
    assert_eq!(traces_endpoint(&c.telemetry, empty).as_deref(), Some("http://collector:4317"));
    let off = env_of(&[(ENV_SDK_DISABLED, "TRUE"), (ENV_TRACES_ENDPOINT, "http://traces:4317")]);
    assert_eq!(traces_endpoint(&c.telemetry, off), None);
    let mut none = c.telemetry.clone();
    none.otlp_endpoint = None;
    assert_eq!(traces_endpoint(&none, env_of(&[])), None);
}

fn attr(r: &Resource, key: &'static str) -> Option<String> {
    r.get(&Key::from_static_str(key)).map(|v: Value| v.to_string())
}

/// Goal: the resource names the service and the node; environment attributes are added but can
/// not change the node's identity.
#[test]
fn resource_attributes() {
    let c = config();
    let r = resource(&c, env_of(&[]));
    assert_eq!(attr(&r, "service.name").as_deref(), Some("varsel-test"));
    assert_eq!(attr(&r, "service.instance.id").as_deref(), Some("3"));
    assert_eq!(attr(&r, "varsel.site").as_deref(), Some("bergen"));
    let env = env_of(&[
        (ENV_RESOURCE_ATTRIBUTES, "deployment.environment=prod, service.instance.id=99,service.name=x"),
        (ENV_SERVICE_NAME, "varsel-prod"),
    ]);
    let r = resource(&c, env);
    assert_eq!(attr(&r, "deployment.environment").as_deref(), Some("prod"));
    assert_eq!(attr(&r, "service.name").as_deref(), Some("varsel-prod"));
    assert_eq!(attr(&r, "service.instance.id").as_deref(), Some("3"));
}
