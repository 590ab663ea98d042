//! The fake ssh: what the econtext binary does when a tool runs it as its ssh program (the
//! gateway's variables are in its environment). It connects back, sends its arguments, then
//! copies stdin up and stdout, stderr and the exit status down.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};

use super::serve::SSH_FAILED;
use super::wire::Frame;

/// The abstract socket name of the way back.
pub const ENV_SOCKET: &str = "ECONTEXT_FAKESSH";
/// The token that proves the fake ssh was started by the gateway's tool.
pub const ENV_TOKEN: &str = "ECONTEXT_FAKESSH_TOKEN";

/// Environment entries a fake ssh offers; the gateway forwards those the command's `SendEnv`
/// options name (git's `-o SendEnv=GIT_PROTOCOL`).
pub fn offered(name: &str) -> bool {
    name == "GIT_PROTOCOL" || name == "LANG" || name.starts_with("LC_")
}

/// Our stdin, stdout or stderr as a file of its own (the same open file: its flags, such as
/// the O_NONBLOCK rsync sets on the pipes it gives its ssh, are shared).
fn stdio(fd: std::os::fd::BorrowedFd<'_>) -> Option<File> {
    fd.try_clone_to_owned().ok().map(File::from)
}

/// Wait until `f` is ready for `events` (it is non-blocking and was not).
fn wait(f: &File, events: i16) -> io::Result<()> {
    let mut p = [crate::sys::poll::PollFd::new(f.as_fd(), events)];
    crate::sys::poll::poll(&mut p, -1).map(|_| ())
}

/// Write all of `b`, waiting while a non-blocking `f` is full.
fn write_waiting(f: &mut File, mut b: &[u8]) -> io::Result<()> {
    while !b.is_empty() {
        match f.write(b) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(f, crate::sys::poll::OUT)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Read some bytes, waiting while a non-blocking `f` is empty.
fn read_waiting(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(f, crate::sys::poll::IN)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Run as the fake ssh with `args` (ssh's arguments, without its name); returns the status to
/// exit with, ssh's 255 when the way back fails.
pub fn client_main(args: Vec<String>) -> i32 {
    let fail = |why: String| {
        let _ = writeln!(std::io::stderr(), "econtext fakessh: {why}");
        SSH_FAILED
    };
    let Ok(name) = std::env::var(ENV_SOCKET) else {
        return fail(format!("{ENV_SOCKET} is not set"));
    };
    let token = std::env::var(ENV_TOKEN).unwrap_or_default();
    let sock =
        SocketAddr::from_abstract_name(name.as_bytes()).and_then(|a| UnixStream::connect_addr(&a));
    let mut sock = match sock {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "cannot reach the econtext process that started this tool (socket @{name}): {e}"
            ))
        }
    };
    let env = std::env::vars().filter(|(k, _)| offered(k));
    let hello = Frame::Hello {
        token,
        argv: args,
        env: env.map(|(k, v)| format!("{k}={v}")).collect(),
    };
    // A refusal may already wait to be read when the hello cannot be written.
    let refused = hello.write(&mut sock).is_err();
    if let (false, Ok(mut up)) = (refused, sock.try_clone()) {
        let _ = std::thread::Builder::new()
            .name("econtext-fakessh-stdin".into())
            .spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let Some(mut input) = stdio(std::io::stdin().as_fd()) else {
                    let _ = Frame::StdinEof.write(&mut up);
                    return;
                };
                loop {
                    match read_waiting(&mut input, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if super::wire::write_data(&mut up, b'i', &buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = Frame::StdinEof.write(&mut up);
            });
    }
    let mut rd = std::io::BufReader::with_capacity(256 * 1024, sock);
    let (Some(mut out), Some(mut err)) = (
        stdio(std::io::stdout().as_fd()),
        stdio(std::io::stderr().as_fd()),
    ) else {
        return fail("stdout or stderr is closed".into());
    };
    loop {
        match Frame::read(&mut rd) {
            Ok(Some(Frame::Stdout(b))) => {
                if write_waiting(&mut out, &b).is_err() {
                    return SSH_FAILED;
                }
            }
            Ok(Some(Frame::Stderr(b))) => {
                let _ = write_waiting(&mut err, &b);
            }
            Ok(Some(Frame::Exit(c))) => return c,
            Ok(Some(_)) => {}
            Ok(None) => return fail("the econtext process went away".into()),
            Err(e) => return fail(format!("the way back failed: {e}")),
        }
    }
}
