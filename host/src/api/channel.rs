//! Channels: streams of values between this host and a context, with end-to-end flow control
//! (docs/wire-format.md, "Channels"). A [`Receiver`] takes what a remote function sends (or
//! the items of a remote generator); a [`Sender`] feeds a remote function's channel argument.
//! [`ByteReader`] and [`ByteWriter`] adapt them to `std::io`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext_core::body::Channel;
use econtext_core::window::CHANNEL_WINDOW;
use econtext_core::{Handle, Value};

use super::context::{CallHandle, Context};
use crate::broker::notify::Ready;
use crate::broker::registry::{channel_frame, Inbox, Outbox, Slot, Taken};
use crate::broker::{Cmd, Shared};
use crate::Error;

/// The receiving end of a channel on this host. Iterate it: it yields each item as it arrives,
/// ends on a clean close, yields the remote exception on an error close, and fails with
/// [`Error::Disconnected`] at once when the producer's context (or a hop in front of it) goes.
///
/// Credit goes back to the producer as items are *taken* here, so a slow consumer holds the
/// producer: at most [`CHANNEL_WINDOW`] bytes wait in this process per channel. Dropping the
/// receiver closes the channel: the remote `send` raises and `channel.open()` turns false
/// within one round trip.
///
/// ```no_run
/// # use econtext::{Router, Local, Value};
/// # let router = Router::new()?;
/// # let ctx = router.connect(&Local::new())?;
/// let rx = ctx.receiver()?;
/// let call = ctx.call_async("logs.tail_log_file", vec![rx.sender(), "/var/log/syslog".into()])?;
/// for line in &rx {
///     println!("{:?}", line?);
/// }
/// call.wait()?;
/// # Ok::<(), econtext::Error>(())
/// ```
pub struct Receiver {
    inbox: Arc<Inbox>,
    shared: Arc<Shared>,
    done: std::cell::Cell<bool>,
    /// The producing call, for [`Context::stream`].
    call: Option<CallHandle>,
}

impl Receiver {
    pub(crate) fn new(ctx: &Context) -> Receiver {
        let shared = ctx.shared().clone();
        let me = shared.handle();
        let inbox = Arc::new(Inbox::new(ctx.id(), ctx.name().to_string(), me));
        shared.submit(Cmd::Expect {
            handle: me,
            slot: Slot::Inbox(inbox.clone()),
        });
        if let Some(reason) = ctx.gone_reason() {
            inbox.end(Err(Error::Disconnected {
                context: ctx.name().to_string(),
                reason,
            }));
        }
        Receiver {
            inbox,
            shared,
            done: std::cell::Cell::new(false),
            call: None,
        }
    }

    /// Close the channel and wait at most `t` for the producing function to see it and return
    /// (for [`Context::stream`]; a receiver without a producing call just closes).
    pub fn close(mut self, t: Duration) -> Result<(), Error> {
        let call = self.call.take();
        drop(self);
        match call.map(|c| c.wait_for(t)) {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// The value to pass to a remote function so it can send here (a `Sender` there, with
    /// `send(value)`, `open()` and `close()`): `ctx.call_async("m.f", vec![rx.sender()])`.
    pub fn sender(&self) -> Value {
        Value::Sender(0, self.inbox.me)
    }

    /// This receiver's handle on the host.
    pub fn handle(&self) -> Handle {
        self.inbox.me
    }

    fn take_by(&self, deadline: Option<Instant>) -> Taken {
        let t = self.inbox.take(deadline);
        match &t {
            Taken::Item(_, Some(f)) => self.shared.submit(Cmd::Send(f.clone())),
            Taken::End(_) => self.done.set(true),
            _ => {}
        }
        t
    }

    /// The next item, waiting as long as it takes. `Err(ChannelClosed)` at a clean end.
    pub fn recv(&self) -> Result<Value, Error> {
        self.received(None)?.ok_or_else(|| self.closed())
    }

    /// The next item within `timeout`: `Ok(None)` when none came in time,
    /// `Err(ChannelClosed)` at a clean end.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Value>, Error> {
        self.received(Some(Instant::now() + timeout))
    }

    /// An item if one is there now: `Ok(None)` when none is, `Err(ChannelClosed)` at a clean
    /// end.
    pub fn try_recv(&self) -> Result<Option<Value>, Error> {
        self.received(Some(Instant::now()))
    }

    /// An item by `deadline` (`Ok(None)`: none came), or how the stream ended.
    fn received(&self, deadline: Option<Instant>) -> Result<Option<Value>, Error> {
        match self.take_by(deadline) {
            Taken::Item(v, _) => Ok(Some(v)),
            Taken::End(Ok(())) => Err(self.closed()),
            Taken::End(Err(e)) => Err(e),
            Taken::Empty => Ok(None),
        }
    }

    /// Items waiting now.
    pub fn queued(&self) -> usize {
        self.inbox.queued()
    }

    fn closed(&self) -> Error {
        Error::ChannelClosed {
            context: self.inbox.peer_name.clone(),
        }
    }

    pub(crate) fn watch(&self, ready: Arc<Ready>, token: usize) {
        self.inbox.watch_with(ready, token);
    }

    /// Bytes items as a `std::io::Read` (other items fail the read).
    pub fn into_reader(self) -> ByteReader {
        ByteReader {
            rx: self,
            buf: Vec::new(),
            off: 0,
        }
    }
}

impl Iterator for &Receiver {
    type Item = Result<Value, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done.get() {
            return None;
        }
        match self.take_by(None) {
            Taken::Item(v, _) => Some(Ok(v)),
            Taken::End(Ok(())) | Taken::Empty => None,
            Taken::End(Err(e)) => Some(Err(e)),
        }
    }
}

