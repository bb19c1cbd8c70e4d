#!/usr/bin/env bash
# Runs the control plane in dev mode on http://127.0.0.1:3000 with the
# embedded default (data under ./.control-data). Installs what is missing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
scripts/tools.sh build
# `control dev` (the simulated fleet and Gateway) needs the dev feature; a
# default build has none of it.
log "cargo leptos build --split --bin-features dev"
cargo leptos build --split --bin-features dev
log "control dev on http://127.0.0.1:3000"
exec "$CARGO_TARGET_DIR/debug/control" dev "$@"
