//! Records the compiler and target this copy of the SDK is built with, for the
//! declaration a plugin library carries (see `src/dynamic.rs`).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown rustc".to_owned());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown target".to_owned());
    println!("cargo:rustc-env=LATCHKEY_RUSTC_VERSION={version}");
    println!("cargo:rustc-env=LATCHKEY_TARGET={target}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