impl Iterator for Receiver {
    type Item = Result<Value, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        (&*self).next()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.submit(Cmd::Release(self.inbox.me));
        if !self.inbox.is_done() {
            if let Some(dst) = self.inbox.sender() {
                if let Some(f) = channel_frame(dst, self.inbox.me, &Channel::Close(None)) {
                    self.shared.submit(Cmd::Send(f));
                }
            }
            self.inbox.end(Ok(()));
        }
    }
}

/// A stream of `bytes` items read as one byte stream. Each item is handed out from the buffer
/// it arrived in: no copy beyond the frame.
pub struct ByteReader {
    rx: Receiver,
    buf: Vec<u8>,
    off: usize,
}

impl std::io::Read for ByteReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.off == self.buf.len() {
            match self.rx.recv() {
                Ok(Value::Bytes(b)) => {
                    self.buf = b;
                    self.off = 0;
                }
                Ok(other) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("a byte stream item is not bytes: {other:?}"),
                    ))
                }
                Err(Error::ChannelClosed { .. }) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        let n = out.len().min(self.buf.len() - self.off);
        out[..n].copy_from_slice(&self.buf[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

/// The sending end of a channel towards a function running on a context (see
/// [`Context::stream_to`]). `send` blocks while the receiver's window is full; it fails with
/// [`Error::ChannelClosed`] once the remote receiver is closed, and with
/// [`Error::Disconnected`] when its context goes. Dropping the sender ends the stream.
pub struct Sender {
    outbox: Arc<Outbox>,
    shared: Arc<Shared>,
    max_frame: u32,
}

impl Sender {
    pub(crate) fn new(ctx: &Context) -> Sender {
        let me = ctx.shared().handle();
        Sender::with(ctx, Outbox::new(ctx.id(), ctx.name().to_string(), me))
    }

    /// A sender to the receiver `handle` made on `ctx` (a `Value::Sender` that context
    /// handed out, as `econtext_files.put_from` does): it starts with the whole window, and
    /// tells the receiver where it is at once (so the receiver can cancel it before any item).
    pub(crate) fn to(ctx: &Context, handle: Handle) -> Sender {
        let me = ctx.shared().handle();
        let tx = Sender::with(
            ctx,
            Outbox::to(ctx.id(), ctx.name().to_string(), me, handle),
        );
        if let Some(f) = channel_frame((ctx.id(), handle), me, &Channel::Credit(0)) {
            tx.shared.submit(Cmd::Send(f));
        }
        tx
    }

    /// A sender around `outbox`, registered with the broker under its handle.
    fn with(ctx: &Context, outbox: Outbox) -> Sender {
        let shared = ctx.shared().clone();
        let outbox = Arc::new(outbox);
        shared.submit(Cmd::Expect {
            handle: outbox.me,
            slot: Slot::Outbox(outbox.clone()),
        });
        let max_frame = shared.max_frame;
        Sender {
            outbox,
            shared,
            max_frame,
        }
    }

    /// The control endpoint a remote receiver announces itself to.
    pub(crate) fn control(&self) -> Value {
        Value::Sender(0, self.outbox.me)
    }

    /// Send one item, waiting for credit as long as it takes.
    pub fn send(&self, v: Value) -> Result<(), Error> {
        self.send_by(v, None)
    }

    /// Send one item, waiting for credit at most `timeout` (then [`Error::Timeout`]).
    pub fn send_timeout(&self, v: Value, timeout: Duration) -> Result<(), Error> {
        self.send_by(v, Some(Instant::now() + timeout))
            .map_err(|e| match e {
                Error::Timeout { context, .. } => Error::Timeout {
                    context,
                    after: timeout,
                },
                e => e,
            })
    }

    fn send_by(&self, v: Value, deadline: Option<Instant>) -> Result<(), Error> {
        self.send_idling(v, deadline, &mut || {})
    }

    /// Send one item (encoded once), waiting for credit until `deadline` in slices of at
    /// most 100 ms, `idle` called between them (a caller's progress and Ctrl-C).
    pub(crate) fn send_idling(
        &self,
        v: Value,
        deadline: Option<Instant>,
        idle: &mut dyn FnMut(),
    ) -> Result<(), Error> {
        let msg = Channel::Data(v);
        let body = econtext_core::body::Body::encode(&msg)
            .map_err(|e| Error::Usage(format!("cannot encode the item: {e}")))?;
        if body.len() > self.max_frame as usize {
            return Err(Error::TooLarge {
                what: "the item".into(),
                size: body.len(),
                max: self.max_frame,
            });
        }
        let dst = loop {
            let slice = Instant::now() + Duration::from_millis(100);
            match self
                .outbox
                .reserve(body.len(), Some(deadline.map_or(slice, |d| d.min(slice))))
            {
                Ok(dst) => break dst,
                Err(Error::Timeout { .. }) if deadline.is_none_or(|d| Instant::now() < d) => idle(),
                Err(e) => return Err(e),
            }
        };
        let h = econtext_core::Header {
            dst: dst.0,
            handle: dst.1,
            reply_to: self.outbox.me,
            ..Default::default()
        };
        let f = econtext_core::Frame::new(h, body).map_err(|e| Error::Usage(e.to_string()))?;
        self.shared.submit(Cmd::Send(f));
        Ok(())
    }

    /// False once the receiver closed the channel or its context is gone.
    pub fn is_open(&self) -> bool {
        self.outbox.is_open()
    }

    /// End the stream (the remote `for x in channel` loop ends).
    pub fn close(&self) {
        if let Some(dst) = self.outbox.close() {
            if let Some(f) = channel_frame(dst, self.outbox.me, &Channel::Close(None)) {
                self.shared.submit(Cmd::Send(f));
            }
        }
    }

    /// `std::io::Write` over this sender: each write sends one `bytes` item (up to 1 MiB).
    pub fn into_writer(self) -> ByteWriter {
        ByteWriter { tx: self }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.close();
        self.shared.submit(Cmd::Release(self.outbox.me));
    }
}

/// A byte stream written as `bytes` items: one copy, into the frame.
pub struct ByteWriter {
    tx: Sender,
}

impl ByteWriter {
    /// For the stdin of a process on a pty: set the terminal's size (rows, columns).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        self.tx.send(Value::List(vec![
            Value::Int(rows as i64),
            Value::Int(cols as i64),
        ]))
    }
}

