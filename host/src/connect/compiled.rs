//! Stage 2 compiled once per local interpreter: compiling the 12.6 KB stub costs a local
//! context ~4.6 ms of its ~16 ms of CPU (python 3.11 here), so a router that starts many
//! contexts on one interpreter asks that interpreter once, in a short process of its own, for
//! the marshalled code object, and sends that instead of the source.
//!
//! Only for interpreters this host runs itself as its own user (a `local` first hop without a
//! wrapper): the bytes come from the same binary the contexts run, in a process the router
//! started, never from a context; a marshal stream is only valid for the interpreter build
//! that wrote it, so the key is the binary's path, inode, size and mtime.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What identifies one interpreter build.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    path: std::path::PathBuf,
    ino: u64,
    size: u64,
    mtime: i64,
}

impl Key {
    /// The key of the interpreter at `python` (a path, or a name looked up on `PATH`).
    pub fn of(python: &str) -> Option<Key> {
        let path = if python.contains('/') {
            std::path::PathBuf::from(python)
        } else {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(python))
                .find(|c| c.is_file())?
        };
        let path = std::fs::canonicalize(path).ok()?;
        let m = std::fs::metadata(&path).ok()?;
        Some(Key {
            path,
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
        })
    }
}

/// Compiled stage 2 per interpreter (`None`: it could not be compiled; send the source).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<Key, Option<Arc<Vec<u8>>>>>);

/// The compiler: the source on stdin, `marshal.dumps(compile(...))` on stdout. The file name
/// is `<string>`, as `exec(source)` in stage 1 would give it, so tracebacks are unchanged.
const COMPILE: &str = "import os,sys,marshal\n\
d=marshal.dumps(compile(sys.stdin.read(),'<string>','exec'))\n\
while d:d=d[os.write(1,d):]";

/// How long the compiler may take before the source is sent instead.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(10);

impl Cache {
    /// Stage 2 for the interpreter at `python` as a deflated marshal stream, compiling it the
    /// first time (on the caller's thread). `None`: send the source.
    pub fn get(&self, python: &str, source: &str) -> Option<Arc<Vec<u8>>> {
        let key = Key::of(python)?;
        if let Some(v) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return v.clone();
        }
        let v = compile(&key.path, source).map(Arc::new);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, v.clone());
        v
    }
}

/// Run the interpreter once to compile `source`; the deflated marshal stream.
fn compile(python: &std::path::Path, source: &str) -> Option<Vec<u8>> {
    let mut child = Command::new(python)
        .args(["-S", "-c", COMPILE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::Builder::new()
        .name("econtext-compile".into())
        .spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).map(|_| out)
        })
        .ok();
    let wrote = child
        .stdin
        .take()
        .is_some_and(|mut i| i.write_all(source.as_bytes()).is_ok());
    let end = Instant::now() + COMPILE_TIMEOUT;
    let ok = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.success(),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let out = reader?.join().ok()?.ok()?;
    (wrote && ok && !out.is_empty()).then(|| miniz_oxide::deflate::compress_to_vec_zlib(&out, 6))
}

#[cfg(test)]
mod tests {
    #[test]
    fn compiled_once_per_interpreter_and_not_at_all_for_a_missing_one() {
        let Some(py) = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            eprintln!("SKIP: no python3 in /usr/bin or /usr/local/bin");
            return;
        };
        let cache = super::Cache::default();
        let a = cache.get(py, "x = 1\n").expect("compiled");
        let b = cache.get(py, "x = 2\n").expect("cached");
        assert!(std::sync::Arc::ptr_eq(&a, &b), "compiled once");
        assert_eq!(&a[..1], &[0x78], "a zlib stream");
        assert!(cache.get("/nonexistent/python3", "x = 1\n").is_none());
        let bad = super::Cache::default();
        assert!(
            bad.get(py, "def (:\n").is_none(),
            "a syntax error sends the source"
        );
    }
}
