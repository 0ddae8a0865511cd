use std::time::Duration;

use varsel_proto::api::Role;

use crate::browser::{Browser, axe_script};
use crate::common::TestCluster;
use crate::common::sim::{SimProc, start_with_sim};

/// A cluster wired to the provider simulator, a tenant with a group of `people` contacts, and
/// tokens of an operator and a viewer of that tenant.
pub struct Setup {
    pub c: TestCluster,
    pub _sim: SimProc,
    pub _secrets: tempfile::TempDir,
    pub operator: String,
    pub viewer: String,
}

impl Setup {
    /// `sms_rate_per_second`: the simulator's SMS rate (0: unlimited).
    pub async fn start(people: usize, sms_rate_per_second: u32) -> Setup {
        let mut sim = varsel_sim::SimConfig::demo();
        for p in &mut sim.providers {
            p.receipt_delay_ms = p.receipt_delay_ms.min(500);
            p.error_rate = 0.0;
            if sms_rate_per_second > 0 {
                p.rate_per_second = u64::from(sms_rate_per_second);
            }
        }
        let (c, sim, secrets) = start_with_sim(sim, 3, |_| {}).await;
        let (tenant, operator) = c.tenant_with(1, "kommune", Role::Operator).await;
        let viewer = c.credential(tenant, Role::Viewer).await;
        let mut csv = String::from("external_id,name,phone,groups\n");
        for i in 0..people {
            csv.push_str(&format!("p{i},Person {i},+47911{i:05},beredskap\n"));
        }
        let r = c.rest(1, "POST", "/api/v1/contacts/import", Some(&operator), &[], &csv).await;
        assert_eq!(r.status, 200, "{}", r.body);
        Setup { c, _sim: sim, _secrets: secrets, operator, viewer }
    }

    /// `https://127.0.0.1:port` of node `id`'s HTTP listener.
    pub fn base(&self, id: u64) -> String {
        format!("https://{}", self.c.lc.node(id).unwrap().http().unwrap())
    }

    /// Where the cluster's certificates are.
    pub fn tls_dir(&self) -> std::path::PathBuf {
        self.c.dir.path().to_path_buf()
    }
}

