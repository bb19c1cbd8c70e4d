//! The build id both halves of one build share (`support::build_id`): the
//! server renders it into the page, the wasm compares it with its own.
//!
//! `cargo leptos build` compiles this crate twice (ssr, then hydrate), and
//! this script runs once for each, so a timestamp taken here would differ
//! between the halves. Instead the id is a hash of what decides whether
//! they fit together: this crate's and `model`'s sources, and the locked
//! dependency versions. `CONTROL_BUILD_ID` overrides it (a release script
//! may pass the git sha and a timestamp for both halves).

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=CONTROL_BUILD_ID");
    let id = match std::env::var("CONTROL_BUILD_ID") {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let inputs = [
                root.join("src"),
                root.join("Cargo.toml"),
                root.join("../model/src"),
                root.join("../model/Cargo.toml"),
                root.join("../Cargo.lock"),
            ];
            let mut all = Vec::new();
            for i in &inputs {
                println!("cargo:rerun-if-changed={}", i.display());
                if i.is_dir() {
                    files(i, &mut all);
                } else {
                    all.push(i.clone());
                }
            }
            all.sort();
            let mut h = DefaultHasher::new();
            for f in &all {
                f.strip_prefix(root).unwrap_or(f).hash(&mut h);
                fs::read(f).unwrap_or_default().hash(&mut h);
            }
            format!("{}-{:016x}", env!("CARGO_PKG_VERSION"), h.finish())
        }
    };
    println!("cargo:rustc-env=CONTROL_BUILD_ID={id}");
}
