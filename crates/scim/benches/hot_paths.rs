//! The crate's part of the requests identity providers send most (docs/performance.md):
//! applying their PATCHes and rendering the answers.
//!
//! `cargo bench -p scimgate-scim --bench hot_paths`
//!
//! - `patch/entra_deactivate`: Entra ID's deprovisioning PATCH (`replace active "False"`).
//! - `patch/entra_attributes`: Entra ID's attribute update, a pathless `replace` of
//!   `displayName`, `name.givenName`, `title` and the enterprise `manager`.
//! - `patch/okta_replace`: Okta's pathless `replace` of a whole profile (name, emails,
//!   `active`).
//! - `patch/group_add_member`: a group PATCH `add members` of one member (returned as a
//!   membership change, not applied to the document).
//!
//!   Each PATCH case parses the request, applies it to a copy of a stored user's document
//!   and runs `finish` (the checks every write ends with).
//! - `render/user`: a stored user with its enterprise extension and three groups, rendered
//!   to its SCIM JSON text (`to_representation`, the empty projection, serialisation): the
//!   body of `GET /Users/{id}`.
//! - `render/user_excluded`: the same with `excludedAttributes=groups,emails`.
//! - `render/group/N`: a group with N members rendered to text.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use scimgate_scim::patch;
use scimgate_scim::projection::Projection;
use scimgate_scim::resource;
use scimgate_scim::schema::ResourceKind;
use scimgate_scim::stored::{GroupRef, Member, StoredResource, to_representation};

const BASE: &str = "https://scim.example.com/gateway/ng/api/scim/account/acme";

fn user_doc() -> Map<String, Value> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ana.lima@example.com",
        "externalId": "9f1c3f0a-2b7e-4c1e-9b1d-7c8e2f0a1b2c",
        "name": {"givenName": "Ana", "familyName": "Lima", "formatted": "Ana Lima"},
        "displayName": "Ana Lima",
        "title": "Engineer",
        "active": true,
        "emails": [{"value": "ana.lima@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "1042", "department": "R&D", "manager": {"value": "m-17"}
        }
    });
    resource::normalize(ResourceKind::User, &body).expect("a valid user")
}

fn stored(doc: Map<String, Value>) -> StoredResource {
    let t = OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("time");
    StoredResource {
        id: "2b0f6d2e-3c41-4f7e-9a55-0c1d2e3f4a5b".into(),
        doc,
        created: t,
        last_modified: t,
        version: 7,
        members: None,
        groups: None,
    }
}

fn patch_cases(c: &mut Criterion) {
    let doc = user_doc();
    let cases = [
        (
            "entra_deactivate",
            ResourceKind::User,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        ),
        (
            "entra_attributes",
            ResourceKind::User,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "value": {
                       "displayName": "Ana M. Lima", "name.givenName": "Ana M.", "title": "Staff Engineer",
                       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m-18"}}]}),
        ),
        (
            "okta_replace",
            ResourceKind::User,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "value": {
                       "name": {"givenName": "Ana", "familyName": "Lima-Souza"},
                       "emails": [{"value": "ana.souza@example.com", "type": "work", "primary": true}],
                       "active": true}}]}),
        ),
        (
            "group_add_member",
            ResourceKind::Group,
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "add", "path": "members", "value": [{"value": "u-1"}]}]}),
        ),
    ];
    let group_doc = resource::normalize(ResourceKind::Group, &json!({"displayName": "Engineering"}))
        .expect("a valid group");
    for (name, kind, body) in cases {
        let base = if kind == ResourceKind::Group { group_doc.clone() } else { doc.clone() };
        c.bench_function(&format!("patch/{name}"), |b| {
            b.iter_batched(
                || base.clone(),
                |mut d| {
                    let ops = patch::parse_request(black_box(&body)).expect("valid");
                    let changes = patch::apply(kind, &mut d, &ops).expect("applies");
                    (resource::finish(kind, d).expect("valid"), changes)
                },
                BatchSize::SmallInput,
            )
        });
    }
}

fn render_text(kind: ResourceKind, r: &StoredResource, p: &Projection) -> String {
    let mut m = to_representation(kind, r, BASE);
    p.apply(kind, &mut m);
    Value::Object(m).to_string()
}

fn render_cases(c: &mut Criterion) {
    let mut user = stored(user_doc());
    user.groups = Some(
        (0..3).map(|i| GroupRef { value: format!("g-{i}"), display: Some(format!("Group {i}")) }).collect(),
    );
    let none = Projection::default();
    c.bench_function("render/user", |b| b.iter(|| render_text(ResourceKind::User, black_box(&user), &none)));
    let excluded =
        Projection::parse(ResourceKind::User, None, Some("groups,emails")).expect("valid projection");
    c.bench_function("render/user_excluded", |b| {
        b.iter(|| render_text(ResourceKind::User, black_box(&user), &excluded))
    });
    let group_doc = resource::normalize(ResourceKind::Group, &json!({"displayName": "Engineering"}))
        .expect("a valid group");
    for n in [10usize, 1_000] {
        let mut g = stored(group_doc.clone());
        g.members = Some(
            (0..n)
                .map(|i| Member {
                    value: format!("0000{i:08}-3c41-4f7e-9a55-0c1d2e3f4a5b"),
                    member_type: ResourceKind::User,
                    display: Some(format!("user{i}@example.com")),
                })
                .collect(),
        );
        c.bench_function(&format!("render/group/{n}"), |b| {
            b.iter(|| render_text(ResourceKind::Group, black_box(&g), &none))
        });
    }
}

criterion_group!(benches, patch_cases, render_cases);
criterion_main!(benches);
