#!/usr/bin/env bash
# Prints the hydrated bundle's size, raw and brotli (run after a release
# build). With `--split`, also what each page loads on top of the shared
# module (its chunks from __wasm_split_manifest.json) and the total.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for f in target/site/pkg/control.wasm target/site/pkg/control.js target/site/pkg/control.css; do
  [ -f "$f" ] || die "$f missing: run cargo leptos build --release --split first"
  printf '%-32s raw %8d B   brotli %8d B\n' "$f" "$(stat -c %s "$f")" "$(brotli -c -q 11 "$f" | wc -c)"
done
manifest=target/site/pkg/__wasm_split_manifest.json
[ -f "$manifest" ] || exit 0
python3 - "$manifest" <<'PY'
import json, subprocess, sys, os
pkg = os.path.dirname(sys.argv[1])
def br(name):
    with open(os.path.join(pkg, name), "rb") as f:
        return len(subprocess.run(["brotli", "-c", "-q", "11"], input=f.read(), capture_output=True).stdout)
shared = br("control.wasm") + br("control.js")
for split, chunks in sorted(json.load(open(sys.argv[1])).items()):
    page = split.strip("_").split("_route_view")[0]
    extra = sum(br(c + ".wasm") for c in chunks)
    print(f"page {page:<16} chunks {extra:>7} B brotli   first load (wasm+js) {shared + extra:>7} B")
PY
