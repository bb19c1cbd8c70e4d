#!/usr/bin/env bash
# Prints the hydrated bundle's size, raw and brotli (run after a release
# build). With `--split`, also what each page loads on top of the shared
# module (its chunks from __wasm_split_manifest.json) and the total.
# Names may be content-hashed (hash-files): control.<hash>.wasm.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
python3 - target/site/pkg <<'PY'
import glob, json, os, subprocess, sys
pkg = sys.argv[1]
def one(pattern):
    found = [f for f in glob.glob(os.path.join(pkg, pattern)) if not f.endswith((".br", ".gz"))]
    if len(found) != 1:
        sys.exit(f"error: {pattern} in {pkg}: {len(found)} files; run cargo leptos build --release --split first")
    return found[0]
def br(path):
    with open(path, "rb") as f:
        return len(subprocess.run(["brotli", "-c", "-q", "11"], input=f.read(), capture_output=True, check=True).stdout)
files = {ext: one(f"control*.{ext}") for ext in ("wasm", "js", "css")}
for ext, f in files.items():
    print(f"{os.path.relpath(f):<48} raw {os.path.getsize(f):>8} B   brotli {br(f):>8} B")
manifests = [f for f in glob.glob(os.path.join(pkg, "__wasm_split_manifest*.json")) if not f.endswith((".br", ".gz"))]
if not manifests:
    sys.exit(0)
shared = br(files["wasm"]) + br(files["js"])
for split, chunks in sorted(json.load(open(manifests[0])).items()):
    page = split.strip("_").split("_route_view")[0]
    extra = sum(br(os.path.join(pkg, c + ".wasm")) for c in chunks)
    print(f"page {page:<16} chunks {extra:>7} B brotli   first load (wasm+js) {shared + extra:>7} B")
PY
