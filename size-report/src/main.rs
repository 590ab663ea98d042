//! Prints every byte budget of econtext and exits non-zero when one is exceeded.
//!
//! Usage: `cargo run -p size-report [-- --static PATH] [--dynamic PATH]` (defaults:
//! `target/static/x86_64-unknown-linux-gnu/release/econtext` and `target/release/econtext`;
//! `./ci.sh size` builds both and passes their paths).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A representative process title (7-digit pid), so the stage-0 measure is stable.
const TITLE: &str = "econtext:user@host:4194304";

fn budgets(root: &Path) -> Vec<(String, u64, String)> {
    let text = std::fs::read_to_string(root.join("size-report/budgets.txt"))
        .expect("size-report/budgets.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next().unwrap_or_default().to_string();
            let limit = it
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad budget line: {l}"));
            (name, limit, it.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

/// Entries of the `[dependencies]` table of a manifest.
fn direct_deps(manifest: &Path) -> u64 {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    let mut inside = false;
    let mut n = 0;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == "[dependencies]";
        } else if inside && !t.is_empty() && !t.starts_with('#') && t.contains('=') {
            n += 1;
        }
    }
    n
}

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = std::env::args().skip(1);
    let mut binary = root.join("target/static/x86_64-unknown-linux-gnu/release/econtext");
    let mut dynamic = root.join("target/release/econtext");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--binary" | "--static" => {
                binary = args.next().map(PathBuf::from).expect("--static PATH")
            }
            "--dynamic" => dynamic = args.next().map(PathBuf::from).expect("--dynamic PATH"),
            other => panic!("unknown argument {other:?}: --static PATH, --dynamic PATH"),
        }
    }
    // Each stub that crosses the wire counts (the modern one and the 2.4-2.6 one); stage 1
    // reads the padded length, which is the longer of the two.
    let stage2 = econtext_stub::STAGE2_DEFLATED.max(econtext_stub::STAGE2_OLD_DEFLATED) as u64;
    let stage0 =
        econtext::connect::bootstrap::stage0_shell(None, TITLE, econtext_stub::STAGE2.len()).len()
            as u64;
    let host_bin = std::fs::metadata(&binary).map(|m| m.len()).ok();
    let dyn_bin = std::fs::metadata(&dynamic).map(|m| m.len()).ok();
    let measured = |name: &str| -> Option<u64> {
        match name {
            "stage0_command_bytes" => Some(stage0),
            "stub_deflated_bytes" => Some(stage2),
            "host_static_binary_bytes" => host_bin,
            "host_dynamic_binary_bytes" => dyn_bin,
            "core_direct_deps" => Some(direct_deps(&root.join("core/Cargo.toml"))),
            "host_direct_deps" => Some(direct_deps(&root.join("host/Cargo.toml"))),
            _ => None,
        }
    };
    println!(
        "{:<26} {:>10} {:>10}  status",
        "budget", "measured", "limit"
    );
    let mut failed = false;
    for (name, limit, reason) in budgets(&root) {
        let (shown, status) = match measured(&name) {
            Some(v) if v <= limit => (v.to_string(), "ok"),
            Some(v) => {
                failed = true;
                (v.to_string(), "OVER")
            }
            None => {
                failed = true;
                ("missing".into(), "NOT MEASURED")
            }
        };
        println!("{name:<26} {shown:>10} {limit:>10}  {status}  ({reason})");
    }
    println!();
    println!(
        "stub: raw {} B, minified {} B, deflated {} B; for python 2.4-2.6: minified {} B, deflated {} B",
        econtext_stub::STAGE2_RAW.len(),
        econtext_stub::STAGE2_MIN.len(),
        econtext_stub::STAGE2_DEFLATED,
        econtext_stub::STAGE2_OLD_MIN.len(),
        econtext_stub::STAGE2_OLD_DEFLATED,
    );
    if host_bin.is_none() {
        eprintln!(
            "size-report: {} not found: build the static binary first (./ci.sh size does)",
            binary.display()
        );
    }
    if dyn_bin.is_none() {
        eprintln!(
            "size-report: {} not found: run `cargo build --release -p econtext` first",
            dynamic.display()
        );
    }
    if failed {
        eprintln!(
            "size-report: a budget is exceeded or unmeasured (limits: size-report/budgets.txt)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