impl ByteWriter {
    /// Send `b` as it is, without the copy `write` makes; a buffer over a quarter of the
    /// channel window (1 MiB) is split.
    pub fn send_owned(&mut self, b: Vec<u8>) -> Result<(), Error> {
        let max = CHANNEL_WINDOW as usize / 4;
        if b.len() <= max {
            return self.tx.send(Value::Bytes(b));
        }
        for c in b.chunks(max) {
            self.tx.send(Value::Bytes(c.to_vec()))?;
        }
        Ok(())
    }
}

impl std::io::Write for ByteWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(CHANNEL_WINDOW as usize / 4);
        self.tx
            .send(Value::Bytes(b[..n].to_vec()))
            .map_err(std::io::Error::other)?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Context {
    /// A receiver whose producer runs on this context: pass [`Receiver::sender`] to a remote
    /// function (`Sender` there). It fails with `Disconnected` when this context goes.
    pub fn receiver(&self) -> Result<Receiver, Error> {
        Ok(Receiver::new(self))
    }

    /// Call `module.function(*args)`, which returns a generator or any iterator, and receive
    /// its items as they are produced (with flow control). The call runs on a thread of its
    /// own there: this context keeps answering other calls meanwhile.
    pub fn stream(&self, function: &str, args: Vec<Value>) -> Result<Receiver, Error> {
        let mut rx = self.receiver()?;
        let (m, f) = super::context::split_function(function)?;
        rx.call = Some(self.call_async(
            "econtext_channel.pump",
            vec![
                rx.sender(),
                m.into(),
                f.into(),
                Value::List(args),
                Value::List(vec![]),
            ],
        )?);
        Ok(rx)
    }

    /// Call `module.function(channel, *args)` on a thread of its own there, `channel` being a
    /// receiver (`for item in channel: ...`) fed by the returned [`Sender`]. Wait on the
    /// [`CallHandle`] for the function's result after closing (or dropping) the sender.
    pub fn stream_to(
        &self,
        function: &str,
        args: Vec<Value>,
    ) -> Result<(Sender, CallHandle), Error> {
        let tx = Sender::new(self);
        let (m, f) = super::context::split_function(function)?;
        let call = self.call_async(
            "econtext_channel.feed",
            vec![
                tx.control(),
                m.into(),
                f.into(),
                Value::List(args),
                Value::List(vec![]),
            ],
        )?;
        Ok((tx, call))
    }
}
