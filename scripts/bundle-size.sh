#!/usr/bin/env bash
# Prints the hydrated bundle's size, raw and brotli (run after a release build).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for f in target/site/pkg/control.wasm target/site/pkg/control.js target/site/pkg/control.css; do
  [ -f "$f" ] || die "$f missing: run cargo leptos build --release first"
  printf '%-32s raw %8d B   brotli %8d B\n' "$f" "$(stat -c %s "$f")" "$(brotli -c -q 11 "$f" | wc -c)"
done
