use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::TestCluster;
use crate::common::http::HttpResponse;

/// Every (method, path template) a test called, to compare with the OpenAPI document.
#[derive(Default)]
struct Called(BTreeSet<(String, String)>);

impl Called {
    /// Calls `path` and records `template`; each argument is one part of the request, so the
    /// calls in the test read as the requests they make.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        c: &TestCluster,
        via: u64,
        (method, template): (&str, &str),
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        self.0.insert((method.to_ascii_lowercase(), template.to_string()));
        // The session writes through one node and reads through another: reads are made
        // linearizable so they see what was just written (this test is about REST, not lag).
        let path = if method == "GET" && !path.contains("consistency=") {
            format!("{path}{}consistency=linearizable", if path.contains('?') { '&' } else { '?' })
        } else {
            path.to_string()
        };
        let r = c.rest(via, method, &path, token, headers, body).await;
        assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.body);
        if r.status >= 400 {
            assert_eq!(r.content_type, "application/problem+json", "{method} {path}: {}", r.body);
            let p = r.json();
            assert_eq!(p["status"], r.status, "{}", r.body);
            assert!(p["type"].as_str().unwrap().starts_with("urn:varsel:problem:"), "{}", r.body);
        }
        r
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Goal: every operation of the OpenAPI document works over REST as its gRPC call does, on any
/// node: creates answer 201 with a Location and 200 on a repeated Idempotency-Key; bad input is
/// a problem (RFC 9457) naming the field and the rule; lists page by cursor with a Link header;
/// the alert's progress streams as Server-Sent Events until it is cancelled; roles and tokens
/// are those of gRPC.
/// Method: three nodes with TLS; a scripted session spread over the nodes calls each operation
/// and records its (method, path template); at the end that set must equal the document's.
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_works_over_rest() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let mut t = Called::default();

    let doc = c.rest(2, "GET", "/api/v1/openapi.json", None, &[], "").await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();

    // Tenants: a repeated Idempotency-Key answers 200 with the same tenant.
    let key = [("Idempotency-Key", "tenant-rest-1")];
    let created = t
        .call(&c, 1, ("POST", "/api/v1/tenants"), "/api/v1/tenants", Some(&sa), &key, r#"{"name":"rest"}"#)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let tenant = created.json()["tenant"]["id"].as_u64().unwrap();
    assert_eq!(created.header("location"), Some(format!("/api/v1/tenants/{tenant}").as_str()));
    let again = t
        .call(&c, 2, ("POST", "/api/v1/tenants"), "/api/v1/tenants", Some(&sa), &key, r#"{"name":"rest"}"#)
        .await;
    assert_eq!((again.status, again.json()["tenant"]["id"].as_u64()), (200, Some(tenant)), "{}", again.body);
    let list = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/tenants"),
            "/api/v1/tenants?consistency=linearizable",
            Some(&sa),
            &[],
            "",
        )
        .await;
    assert!(list.json()["tenants"].as_array().unwrap().iter().any(|x| x["id"] == tenant), "{}", list.body);
    let one = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/tenants/{id}"),
            &format!("/api/v1/tenants/{tenant}"),
            Some(&sa),
            &[],
            "",
        )
        .await;
    assert_eq!(one.json()["tenant"]["name"], "rest");
    let limits = t
        .call(
            &c,
            1,
            ("PUT", "/api/v1/tenants/{id}/limits"),
            &format!("/api/v1/tenants/{tenant}/limits"),
            Some(&sa),
            &[],
            r#"{"max_sms_segments":3}"#,
        )
        .await;
    assert_eq!(limits.json()["tenant"]["limits"]["max_sms_segments"], 3, "{}", limits.body);
    let retention = t
        .call(
            &c,
            2,
            ("PUT", "/api/v1/tenants/{id}/retention"),
            &format!("/api/v1/tenants/{tenant}/retention"),
            Some(&sa),
            &[],
            r#"{"details_seconds":864000,"alerts_seconds":31536000}"#,
        )
        .await;
    assert_eq!(
        (retention.status, retention.json()["details_seconds"].as_u64()),
        (200, Some(864_000)),
        "{}",
        retention.body
    );

    // Credentials: roles by name; a bad role is refused naming the field.
    let creds = ("POST", "/api/v1/tenants/{id}/credentials");
    let creds_path = format!("/api/v1/tenants/{tenant}/credentials");
    let bad = t.call(&c, 1, creds, &creds_path, Some(&sa), &[], r#"{"name":"x","role":"boss"}"#).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["errors"][0]["field"], "role", "{}", bad.body);
    assert_eq!(bad.json()["errors"][0]["rule"], "json", "{}", bad.body);
    let admin = t.call(&c, 1, creds, &creds_path, Some(&sa), &[], r#"{"name":"ops","role":"admin"}"#).await;
    assert_eq!(admin.status, 201, "{}", admin.body);
    let admin = admin.json()["token"].as_str().unwrap().to_string();
    let viewer =
        t.call(&c, 2, creds, &creds_path, Some(&sa), &[], r#"{"name":"eyes","role":"viewer"}"#).await.json();
    let (viewer, viewer_id) =
        (viewer["token"].as_str().unwrap().to_string(), viewer["credential"]["id"].as_u64().unwrap());
    let listed = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/tenants/{id}/credentials"),
            &format!("{creds_path}?consistency=linearizable"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(listed.json()["credentials"].as_array().unwrap().len(), 2, "{}", listed.body);
    assert!(!listed.body.contains("vt_"), "tokens are never listed: {}", listed.body);
    let me = t.call(&c, 2, ("GET", "/api/v1/whoami"), "/api/v1/whoami", Some(&admin), &[], "").await;
    assert_eq!(
        (me.json()["role"].as_str(), me.json()["tenant_id"].as_u64()),
        (Some("admin"), Some(tenant)),
        "{}",
        me.body
    );

    // Tokens and roles are gRPC's.
    let anonymous = t.call(&c, 1, ("GET", "/api/v1/alerts"), "/api/v1/alerts", None, &[], "").await;
    assert_eq!((anonymous.status, anonymous.header("www-authenticate")), (401, Some("Bearer")));

    // Contacts: validation names the field and the rule, as over gRPC.
    let upsert = ("POST", "/api/v1/contacts");
    let c1 = t
        .call(
            &c,
            1,
            upsert,
            "/api/v1/contacts",
            Some(&admin),
            &[],
            r#"{"external_id":"c1","name":"Kari","phone":"+4791100001","groups":["alle"]}"#,
        )
        .await;
    assert_eq!(c1.status, 201, "{}", c1.body);
    let c1_id = c1.json()["contact"]["id"].as_u64().unwrap();
    let updated = t
        .call(
            &c,
            2,
            upsert,
            "/api/v1/contacts",
            Some(&admin),
            &[],
            r#"{"external_id":"c1","name":"Kari N","phone":"+4791100001","groups":["alle"]}"#,
        )
        .await;
    assert_eq!((updated.status, updated.json()["created"].as_bool()), (200, Some(false)), "{}", updated.body);
    let bad_phone = t
        .call(&c, 3, upsert, "/api/v1/contacts", Some(&admin), &[], r#"{"external_id":"c9","phone":"12345"}"#)
        .await;
    assert_eq!(bad_phone.status, 400, "{}", bad_phone.body);
    let err = &bad_phone.json()["errors"][0];
    assert!(
        err["field"].as_str().unwrap().ends_with("phone") && err["rule"] == "phone",
        "{}",
        bad_phone.body
    );
    let typo = t
        .call(
            &c,
            3,
            upsert,
            "/api/v1/contacts",
            Some(&admin),
            &[],
            r#"{"external_id":"c9","telefon":"+4791100009"}"#,
        )
        .await;
    assert_eq!(typo.status, 400);
    assert!(
        typo.json()["errors"][0]["detail"].as_str().unwrap().contains("unknown field `telefon`"),
        "{}",
        typo.body
    );

    // Import: a CSV body; the bad row is reported with its line, the good ones are kept.
    // Places come as lat/lon columns (the place `home`).
    let csv = "external_id,name,phone,groups,lat,lon\r\nc2,Ola,+4791100002,alle,59.9139,10.7522\r\nc3,Bad,not-a-phone,alle,,\r\nc4,Per,+4791100004,alle;stab,60.39,5.32\r\n";
    let report = t
        .call(
            &c,
            2,
            ("POST", "/api/v1/contacts/import"),
            "/api/v1/contacts/import?filename=liste.csv",
            Some(&admin),
            &[],
            csv,
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    let report = report.json();
    assert_eq!((report["rows"].as_u64(), report["created"].as_u64()), (Some(3), Some(2)), "{report}");
    assert_eq!(report["rejected"][0]["line"], 3, "{report}");

    // List sync: the group becomes exactly the file's rows; a dry run changes nothing; a sync
    // that would remove half the group is refused unless allowed.
    let import = ("POST", "/api/v1/contacts/import");
    let both = "external_id,name,phone\r\nc1,Kari N,+4791100001\r\nc2,,+4791100002\r\n";
    let synced = t
        .call(&c, 1, import, "/api/v1/contacts/import?sync_group=vakt", Some(&admin), &[], both)
        .await
        .json();
    assert_eq!((synced["joined"].as_u64(), synced["member_count"].as_u64()), (Some(2), Some(2)), "{synced}");
    let one = "external_id,name,phone\r\nc1,Kari N,+4791100001\r\n";
    let dry = t
        .call(
            &c,
            2,
            import,
            "/api/v1/contacts/import?sync_group=vakt&dry_run=true&max_remove_percent=100",
            Some(&admin),
            &[],
            one,
        )
        .await
        .json();
    assert_eq!((dry["left"].as_u64(), dry["dry_run"].as_bool()), (Some(1), Some(true)), "{dry}");
    let refused =
        t.call(&c, 3, import, "/api/v1/contacts/import?sync_group=vakt", Some(&admin), &[], one).await;
    assert!(refused.status == 409 || refused.status == 400, "{}", refused.body);
    let shrunk = t
        .call(
            &c,
            3,
            import,
            "/api/v1/contacts/import?sync_group=vakt&max_remove_percent=100",
            Some(&admin),
            &[],
            one,
        )
        .await
        .json();
    assert_eq!((shrunk["left"].as_u64(), shrunk["member_count"].as_u64()), (Some(1), Some(1)), "{shrunk}");

    // Paging by cursor, with a Link header.
    let mut seen = BTreeSet::new();
    let mut next = "/api/v1/contacts?page_size=2&consistency=linearizable".to_string();
    for _ in 0..10 {
        let page = t.call(&c, 3, ("GET", "/api/v1/contacts"), &next, Some(&viewer), &[], "").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let body = page.json();
        seen.extend(
            body["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["external_id"].as_str().unwrap().to_string()),
        );
        match page.header("link") {
            Some(link) => next = link.trim_start_matches('<').split('>').next().unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen, BTreeSet::from(["c1".into(), "c2".into(), "c4".into()]));
    let by_id = t
        .call(
            &c,
            1,
            ("GET", "/api/v1/contacts/{id}"),
            &format!("/api/v1/contacts/{c1_id}"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(by_id.json()["contact"]["name"], "Kari N");
    let by_ext = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/contacts/by-external-id/{external_id}"),
            "/api/v1/contacts/by-external-id/c2",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    let c2_id = by_ext.json()["contact"]["id"].as_u64().unwrap();
    let missing = t
        .call(&c, 2, ("GET", "/api/v1/contacts/{id}"), "/api/v1/contacts/999999", Some(&viewer), &[], "")
        .await;
    assert_eq!(missing.status, 404);
    let not_a_number =
        t.call(&c, 2, ("GET", "/api/v1/contacts/{id}"), "/api/v1/contacts/abc", Some(&viewer), &[], "").await;
    assert_eq!(not_a_number.status, 400);
    let export = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/contacts/{id}/export"),
            &format!("/api/v1/contacts/{c1_id}/export"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert!(export.status == 200 && export.body.contains("+4791100001"), "{}", export.body);

    // Groups and members.
    let g = t
        .call(&c, 1, ("POST", "/api/v1/groups"), "/api/v1/groups", Some(&admin), &[], r#"{"name":"ekstra"}"#)
        .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let g_id = g.json()["group"]["id"].as_u64().unwrap();
    let groups = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/groups"),
            "/api/v1/groups?consistency=linearizable",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(
        groups.json()["groups"].as_array().unwrap().len(),
        4,
        "alle, stab, vakt and ekstra: {}",
        groups.body
    );
    let alle = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/groups/by-name/{name}"),
            "/api/v1/groups/by-name/alle",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(alle.json()["group"]["member_count"], 3, "{}", alle.body);
    let members = ("POST", "/api/v1/groups/{id}/members");
    let changed = t
        .call(
            &c,
            1,
            members,
            &format!("/api/v1/groups/{g_id}/members"),
            Some(&admin),
            &[],
            r#"{"add_external_ids":["c1","c2"]}"#,
        )
        .await;
    assert_eq!(changed.json()["member_count"], 2, "{}", changed.body);
    let wrong_group = t
        .call(
            &c,
            1,
            members,
            &format!("/api/v1/groups/{g_id}/members"),
            Some(&admin),
            &[],
            r#"{"group_id":1234,"add_external_ids":["c4"]}"#,
        )
        .await;
    assert_eq!(
        (wrong_group.status, wrong_group.json()["errors"][0]["field"].as_str()),
        (400, Some("group_id"))
    );
    let listed = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/groups/{id}/members"),
            &format!("/api/v1/groups/{g_id}/members?consistency=linearizable"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(listed.json()["contacts"].as_array().unwrap().len(), 2, "{}", listed.body);
    let got = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/groups/{id}"),
            &format!("/api/v1/groups/{g_id}"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(got.json()["group"]["name"], "ekstra");
    let renamed = t
        .call(
            &c,
            2,
            ("PATCH", "/api/v1/groups/{id}"),
            &format!("/api/v1/groups/{g_id}"),
            Some(&admin),
            &[],
            r#"{"name":"ekstra-2","directory_id":"G-7"}"#,
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        (&renamed.json()["group"]["name"], &renamed.json()["group"]["directory_id"]),
        (&json!("ekstra-2"), &json!("G-7")),
        "{}",
        renamed.body
    );
    let deleted = t
        .call(
            &c,
            1,
            ("DELETE", "/api/v1/groups/{id}"),
            &format!("/api/v1/groups/{g_id}"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(
        (deleted.status, deleted.json()["existing"].as_bool()),
        (200, Some(false)),
        "{}",
        deleted.body
    );
    let gone = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/groups/{id}"),
            &format!("/api/v1/groups/{g_id}?consistency=linearizable"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(gone.status, 404, "{}", gone.body);

    // Templates.
    let tpl =
        r#"{"content":{"default_language":"nb","variants":{"nb":{"sms_text":"Evakuer {{sted}} nå."}}}}"#;
    let put = t
        .call(&c, 2, ("PUT", "/api/v1/templates/{name}"), "/api/v1/templates/evakuer", Some(&admin), &[], tpl)
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let got = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/templates/{name}"),
            "/api/v1/templates/evakuer?consistency=linearizable",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(got.json()["template"]["name"], "evakuer");
    let all = t
        .call(
            &c,
            1,
            ("GET", "/api/v1/templates"),
            "/api/v1/templates?consistency=linearizable",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(all.json()["templates"].as_array().unwrap().len(), 1);

    // Alerts: scheduled an hour ahead, so nothing is sent while the test watches and cancels.
    let alert = json!({
        "title": "Flom", "priority": "crisis",
        "template_name": "evakuer", "variables": {"sted": "Elvegata"},
        "targets": {"group_names": ["alle"]},
        "send_at_ms": now_ms() + 3_600_000,
    })
    .to_string();
    let denied =
        t.call(&c, 1, ("POST", "/api/v1/alerts"), "/api/v1/alerts", Some(&viewer), &[], &alert).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    let key = [("Idempotency-Key", "flom-1")];
    let a = t.call(&c, 1, ("POST", "/api/v1/alerts"), "/api/v1/alerts", Some(&admin), &key, &alert).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a_id = a.json()["alert"]["id"].as_u64().unwrap();
    assert_eq!(a.json()["alert"]["status"], "scheduled", "{}", a.body);
    let a2 = t.call(&c, 3, ("POST", "/api/v1/alerts"), "/api/v1/alerts", Some(&admin), &key, &alert).await;
    assert_eq!((a2.status, a2.json()["alert"]["id"].as_u64()), (200, Some(a_id)), "{}", a2.body);
    // Areas: who a circle round Ola's home would reach, counted before anything is sent; an
    // area with no one inside is refused, naming the target.
    let preview = json!({"targets": {"area_circles": ["59.91,10.75 2"]}}).to_string();
    let p = ("POST", "/api/v1/alerts/preview");
    let reach = t.call(&c, 2, p, "/api/v1/alerts/preview", Some(&viewer), &[], &preview).await;
    assert_eq!(reach.status, 200, "{}", reach.body);
    let r = reach.json();
    assert_eq!(
        (r["contacts"].as_u64(), r["in_areas"].as_u64(), r["sms"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{r}"
    );
    let sea = json!({
        "title": "Flom", "template_name": "evakuer", "variables": {"sted": "Elvegata"},
        "targets": {"area_circles": ["70.0,-10.0 5"]},
    })
    .to_string();
    let key = [("Idempotency-Key", "sea-1")];
    let empty = t.call(&c, 1, ("POST", "/api/v1/alerts"), "/api/v1/alerts", Some(&admin), &key, &sea).await;
    assert_eq!(empty.status, 400, "{}", empty.body);
    assert!(empty.body.contains("targets.areas"), "{}", empty.body);
    let bad = json!({"targets": {"area_polygons": ["59,10 60,10 59,10"]}}).to_string();
    let bad = t.call(&c, 2, p, "/api/v1/alerts/preview", Some(&viewer), &[], &bad).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["errors"][0]["field"], "targets.area_polygons[0]", "{}", bad.body);
    let listed = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/alerts"),
            "/api/v1/alerts?consistency=linearizable",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(listed.json()["alerts"].as_array().unwrap().len(), 1, "{}", listed.body);
    let got = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/alerts/{id}"),
            &format!("/api/v1/alerts/{a_id}"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(got.json()["alert"]["recipients_planned"], 3, "{}", got.body);

    // Watch through node 3 while node 1 cancels: the stream ends with the cancelled alert.
    let events_path = format!("/api/v1/alerts/{a_id}/events");
    t.0.insert(("get".into(), "/api/v1/alerts/{id}/events".into()));
    let (c_ref, viewer_ref) = (&c, viewer.clone());
    let watch = async move { c_ref.rest(3, "GET", &events_path, Some(&viewer_ref), &[], "").await };
    let cancel = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        t.call(
            &c,
            1,
            ("POST", "/api/v1/alerts/{id}/cancel"),
            &format!("/api/v1/alerts/{a_id}/cancel"),
            Some(&admin),
            &[],
            "",
        )
        .await
    };
    let (events, cancelled) = tokio::join!(watch, cancel);
    assert_eq!(
        (cancelled.status, cancelled.json()["alert"]["status"].as_str()),
        (200, Some("cancelled")),
        "{}",
        cancelled.body
    );
    assert_eq!(events.status, 200);
    assert!(events.content_type.starts_with("text/event-stream"), "{}", events.content_type);
    let statuses: Vec<String> = events
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| {
            serde_json::from_str::<Value>(d.trim()).unwrap()["alert"]["status"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(statuses.first().map(String::as_str), Some("scheduled"), "{}", events.body);
    assert_eq!(statuses.last().map(String::as_str), Some("cancelled"), "{}", events.body);

    // Acknowledging, replies, resume: answered as gRPC answers them.
    let ack = t
        .call(
            &c,
            2,
            ("POST", "/api/v1/alerts/{id}/acknowledgements"),
            &format!("/api/v1/alerts/{a_id}/acknowledgements"),
            Some(&admin),
            &[],
            &json!({"contact_id": c2_id}).to_string(),
        )
        .await;
    assert!(ack.status == 200 || ack.status == 409, "{}", ack.body);
    let replies = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/alerts/{id}/replies"),
            &format!("/api/v1/alerts/{a_id}/replies"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(
        (replies.status, replies.json()["replies"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{}",
        replies.body
    );
    let unmatched =
        t.call(&c, 1, ("GET", "/api/v1/replies"), "/api/v1/replies", Some(&viewer), &[], "").await;
    assert_eq!(unmatched.status, 200, "{}", unmatched.body);
    let resume = t
        .call(
            &c,
            1,
            ("POST", "/api/v1/alerts/{id}/resume"),
            &format!("/api/v1/alerts/{a_id}/resume"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(resume.status, 409, "only a held alert resumes: {}", resume.body);

    // The audit trail names who did it.
    let audit = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/audit"),
            "/api/v1/audit?consistency=linearizable&page_size=1000",
            Some(&admin),
            &[],
            "",
        )
        .await;
    let actions: Vec<String> = audit.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("alert")) && actions.iter().any(|a| a.contains("cancel")),
        "{actions:?}"
    );

    // Webhook subscriptions (to an event this test never causes, so nothing is delivered): the
    // secret is shown at creation only; a viewer may list but not create.
    let hook = r#"{"url":"https://127.0.0.1:9/varsel","events":["reply.unmatched"],"description":"vaktrom"}"#;
    let denied =
        t.call(&c, 1, ("POST", "/api/v1/webhooks"), "/api/v1/webhooks", Some(&viewer), &[], hook).await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    let bad = t
        .call(
            &c,
            1,
            ("POST", "/api/v1/webhooks"),
            "/api/v1/webhooks",
            Some(&admin),
            &[],
            r#"{"url":"ftp://x","events":["reply.unmatched"]}"#,
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let made = t
        .call(
            &c,
            1,
            ("POST", "/api/v1/webhooks"),
            "/api/v1/webhooks",
            Some(&admin),
            &[("Idempotency-Key", "hook-1")],
            hook,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let made = made.json();
    let hook_id = made["webhook"]["id"].as_u64().unwrap();
    assert!(made.to_string().contains("whsec_"), "{made}");
    let hooks = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/webhooks"),
            "/api/v1/webhooks?consistency=linearizable",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(hooks.json()["webhooks"].as_array().unwrap().len(), 1, "{}", hooks.body);
    assert!(!hooks.body.contains("whsec_"), "secrets are never listed: {}", hooks.body);
    let one = t
        .call(
            &c,
            3,
            ("GET", "/api/v1/webhooks/{id}"),
            &format!("/api/v1/webhooks/{hook_id}?consistency=linearizable"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(one.json()["webhook"]["description"], "vaktrom", "{}", one.body);
    let enable = t
        .call(
            &c,
            1,
            ("POST", "/api/v1/webhooks/{id}/enable"),
            &format!("/api/v1/webhooks/{hook_id}/enable"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert!(enable.status == 200 || enable.status == 409, "{}", enable.body);
    let attempts = t
        .call(
            &c,
            2,
            ("GET", "/api/v1/webhooks/{id}/deliveries"),
            &format!("/api/v1/webhooks/{hook_id}/deliveries"),
            Some(&viewer),
            &[],
            "",
        )
        .await;
    assert_eq!(
        (attempts.status, attempts.json()["deliveries"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{}",
        attempts.body
    );
    let gone = t
        .call(
            &c,
            3,
            ("DELETE", "/api/v1/webhooks/{id}"),
            &format!("/api/v1/webhooks/{hook_id}"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(gone.status, 200, "{}", gone.body);

    // Deleting, erasing, revoking.
    let del = t
        .call(
            &c,
            3,
            ("DELETE", "/api/v1/contacts/{id}"),
            &format!("/api/v1/contacts/{c2_id}"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!((del.status, del.json()["existing"].as_bool()), (200, Some(false)), "{}", del.body);
    let c4 = t
        .call(
            &c,
            1,
            ("GET", "/api/v1/contacts/by-external-id/{external_id}"),
            "/api/v1/contacts/by-external-id/c4",
            Some(&viewer),
            &[],
            "",
        )
        .await;
    let c4_id = c4.json()["contact"]["id"].as_u64().unwrap();
    let erased = t
        .call(
            &c,
            1,
            ("POST", "/api/v1/contacts/{id}/erase"),
            &format!("/api/v1/contacts/{c4_id}/erase"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    let revoked = t
        .call(
            &c,
            2,
            ("DELETE", "/api/v1/credentials/{id}"),
            &format!("/api/v1/credentials/{viewer_id}"),
            Some(&admin),
            &[],
            "",
        )
        .await;
    assert_eq!(revoked.json()["revoked"], true, "{}", revoked.body);
    // Through the node that answered the revoke: it has applied it (another may lag briefly).
    let after = t.call(&c, 2, ("GET", "/api/v1/whoami"), "/api/v1/whoami", Some(&viewer), &[], "").await;
    assert_eq!(after.status, 401, "{}", after.body);

    // CAP's operations are called by t04_cap, which checks its own list.
    let documented: BTreeSet<_> = documented.into_iter().filter(|(_, p)| !p.contains("cap")).collect();
    let untested: Vec<_> = documented.difference(&t.0).collect();
    assert!(untested.is_empty(), "documented but not called: {untested:?}");
    let undocumented: Vec<_> = t.0.difference(&documented).collect();
    assert!(undocumented.is_empty(), "called but not documented: {undocumented:?}");
}
