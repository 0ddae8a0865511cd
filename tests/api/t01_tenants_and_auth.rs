use varsel_proto::api::{
    ContactReply, CreateCredentialRequest, CreateGroupRequest, GetContactRequest, ListTenantsRequest, Role,
    UpsertContactRequest, WhoAmIRequest, get_contact_request,
};

use crate::common::{TestCluster, authed};

fn contact(ext: &str, phone: &str) -> varsel_proto::api::Contact {
    varsel_proto::api::Contact { external_id: ext.into(), phone: phone.into(), ..Default::default() }
}

/// Goal: tokens authenticate, roles are enforced, tenants are isolated, whatever node is asked.
/// Method: the superadmin creates two tenants through node 1; each tenant's operator writes
/// through node 2; reads go through node 3; tenant B tries tenant A's contact id and gets
/// NOT_FOUND; a viewer tries to write and gets PERMISSION_DENIED; a bad token gets
/// UNAUTHENTICATED; the superadmin sees no tenant data.
#[tokio::test(flavor = "multi_thread")]
async fn tokens_roles_and_isolation() {
    let c = TestCluster::start(3, |_| {}).await;
    let (a, token_a) = c.tenant_with(1, "kommune-a", Role::Operator).await;
    let (_b, token_b) = c.tenant_with(1, "kommune-b", Role::Operator).await;
    let mut n2 = c.api(2);
    let mut n3 = c.api(3);

    let who = n3.tenants.who_am_i(authed(&token_a, WhoAmIRequest {})).await.unwrap().into_inner();
    assert_eq!((who.tenant_id, who.role), (a, Role::Operator as i32));
    assert_eq!(who.tenant_name, "kommune-a");

    let req = UpsertContactRequest { contact: Some(contact("ola", "+4791234567")), ..Default::default() };
    let ContactReply { contact: Some(ola), created } =
        n2.contacts.upsert_contact(authed(&token_a, req)).await.unwrap().into_inner()
    else {
        panic!()
    };
    assert!(created);

    // Tenant B cannot read tenant A's contact, by id or by external id, on any node.
    for api in [&mut n2, &mut n3] {
        let get = GetContactRequest { key: Some(get_contact_request::Key::Id(ola.id)), consistency: 1 };
        let err = api.contacts.get_contact(authed(&token_b, get)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    }
    let get =
        GetContactRequest { key: Some(get_contact_request::Key::ExternalId("ola".into())), consistency: 1 };
    assert_eq!(
        n3.contacts.get_contact(authed(&token_b, get.clone())).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    let mine = n3.contacts.get_contact(authed(&token_a, get)).await.unwrap().into_inner().contact.unwrap();
    assert_eq!(mine.phone, "+4791234567");
    let err = n2
        .contacts
        .delete_contact(authed(
            &token_b,
            varsel_proto::api::DeleteContactRequest { id: ola.id, ..Default::default() },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    // A viewer reads but cannot write.
    let req = CreateCredentialRequest {
        tenant_id: 0,
        name: "viewer".into(),
        role: Role::Viewer as i32,
        ..Default::default()
    };
    let err = n2.tenants.create_credential(authed(&token_a, req.clone())).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "operators cannot create credentials: {err:?}");
    let req = CreateCredentialRequest { tenant_id: a, ..req };
    let viewer = n2.tenants.create_credential(authed(&c.superadmin(), req)).await.unwrap().into_inner().token;
    let err = n3
        .contacts
        .create_group(authed(&viewer, CreateGroupRequest { name: "g".into(), ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    // Bad tokens.
    for bad in ["nonsense", "vt_1_deadbeef", &token_a.replace("vt_", "vt_9")] {
        let err = n3.tenants.who_am_i(authed(bad, WhoAmIRequest {})).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{bad}: {err:?}");
    }
    let err = n3.tenants.who_am_i(tonic::Request::new(WhoAmIRequest {})).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // The superadmin lists tenants but cannot read their contacts; a tenant sees only itself.
    let all = n3
        .tenants
        .list_tenants(authed(&c.superadmin(), ListTenantsRequest { consistency: 1 }))
        .await
        .unwrap();
    assert_eq!(all.into_inner().tenants.len(), 2);
    let own = n3.tenants.list_tenants(authed(&token_a, ListTenantsRequest { consistency: 1 })).await.unwrap();
    assert_eq!(own.into_inner().tenants.len(), 1);
    let get = GetContactRequest { key: Some(get_contact_request::Key::Id(ola.id)), consistency: 1 };
    let err = n3.contacts.get_contact(authed(&c.superadmin(), get)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}
