#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml; docs/operations.md "Supply chain"):
# licenses, bans, sources and advisories, offline.
#
# Advisories are checked against the RustSec advisory database: ADVISORY_DB=<a git clone of
# https://github.com/rustsec/advisory-db> when given, otherwise the snapshot committed in
# supply-chain/rustsec-advisory-db.tar.gz (CI reaches crates.io but not github.com). The
# script prints the date of the copy it used.
#
#   scripts/deny.sh                                  the four checks
#   scripts/deny.sh --refresh-snapshot <clone>       rewrite the snapshot from a clone
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot="supply-chain/rustsec-advisory-db.tar.gz"

if [ "${1:-}" = "--refresh-snapshot" ]; then
  clone="${2:?usage: scripts/deny.sh --refresh-snapshot <advisory-db clone>}"
  git -C "$clone" archive --format=tar HEAD crates rust LICENSE.txt README.md | gzip -9n >"$snapshot"
  echo "$snapshot: commit $(git -C "$clone" rev-parse HEAD) of $(git -C "$clone" log -1 --format=%cs);"
  echo "update supply-chain/README.md with that commit and date, and commit both."
  exit 0
fi

if ! command -v cargo-deny >/dev/null; then
  echo "== installing cargo-deny"
  cargo install cargo-deny --version 0.20.2 --locked
fi
# --offline reads the crates from cargo's cache: have every crate of Cargo.lock there.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources

# cargo-deny keeps the database of its default URL in this folder of deny.toml's db-path and,
# with --offline, uses what is there as it is.
dir="target/advisory-db/advisory-db-3157b0e258782691"
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
if [ -n "${ADVISORY_DB:-}" ]; then
  git clone -q "$ADVISORY_DB" "$dir"
  echo "advisories: RustSec database from $ADVISORY_DB, as of $(git -C "$dir" log -1 --format=%cs)"
else
  # The snapshot as a one-commit repository (cargo-deny opens the database with git), dated
  # as the snapshot's commit.
  mkdir -p "$dir"
  tar -xzf "$snapshot" -C "$dir"
  date="$(sed -n 's/.*commit `[0-9a-f]*` of \([0-9-]*\)\..*/\1/p' supply-chain/README.md | head -1)"
  date="${date:-1970-01-01}"
  git -C "$dir" init -q
  git -C "$dir" add -A
  GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z" \
    git -C "$dir" -c user.name=scimgate -c user.email=ci@scimgate.invalid commit -q -m "RustSec advisory-db snapshot"
  echo "advisories: RustSec database snapshot ($snapshot) as of $date"
fi
cargo deny --offline check advisories
