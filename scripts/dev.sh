#!/usr/bin/env bash
# Runs the control plane in dev mode on http://127.0.0.1:3000 with the
# embedded default (data under ./.control-data). Installs what is missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
scripts/tools.sh build
log "cargo leptos build --split"
cargo leptos build --split
log "control dev on http://127.0.0.1:3000"
exec "$CARGO_TARGET_DIR/debug/control" dev "$@"
