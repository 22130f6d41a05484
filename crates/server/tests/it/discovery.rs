//! /ServiceProviderConfig, /ResourceTypes and /Schemas tell the truth.

use axum::http::StatusCode;

use crate::common::{TestApp, assert_scim_error};

#[tokio::test]
async fn service_provider_config() {
    let app = TestApp::new().await;
    let r = app.get("/ServiceProviderConfig").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert_eq!(b["patch"]["supported"], true);
    assert_eq!(b["bulk"]["supported"], true);
    assert_eq!(b["bulk"]["maxOperations"], 1000);
    assert_eq!(b["bulk"]["maxPayloadSize"], 1024 * 1024);
    assert_eq!(b["filter"]["supported"], true);
    assert_eq!(b["filter"]["maxResults"], 1000);
    assert_eq!(b["sort"]["supported"], true);
    assert_eq!(b["etag"]["supported"], true);
    assert_eq!(b["changePassword"]["supported"], false);
    assert_eq!(b["pagination"]["cursor"], true);
    assert_eq!(b["authenticationSchemes"][0]["type"], "oauthbearertoken");
}

#[tokio::test]
async fn resource_types_and_schemas() {
    let app = TestApp::new().await;
    let r = app.get("/ResourceTypes").await;
    assert_eq!(r.body["totalResults"], 2);
    let user = app.get("/ResourceTypes/User").await;
    assert_eq!(user.body["endpoint"], "/Users");
    assert_eq!(
        user.body["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    let r = app.get("/Schemas").await;
    assert_eq!(r.body["totalResults"], 3);
    let s = app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    assert_eq!(s.status, StatusCode::OK);
    let attrs = s.body["attributes"].as_array().expect("attributes");
    let user_name = attrs.iter().find(|a| a["name"] == "userName").expect("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    assert_eq!(user_name["caseExact"], false);
    let password = attrs.iter().find(|a| a["name"] == "password").expect("password");
    assert_eq!(password["returned"], "never");
    let groups = attrs.iter().find(|a| a["name"] == "groups").expect("groups");
    assert_eq!(groups["mutability"], "readOnly");
    assert_scim_error(&app.get("/Schemas/urn:nope").await, 404, None);
    assert_scim_error(&app.get("/ResourceTypes/Nope").await, 404, None);
}