/// Goal: an operator can do the console's whole job in a real browser, in both languages, and
/// a viewer can look but not change anything. Log in; send an alert to a group through the
/// confirmation step (which states people and messages) and watch it reach "completed" live;
/// schedule another and cancel it; upload a CSV with a bad row and see the row's error; a
/// viewer sees no send or cancel forms and a forged POST (with the viewer's own valid CSRF
/// token) is refused. Every page passes axe-core's automated accessibility rules.
/// Method: three node processes with TLS and the provider simulator; headless Chromium through
/// chromedriver; assertions on what the pages show. Screenshots go to docs/console/.
#[tokio::test(flavor = "multi_thread")]
async fn operator_and_viewer_in_a_browser() {
    let s = Setup::start(5, 0).await;
    let axe = tokio::task::spawn_blocking(axe_script).await.unwrap();
    let b = Browser::start(&s.tls_dir(), "nb-NO").await;
    let base = s.base(2);
    let mut a11y = Vec::new();

    // Log-in page, in bokmål from Accept-Language; a wrong token is refused on the page.
    b.goto(&format!("{base}/console/")).await;
    assert_eq!(b.path().await, "/console/login");
    assert_eq!(
        b.client.find(fantoccini::Locator::Css("html")).await.unwrap().attr("lang").await.unwrap().as_deref(),
        Some("nb")
    );
    assert_eq!(b.text("h1").await, "Logg inn");
    b.screenshot("login").await;
    a11y.push(("login", b.axe(&axe).await));
    b.fill("#token", "not-a-token").await;
    b.click("form[action='/console/login'] button[type=submit]").await;
    assert!(
        b.exists("div.error").await,
        "a wrong token shows an error: {}",
        b.client.source().await.unwrap()
    );
    b.login(&base, &s.operator).await;

    // Send: the live counter asks the server; the confirmation gives people and messages.
    b.goto(&format!("{base}/console/send")).await;
    b.fill("#title", "Vannforsyning").await;
    let group =
        b.client.find(fantoccini::Locator::XPath("//label[starts-with(., 'beredskap')]")).await.unwrap();
    let group_for = group.attr("for").await.unwrap().unwrap();
    b.client.find(fantoccini::Locator::Id(&group_for)).await.unwrap().click().await.unwrap();
    b.fill("#nb_sms", "Kok vannet før bruk 😀").await;
    b.wait_until(
        "the SMS counter shows UCS-2",
        "return document.getElementById('nb_sms-count').getAttribute('data-encoding') === 'UCS-2'",
    )
    .await;
    let counter = b.text("#nb_sms-count").await;
    assert!(counter.contains("UCS-2") && counter.contains("😀"), "{counter}");
    b.fill("#nb_sms", "Kok vannet før bruk").await;
    b.wait_until(
        "the SMS counter shows GSM-7",
        "return document.getElementById('nb_sms-count').getAttribute('data-encoding') === 'GSM-7'",
    )
    .await;
    b.screenshot("send").await;
    a11y.push(("send", b.axe(&axe).await));
    b.click("#to-confirm").await;
    assert_eq!(b.text("#confirm-people").await, "5", "{}", b.text("main").await);
    assert_eq!(b.text("#confirm-messages").await, "5");
    b.screenshot("confirm").await;
    a11y.push(("confirm", b.axe(&axe).await));
    // The same confirmation submitted twice more (a double click, a retry) makes no second
    // alert: the form carries its idempotency key.
    let twice = "const f = document.getElementById('send-now').form; \
        const body = new URLSearchParams(new FormData(f)); body.set('action', 'send'); \
        return Promise.all([fetch(f.getAttribute('action'), {method: 'POST', body}), fetch(f.getAttribute('action'), {method: 'POST', body})]) \
          .then(rs => rs.map(r => new URL(r.url).pathname))";
    let paths = b.client.execute(twice, vec![]).await.unwrap();
    b.click("#send-now").await;
    let alert_path = b.path().await;
    assert_eq!(paths, serde_json::json!([alert_path, alert_path]), "three submits, one alert");
    assert!(alert_path.starts_with("/console/alerts/"), "{alert_path}");
    b.wait_until(
        "the alert page shows completed (live)",
        "return document.getElementById('status').classList.contains('completed')",
    )
    .await;
    assert_eq!(b.text("#status").await, "fullført");
    // Completed: every message handed over and accepted. "Sent" counts every message a
    // provider accepted; "delivered" those of them a receipt has confirmed since, which the
    // simulator's receipts may or may not have done yet. Read in one script, as one state of
    // the live page.
    let read = "return ['queued', 'sent', 'delivered'].map(k => \
        document.querySelector(`tr[data-ch=sms] [data-k=${k}]`).innerText.trim())";
    let cells = b.client.execute(read, vec![]).await.unwrap();
    let n: Vec<u64> = cells
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(n.len(), 3, "{cells}");
    let channels = b.text("#channels").await;
    assert_eq!((n[0], n[1]), (0, 5), "{channels}");
    assert!(n[2] <= n[1], "more delivered than sent: {channels}");
    b.screenshot("alert").await;
    a11y.push(("alert", b.axe(&axe).await));
    // Cancel one in flight (its SMS step sent, its voice step due in two minutes); in English
    // this time.
    b.goto(&format!("{base}/console/lang?set=en&back=/console/send")).await;
    assert_eq!(b.text("h1").await, "Send an alert");
    b.fill("#title", "Exercise").await;
    b.client.find(fantoccini::Locator::Id(&group_for)).await.unwrap().click().await.unwrap();
    let sms_first = b.client.find(fantoccini::Locator::Id("step1_sms")).await.unwrap();
    assert!(sms_first.is_selected().await.unwrap(), "SMS in step 1 is the form's default");
    b.client.find(fantoccini::Locator::Id("step2_voice")).await.unwrap().click().await.unwrap();
    b.fill("#step2_after", "120").await;
    b.fill("#en_sms", "This is an exercise").await;
    b.fill("#en_voice", "This is an exercise").await;
    b.client
        .find(fantoccini::Locator::Css("#default_language option[value=en]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("#to-confirm").await;
    b.click("#send-now").await;
    b.wait_until(
        "the exercise's SMS step sent (live)",
        "const c = document.querySelector('tr[data-ch=sms] [data-k=sent]'); \
         const d = document.querySelector('tr[data-ch=sms] [data-k=delivered]'); \
         return !!c && Number(c.textContent) + Number(d.textContent) === 5",
    )
    .await;
    assert_eq!(b.text("#status").await, "sending", "in flight: the voice step is still to come");
    b.click("#cancel").await;
    b.wait_until(
        "the alert shows cancelled",
        "return document.getElementById('status').classList.contains('cancelled')",
    )
    .await;
    assert!(!b.exists("#cancel").await, "no cancel button on a cancelled alert");
    let voice_sent = b.client.execute(
        "const c = document.querySelector('tr[data-ch=voice] [data-k=sent]'); return c ? Number(c.textContent) : 0",
        vec![],
    );
    assert_eq!(voice_sent.await.unwrap(), serde_json::json!(0), "the cancelled alert called nobody");

    b.goto(&format!("{base}/console/alerts")).await;
    let list = b.text("main table").await;
    assert!(list.contains("Vannforsyning") && list.contains("completed"), "{list}");
    assert!(list.contains("Exercise") && list.contains("cancelled"), "{list}");
    b.screenshot("alerts").await;
    a11y.push(("alerts", b.axe(&axe).await));

    // CSV upload with a bad row: the row's line and reason are shown.
    b.goto(&format!("{base}/console/contacts")).await;
    let csv_dir = tempfile::tempdir().unwrap();
    let csv = csv_dir.path().join("nye.csv");
    std::fs::write(&csv, "external_id,name,phone\nn1,Ny Person,+4791234567\nn2,Feil Nummer,12ab\n").unwrap();
    let file = b.client.find(fantoccini::Locator::Id("file")).await.unwrap();
    file.send_keys(csv.to_str().unwrap()).await.unwrap();
    b.click("#import").await;
    assert_eq!(b.text("#rejected-count").await, "1");
    let rejected = b.text("#rejected").await;
    assert!(rejected.contains("n2") && rejected.contains('3') && rejected.contains("phone"), "{rejected}");
    b.screenshot("import").await;
    a11y.push(("import", b.axe(&axe).await));

    // Edit a contact; search finds it.
    b.goto(&format!("{base}/console/contacts?q=Ny+Person")).await;
    b.click("#contacts a").await;
    b.fill("#name", "Ny Person Endret").await;
    b.click("#save").await;
    assert!(b.text("#contacts").await.contains("Ny Person Endret"));
    b.screenshot("contacts").await;
    a11y.push(("contacts", b.axe(&axe).await));

    b.goto(&format!("{base}/console/audit")).await;
    assert!(b.text("#audit").await.contains("alert"), "the audit trail lists the alerts");
    b.screenshot("audit").await;
    a11y.push(("audit", b.axe(&axe).await));
    b.goto(&format!("{base}/console/health")).await;
    let members = b.client.find_all(fantoccini::Locator::Css("#members tbody tr")).await.unwrap();
    assert_eq!(members.len(), 3, "{}", b.text("#members").await);
    b.screenshot("health").await;
    a11y.push(("health", b.axe(&axe).await));

    // Log out: the session is gone.
    b.click("header form.inline button").await;
    assert_eq!(b.path().await, "/console/login");
    b.goto(&format!("{base}/console/alerts")).await;
    assert_eq!(b.path().await, "/console/login");

    // A viewer: sees the alerts, no send or cancel form; a forged POST is refused.
    b.login(&base, &s.viewer).await;
    assert!(!b.exists("a[href='/console/send']").await, "no send link for a viewer");
    b.goto(&format!("{base}{alert_path}")).await;
    assert!(!b.exists("#cancel").await);
    b.goto(&format!("{base}/console/send")).await;
    assert!(b.exists("div.error").await, "the send page refuses a viewer");
    b.goto(&format!("{base}/console/alerts")).await;
    let forged = format!(
        "const csrf = document.querySelector('meta[name=csrf-token]').content; \
        const body = new URLSearchParams({{csrf, key: 'forged-1', title: 'x', group_1: 'on', step1_sms: 'on', \
            step1_after: '0', nb_sms: 'x', default_language: 'nb', action: 'send'}}); \
        return Promise.all([ \
          fetch('/console/send', {{method: 'POST', body}}).then(r => r.status), \
          fetch('{alert_path}/cancel', {{method: 'POST', body: new URLSearchParams({{csrf}})}}).then(r => r.status), \
          fetch('{alert_path}/cancel', {{method: 'POST', body: new URLSearchParams({{csrf: 'wrong'}})}}).then(r => r.status)])"
    );
    let statuses = b.client.execute(&forged, vec![]).await.unwrap();
    assert_eq!(statuses, serde_json::json!([403, 403, 403]), "a viewer's POSTs are refused");
    b.goto(&format!("{base}/console/alerts")).await;
    assert!(!b.text("main").await.contains("forged"), "nothing was sent");
    let r = s.c.rest(1, "GET", "/api/v1/alerts?consistency=linearizable", Some(&s.operator), &[], "").await;
    assert_eq!(r.json()["alerts"].as_array().unwrap().len(), 2, "{}", r.body);

    let failures: Vec<_> = a11y.iter().filter(|(_, v)| !v.is_empty()).collect();
    assert!(failures.is_empty(), "axe-core found accessibility violations: {failures:#?}");
    drop(b);
    tokio::time::sleep(Duration::from_millis(10)).await;
}
