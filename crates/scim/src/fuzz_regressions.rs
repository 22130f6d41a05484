//! Replays the fuzz regressions (docs/fuzzing.md): every file in
//! `fuzz/regressions/<target>/` through the body of that fuzz target. The bodies are the fuzz
//! crate's own `fuzz/src/scim.rs`, included here, so a test and its target run the same code.

mod bodies {
    use crate as scimgate_scim;
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/src/scim.rs"));
}

mod replay {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/src/replay.rs"));
}

fn replay(target: &str, body: fn(&[u8])) {
    let regressions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    replay::replay(&regressions, target, body);
}

#[test]
fn filter() {
    replay("filter", bodies::filter);
}

#[test]
fn patch_path() {
    replay("patch_path", bodies::patch_path);
}

#[test]
fn patch_apply() {
    replay("patch_apply", bodies::patch_apply);
}

#[test]
fn attributes() {
    replay("attributes", bodies::attributes);
}

#[test]
fn resource() {
    replay("resource", bodies::resource);
}
