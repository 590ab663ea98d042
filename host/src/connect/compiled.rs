//! Stage 2 compiled once per local interpreter: compiling the 12.6 KB stub costs a local
//! context ~4.6 ms of its ~16 ms of CPU (python 3.11 here), so a router that starts many
//! contexts on one interpreter asks that interpreter once, in a short process of its own, for
//! the marshalled code object, and sends that (as it is: a local socket) instead of the source.
//!
//! Only for interpreters this host runs itself as its own user (a `local` first hop without a
//! wrapper): the bytes come from the same binary the contexts run, in a process the router
//! started, never from a context; a marshal stream is only valid for the interpreter build
//! that wrote it, so the key is the binary's path, inode, size and mtime.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What identifies one interpreter build.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Compiled stage 2 per interpreter (`None`: it could not be compiled; send the source). A
/// list: a router meets a handful of interpreters.
#[derive(Default)]
pub struct Cache(Mutex<Vec<(Key, Code)>>);

/// A marshal stream, or `None` when the interpreter could not compile stage 2.
type Code = Option<Arc<Vec<u8>>>;

/// The compiler: stage 2 as sent (a zlib stream) in base64 as `argv[1]`,
/// `marshal.dumps(compile(...))` on stdout. The file name is `<string>`, as `exec(source)` in
/// stage 1 would give it, so tracebacks are unchanged. (The binary keeps only the deflated
/// stub: the minified source would cost 12.6 KB of it.) Python 2.6 parses the modern stub but
/// lacks what it runs on (`memoryview`): before 2.7 nothing is compiled, and the broker sends
/// the 2.4-2.6 stub once stage 1 names the version.
const COMPILE: &str = "import os,sys,marshal,zlib,binascii\n\
if sys.version_info<(2,7):sys.exit(1)\n\
d=marshal.dumps(compile(zlib.decompress(binascii.a2b_base64(sys.argv[1])),'<string>','exec'))\n\
while d:d=d[os.write(1,d):]";

use crate::json::base64;

/// How long the compiler may take before the source is sent instead.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(10);

impl Cache {
    /// Stage 2 (`deflated`: as it is sent) for the interpreter at `python` as a marshal
    /// stream, compiling it the first time (on the caller's thread). `None`: send the source.
    pub fn get(&self, python: &str, deflated: &[u8]) -> Option<Arc<Vec<u8>>> {
        let key = Key::of(python)?;
        let known =
            |c: &Vec<(Key, Code)>| c.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        if let Some(v) = known(&self.0.lock().unwrap_or_else(|e| e.into_inner())) {
            return v;
        }
        let v = compile(&key.path, deflated).map(Arc::new);
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if known(&c).is_none() {
            c.push((key, v.clone()));
        }
        v
    }
}

/// Run the interpreter once to compile stage 2: the marshal stream (~44 KB on 3.11).
fn compile(python: &std::path::Path, deflated: &[u8]) -> Option<Vec<u8>> {
    let mut cmd = Command::new(python);
    cmd.args(["-S", "-c", COMPILE, &base64(deflated)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    crate::sys::process::restore_fd_limit(&mut cmd);
    let mut child = cmd.spawn().ok()?;
    let mut stdout = child.stdout.take()?;
    // Read while it runs (a stream larger than the pipe would block it), until it exits or
    // the timeout passes.
    crate::sys::process::set_nonblocking(&stdout).ok()?;
    let end = Instant::now() + COMPILE_TIMEOUT;
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let ok = loop {
        let mut read_any = false;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    read_any = true;
                }
                Err(_) => break,
            }
        }
        match child.try_wait() {
            Ok(Some(st)) => {
                while let Ok(n @ 1..) = stdout.read(&mut buf) {
                    out.extend_from_slice(&buf[..n]);
                }
                break st.success();
            }
            Ok(None) if Instant::now() < end => {
                if !read_any {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    (ok && !out.is_empty()).then_some(out)
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
        let z = |src: &str| miniz_oxide::deflate::compress_to_vec_zlib(src.as_bytes(), 6);
        let cache = super::Cache::default();
        let a = cache.get(py, &z("x = 1\n")).expect("compiled");
        let b = cache.get(py, &z("x = 2\n")).expect("cached");
        assert!(std::sync::Arc::ptr_eq(&a, &b), "compiled once");
        assert!(!a.is_empty(), "a marshal stream");
        assert!(cache.get("/nonexistent/python3", &z("x = 1\n")).is_none());
        let bad = super::Cache::default();
        assert!(
            bad.get(py, &z("def (:\n")).is_none(),
            "a syntax error sends the source"
        );
        let stub = super::Cache::default();
        assert!(
            stub.get(py, econtext_stub::STAGE2).is_some(),
            "the stub compiles"
        );
    }

    #[test]
    fn base64_as_python_reads_it() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }
}
