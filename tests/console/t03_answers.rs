use fantoccini::Locator;

use crate::browser::{Browser, axe_script};
use crate::t01_console::Setup;

/// Goal: "are you safe?" end to end in a browser: an operator sends an alert with two answer
/// options from the console; a recipient opens the link from their SMS and answers on the
/// response page (plain HTML, no script); the console's alert page, open in another window,
/// shows the answer counted without a reload; changing the answer moves the count.
/// Method: three nodes and the simulator; the SMS text is read from the simulator's inbox;
/// one Chromium with two windows (the console, the recipient's phone). axe-core checks the
/// response page and the alert page with its answers. Screenshots go to docs/console/.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_answered_in_the_browser_shows_in_the_console() {
    let s = Setup::start(3, 0).await;
    let axe = tokio::task::spawn_blocking(axe_script).await.unwrap();
    let b = Browser::start(&s.tls_dir(), "nb-NO").await;
    let base = s.base(1);
    b.login(&base, &s.operator).await;

    b.goto(&format!("{base}/console/send")).await;
    b.fill("#title", "Gasslekkasje").await;
    let group = b.client.find(Locator::XPath("//label[starts-with(., 'beredskap')]")).await.unwrap();
    let group_for = group.attr("for").await.unwrap().unwrap();
    b.client.find(Locator::Id(&group_for)).await.unwrap().click().await.unwrap();
    b.fill("#nb_sms", "Gasslekkasje i Nygata. Er du trygg? {{answer_link}}").await;
    b.fill("#nb_answers", "Trygg\nTrenger hjelp").await;
    b.fill("#en_sms", "Gas leak in Nygata. Are you safe? {{answer_link}}").await;
    b.fill("#en_answers", "Safe\nNeed help").await;
    b.fill("#answers_ack", "1").await;
    b.click("#to-confirm").await;
    b.click("#send-now").await;
    let alert_path = b.path().await;
    assert!(alert_path.starts_with("/console/alerts/"), "{alert_path}: {}", b.text("main").await);
    let id: u64 = alert_path.trim_start_matches("/console/alerts/").parse().unwrap();
    assert_eq!(b.text("#answers tr[data-answer='0'] td").await, "Trygg");
    assert_eq!(b.text("#answers tr[data-answer='1'] [data-k='chosen']").await, "0");
    let console = b.client.window().await.unwrap();

    // The recipient's SMS, from the simulator.
    let mut text = None;
    for _ in 0..100 {
        let inbox = s._sim.client.inbox(id).await.unwrap();
        if let Some(m) = inbox.messages.iter().find(|m| m.to == "+4791100001") {
            text = Some(m.text.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let text = text.expect("the SMS reached the simulator");
    let link =
        text.split_whitespace().find(|w| w.starts_with("https://")).expect("a link in the SMS").to_string();
    assert!(link.contains("/r/"), "{text}");

    // On the "phone": another window.
    let phone = b.client.new_window(false).await.unwrap();
    b.client.switch_to_window(phone.handle.clone()).await.unwrap();
    b.goto(&link).await;
    assert_eq!(b.text("h1").await, "Gasslekkasje");
    assert!(!b.exists("script").await, "the response page has no script");
    b.screenshot("response-page").await;
    let violations = b.axe(&axe).await;
    assert!(violations.is_empty(), "axe-core on the response page: {violations:?}");
    b.click("button[value='2']").await;
    assert!(b.exists(".saved").await, "no answer shown: {}", b.text("main").await);
    assert!(b.text(".saved").await.contains("Trenger hjelp"), "{}", b.text("main").await);
    b.screenshot("response-page-answered").await;

    // Back in the console: counted, live.
    b.client.switch_to_window(console.clone()).await.unwrap();
    b.wait_until(
        "the console counts the answer without a reload",
        "return document.querySelector(\"#answers tr[data-answer='1'] [data-k='chosen']\").textContent === '1'",
    )
    .await;
    // The recipient changes their mind: the count moves.
    b.client.switch_to_window(phone.handle).await.unwrap();
    b.click("button[value='1']").await;
    b.client.switch_to_window(console).await.unwrap();
    b.wait_until(
        "the changed answer moves the count",
        "return document.querySelector(\"#answers tr[data-answer='0'] [data-k='chosen']\").textContent === '1' \
         && document.querySelector(\"#answers tr[data-answer='1'] [data-k='chosen']\").textContent === '0'",
    )
    .await;
    b.screenshot("alert-answers").await;
    let violations = b.axe(&axe).await;
    assert!(violations.is_empty(), "axe-core on the alert page with answers: {violations:?}");
}
