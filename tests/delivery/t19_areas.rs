use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use varsel_proto::api::{AlertStatus, Channel, Consistency, PreviewAlertRequest, Priority, Targets};
use varsel_sim::{Channel as SimChannel, SimConfig};

use crate::common::authed;
use crate::fixture::{Fixture, alert_request, at_once, sim_config};

/// Goal: an area alert reaches everyone with a place inside the area once, at the handset,
/// and nobody outside, while the site holding most of its shards is killed mid-alert.
/// Method: 15,000 contacts on a grid round Oslo (every third with a second place 0.2° east,
/// some of those inside), a concave polygon holding about 10,000 of them; the preview's count is checked
/// against a count made here with `varsel-geo`; the tenant is held to 900 SMS/s so the alert
/// runs long enough to kill the node with most shards when a fifth is sent. The simulator
/// keeps every delivery: its phone numbers must be exactly the inside set, each delivered once.
#[tokio::test(flavor = "multi_thread")]
async fn area_alert_survives_site_loss_and_reaches_only_those_inside() {
    let sim = SimConfig { inbox_max: 30_000, ..sim_config() };
    let mut f = Fixture::start(sim, |s| {
        s.delivery.shard_workers = 4;
        s.delivery.chunk_recipients = 64;
    })
    .await;
    // A U shape: the notch between the arms holds people who must get nothing.
    let polygon = "59.80,10.50 60.10,10.50 60.10,10.62 59.90,10.62 59.90,10.70 60.10,10.70 \
                   60.10,10.80 59.80,10.80 59.80,10.50";
    let area = varsel_geo::Polygon::parse(polygon).unwrap();
    let mut csv = String::from("external_id,phone,lat,lon,locations\n");
    let mut inside = BTreeSet::new();
    for i in 0..150 {
        for j in 0..100 {
            let n = i * 100 + j;
            let (lat, lon) = (597_800_000 + i * 22_000, 104_700_000 + j * 36_000);
            let phone = format!("+4742{n:06}");
            let home = varsel_geo::Point::new(lat, lon).unwrap();
            let work = varsel_geo::Point::new(lat, lon + 2_000_000).unwrap();
            if area.contains(home) || (n % 3 == 0 && area.contains(work)) {
                inside.insert(phone.clone());
            }
            let deg = |e7: i32| varsel_domain::location::DegreesE7(e7).to_string();
            let work = if n % 3 == 0 {
                format!("\"work:{},{}\"", deg(lat), deg(lon + 2_000_000))
            } else {
                String::new()
            };
            csv.push_str(&format!("p{n},{phone},{},{},{work}\n", deg(lat), deg(lon)));
        }
    }
    assert!(
        (9_000..11_000).contains(&inside.len()),
        "the polygon should hold about 10,000: {}",
        inside.len()
    );
    let report = f.import_csv(&csv).await;
    assert_eq!((report.created, report.rejected.len()), (15_000, 0), "{:?}", report.rejected.first());

    let targets = Targets { area_polygons: vec![polygon.into()], ..Default::default() };
    // Read through another node than the import's, after everything it wrote.
    let req =
        PreviewAlertRequest { targets: Some(targets.clone()), consistency: Consistency::Linearizable as i32 };
    let preview = f.c.api(3).alerts.preview_alert(authed(&f.token, req)).await.unwrap().into_inner();
    assert_eq!((preview.in_areas, preview.sms), (inside.len() as u64, inside.len() as u64));

    f.set_rate(900).await;
    let mut req = alert_request("area-1", "unused", Priority::Crisis, at_once(&[Channel::Sms]));
    req.targets = Some(targets);
    let a = f.create(req, 2).await;
    assert_eq!(a.recipients_planned, inside.len() as u64);
    assert_eq!(a.area.as_ref().map(|x| x.matched), Some(inside.len() as u64));
    assert!(a.group_ids.is_empty(), "the area's own group is not shown: {:?}", a.group_ids);

    let deadline = Instant::now() + Duration::from_secs(60);
    while f.get(a.id, 1).await.progress.map_or(0, |p| p.recipients) < 2_000 {
        assert!(Instant::now() < deadline, "alert did not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shards = f.shards(a.id, 1).await;
    let (&victim, _) = shards.held_by_node.iter().max_by_key(|(_, n)| **n).unwrap();
    f.c.lc.kill(victim).await.unwrap();
    let survivor = f.c.ids().into_iter().find(|i| *i != victim).unwrap();
    let done = f.wait_final(a.id, survivor).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);

    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    assert_eq!(inbox.not_kept, 0, "the simulator kept every delivery");
    let mut per_phone: BTreeMap<String, u64> = BTreeMap::new();
    for m in inbox.messages.iter().filter(|m| m.channel == SimChannel::Sms) {
        *per_phone.entry(m.to.clone()).or_default() += 1;
    }
    let reached: BTreeSet<String> = per_phone.keys().cloned().collect();
    let outside: Vec<_> = reached.difference(&inside).take(5).collect();
    assert!(outside.is_empty(), "people outside the area got it: {outside:?}");
    let missed: Vec<_> = inside.difference(&reached).take(5).collect();
    assert!(missed.is_empty(), "people inside the area did not get it: {missed:?}");
    let twice: Vec<_> = per_phone.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "delivered twice at the handset: {twice:?}");
}
