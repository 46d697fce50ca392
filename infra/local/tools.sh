# shellcheck shell=bash
# Python tools the scripts need, each in a virtualenv of its own under the user's cache
# ($TOKENWARDEN_TOOLS_DIR, default ~/.cache/tokenwarden/tools), at a pinned version: never
# the system interpreter's site-packages. Sourced by infra/check-template, infra/local/stack,
# infra/local/run and infra/local/bench.sh.

TOOLS=${TOKENWARDEN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenwarden/tools}

# tool NAME VERSION [PIP-SPEC] -> prints the virtualenv's bin dir, installing it when missing
# (PIP-SPEC defaults to NAME==VERSION; e.g. 'moto[server]==5.2.1').
tool() {
  local name=$1 spec=${3:-$1==$2} venv="$TOOLS/$1-$2"
  if [[ -x $venv/bin/python && -f $venv/.installed ]]; then
    printf '%s' "$venv/bin"
    return
  fi
  command -v python3 >/dev/null || { printf 'python3 is needed (Debian: apt-get install python3 python3-venv)\n' >&2; return 1; }
  mkdir -p "$TOOLS"
  (
    flock 9 # two runs installing at once must not share a half-made virtualenv
    if [[ ! -f $venv/.installed ]]; then
      rm -rf "$venv"
      printf 'tools: installing %s into %s\n' "$spec" "$venv" >&2
      if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian/Ubuntu ship venv separately.
        if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
          apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
          rm -rf "$venv"
          python3 -m venv "$venv" >/dev/null
        else
          printf 'python3 -m venv failed; install python3-venv\n' >&2
          exit 1
        fi
      fi
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" >&2
      touch "$venv/.installed"
    fi
  ) 9>"$TOOLS/.$name.lock" || return 1
  printf '%s' "$venv/bin"
}

# cargo-lambda, the one both infra/local/run and infra/local/bench.sh use when the machine
# has none (its wheel brings zig along: the ziglang package).
CARGO_LAMBDA_PIN=1.9.2

# with_cargo_lambda -> exit 0 when `cargo lambda` works, installing the pinned cargo-lambda
# into its virtualenv and putting that on PATH when it is missing.
with_cargo_lambda() {
  cargo lambda --version >/dev/null 2>&1 && return
  local bin
  bin=$(tool cargo-lambda "$CARGO_LAMBDA_PIN") || return 1
  PATH=$bin:$PATH
  hash -r
  cargo lambda --version >/dev/null 2>&1
}
