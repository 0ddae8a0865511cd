use std::time::Duration;

use varsel_proto::api::{
    AlertStatus, CancelAlertRequest, CreateCredentialRequest, CreateGroupRequest, CreateTenantRequest,
    DeleteContactRequest, DeleteGroupRequest, GetContactRequest, ListCredentialsRequest, ListGroupsRequest,
    ListTenantsRequest, Role, UpsertContactRequest, WhoAmIRequest, get_contact_request,
};

use crate::common::{TestCluster, authed};
use crate::t03_alerts::{add_contacts, alert_request};

/// How long a client waits before it gives up on an answer in the "lost answer" cases: long
/// enough for the request to leave, far too short for a Raft commit, so the outcome is unknown
/// to the client (the write may or may not be applied, which is exactly a lost answer).
const GIVE_UP_AFTER: Duration = Duration::from_millis(3);

/// Goal: a retried create (tenant, group) answers the first result with `existing = true` from
/// any node, never ALREADY_EXISTS and never a second object; the same key with another request
/// is FAILED_PRECONDITION; without a key the old answers stay; the same request sent to all
/// three nodes at once makes one object; a request whose answer the client never saw, retried
/// with its key, leaves exactly one object.
/// Method: three node processes; creates through node 1, retries through nodes 2 and 3, lists
/// read linearizably; for the lost answer, a client abandons the first call after a few
/// milliseconds and retries through another node.
#[tokio::test(flavor = "multi_thread")]
async fn retried_creates_return_the_first_answer() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let tenant = |name: &str, key: &str| CreateTenantRequest {
        name: name.into(),
        limits: None,
        idempotency_key: key.into(),
    };
    let first =
        c.api(1).tenants.create_tenant(authed(&sa, tenant("fylke", "t-1"))).await.unwrap().into_inner();
    assert!(!first.existing);
    for via in [2, 3] {
        let again =
            c.api(via).tenants.create_tenant(authed(&sa, tenant("fylke", "t-1"))).await.unwrap().into_inner();
        assert!(again.existing, "node {via}: {again:?}");
        assert_eq!(again.tenant.unwrap().id, first.tenant.as_ref().unwrap().id);
    }
    let err = c.api(2).tenants.create_tenant(authed(&sa, tenant("annet", "t-1"))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().starts_with("idempotency_key: "), "{err:?}");
    let err = c.api(3).tenants.create_tenant(authed(&sa, tenant("fylke", ""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "without a key the old answer stays: {err:?}");
    let err = c.api(1).tenants.create_tenant(authed(&sa, tenant("x", &"k".repeat(129)))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("idempotency_key: must be at most 128 characters"), "{err:?}");
    let list = c.api(2).tenants.list_tenants(authed(&sa, ListTenantsRequest { consistency: 1 })).await;
    assert_eq!(list.unwrap().into_inner().tenants.iter().filter(|t| t.name == "fylke").count(), 1);

    let (_, token) = c.tenant_with(1, "kommune", Role::Operator).await;
    let group = |name: &str, key: &str| CreateGroupRequest { name: name.into(), idempotency_key: key.into() };
    // The same request through every node at once: one group, the same id in every answer.
    let mut apis: Vec<_> = c.ids().into_iter().map(|id| c.api(id)).collect();
    let calls = apis.iter_mut().map(|api| api.contacts.create_group(authed(&token, group("brann", "g-1"))));
    let answers: Vec<_> =
        futures::future::join_all(calls).await.into_iter().map(|r| r.unwrap().into_inner()).collect();
    let ids: std::collections::BTreeSet<u64> = answers.iter().map(|a| a.group.as_ref().unwrap().id).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| !a.existing).count(), 1, "exactly one created it: {answers:?}");
    let err = c.api(1).contacts.create_group(authed(&token, group("brann", ""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists);

    // Lost answers: each first call is abandoned, then retried with its key through node 3.
    let mut abandoned_n = 0;
    for i in 0..5 {
        let (name, key) = (format!("tapt-{i}"), format!("lost-{i}"));
        let mut api = c.api(1 + i % 2);
        let abandoned = tokio::time::timeout(
            GIVE_UP_AFTER,
            api.contacts.create_group(authed(&token, group(&name, &key))),
        );
        abandoned_n += u32::from(abandoned.await.is_err());
        let retry =
            c.api(3).contacts.create_group(authed(&token, group(&name, &key))).await.unwrap().into_inner();
        let list = c
            .api(2)
            .contacts
            .list_groups(authed(&token, ListGroupsRequest { consistency: 1 }))
            .await
            .unwrap()
            .into_inner();
        let made: Vec<_> = list.groups.iter().filter(|g| g.name == name).collect();
        assert_eq!(made.len(), 1, "{name}: {made:?}");
        assert_eq!(made[0].id, retry.group.unwrap().id);
    }
    eprintln!("lost answers: {abandoned_n} of 5 first calls were abandoned before their answer");
}

/// Goal: a retried credential create never makes a second live credential: the retry is
/// refused with ALREADY_EXISTS naming the credential and saying to revoke it if its token was
/// lost; the first token keeps working; after a lost answer exactly one credential exists.
/// Method: create with a key through node 1 and retry through node 2; then abandon a first
/// call after a few milliseconds and retry it; count credentials by name, read linearizably.
#[tokio::test(flavor = "multi_thread")]
async fn retried_credential_create_is_refused_not_doubled() {
    let c = TestCluster::start(3, |_| {}).await;
    let (tenant, admin) = c.tenant_with(1, "kommune", Role::Admin).await;
    let cred = |name: &str, key: &str| CreateCredentialRequest {
        tenant_id: 0,
        name: name.into(),
        role: Role::Operator as i32,
        idempotency_key: key.into(),
    };
    let first =
        c.api(1).tenants.create_credential(authed(&admin, cred("ci", "c-1"))).await.unwrap().into_inner();
    let id = first.credential.unwrap().id;
    let err = c.api(2).tenants.create_credential(authed(&admin, cred("ci", "c-1"))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");
    let parts =
        [format!("credential {id}"), "cannot be returned again".into(), format!("revoke credential {id}")];
    for part in parts {
        assert!(err.message().contains(&part), "{part:?} missing from {:?}", err.message());
    }
    let who = c.api(3).tenants.who_am_i(authed(&first.token, WhoAmIRequest {})).await.unwrap().into_inner();
    assert_eq!(who.credential_id, id, "the first token still works");
    let err = c.api(3).tenants.create_credential(authed(&admin, cred("annen", "c-1"))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

    let mut api = c.api(1);
    let abandoned = tokio::time::timeout(
        GIVE_UP_AFTER,
        api.tenants.create_credential(authed(&admin, cred("tapt", "c-2"))),
    );
    let _ = abandoned.await;
    match c.api(2).tenants.create_credential(authed(&admin, cred("tapt", "c-2"))).await {
        // The first call never reached the log: the retry made the credential and shows its token.
        Ok(r) => assert!(!r.into_inner().token.is_empty()),
        Err(e) => assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}"),
    }
    let all = c
        .api(3)
        .tenants
        .list_credentials(authed(&admin, ListCredentialsRequest { tenant_id: tenant, consistency: 1 }))
        .await
        .unwrap()
        .into_inner()
        .credentials;
    for name in ["ci", "tapt"] {
        assert_eq!(all.iter().filter(|x| x.name == name).count(), 1, "{name}: {all:?}");
    }
}

/// Goal: a retried cancel answers the cancelled alert (`existing = true`), and retried deletes
/// of a group and a contact answer success, all from any node; without a key the old answers
/// (FAILED_PRECONDITION, NOT_FOUND) stay.
/// Method: cancel and delete through node 1, retry through nodes 2 and 3.
#[tokio::test(flavor = "multi_thread")]
async fn retried_cancel_and_deletes_succeed() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, token) = c.tenant_with(1, "kommune", Role::Operator).await;
    add_contacts(&c, &token, 3, "alle").await;
    let later = varsel_domain::clock::wall_ms() + 3_600_000;
    let req =
        varsel_proto::api::CreateAlertRequest { send_at_ms: later, ..alert_request("a", "alle", "Hei") };
    let alert = c.api(1).alerts.create_alert(authed(&token, req)).await.unwrap().into_inner().alert.unwrap();
    let cancel = |key: &str| CancelAlertRequest { id: alert.id, idempotency_key: key.into() };
    let first = c.api(1).alerts.cancel_alert(authed(&token, cancel("stopp"))).await.unwrap().into_inner();
    assert!(!first.existing);
    let again = c.api(2).alerts.cancel_alert(authed(&token, cancel("stopp"))).await.unwrap().into_inner();
    assert!(again.existing);
    let (a1, a2) = (first.alert.unwrap(), again.alert.unwrap());
    assert_eq!(
        (a2.id, a2.status, a2.cancelled_at_ms),
        (a1.id, AlertStatus::Cancelled as i32, a1.cancelled_at_ms)
    );
    let err = c.api(3).alerts.cancel_alert(authed(&token, cancel(""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);

    let g = c
        .api(1)
        .contacts
        .create_group(authed(&token, CreateGroupRequest { name: "tom".into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    let delete_group = |key: &str| DeleteGroupRequest { id: g.id, idempotency_key: key.into() };
    assert!(
        !c.api(1)
            .contacts
            .delete_group(authed(&token, delete_group("d")))
            .await
            .unwrap()
            .into_inner()
            .existing
    );
    assert!(
        c.api(3)
            .contacts
            .delete_group(authed(&token, delete_group("d")))
            .await
            .unwrap()
            .into_inner()
            .existing
    );
    let err = c.api(2).contacts.delete_group(authed(&token, delete_group(""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    let get =
        GetContactRequest { key: Some(get_contact_request::Key::ExternalId("c0".into())), consistency: 1 };
    let c0 = c.api(2).contacts.get_contact(authed(&token, get)).await.unwrap().into_inner().contact.unwrap();
    let delete_contact = |key: &str| DeleteContactRequest { id: c0.id, idempotency_key: key.into() };
    let first = c.api(1).contacts.delete_contact(authed(&token, delete_contact("d"))).await.unwrap();
    assert!(!first.into_inner().existing);
    let again = c.api(2).contacts.delete_contact(authed(&token, delete_contact("d"))).await.unwrap();
    assert!(again.into_inner().existing);
    let err = c.api(3).contacts.delete_contact(authed(&token, delete_contact(""))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // Re-adding the contact and deleting it with the old key does not delete the new one.
    let contact = varsel_proto::api::Contact {
        external_id: "c0".into(),
        phone: "+4791100000".into(),
        ..Default::default()
    };
    c.api(1)
        .contacts
        .upsert_contact(authed(&token, UpsertContactRequest { contact: Some(contact), ..Default::default() }))
        .await
        .unwrap();
    let replay = c.api(1).contacts.delete_contact(authed(&token, delete_contact("d"))).await.unwrap();
    assert!(replay.into_inner().existing, "the key names the first delete, of contact {}", c0.id);
    let get =
        GetContactRequest { key: Some(get_contact_request::Key::ExternalId("c0".into())), consistency: 1 };
    let new = c.api(3).contacts.get_contact(authed(&token, get)).await.unwrap().into_inner().contact.unwrap();
    assert_ne!(new.id, c0.id, "the contact added again is another contact, and it is still there");
}

/// Goal: the CLI sends an idempotency key with `tenant create` and `group create`, and the
/// same command with the same `--idempotency-key` does nothing the second time and says so.
/// Method: run the real `varsel` binary twice with one key, through the fixture's helper.
#[tokio::test(flavor = "multi_thread")]
async fn cli_idempotency_key_option() {
    let c = TestCluster::start(3, |_| {}).await;
    let sa = c.superadmin();
    let args = ["tenant", "create", "fra-cli", "--idempotency-key", "cli-1", "--json"];
    let (ok, first, err) = c.varsel(&sa, &args).await;
    assert!(ok, "{err}");
    let (ok, again, err) = c.varsel(&sa, &args[..5]).await;
    assert!(ok, "{err}");
    let first: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert!(again.contains("this idempotency key was used before: nothing was done now"), "{again}");
    let (ok, third, err) = c.varsel(&sa, &args).await;
    assert!(ok, "{err}");
    let third: serde_json::Value = serde_json::from_str(third.trim()).unwrap();
    assert_eq!((first["existing"].as_bool(), third["existing"].as_bool()), (Some(false), Some(true)));
    assert_eq!(first["id"], third["id"]);
    let (_, token) = c.tenant_with(1, "kommune", Role::Operator).await;
    let args = ["group", "create", "vakt", "--idempotency-key", "g-cli"];
    assert!(c.varsel(&token, &args).await.0);
    let (ok, out, err) = c.varsel(&token, &args).await;
    assert!(ok && out.contains("nothing was done now"), "{out}\n{err}");
    let (ok, out, err) = c.varsel(&token, &["group", "create", "vakt"]).await;
    assert!(!ok && err.contains("ALREADY_EXISTS"), "a new key is a new request: {out}\n{err}");
}
