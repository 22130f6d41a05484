#!/usr/bin/env bash
# The admin console's browser tests (tests/e2e, docs/console.md): builds the debug scimgate,
# installs the pinned Node packages (playwright-core, axe-core) with `npm ci`, and runs
# `node --test` against headless Chromium from Debian's `chromium` package. Each test starts its
# own server on 127.0.0.1 with a fresh SQLite database. Screenshots and the axe report go to
# target/e2e/.
#
# Usage: scripts/e2e.sh [--update-docs]
#   --update-docs  also copy the screenshots of docs/console/ (login, overview, users,
#                  new service account, SCIM JWT settings with a passing Test a token) there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

update_docs=false
for arg in "$@"; do
  case "$arg" in
    --update-docs) update_docs=true ;;
    *) echo "usage: scripts/e2e.sh [--update-docs]" >&2; exit 2 ;;
  esac
done

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "e2e: $chromium not found. Install Debian's Chromium (as root, or with sudo):" >&2
  echo "  apt-get update && apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
command -v node >/dev/null || { echo "e2e: node (20 or later) is not installed" >&2; exit 1; }

echo "== e2e: cargo build --bin scimgate"
cargo build --bin scimgate

echo "== e2e: npm ci (tests/e2e)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

rm -rf target/e2e
echo "== e2e: node --test (tests/e2e, $("$chromium" --version 2>/dev/null | head -1))"
status=0
(cd tests/e2e && SCIMGATE_BIN="$root/target/debug/scimgate" CHROMIUM="$chromium" E2E_OUT="$root/target/e2e" \
  node --test --test-concurrency=1 --test-timeout=180000) || status=$?

if [ "$status" -eq 0 ] && $update_docs; then
  mkdir -p docs/console
  cp target/e2e/docs/*.png docs/console/
  ls -l docs/console/
fi
exit "$status"
