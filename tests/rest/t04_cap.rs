use std::path::Path;

use serde_json::Value;

use crate::common::TestCluster;
use crate::common::http::HttpResponse;

/// The OASIS CAP 1.2 schema (committed with the CAP crate's fixtures).
fn xsd() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cap/tests/fixtures/CAP-v1.2.xsd")
}

/// `xmllint` on `xml`: `--schema` the CAP XSD when `schema`, else only well-formedness.
fn xmllint(xml: &str, schema: bool) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    let mut cmd = std::process::Command::new("xmllint");
    cmd.arg("--noout");
    if schema {
        cmd.arg("--schema").arg(xsd());
    }
    let out = cmd.arg(&file).output().expect("xmllint (Debian libxml2-utils; scripts/test.sh installs it)");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn cap_time(offset_s: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = now + offset_s;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}-00:00", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A CAP message of `sender` with `identifier`; `status`, `msg_type`, `event`, references, and
/// `effective` as given. Two infos (Bokmål and English), a polygon and a circle.
fn cap(
    identifier: &str,
    status: &str,
    msg_type: &str,
    event: &str,
    references: &str,
    effective: &str,
) -> String {
    let refs =
        if references.is_empty() { String::new() } else { format!("<references>{references}</references>") };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>beredskap@bergen.kommune.no</sender>
  <sent>2026-12-06T13:00:00+01:00</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>nb-NO</language>
    <category>Met</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <effective>{effective}</effective>
    <headline>Flom i Bergen sentrum</headline>
    <description>Elva har gått over sine bredder.</description>
    <instruction>Hold deg unna Bryggen.</instruction>
    <area>
      <areaDesc>Bryggen</areaDesc>
      <polygon>60.39,5.32 60.40,5.32 60.40,5.33 60.39,5.33 60.39,5.32</polygon>
      <circle>60.3975,5.3240 1.5</circle>
    </area>
  </info>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <effective>{effective}</effective>
    <headline>Flooding in central Bergen</headline>
    <instruction>Keep away from Bryggen.</instruction>
  </info>
</alert>"#
    )
}

async fn post_cap(c: &TestCluster, via: u64, token: &str, xml: &str) -> HttpResponse {
    c.rest(via, "POST", "/api/v1/cap", Some(token), &[("Content-Type", "application/cap+xml")], xml).await
}

