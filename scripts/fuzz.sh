#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (docs/fuzzing.md): builds the cargo-fuzz targets in
# fuzz/ and runs each for a while over its working corpus (fuzz/corpus/<target>, kept between
# runs, not committed) and its committed seeds (fuzz/seeds/<target>).
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
#   seconds-per-target  default 30 (a smoke run); targets default to all seven. Naming only
#                       SCIM targets (not jwt, jwks) skips building the server crate.
# Prints, per target, the seconds, executions and the result; exits 1 when a target crashed,
# hung (one input over 10 s) or went over 2 GB, after running the others. The input that did it
# is in fuzz/artifacts/<target>/ (replay it: the binary printed below, with the file as its
# argument); once fixed, it goes to fuzz/regressions/<target>/.
#
# Only stable Rust is needed: cargo-fuzz passes nightly-only flags (-Z, sanitizer coverage), which
# RUSTC_BOOTSTRAP=1 lets stable rustc take. No sanitizer (-s none): the fuzzed crates forbid
# unsafe code, so AddressSanitizer would only slow every run down; a panic, an overflow (debug
# assertions are on) or a failed assertion of a target is what counts as a crash.
#
# Environment: FUZZ_TARGET_DIR  the build directory (default fuzz/target, never target/);
#              FUZZ_CARGO_LOCK  a file cargo builds hold with flock, when flock exists
#                               (default /tmp/cargo-build.lock; empty: no lock).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

all=(filter patch_path patch_apply attributes resource jwt jwks)
seconds="${1:-30}"
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
case "$seconds" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2; exit 2 ;; esac

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
lockfile="${FUZZ_CARGO_LOCK-/tmp/cargo-build.lock}"
cargo_locked() {
  if [ -n "$lockfile" ] && command -v flock >/dev/null; then
    flock "$lockfile" nice -n 10 cargo "$@"
  else
    nice -n 10 cargo "$@"
  fi
}

if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  cargo_locked install cargo-fuzz --version 0.13.2 --locked
fi

# Without jwt or jwks among the targets, the server crate is not built at all (the fuzz crate's
# `jwt` feature): about one minute instead of ten.
features=(--no-default-features)
for t in "${targets[@]}"; do
  case "$t" in jwt | jwks) features=() ;; esac
done
echo "== building the fuzz targets (cargo fuzz build -s none ${features[*]}, into $CARGO_TARGET_DIR)"
build_start=$(date +%s)
if [ ${#targets[@]} -eq 1 ]; then
  cargo_locked fuzz build -s none "${features[@]}" "${targets[0]}"
else
  cargo_locked fuzz build -s none "${features[@]}"
fi
echo "built in $(($(date +%s) - build_start)) s"

bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
failed=()
summary=()
for t in "${targets[@]}"; do
  case "$t" in
    filter | patch_path | attributes) max_len=4200 ;; # just past the 4096-byte limit
    jwt) max_len=8400 ;;                              # just past the 8 KiB token limit
    *) max_len=16384 ;;                               # JSON bodies
  esac
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/fuzz.log"
  echo "== fuzz $t: $seconds s"
  start=$(date +%s)
  rc=0
  # What `cargo fuzz run $t -s none` runs, without a cargo build on the way.
  nice -n 19 "$bin_dir/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result="ok"
  else
    result="FAILED (exit $rc): $(grep -E -m1 'panicked at|ERROR: libFuzzer' "$log" || echo 'see the log')"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    [ -n "$artifact" ] && result="$result; input: $artifact (replay: $bin_dir/$t $artifact)"
    tail -40 "$log"
    failed+=("$t")
  fi
  line=$(printf '%-12s %6s s  %12s executions  corpus %5s  %s' "$t" "$took" "${execs:-?}" "$corpus" "$result")
  echo "$line"
  summary+=("$line")
done

echo "== fuzz summary ($seconds s per target; logs in fuzz/artifacts/<target>/fuzz.log)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), no crash"
