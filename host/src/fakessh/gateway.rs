//! The way back on the host: an abstract unix socket only our user may use, each connection
//! a fake ssh invocation served on the target context.

use std::io::Read;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::client::{ENV_SOCKET, ENV_TOKEN};
use super::serve::{refuse, serve};
use super::wire::Frame;
use crate::{Context, Error};

/// How long a connecting fake ssh has to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening way back to one target context. Give a tool [`Gateway::env`] and the econtext
/// binary as its ssh program; every ssh it starts runs its command on the target. Dropping
/// the gateway stops accepting (invocations already running finish).
pub struct Gateway {
    name: String,
    token: String,
    stop: Arc<AtomicBool>,
}

/// `n` random bytes as hex, from the kernel's generator.
fn random_hex(n: usize) -> Result<String, Error> {
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::io("cannot read /dev/urandom for a fakessh token", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Gateway {
    /// Listen for fake ssh invocations to run on `to`.
    pub fn start(to: &Context) -> Result<Gateway, Error> {
        let name = format!("econtext-fakessh-{}-{}", std::process::id(), random_hex(8)?);
        let token = random_hex(32)?;
        let addr = SocketAddr::from_abstract_name(name.as_bytes())
            .map_err(|e| Error::io(format!("fakessh socket name {name}"), e))?;
        let l = UnixListener::bind_addr(&addr)
            .map_err(|e| Error::io(format!("cannot listen on fakessh socket @{name}"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (to, tok, st) = (to.clone(), token.clone(), stop.clone());
        std::thread::Builder::new()
            .name("econtext-fakessh".into())
            .spawn(move || {
                for c in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(c) = c else { continue };
                    let (to, tok) = (to.clone(), tok.clone());
                    let _ = std::thread::Builder::new()
                        .name("econtext-fakessh-conn".into())
                        .spawn(move || connection(&to, &tok, c));
                }
            })
            .map_err(|e| Error::io("cannot start the fakessh thread", e))?;
        Ok(Gateway { name, token, stop })
    }

    /// The environment a tool's fake ssh needs: the socket name and the token.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (ENV_SOCKET.into(), self.name.clone()),
            (ENV_TOKEN.into(), self.token.clone()),
        ]
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        if let Ok(a) = SocketAddr::from_abstract_name(self.name.as_bytes()) {
            let _ = UnixStream::connect_addr(&a);
        }
    }
}

/// One fake ssh: check who it is, read its hello, serve its command.
fn connection(to: &Context, token: &str, mut c: UnixStream) {
    match crate::sys::peer::peer_uid(&c) {
        Ok(uid) if uid == crate::sys::peer::my_uid() => {}
        Ok(uid) => {
            let why = format!(
                "refused uid {uid}: this way back belongs to uid {}",
                crate::sys::peer::my_uid()
            );
            return refuse(&mut c, &why);
        }
        Err(_) => return,
    }
    let _ = c.set_read_timeout(Some(HELLO_TIMEOUT));
    let (argv, env) = match Frame::read(&mut c) {
        Ok(Some(Frame::Hello {
            token: t,
            argv,
            env,
        })) if same(t.as_bytes(), token.as_bytes()) => (argv, env),
        Ok(Some(Frame::Hello { .. })) => return refuse(&mut c, "wrong token"),
        _ => return refuse(&mut c, "no hello from the fake ssh"),
    };
    let _ = c.set_read_timeout(None);
    let cmd = match super::argv::parse(&argv) {
        Ok(cmd) => cmd,
        Err(e) => return refuse(&mut c, &e),
    };
    let Ok(rd) = c.try_clone() else { return };
    serve(to, &cmd, &env, rd, c);
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"ab"));
        assert_eq!(super::random_hex(32).unwrap().len(), 64);
    }
}
