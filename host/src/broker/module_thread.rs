//! Module requests answered off the broker thread: reading and compressing sources is file
//! IO, and the broker blocks on nothing but poll(2). One thread per router takes requests in
//! order, remembers per stream which modules it already sent (none crosses a stream twice),
//! and hands the reply frame back to the broker to route.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use econtext_core::body::Body;
use econtext_core::router::StreamId;
use econtext_core::{ContextId, Frame, Handle, Header};

use super::{Cmd, Shared};

/// Work for the module thread.
pub(crate) enum Job {
    /// `fullname` was asked for by `src` over stream `sid`; answer to `reply_to`.
    Request {
        sid: StreamId,
        src: ContextId,
        reply_to: Handle,
        fullname: String,
    },
    /// Stream `sid` ended: forget what was sent over it.
    Forget(StreamId),
}

/// Start the module thread; it ends when the returned sender is dropped.
pub(crate) fn start(shared: Arc<Shared>) -> std::io::Result<(mpsc::Sender<Job>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel::<Job>();
    let t = std::thread::Builder::new()
        .name("econtext-modules".into())
        .spawn(move || {
            let mut sent: HashMap<StreamId, HashSet<String>> = HashMap::new();
            while let Ok(job) = rx.recv() {
                match job {
                    Job::Forget(sid) => {
                        sent.remove(&sid);
                    }
                    Job::Request {
                        sid,
                        src,
                        reply_to,
                        fullname,
                    } => {
                        let reply = shared
                            .modules
                            .reply(&fullname, sent.entry(sid).or_default());
                        let h = Header {
                            dst: src,
                            handle: reply_to,
                            ..Header::default()
                        };
                        if let Ok(f) = reply.encode().and_then(|b| Frame::new(h, b)) {
                            shared.submit(Cmd::Send(f));
                        }
                    }
                }
            }
        })?;
    Ok((tx, t))
}
