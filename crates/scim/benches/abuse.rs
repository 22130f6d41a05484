//! The request shapes of the security review (items 2–4): how long the crate's part of a
//! hostile-but-well-formed request takes. Results: docs/bench/security-review-{before,after}.txt.
//!
//! `CARGO_TARGET_DIR=/work/target-scim cargo bench -p scimgate-scim --bench abuse`
//!
//! - `patch_add_emails/N`: one PATCH `add` of N e-mails to a User (parse, apply, finish).
//! - `patch_filtered_removes/N`: 500 `remove emails[value eq "…"]` operations on a User with N
//!   e-mails (each matches one element), and `patch_remove_all_matching/N`: one
//!   `remove emails[type eq "work"]` that matches all N. The document is built directly (as if
//!   read from the store), not through `normalize`.
//! - `patch_long_filter_removes/T_terms_x_N_ops`: N `remove emails[value eq "…" or …]`
//!   operations whose value filters have T comparisons and match nothing, on 1,000 e-mails:
//!   the largest such PATCHes a 1 MiB body holds, and the largest the PATCH limits allow.
//! - `bulk_chain/forward/N`: N POSTs, each referencing the `bulkId` of the POST after it, so
//!   only the last one can run first (one operation per pass of the schedule);
//!   `bulk_chain/backward/N`: each references the one before (one pass).
//! - `filter_emails_co/N`: `ListParams::parse` (the list entry point: parse and limits) of N
//!   `emails co "…"` terms joined by `or`.
//!
//! The slowest cases run with `sample_size(10)` and flat sampling so a run stays within a few
//! minutes even when a case takes seconds per iteration.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

use scimgate_scim::bulk::{BulkMethod, BulkOutcome, BulkRequest, BulkRun};
use scimgate_scim::list::ListParams;
use scimgate_scim::patch;
use scimgate_scim::resource::{finish, normalize};
use scimgate_scim::schema::ResourceKind;

fn slow(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
}

fn email(i: usize) -> Value {
    json!({"value": format!("user{i}@example.com"), "type": "work"})
}

fn user() -> Map<String, Value> {
    normalize(ResourceKind::User, &json!({"userName": "ana@example.com"})).expect("valid user")
}

/// A stored user document with `n` e-mails, as the store would hand it back.
fn user_with_emails(n: usize) -> Map<String, Value> {
    let mut d = user();
    d.insert("emails".into(), Value::Array((0..n).map(email).collect()));
    d
}

fn run_patch(doc: &Map<String, Value>, body: &Value) -> Result<Map<String, Value>, scimgate_scim::ScimError> {
    let ops = patch::parse_request(body)?;
    let mut d = doc.clone();
    patch::apply(ResourceKind::User, &mut d, &ops)?;
    finish(ResourceKind::User, d)
}

fn patch_add(c: &mut Criterion) {
    let doc = user();
    let body = |n: usize| {
        json!({"schemas": [scimgate_scim::PATCH_OP_URN],
               "Operations": [{"op": "add", "path": "emails", "value": (0..n).map(email).collect::<Vec<_>>()}]})
    };
    let mut g = c.benchmark_group("patch_add_emails");
    for n in [1_000, 2_000] {
        let b = body(n);
        g.bench_function(n.to_string(), |bench| bench.iter(|| black_box(run_patch(&doc, black_box(&b)))));
    }
    g.finish();
    let mut g = c.benchmark_group("patch_add_emails");
    slow(&mut g);
    let b = body(32_000);
    g.bench_function("32000", |bench| bench.iter(|| black_box(run_patch(&doc, black_box(&b)))));
    g.finish();
}

fn patch_removes(c: &mut Criterion) {
    let removes = json!({"schemas": [scimgate_scim::PATCH_OP_URN],
        "Operations": (0..500).map(|i| json!({"op": "remove", "path": format!("emails[value eq \"user{i}@example.com\"]")})).collect::<Vec<_>>()});
    let remove_all = json!({"schemas": [scimgate_scim::PATCH_OP_URN],
        "Operations": [{"op": "remove", "path": "emails[type eq \"work\"]"}]});
    for (name, body) in [("patch_filtered_removes", &removes), ("patch_remove_all_matching", &remove_all)] {
        let mut g = c.benchmark_group(name);
        let doc = user_with_emails(1_000);
        g.bench_function("1000", |bench| bench.iter(|| black_box(run_patch(&doc, black_box(body)))));
        g.finish();
        let mut g = c.benchmark_group(name);
        slow(&mut g);
        let doc = user_with_emails(32_000);
        g.bench_function("32000", |bench| bench.iter(|| black_box(run_patch(&doc, black_box(body)))));
        g.finish();
    }
}

