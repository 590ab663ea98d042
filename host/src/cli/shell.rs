//! `econtext shell TARGET`: the account's login shell on a pty at the end of the chain, with
//! this terminal in raw mode (restored on every exit path), its size and size changes passed
//! on, ^C and ^Z going to the remote side, and the shell's exit status returned.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use super::CallCmd;
use crate::sys::{poll, signal, tty};
use crate::{Context, Value};

/// Run `c` (a `shell` command) on `ctx`; returns the exit status.
pub fn run(ctx: &Context, _c: CallCmd) -> i32 {
    let stdin = std::io::stdin();
    let (rows, cols) = tty::window_size(stdin.as_fd()).unwrap_or((24, 80));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    signal::catch_interrupt();
    signal::catch_winch();
    let mut p = match ctx.login_shell(rows, cols).env("TERM", term).spawn() {
        Ok(p) => p,
        Err(e) => {
            say!("econtext: {e}");
            return 255;
        }
    };
    let raw = if tty::is_terminal(stdin.as_fd()) {
        tty::RawMode::stdin().ok()
    } else {
        None
    };
    if let Some(mut w) = p.stdin.take() {
        let _ = std::thread::Builder::new()
            .name("econtext-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    if signal::take_winch() {
                        if let Some((r, c)) = tty::window_size(stdin.as_fd()) {
                            let _ = w.resize(r, c);
                        }
                    }
                    let mut fds = [poll::PollFd::new(stdin.as_fd(), poll::IN)];
                    if poll::poll(&mut fds, 100).unwrap_or(0) == 0 || !fds[0].readable() {
                        continue;
                    }
                    match stdin.lock().read(&mut buf) {
                        Ok(0) | Err(_) => {
                            // End of our input: ^D, as a terminal would send it.
                            let _ = w.write_all(b"\x04");
                            break;
                        }
                        Ok(n) => {
                            if w.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
    }
    let mut o = std::io::stdout().lock();
    if let Some(out) = p.stdout.take() {
        loop {
            if signal::interrupted() {
                // SIGTERM/SIGINT to us (not ^C: that is a byte in raw mode): end the shell.
                let _ = p.kill(1);
            }
            match out.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Some(Value::Bytes(b))) => {
                    if o.write_all(&b).and_then(|_| o.flush()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    let status = p.wait();
    drop(raw);
    match status {
        Ok(st) => {
            let _ = ctx.shutdown();
            st.shell_code()
        }
        Err(e) => {
            say!("econtext: {e}");
            ctx.kill();
            255
        }
    }
}
