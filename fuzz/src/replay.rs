// The replay of the kept fuzz inputs, for the regression tests of the main workspace
// (crates/scim/src/fuzz_regressions.rs, crates/server/src/jwt/fuzz_regressions.rs), which
// include this file: see lib.rs.

use std::path::Path;

/// Runs `body` on every file of `<regressions>/<target>/` (the seeds, and each input the
/// fuzzer found a failure with, kept after the fix), naming the file it fails on.
pub fn replay(regressions: &Path, target: &str, body: fn(&[u8])) {
    let dir = regressions.join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()).unwrap_or_else(|e| panic!("{}: {e}", dir.display())))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regression inputs in {}", dir.display());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            panic!("fuzz target {target} fails on {}", file.display());
        }
    }
}
