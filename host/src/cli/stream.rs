//! `econtext stream`: print a stream of items as they arrive, until it ends, the user presses
//! Ctrl-C, or stdout closes (then the channel is closed and the context shut down).

use std::io::Write;
use std::time::Duration;

use super::CallCmd;
use crate::{json, Context, Error, Receiver, Value};

/// Run `c` (a `stream` command) on `ctx`; returns the exit status.
pub fn run(ctx: &Context, c: CallCmd) -> i32 {
    crate::sys::signal::catch_interrupt();
    let at = c
        .args
        .iter()
        .position(|a| matches!(a, Value::Str(s) if s == "@channel"));
    let (rx, call) = match at {
        Some(i) => {
            let rx = match ctx.receiver() {
                Ok(rx) => rx,
                Err(e) => return fail(ctx, &e),
            };
            let mut args = c.args.clone();
            args[i] = rx.sender();
            let mut b = match ctx.build(&c.function) {
                Ok(b) => b.args(args),
                Err(e) => {
                    say!("econtext: {e}");
                    return 2;
                }
            };
            for (k, v) in c.kwargs.clone() {
                b = b.kwarg(k, v);
            }
            match b.spawn() {
                Ok(h) => (rx, Some(h)),
                Err(e) => return fail(ctx, &e),
            }
        }
        None => match ctx.stream(&c.function, c.args.clone()) {
            Ok(rx) => (rx, None),
            Err(e @ Error::Usage(_)) => {
                say!("econtext: {e}");
                return 2;
            }
            Err(e) => return fail(ctx, &e),
        },
    };
    let deadline = c.timeout.map(|t| std::time::Instant::now() + t);
    let status = pump(&rx, &c, deadline);
    let status = match status {
        Done::End => match call.map(|h| h.wait()) {
            None | Some(Ok(_)) => 0,
            Some(Err(e)) => return fail(ctx, &e),
        },
        Done::Failed(e) => return fail(ctx, &e),
        Done::Stopped(code) => {
            // Close the channel first and let the producer see it, then end the context.
            let _ = rx.close(GRACE);
            if let Some(h) = call {
                let _ = h.wait_for(GRACE);
            }
            code
        }
    };
    let _ = ctx.shutdown();
    status
}

/// How long a producer gets to notice a closed channel before its context is shut down.
const GRACE: Duration = Duration::from_secs(3);

enum Done {
    End,
    Failed(Error),
    Stopped(i32),
}

fn pump(rx: &Receiver, c: &CallCmd, deadline: Option<std::time::Instant>) -> Done {
    let mut out = std::io::stdout().lock();
    loop {
        if crate::sys::signal::interrupted() {
            return Done::Stopped(130);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            say!("econtext: the stream did not end within --timeout; closing it");
            return Done::Stopped(4);
        }
        let v = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(Error::ChannelClosed { .. }) => return Done::End,
            // Ctrl-C reached a program of the chain too (a terminal signals the whole group).
            Err(Error::Disconnected { .. }) if crate::sys::signal::interrupted() => {
                return Done::Stopped(130)
            }
            Err(e) => return Done::Failed(e),
        };
        let r = match (&v, c.raw, c.json) {
            (Value::Bytes(b), true, _) => out.write_all(b),
            (_, _, true) => writeln!(out, "{}", json::to_json(&v)),
            (Value::Str(s), _, _) => line(&mut out, s),
            (Value::Bytes(b), _, _) if std::str::from_utf8(b).is_ok() => {
                line(&mut out, &String::from_utf8_lossy(b))
            }
            _ => writeln!(out, "{}", json::to_json(&v)),
        };
        if r.and_then(|_| out.flush()).is_err() {
            // stdout closed (`| head`): not an error of the stream.
            return Done::Stopped(0);
        }
    }
}

/// A text item as a line: its own newline, or one added.
fn line(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(s.as_bytes())?;
    if !s.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn fail(ctx: &Context, e: &Error) -> i32 {
    say!("econtext: {e}");
    match e {
        Error::Remote(_) => {
            let _ = ctx.shutdown();
            1
        }
        Error::Timeout { .. } | Error::Disconnected { .. } => {
            ctx.kill();
            4
        }
        _ => {
            let _ = ctx.shutdown();
            3
        }
    }
}
