//! The area part of `varsel bench` (`--only area`): an alert to everyone inside a polygon
//! against an alert to the same people as a group.
//!
//! `--area-contacts` contacts are imported with one place each (`lat`, `lon` columns); every
//! fifth lives inside a 2° x 6° rectangle of southern Norway and is also a member of group
//! `area-inside`, the others live further north and in no group. Then, in turns, an alert to
//! the group and an alert to the rectangle as a CAP polygon (the same recipients, which is
//! checked), each run to its last message. Printed for each: the time `CreateAlert` took (for
//! the polygon: resolving it through the grid index and freezing the recipients, on every node)
//! and the time from acceptance to the last message handed to a provider. A preview of the
//! polygon is timed first. Nothing is asserted about speed.

use std::time::{Duration, Instant};

use anyhow::Context;
use varsel_proto::api::alert_service_client::AlertServiceClient;
use varsel_proto::api::{PreviewAlertRequest, Targets};

use super::bench_domain::with_token;
use super::bench_fanout::{Sent, import_rows, send_alert};
use varsel_client::local_cluster::LocalCluster;

/// The rectangle, in CAP polygon syntax ("lat,lon" pairs, closed).
const POLYGON: &str = "59,5 59,11 61,11 61,5 59,5";
/// Group of the contacts inside the rectangle.
const GROUP: &str = "area-inside";
/// Alerts of each kind.
const ROUNDS: usize = 2;

/// A well-mixed 64-bit hash of `i` (splitmix64), so places look scattered but every run is
/// the same.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A coordinate in `lo..hi` degrees (1e-7 steps, never on either bound), as CSV text.
fn coordinate(seed: u64, lo: i64, hi: i64) -> String {
    let span = (hi - lo) * 10_000_000 - 2;
    let e7 = lo * 10_000_000 + 1 + (seed % span as u64) as i64;
    format!("{}.{:07}", e7 / 10_000_000, e7 % 10_000_000)
}

/// Whether contact `i` lives inside the rectangle.
fn inside(i: usize) -> bool {
    i.is_multiple_of(5)
}

/// Row `i` of the import: inside the rectangle and in [`GROUP`], or outside it in no group.
fn row(i: usize, csv: &mut String) {
    let (a, b) = (mix(2 * i as u64), mix(2 * i as u64 + 1));
    let (lat, lon, group) = if inside(i) {
        (coordinate(a, 59, 61), coordinate(b, 5, 11), GROUP)
    } else {
        (coordinate(a, 62, 70), coordinate(b, 5, 30), "")
    };
    csv.push_str(&format!("a{i},+479{i:07},{group},{lat},{lon}\n"));
}

fn sms_alert(key: &str, targets: Targets) -> varsel_proto::api::CreateAlertRequest {
    let mut req = super::bench_fanout::alert(key);
    req.title = "area benchmark".into();
    req.targets = Some(targets);
    req
}

/// Runs the area measurement over `contacts` contacts and prints it.
pub async fn run(cluster: &LocalCluster, contacts: usize) -> anyhow::Result<()> {
    let all = cluster.cluster()?.with_deadline(Duration::from_secs(300));
    let ch = all.channel(0).context("no node")?;
    let token = super::bench_domain::bench_tenant(&all, &cluster.superadmin_token).await?;
    let n = (0..contacts).filter(|i| inside(*i)).count();
    println!("\narea: importing {contacts} contacts with a place each, {n} of them inside {POLYGON:?}…");
    let took = import_rows(ch, &token, contacts, "external_id,phone,groups,lat,lon", row).await?;
    println!(
        "  imported in {:.1} s ({:.0} contacts/s)",
        took.as_secs_f64(),
        contacts as f64 / took.as_secs_f64()
    );

    let polygon = Targets { area_polygons: vec![POLYGON.into()], ..Default::default() };
    let group = Targets { group_names: vec![GROUP.into()], ..Default::default() };
    // Counting a million contacts takes seconds: one long attempt, not many short ones.
    let slow = cluster
        .cluster()?
        .with_deadline(Duration::from_secs(600))
        .with_attempt_timeout(Duration::from_secs(300));
    let asked = Instant::now();
    let preview = slow
        .call(|c| {
            let (t, req) =
                (token.clone(), PreviewAlertRequest { targets: Some(polygon.clone()), consistency: 0 });
            async move { AlertServiceClient::new(c).preview_alert(with_token(&t, req)?).await }
        })
        .await?
        .value
        .into_inner();
    println!(
        "  preview of the polygon: {:.2} s, {} contacts inside, {} reachable by SMS",
        asked.elapsed().as_secs_f64(),
        preview.in_areas,
        preview.sms
    );
    anyhow::ensure!(preview.in_areas == n as u64, "the preview found {} inside, not {n}", preview.in_areas);

    let mut runs: Vec<(&str, Sent)> = Vec::new();
    for round in 1..=ROUNDS {
        for (kind, targets) in [("group", &group), ("polygon", &polygon)] {
            println!("\n{kind} alert, round {round}:");
            let sent =
                send_alert(cluster, &token, n, sms_alert(&format!("area-{kind}-{round}"), targets.clone()))
                    .await?;
            anyhow::ensure!(
                sent.planned == n as u64,
                "the {kind} alert planned {} recipients, not {n}",
                sent.planned
            );
            runs.push((kind, sent));
        }
    }
    println!("\narea vs group, {n} recipients of {contacts} contacts (each run, in order)");
    println!("{:<10} {:>14} {:>22} {:>14}", "target", "accept s", "accepted->last s", "messages/s");
    for (kind, s) in &runs {
        println!(
            "{kind:<10} {:>14.3} {:>22.2} {:>14.0}",
            s.accept.as_secs_f64(),
            s.to_last.as_secs_f64(),
            s.rate
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_inside_are_in_the_rectangle_and_the_group() -> Result<(), std::num::ParseFloatError> {
        for i in 0..2_000 {
            let mut csv = String::new();
            row(i, &mut csv);
            let f: Vec<&str> = csv.trim_end().split(',').collect();
            let (lat, lon): (f64, f64) = (f[3].parse()?, f[4].parse()?);
            let in_rect = lat > 59.0 && lat < 61.0 && lon > 5.0 && lon < 11.0;
            assert_eq!(in_rect, inside(i), "row {csv}");
            assert_eq!(f[2] == GROUP, inside(i), "row {csv}");
            assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        }
        Ok(())
    }
}
