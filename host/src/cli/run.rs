//! `econtext run TARGET -- CMD [ARG...]`: a program on the target with this terminal's stdin,
//! stdout and stderr streamed both ways, exiting with its status like ssh; with `--ssh-to TO`
//! every ssh the program starts reaches TO (fakessh).

use std::io::{Read, Write};
use std::time::Duration;

use super::CallCmd;
use crate::{Context, Error, Value};

/// Run `c` (a `run` command) on `ctx`; returns the exit status.
pub fn run(ctx: &Context, ssh_to: Option<&Context>, c: CallCmd) -> i32 {
    crate::sys::signal::catch_interrupt();
    let b = ctx.process(c.argv.clone());
    let started = match ssh_to {
        Some(to) => b.ssh_to(to),
        None => b.spawn(),
    };
    let mut p = match started {
        Ok(p) => p,
        Err(e) => return fail(ctx, &c, e),
    };
    let (stdin, stdout, stderr) = (p.stdin.take(), p.stdout.take(), p.stderr.take());
    // Our stdin to the program, until EOF (not joined: a terminal may never send one).
    if let Some(mut w) = stdin {
        let _ = std::thread::Builder::new()
            .name("econtext-stdin".into())
            .spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut input = std::io::stdin().lock();
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if w.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
    }
    let out = stdout.map(|rx| {
        std::thread::spawn(move || {
            let mut o = std::io::stdout().lock();
            for item in &rx {
                match item {
                    Ok(Value::Bytes(b)) => {
                        if o.write_all(&b).and_then(|_| o.flush()).is_err() {
                            // Our stdout closed: drop the stream (the program sees EPIPE).
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        })
    });
    let mut interrupts = 0;
    if let Some(rx) = stderr {
        let mut e = std::io::stderr().lock();
        loop {
            if crate::sys::signal::take_interrupt() {
                interrupts += 1;
                let _ = p.kill(if interrupts == 1 { SIGINT } else { SIGKILL });
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(Value::Bytes(b))) => {
                    let _ = e.write_all(&b).and_then(|_| e.flush());
                }
                Ok(_) => {}
                Err(Error::ChannelClosed { .. }) => break,
                Err(err) => return fail(ctx, &c, err),
            }
        }
    }
    if let Some(t) = out {
        let _ = t.join();
    }
    match p.wait() {
        Ok(st) => {
            let _ = ctx.shutdown();
            st.shell_code()
        }
        Err(e) => fail(ctx, &c, e),
    }
}

/// Signal numbers (Linux) sent to the remote program on the first and later Ctrl-C.
const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;

fn fail(ctx: &Context, c: &CallCmd, e: Error) -> i32 {
    let code = match &e {
        // The program could not be started: as a shell reports it.
        Error::Remote(r)
            if r.type_name.contains("FileNotFoundError") || r.message.contains("No such file") =>
        {
            say!("econtext: {}: {}: command not found", ctx.name(), c.argv[0]);
            let _ = ctx.shutdown();
            return 127;
        }
        Error::Remote(r)
            if r.type_name.contains("PermissionError")
                || r.message.contains("Permission denied") =>
        {
            say!("econtext: {}: {}: permission denied", ctx.name(), c.argv[0]);
            let _ = ctx.shutdown();
            return 126;
        }
        Error::Remote(_) => 1,
        _ => 255,
    };
    say!("econtext: {e}");
    if code == 255 {
        ctx.kill();
    } else {
        let _ = ctx.shutdown();
    }
    code
}
