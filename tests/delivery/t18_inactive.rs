use varsel_proto::api::{AlertStatus, Channel, Contact, DirectoryAttributes, Priority, UpsertContactRequest};
use varsel_sim::Channel as SimChannel;

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

/// Sets whether group member `alle-{i}` is inactive, as a directory (SCIM) does, through node 3.
async fn set_inactive(f: &Fixture, i: u32, inactive: bool) {
    let contact = Contact {
        external_id: format!("alle-{i}"),
        name: format!("Person {i}"),
        phone: format!("+4741{i:06}"),
        ..Default::default()
    };
    let directory = DirectoryAttributes { directory_id: format!("OID-{i}"), inactive };
    let req =
        UpsertContactRequest { contact: Some(contact), directory: Some(directory), ..Default::default() };
    let reply = f.c.api(3).contacts.upsert_contact(authed(&f.token, req)).await.unwrap().into_inner();
    assert_eq!(reply.contact.unwrap().inactive, inactive);
}

/// Goal: an inactive contact (SCIM `active: false`) is sent nothing by an alert accepted while
/// it is inactive, though it stays in the alert's group, and is sent to again once active.
/// Method: three nodes and the simulator; 20 contacts in a group, 2 made inactive through
/// `UpsertContact` with `DirectoryAttributes`; an SMS alert at once, run to completion: the
/// simulator's distinct recipients and the alert's progress count 18. Both made active again,
/// a second alert reaches all 20.
#[tokio::test(flavor = "multi_thread")]
async fn inactive_contacts_are_sent_nothing() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(20, "alle").await;
    set_inactive(&f, 3, true).await;
    set_inactive(&f, 17, true).await;

    let a = f.alert("inactive-1", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    assert_eq!(a.recipients_planned, 18);
    let done = f.wait_final(a.id, 1).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    assert_eq!(done.progress.unwrap().recipients, 18);
    let sms = f.sim.client.counts(a.id).await.unwrap();
    assert_eq!(sms.channel(SimChannel::Sms).distinct_keys, 18, "the two inactive contacts got nothing");

    set_inactive(&f, 3, false).await;
    set_inactive(&f, 17, false).await;
    let b = f.alert("inactive-2", "alle", Priority::Crisis, at_once(&[Channel::Sms])).await;
    assert_eq!(b.recipients_planned, 20);
    let done = f.wait_final(b.id, 2).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    assert_eq!(f.sim.client.counts(b.id).await.unwrap().channel(SimChannel::Sms).distinct_keys, 20);
}
