#!/usr/bin/env bash
# The benchmarks: ./infra/local/bench.sh [harness options, e.g. --only sweep-read,api]
#
# 1. Builds every function (functions/*) and the bare lambda_runtime `hello` baseline in ONE
#    cargo invocation with the workspace release profile: `cargo lambda build --release`
#    (the artifacts a deploy uploads, for this host's architecture; cargo-lambda and its
#    zig are installed pinned into a virtualenv when missing, infra/local/tools.sh), else,
#    when that install fails, `cargo build --release`. Niced: the machine is shared.
# 2. Builds the harness (infra/local/bench, release) in a separate invocation (with
#    cargo lambda the functions are built for Lambda's layout, the harness is not). Features
#    are the workspace's either way (infra/workspace-hack).
# 3. Starts a private local stack in target/local-stack-bench-<pid> (down again on exit).
# 4. Runs every measurement, prints the table and writes it into infra/local/BENCHMARKS.md
#    (between the generated-block markers; the notes around them are kept).
# Harness options: target/x86_64-unknown-linux-gnu/release/bench --help (or target/release).
# Function logs of the start-up runs: target/bench-logs/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

say() { printf 'bench.sh: %s\n' "$*" >&2; }

# Every function package: the directory names under functions/ (each package is named so).
FUNCTIONS=()
for manifest in functions/*/Cargo.toml; do
  FUNCTIONS+=("$(basename "$(dirname "$manifest")")")
done
((${#FUNCTIONS[@]})) || { say "no functions under functions/"; exit 1; }
PACKAGES=()
for f in "${FUNCTIONS[@]}" tokenwarden-bench-hello; do PACKAGES+=(-p "$f"); done
FUNCTION_LIST=$(IFS=,; printf '%s' "${FUNCTIONS[*]}")

# Only the start-up measurement starts the function binaries.
NEED_BINARIES=1
if [[ " $* " == *" --only "* && " $* " != *startup* ]]; then NEED_BINARIES=0; fi

PROFILE=$(sed -n '/^\[profile\.release\]/,/^\[/{/^[a-z]/p}' Cargo.toml | tr '\n' ' ' | sed 's/ *$//')
BIN_ARGS=()
# shellcheck source=infra/local/tools.sh
source "$ROOT/infra/local/tools.sh"
if ((NEED_BINARIES == 0)); then
  say "no start-up measurement asked for: the function binaries are not built"
# The artifacts a deploy uploads: cargo-lambda (and the zig its wheel brings), installed
# pinned into a virtualenv when missing, as the run command does.
elif with_cargo_lambda &&
  { command -v zig >/dev/null || python3 -m ziglang version >/dev/null 2>&1; }; then
  ZIG=$(zig version 2>/dev/null || python3 -m ziglang version)
  say "building ${FUNCTION_LIST} and hello: cargo lambda build --release (zig $ZIG)"
  # A lambda dir of its own: target/lambda is where other builds (an arm64 one for SAM)
  # put their bootstraps.
  nice -n 10 cargo lambda build --release --lambda-dir target/bench-lambda "${PACKAGES[@]}"
  BIN_ARGS=(--bin-dir "$ROOT/target/bench-lambda" --bin-layout lambda)
  BUILD="cargo lambda build --release ($(cargo lambda --version | head -n1), zig $ZIG, target x86_64-unknown-linux-gnu, this host's architecture; the SAM template deploys arm64, not measured here), release profile: $PROFILE"
else
  say "cargo-lambda==$CARGO_LAMBDA_PIN did not install or finds no zig: plain cargo build --release for the host"
  nice -n 10 cargo build --release "${PACKAGES[@]}"
  BIN_ARGS=(--bin-dir "$ROOT/target/release" --bin-layout plain)
  BUILD="cargo build --release for the host (cargo-lambda==$CARGO_LAMBDA_PIN did not install or found no zig), release profile: $PROFILE"
fi

say "building the harness (release)"
nice -n 10 cargo build --release -p tokenwarden-bench --bin bench
HARNESS=$ROOT/target/release/bench

export TOKENWARDEN_STACK_DIR=$ROOT/target/local-stack-bench-$$
# shellcheck disable=SC2317 # run by the EXIT trap
finish() {
  local rc=$?
  "$ROOT/infra/local/stack" down >/dev/null 2>&1 || say "warning: stack down failed ($TOKENWARDEN_STACK_DIR)"
  if ((rc == 0)); then
    rm -rf "$TOKENWARDEN_STACK_DIR"
  else
    say "exit $rc; local stack logs kept in $TOKENWARDEN_STACK_DIR"
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/infra/local/stack" up >&2
# shellcheck disable=SC1091 # written by `stack up`
source "$TOKENWARDEN_STACK_DIR/env"

COMMAND="./infra/local/bench.sh${*:+ $*}"
"$HARNESS" \
  "${BIN_ARGS[@]}" \
  --functions "$FUNCTION_LIST" \
  --build "${BUILD:-not built}" \
  --command "$COMMAND" \
  --out "$ROOT/infra/local/BENCHMARKS.md" \
  "$@"
