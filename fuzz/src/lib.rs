//! The bodies of the fuzz targets in `fuzz_targets/` (docs/fuzzing.md).
//!
//! `scim.rs` and `jwt.rs` are also compiled into the replay tests of the main workspace
//! (`crates/scim/src/fuzz_regressions.rs`, `crates/server/src/jwt/fuzz_regressions.rs`) with
//! `include!`, so a target and its regression test run the very same code; so is `replay.rs`,
//! the tests' replay of the kept inputs. Hence these files have no inner attributes or `//!`
//! comments, name the crates under test only as `scimgate_scim::` and `scimgate::`, and use no
//! other dependency than `serde_json` and `base64`.

#[cfg(feature = "jwt")]
pub mod jwt;
pub mod replay;
pub mod scim;
