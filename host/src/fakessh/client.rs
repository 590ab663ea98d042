//! The fake ssh: what the econtext binary does when a tool runs it as its ssh program (the
//! gateway's variables are in its environment). It connects back, sends its arguments, then
//! copies stdin up and stdout, stderr and the exit status down.

use std::io::{Read, Write};
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
    if let Err(e) = hello.write(&mut sock) {
        return fail(format!("the way back closed: {e}"));
    }
    if let Ok(mut up) = sock.try_clone() {
        let _ = std::thread::Builder::new()
            .name("econtext-fakessh-stdin".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut input = std::io::stdin().lock();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if Frame::Stdin(buf[..n].to_vec()).write(&mut up).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = Frame::StdinEof.write(&mut up);
            });
    }
    let mut rd = std::io::BufReader::with_capacity(256 * 1024, sock);
    loop {
        match Frame::read(&mut rd) {
            Ok(Some(Frame::Stdout(b))) => {
                let mut o = std::io::stdout().lock();
                if o.write_all(&b).and_then(|_| o.flush()).is_err() {
                    return SSH_FAILED;
                }
            }
            Ok(Some(Frame::Stderr(b))) => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&b).and_then(|_| e.flush());
            }
            Ok(Some(Frame::Exit(c))) => return c,
            Ok(Some(_)) => {}
            Ok(None) => return fail("the econtext process went away".into()),
            Err(e) => return fail(format!("the way back failed: {e}")),
        }
    }
}