/// A Bulk request of `n` group POSTs chained by `bulkId` references.
fn bulk_chain(n: usize, forward: bool) -> BulkRequest {
    let ops: Vec<Value> = (0..n)
        .map(|i| {
            let target = if forward { (i + 1 < n).then(|| i + 1) } else { i.checked_sub(1) };
            let mut data = json!({"displayName": format!("g{i}")});
            if let Some(t) = target {
                data["members"] = json!([{"value": format!("bulkId:b{t}"), "type": "Group"}]);
            }
            json!({"method": "POST", "bulkId": format!("b{i}"), "path": "/Groups", "data": data})
        })
        .collect();
    BulkRequest::parse(&json!({"Operations": ops}), 1000).expect("bulk request")
}

/// Runs a request the way the server does, without a database: every operation succeeds
/// and a POST creates `id-<bulkId>`.
fn run_bulk(request: BulkRequest) -> Value {
    let mut run = BulkRun::new(request);
    while let Some(op) = run.next_operation() {
        let outcome = op.target(run.resolved()).and_then(|t| {
            let data = op.data(run.resolved())?;
            black_box(&data);
            Ok(BulkOutcome {
                status: if op.method == BulkMethod::Post { 201 } else { 200 },
                location: Some(format!("/{}/{}", t.kind.endpoint(), t.id.unwrap_or_default())),
                version: Some(1),
                created_id: op.bulk_id.as_ref().map(|b| format!("id-{b}")),
            })
        });
        run.record(&op, outcome);
    }
    run.into_response()
}

fn bulk(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulk_chain");
    slow(&mut g);
    for (forward, n) in [(true, 200), (true, 400), (true, 1000), (false, 400), (false, 1000)] {
        let req = bulk_chain(n, forward);
        let name = format!("{}/{n}", if forward { "forward" } else { "backward" });
        g.bench_function(name, |bench| {
            bench.iter_batched(|| req.clone(), |r| black_box(run_bulk(r)), BatchSize::LargeInput)
        });
    }
    g.finish();
}

fn filter(c: &mut Criterion) {
    let mut g = c.benchmark_group("filter_emails_co");
    for n in [4, 50] {
        let text =
            (0..n).map(|i| format!("emails co \"user{i}@example.com\"")).collect::<Vec<_>>().join(" or ");
        let params = ListParams { filter: Some(text), ..ListParams::default() };
        g.bench_function(n.to_string(), |bench| bench.iter(|| black_box(black_box(&params).parse())));
    }
    g.finish();
}

/// PATCHes of filtered removes on a User with 1,000 e-mails, each value filter `value eq "…"
/// or …` of `terms` comparisons matching nothing: the largest that fit a 1 MiB body (1,000 x 20
/// and about 500 x 100), and the largest within `MAX_PATCH_FILTER_COMPARISONS` (50 x 20, 1,000 x 1).
fn patch_long_filters(c: &mut Criterion) {
    let doc = user_with_emails(1_000);
    let mut g = c.benchmark_group("patch_long_filter_removes");
    slow(&mut g);
    // `None`: as many operations as fit 1 MiB (at most 1,000).
    for (terms, ops) in [(20, None), (100, None), (20, Some(50)), (1, Some(1000))] {
        let filter = (0..terms).map(|i| format!("value eq \"x{i}@y\"")).collect::<Vec<_>>().join(" or ");
        let op = json!({"op": "remove", "path": format!("emails[{filter}]")});
        let fit = ((1 << 20) - 100) / (serde_json::to_vec(&op).expect("json").len() + 1);
        let ops = ops.unwrap_or(fit.min(1000));
        let body = json!({"schemas": [scimgate_scim::PATCH_OP_URN], "Operations": vec![op; ops]});
        assert!(serde_json::to_vec(&body).expect("json").len() <= 1 << 20);
        g.bench_function(format!("{terms}_terms_x_{ops}_ops"), |bench| {
            bench.iter(|| black_box(run_patch(&doc, black_box(&body))))
        });
    }
    g.finish();
}

criterion_group!(benches, patch_add, patch_removes, patch_long_filters, bulk, filter);
criterion_main!(benches);
