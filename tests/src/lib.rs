//! Helpers for the integration tests: the interpreters of this machine and leak checks read
//! from /proc.
#![deny(missing_docs)]

use std::path::PathBuf;

/// Every Python interpreter this machine has: `$(pyenv root)/versions/*/bin/python` and
/// `/usr/bin/python3` when present. Real binaries, never pyenv shims.
pub fn interpreters() -> Vec<PathBuf> {
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".pyenv")
        });
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/python"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    for p in ["/usr/bin/python3"] {
        if std::path::Path::new(p).exists() {
            out.push(p.into());
        }
    }
    out
}

/// The fastest interpreter to use when the version does not matter.
pub fn python() -> String {
    if let Ok(p) = std::env::var("ECONTEXT_TEST_PYTHON") {
        return p;
    }
    let all = interpreters();
    all.iter()
        .find(|p| p.to_string_lossy().contains("3.11"))
        .or(all.last())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "python3".into())
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Pids of live processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        if !zombie && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Children of this process (zombies included).
pub fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            out.push(pid);
        }
    }
    out
}

/// Wait up to `ms` for `f` to become true.
pub fn eventually(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}
