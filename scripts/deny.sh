#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml; docs/operations.md "Supply chain"):
# licenses, bans and sources, offline; then advisories when a copy of the RustSec advisory
# database is at hand: ADVISORY_DB=<a git clone of https://github.com/rustsec/advisory-db>.
# CI cannot reach github.com here, so it runs the first three and says advisories were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
cargo deny --offline check licenses bans sources
if [ -n "${ADVISORY_DB:-}" ]; then
  # cargo-deny keeps the database of its default URL in this folder of deny.toml's db-path;
  # a local clone there is used as is (--offline: no fetch).
  dir="target/advisory-db/advisory-db-3157b0e258782691"
  rm -rf "$dir"
  mkdir -p target/advisory-db
  git clone -q "$ADVISORY_DB" "$dir"
  echo "advisories: RustSec database as of $(git -C "$dir" log -1 --format=%cs)"
  cargo deny --offline check advisories
else
  echo "advisories: skipped (no ADVISORY_DB; github.com, where the RustSec database lives, is not reachable)"
fi