/// Goal: CAP 1.2 in and out over REST. A message becomes an alert to the members of the
/// groups its route names who live inside its areas' polygons and circles, one language
/// variant per info, priority from urgency and severity; a repost is the
/// same alert; Cancel and Update act on the alert they reference; Exercise reaches only the
/// exercise group; Test is stored, not sent; bad CAP is refused naming the element and rule;
/// the alert's CAP document validates against the OASIS XSD, and the feed lists it.
/// Method: three nodes with TLS; messages posted through different nodes; alerts start an
/// hour ahead (`effective`) so they are still running when cancelled; `xmllint --schema` checks
/// what is served.
#[tokio::test(flavor = "multi_thread")]
async fn cap_in_and_out() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let tenant = c.rest(1, "POST", "/api/v1/tenants", Some(&sa), &[], r#"{"name":"bergen"}"#).await.json();
    let creds = format!("/api/v1/tenants/{}/credentials", tenant["tenant"]["id"]);
    let admin = c.rest(1, "POST", &creds, Some(&sa), &[], r#"{"name":"a","role":"admin"}"#).await.json();
    let admin = admin["token"].as_str().unwrap().to_string();
    // a1 and a3 live at Bryggen, inside the messages' area; a2 lives in Oslo.
    let csv = "external_id,phone,language,groups,lat,lon\r\na1,+4791100001,nb,alle,60.396,5.323\r\na2,+4791100002,en,alle,59.91,10.75\r\na3,+4791100003,nb,alle;ovelse,60.3975,5.324\r\n";
    let import = c.rest(1, "POST", "/api/v1/contacts/import", Some(&admin), &[], csv).await;
    assert_eq!(import.json()["created"], 3, "{}", import.body);

    // No route yet: refused, and nothing is created.
    let later = cap_time(3600);
    let flood = cap("BRG-1", "Actual", "Alert", "Flom", "", &later);
    let unrouted = post_cap(&c, 2, &admin, &flood).await;
    assert_eq!(unrouted.status, 409, "{}", unrouted.body);
    assert!(unrouted.json()["detail"].as_str().unwrap().contains("no CAP route"), "{}", unrouted.body);

    let config = r#"{"routes":[{"event":"flom","groups":["alle"]}],"exercise_group":"ovelse"}"#;
    let put = c.rest(1, "PUT", "/api/v1/cap/config", Some(&admin), &[], config).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let got = c.rest(3, "GET", "/api/v1/cap/config?consistency=linearizable", Some(&admin), &[], "").await;
    assert_eq!(got.json()["routes"][0]["groups"][0], "alle", "{}", got.body);

    // An Alert: two languages, crisis, the route's group; a repost through another node is the same alert.
    let sent = post_cap(&c, 2, &admin, &flood).await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let sent = sent.json();
    let alert = &sent["alert"];
    let id = alert["id"].as_u64().unwrap();
    assert_eq!(
        (sent["outcome"].as_str(), alert["priority"].as_str()),
        (Some("sent"), Some("crisis")),
        "{sent}"
    );
    // The message's area narrows the route's group to those living inside it.
    assert_eq!(
        (alert["recipients_planned"].as_u64(), alert["area"]["matched"].as_u64()),
        (Some(2), Some(2)),
        "{sent}"
    );
    assert_eq!(alert["area"]["within_groups"], serde_json::json!(["alle"]), "{sent}");
    assert_eq!(
        alert["content"]["variants"]["en"]["sms_text"], "Flooding in central Bergen\nKeep away from Bryggen.",
        "{sent}"
    );
    assert!(alert["content"]["variants"]["nb"].is_object(), "{sent}");
    let again = post_cap(&c, 3, &admin, &flood).await;
    assert_eq!(
        (again.status, again.json()["alert"]["id"].as_u64(), again.json()["existing"].as_bool()),
        (200, Some(id), Some(true)),
        "{}",
        again.body
    );

    // Out: the alert's CAP document validates against the OASIS schema and keeps the area.
    let doc = c
        .rest(1, "GET", &format!("/api/v1/alerts/{id}.cap?consistency=linearizable"), Some(&admin), &[], "")
        .await;
    assert_eq!((doc.status, doc.content_type.as_str()), (200, "application/cap+xml"), "{}", doc.body);
    let (valid, why) = xmllint(&doc.body, true);
    assert!(valid, "{why}\n{}", doc.body);
    assert!(
        doc.body.contains("<circle>60.3975,5.324 1.5</circle>")
            || doc.body.contains("<circle>60.3975,5.3240 1.5</circle>"),
        "{}",
        doc.body
    );

    // An alert made through the API is served as CAP too.
    let in_an_hour = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
        as u64
        + 3_600_000;
    let native = format!(
        r#"{{"idempotency_key":"vann-1","title":"Vannbrudd","priority":"urgent","content":{{"default_language":"nb","variants":{{"nb":{{"sms_text":"Vannet er stengt."}}}}}},"targets":{{"group_names":["alle"]}},"send_at_ms":{in_an_hour}}}"#
    );
    let native = c.rest(1, "POST", "/api/v1/alerts", Some(&admin), &[], &native).await;
    assert_eq!(native.status, 201, "{}", native.body);
    let native = native.json();
    let native_id = native["alert"]["id"].as_u64().unwrap();
    let doc = c
        .rest(
            2,
            "GET",
            &format!("/api/v1/alerts/{native_id}.cap?consistency=linearizable"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    let (valid, why) = xmllint(&doc.body, true);
    assert!(doc.status == 200 && valid, "{why}\n{}", doc.body);
    assert!(
        doc.body.contains("<event>Vannbrudd</event>") && doc.body.contains("<urgency>Expected</urgency>"),
        "{}",
        doc.body
    );

    // The feed lists the public CAP alert.
    let feed = c.rest(3, "GET", "/api/v1/cap/feed?consistency=linearizable", Some(&admin), &[], "").await;
    assert_eq!((feed.status, feed.content_type.as_str()), (200, "application/atom+xml"), "{}", feed.body);
    assert!(
        xmllint(&feed.body, false).0 && feed.body.contains(&format!("/api/v1/alerts/{id}.cap")),
        "{}",
        feed.body
    );

    // Update: a new alert, and the one it references is cancelled.
    let reference = "beredskap@bergen.kommune.no,BRG-1,2026-12-06T13:00:00+01:00";
    let update = post_cap(&c, 1, &admin, &cap("BRG-2", "Actual", "Update", "Flom", reference, &later)).await;
    assert_eq!(update.status, 201, "{}", update.body);
    let update = update.json();
    assert_eq!(update["cancelled"], serde_json::json!([id]), "{update}");
    let first = c
        .rest(2, "GET", &format!("/api/v1/alerts/{id}?consistency=linearizable"), Some(&admin), &[], "")
        .await
        .json();
    assert_eq!(first["alert"]["status"], "cancelled", "{first}");

    // Cancel: the update's alert is cancelled.
    let update_id = update["alert"]["id"].as_u64().unwrap();
    let reference = "beredskap@bergen.kommune.no,BRG-2,2026-12-06T13:00:00+01:00";
    let cancel =
        post_cap(&c, 3, &admin, &cap("BRG-3", "Actual", "Cancel", "Flom", reference, &later)).await.json();
    assert_eq!(
        (cancel["outcome"].as_str(), &cancel["cancelled"]),
        (Some("cancelled"), &serde_json::json!([update_id])),
        "{cancel}"
    );

    // Exercise: only the exercise group. Test: stored, nothing sent.
    let exercise =
        post_cap(&c, 1, &admin, &cap("BRG-4", "Exercise", "Alert", "Flom", "", &later)).await.json();
    assert_eq!(
        (exercise["outcome"].as_str(), exercise["alert"]["recipients_planned"].as_u64()),
        (Some("exercise"), Some(1)),
        "{exercise}"
    );
    assert_eq!(exercise["groups"], serde_json::json!(["ovelse"]), "{exercise}");
    let test = post_cap(&c, 2, &admin, &cap("BRG-5", "Test", "Alert", "Flom", "", &later)).await.json();
    assert_eq!((test["outcome"].as_str(), test["alert"].is_null()), (Some("stored"), true), "{test}");
    let alerts =
        c.rest(3, "GET", "/api/v1/alerts?consistency=linearizable", Some(&admin), &[], "").await.json();
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 4, "flood, native, update, exercise: {alerts}");

    // Refusals name the element and the rule.
    let bad_polygon =
        flood.replace("60.39,5.32 60.40,5.32 60.40,5.33 60.39,5.33 60.39,5.32", "60.39,5.32 60.40,5.32");
    let refused = post_cap(&c, 1, &admin, &bad_polygon.replace("BRG-1", "BRG-9")).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let err: Value = refused.json()["errors"][0].clone();
    assert_eq!(
        (err["field"].as_str(), err["rule"].as_str()),
        (Some("alert/info[1]/area[1]/polygon[1]"), Some("polygon")),
        "{}",
        refused.body
    );
    let wrong_ns = post_cap(&c, 1, &admin, &flood.replace("cap:1.2", "cap:1.1")).await;
    assert_eq!(wrong_ns.status, 400, "{}", wrong_ns.body);
    let malformed =
        post_cap(&c, 1, &admin, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>").await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let as_json =
        c.rest(1, "POST", "/api/v1/cap", Some(&admin), &[("Content-Type", "application/json")], "{}").await;
    assert_eq!(as_json.status, 415, "{}", as_json.body);
    let nothing_more =
        c.rest(3, "GET", "/api/v1/alerts?consistency=linearizable", Some(&admin), &[], "").await.json();
    assert_eq!(nothing_more["alerts"].as_array().unwrap().len(), 4, "{nothing_more}");
}
