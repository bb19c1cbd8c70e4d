//! Embeds the git sha in the binary (`control --version`, `control_build_info`).
//! `CONTROL_GIT_SHA` overrides it for builds outside a git checkout.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CONTROL_GIT_SHA");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    let sha = std::env::var("CONTROL_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
        });
    println!(
        "cargo:rustc-env=CONTROL_GIT_SHA={}",
        sha.unwrap_or_else(|| "unknown".into())
    );
}
