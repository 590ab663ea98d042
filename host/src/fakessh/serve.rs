//! One fake ssh invocation served: its command run on the target context as sshd would run
//! it, stdin, stdout and stderr carried as way-back frames, the exit status last.

use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::argv::SshCommand;
use super::wire::Frame;
use crate::{Context, Error, Value};

/// The status ssh exits with when it failed itself.
pub const SSH_FAILED: i32 = 255;

/// Does `name` match one of `SendEnv`'s space-separated patterns (`*` and `?` wildcards)?
fn sent(patterns: &str, name: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
            _ => false,
        }
    }
    patterns
        .split_whitespace()
        .any(|p| glob(p.as_bytes(), name.as_bytes()))
}

/// Write a frame to the shared writer; false once the fake ssh is gone.
fn put<W: Write>(w: &Mutex<W>, f: Frame) -> bool {
    let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
    f.write(&mut *w).is_ok()
}

/// Tell the fake ssh why nothing runs, and end it with ssh's failure status.
pub fn refuse(w: &mut impl Write, why: &str) {
    let _ = Frame::Stderr(format!("econtext fakessh: {why}\n").into_bytes()).write(w);
    let _ = Frame::Exit(SSH_FAILED).write(w);
}

/// Serve `cmd` on `to`: `rd` carries the fake ssh's frames after its hello, `wr` takes
/// ours. Returns the status sent. When the fake ssh goes away first (killed, Ctrl-C), the
/// command is killed.
pub fn serve<R, W>(to: &Context, cmd: &SshCommand, env: &[String], rd: R, wr: W) -> i32
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let wr = Arc::new(Mutex::new(wr));
    let mut b = if cmd.subsystem {
        to.subsystem(cmd.command.clone())
    } else if cmd.command.is_empty() {
        to.command_line("exec \"$SHELL\" -l")
    } else {
        to.command_line(cmd.command.clone())
    };
    let send_env: Vec<&str> = cmd
        .options
        .iter()
        .filter(|(k, _)| k == "sendenv")
        .map(|(_, v)| v.as_str())
        .collect();
    for kv in env {
        if let Some((k, v)) = kv.split_once('=') {
            if send_env.iter().any(|p| sent(p, k)) {
                b = b.env(k, v);
            }
        }
    }
    let mut p = match b.spawn() {
        Ok(p) => p,
        Err(e) => return failed(to, &wr, e),
    };
    let pid = p.pid(Duration::from_secs(60)).ok();
    let done = Arc::new(AtomicBool::new(false));
    // The fake ssh's stdin to the command; its going away kills the command.
    if let Some(mut stdin) = p.stdin.take() {
        let (to, done) = (to.clone(), done.clone());
        let _ = std::thread::Builder::new()
            .name("econtext-fakessh-in".into())
            .spawn(move || {
                let mut rd = BufReader::with_capacity(256 * 1024, rd);
                loop {
                    match Frame::read(&mut rd) {
                        Ok(Some(Frame::Stdin(b))) => {
                            if stdin.send_owned(b).is_err() {
                                break;
                            }
                        }
                        Ok(Some(Frame::StdinEof)) => break,
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => return gone(&to, pid, &done),
                    }
                }
                drop(stdin);
                // Wait for the fake ssh to end: before the command did, that is a kill.
                loop {
                    match Frame::read(&mut rd) {
                        Ok(Some(_)) => {}
                        Ok(None) | Err(_) => return gone(&to, pid, &done),
                    }
                }
            });
    }
    let out = p.stdout.take().map(|rx| {
        let wr = wr.clone();
        std::thread::spawn(move || {
            for item in &rx {
                if let Ok(Value::Bytes(b)) = item {
                    if !put(&wr, Frame::Stdout(b)) {
                        return;
                    }
                }
            }
        })
    });
    if let Some(rx) = p.stderr.take() {
        for item in &rx {
            if let Ok(Value::Bytes(b)) = item {
                if !put(&wr, Frame::Stderr(b)) {
                    break;
                }
            }
        }
    }
    if let Some(t) = out {
        let _ = t.join();
    }
    let status = match p.wait() {
        Ok(st) => st.shell_code(),
        Err(e) => return failed(to, &wr, e),
    };
    done.store(true, Ordering::SeqCst);
    put(&wr, Frame::Exit(status));
    status
}

/// The fake ssh went away while its command runs: end the command (as sshd's SIGHUP would).
fn gone(to: &Context, pid: Option<i64>, done: &AtomicBool) {
    if let Some(pid) = pid {
        if !done.load(Ordering::SeqCst) {
            let _ = to.call(
                "econtext_process.kill",
                vec![Value::Int(pid), Value::Int(SIGTERM)],
            );
        }
    }
}

const SIGTERM: i64 = 15;

fn failed<W: Write>(to: &Context, wr: &Mutex<W>, e: Error) -> i32 {
    let (why, code) = match &e {
        Error::Remote(r)
            if r.type_name.contains("FileNotFoundError") || r.message.contains("No such file") =>
        {
            (format!("{}: {}", to.name(), r.message), 127)
        }
        _ => (format!("{e}"), SSH_FAILED),
    };
    put(
        wr,
        Frame::Stderr(format!("econtext fakessh: {why}\n").into_bytes()),
    );
    put(wr, Frame::Exit(code));
    code
}

#[cfg(test)]
mod tests {
    #[test]
    fn send_env_patterns() {
        assert!(super::sent("GIT_PROTOCOL", "GIT_PROTOCOL"));
        assert!(super::sent("LANG LC_*", "LC_ALL"));
        assert!(!super::sent("LANG LC_*", "GIT_PROTOCOL"));
        assert!(super::sent("GIT_?ROTOCOL", "GIT_PROTOCOL"));
    }
}
