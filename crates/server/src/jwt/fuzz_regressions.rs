//! Replays the fuzz regressions of the JWT targets (docs/fuzzing.md): every file in
//! `fuzz/regressions/{jwt,jwks}/` through the body of that fuzz target. The bodies are the
//! fuzz crate's own `fuzz/src/jwt.rs`, included here, so a test and its target run the same
//! code.

mod bodies {
    use crate as scimgate;
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/src/jwt.rs"));
}

mod replay {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/src/replay.rs"));
}

fn replay(target: &str, body: fn(&[u8])) {
    let regressions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    replay::replay(&regressions, target, body);
}

#[test]
fn jwt() {
    replay("jwt", bodies::jwt);
}

#[test]
fn jwks() {
    replay("jwks", bodies::jwks);
}
