//! fakessh on a remote context: `econtext_fakessh.serve` (Python) runs the tool on FROM with
//! an executable memfd as its ssh program and hands each invocation's arguments up; the host
//! serves each one on TO, its frames relayed through `econtext_fakessh.attach`.

use super::argv;
use super::serve::{refuse, serve};
use crate::{Context, Error, Receiver, Value};

/// Serve the invocations announced on `reqs` (from FROM's `econtext_fakessh.serve`) on `to`,
/// each on a thread of its own, until `reqs` ends with the tool.
pub(crate) fn relay(from: Context, to: Context, reqs: Receiver) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("econtext-fakessh-relay".into())
        .spawn(move || {
            for item in &reqs {
                let Ok(Value::List(req)) = item else { break };
                let (from, to) = (from.clone(), to.clone());
                let _ = std::thread::Builder::new()
                    .name("econtext-fakessh-conn".into())
                    .spawn(move || one(&from, &to, req));
            }
        })
        .map_err(|e| Error::io("cannot start the fakessh relay", e))?;
    Ok(())
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::List(l)) => l
            .iter()
            .filter_map(|w| match w {
                Value::Str(s) => Some(s.clone()),
                Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// One invocation: `req` is `[connection, argv, env]`.
fn one(from: &Context, to: &Context, req: Vec<Value>) {
    let Some(conn) = req.first().cloned() else {
        return;
    };
    let (args, env) = (strings(req.get(1)), strings(req.get(2)));
    let Ok(up) = from.receiver() else { return };
    let Ok((tx, call)) = from.stream_to("econtext_fakessh.attach", vec![conn, up.sender()]) else {
        return;
    };
    let mut w = tx.into_writer();
    match argv::parse(&args) {
        Ok(cmd) => {
            serve(to, &cmd, &env, up.into_reader(), w);
        }
        Err(e) => {
            refuse(&mut w, &e);
            drop(w);
        }
    }
    let _ = call.wait();
}
