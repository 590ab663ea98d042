//! The broker's registry of dynamic handles: call replies, channel inboxes (host receivers)
//! and outboxes (the control handles of host senders). Only the broker thread touches the
//! map; API threads register and release handles through commands, and wait on what a slot
//! gives them (a latch, an inbox, an outbox), never on the map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use econtext_core::body::{Body, Channel};
use econtext_core::window::{Grants, Window, CHANNEL_WINDOW};
use econtext_core::{ContextId, Frame, Handle, Header, Value};

use super::notify::Watch;
use super::{CallResult, Latch};
use crate::Error;

/// What a dynamic handle is for.
pub(crate) enum Slot {
    /// A call's reply, accepted only from the context that was called.
    Reply {
        ctx: ContextId,
        latch: Arc<Latch<CallResult>>,
    },
    /// A host receiver: `Data` and `Close` from its sender.
    Inbox(Arc<Inbox>),
    /// A host sender's control handle: `Credit` and `Close` from its receiver.
    Outbox(Arc<Outbox>),
}

impl Slot {
    /// The context whose disappearance ends what waits here.
    pub fn peer(&self) -> ContextId {
        match self {
            Slot::Reply { ctx, .. } => *ctx,
            Slot::Inbox(i) => i.peer,
            Slot::Outbox(o) => o.peer,
        }
    }
}

/// Every live dynamic handle of this host.
#[derive(Default)]
pub(crate) struct Registry {
    slots: HashMap<Handle, Slot>,
}

impl Registry {
    pub fn insert(&mut self, h: Handle, s: Slot) {
        self.slots.insert(h, s);
    }

    pub fn remove(&mut self, h: Handle) -> Option<Slot> {
        self.slots.remove(&h)
    }

    pub fn get(&self, h: Handle) -> Option<&Slot> {
        self.slots.get(&h)
    }

    /// These contexts are gone: fail what waits on them, and forget it.
    pub fn gone(&mut self, ids: &[ContextId], name: impl Fn(ContextId) -> String, reason: &str) {
        self.slots.retain(|_, s| {
            let peer = s.peer();
            let hit = ids.contains(&peer) || matches!(s, Slot::Inbox(i) if i.sender_in(ids));
            if !hit {
                return true;
            }
            let e = Error::Disconnected {
                context: name(peer),
                reason: reason.to_string(),
            };
            match s {
                Slot::Reply { latch, .. } => latch.set(Err(e)),
                Slot::Inbox(i) => i.end(Err(e)),
                Slot::Outbox(o) => o.end(e),
            }
            false
        });
    }
}

/// A frame of a channel message from this host.
pub(crate) fn channel_frame(dst: (ContextId, Handle), me: Handle, msg: &Channel) -> Option<Frame> {
    let h = Header {
        dst: dst.0,
        handle: dst.1,
        reply_to: me,
        ..Header::default()
    };
    Frame::new(h, msg.encode().ok()?).ok()
}

/// What a receiver's consumer gets.
pub(crate) enum Taken {
    /// An item, and the credit frame to send for it, if one is due.
    Item(Value, Option<Frame>),
    /// The stream ended: cleanly, or with the producer's error or a disconnect.
    End(Result<(), Error>),
    /// Nothing before the deadline (or nothing now, for a poll).
    Empty,
}

struct InboxState {
    items: VecDeque<(Value, usize)>,
    end: Option<Result<(), Error>>,
    sender: Option<(ContextId, Handle)>,
    grants: Grants,
}

/// The queue behind a host receiver, filled by the broker and emptied by the consumer.
pub(crate) struct Inbox {
    /// The context whose disappearance ends the stream (where the producer lives).
    pub peer: ContextId,
    /// Its name, for errors.
    pub peer_name: String,
    /// This receiver's handle.
    pub me: Handle,
    state: Mutex<InboxState>,
    cv: Condvar,
    /// A completion queue to tell when an item or the end arrives.
    pub watch: Watch,
}

impl Inbox {
    pub fn new(peer: ContextId, peer_name: String, me: Handle) -> Inbox {
        Inbox {
            peer,
            peer_name,
            me,
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                end: None,
                sender: None,
                grants: Grants::new(CHANNEL_WINDOW),
            }),
            cv: Condvar::new(),
            watch: Watch::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sender_in(&self, ids: &[ContextId]) -> bool {
        self.lock().sender.is_some_and(|(c, _)| ids.contains(&c))
    }

    /// The sender's control endpoint, once known.
    pub fn sender(&self) -> Option<(ContextId, Handle)> {
        self.lock().sender
    }

    /// Broker: a `Data` item of `len` body bytes from `src`, whose control handle is `rt`.
    /// `Err` when the sender broke the rules (another source, or over its window): the
    /// stream then ends with a protocol error.
    pub fn data(&self, src: ContextId, rt: Handle, len: usize, v: Value) -> Result<(), Error> {
        let mut s = self.lock();
        if s.end.is_some() {
            return Ok(());
        }
        match s.sender {
            None => s.sender = Some((src, rt)),
            Some(known) if known != (src, rt) => {
                // Another context claims this stream: not ours, ignore it.
                return Ok(());
            }
            Some(_) => {}
        }
        if let Err(e) = s.grants.arrived(len) {
            let err = Error::Protocol {
                context: self.peer_name.clone(),
                reason: format!("channel {}: {e}", self.me),
            };
            s.end = Some(Err(err.clone()));
            drop(s);
            self.cv.notify_all();
            self.watch.fire();
            return Err(err);
        }
        s.items.push_back((v, len));
        drop(s);
        self.cv.notify_all();
        self.watch.fire();
        Ok(())
    }

    /// The stream ended (the first end wins).
    pub fn end(&self, r: Result<(), Error>) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(r);
            drop(s);
            self.cv.notify_all();
            self.watch.fire();
        }
    }

    /// Consumer: the next item, the end, or nothing by `deadline` (`Some(now)`: a poll).
    pub fn take(&self, deadline: Option<Instant>) -> Taken {
        let mut s = self.lock();
        loop {
            if let Some((v, len)) = s.items.pop_front() {
                let queued = s.items.len();
                let credit = s.grants.taken(len, queued);
                let frame = match (credit, s.sender) {
                    (Some(n), Some(dst)) => channel_frame(dst, self.me, &Channel::Credit(n)),
                    _ => None,
                };
                return Taken::Item(v, frame);
            }
            if let Some(e) = &s.end {
                return Taken::End(e.clone());
            }
            match super::latch::wait_once(&self.cv, s, deadline) {
                Ok(woken) => s = woken,
                Err(_) => return Taken::Empty,
            }
        }
    }

    /// Items waiting now.
    pub fn queued(&self) -> usize {
        self.lock().items.len()
    }

    /// Report to `ready` as `token` from now on, once for each item already waiting and once
    /// more when the stream already ended (a token may come once more than there are items).
    pub fn watch_with(&self, ready: std::sync::Arc<super::notify::Ready>, token: usize) {
        let s = self.lock();
        self.watch.set(ready.clone(), token);
        for _ in 0..s.items.len() {
            ready.push(token);
        }
        if s.end.is_some() {
            ready.push(token);
        }
    }

    /// Broker: the sender at (`src`, `rt`) announced itself before its first item (a
    /// `Credit(0)` the other way). `false` when this receiver is already closed: the broker
    /// then tells the sender.
    pub fn announce(&self, src: ContextId, rt: Handle) -> bool {
        let mut s = self.lock();
        if s.sender.is_none() {
            s.sender = Some((src, rt));
        }
        s.end.is_none()
    }

    /// True once the stream ended and everything was taken.
    pub fn is_done(&self) -> bool {
        let s = self.lock();
        s.items.is_empty() && s.end.is_some()
    }
}

struct OutState {
    window: Window,
    dst: Option<(ContextId, Handle)>,
    end: Option<Error>,
}

/// The state behind a host sender: its credit and where its receiver is.
pub(crate) struct Outbox {
    /// The context the receiver lives on.
    pub peer: ContextId,
    /// Its name, for errors.
    pub peer_name: String,
    /// This sender's control handle (credits and closes come here).
    pub me: Handle,
    state: Mutex<OutState>,
    cv: Condvar,
}

impl Outbox {
    /// A sender whose receiver will announce itself with its first `Credit`.
    pub fn new(peer: ContextId, peer_name: String, me: Handle) -> Outbox {
        Outbox {
            peer,
            peer_name,
            me,
            state: Mutex::new(OutState {
                window: Window::empty(CHANNEL_WINDOW),
                dst: None,
                end: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// A sender to a receiver made on its context (a Sender value handed here): it knows
    /// where to send and starts with the whole window, as a stub's does.
    pub fn to(peer: ContextId, peer_name: String, me: Handle, dst: Handle) -> Outbox {
        let o = Outbox::new(peer, peer_name, me);
        {
            let mut s = o.lock();
            s.window = Window::full(CHANNEL_WINDOW);
            s.dst = Some((peer, dst));
        }
        o
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Broker: `Credit(n)` from the receiver at (`src`, `rt`). `true` when this sender was
    /// closed before its receiver announced itself: the broker then sends that receiver the
    /// `Close` it never got, and forgets this handle.
    pub fn credit(&self, src: ContextId, rt: Handle, n: u32) -> bool {
        let mut s = self.lock();
        if s.end.is_some() {
            return s.dst.is_none();
        }
        match s.dst {
            None => s.dst = Some((src, rt)),
            Some(d) if d != (src, rt) => return false,
            Some(_) => {}
        }
        if let Err(e) = s.window.grant(n) {
            s.end = Some(Error::Protocol {
                context: self.peer_name.clone(),
                reason: format!("channel {}: {e}", self.me),
            });
        }
        drop(s);
        self.cv.notify_all();
        false
    }

    /// The receiver is gone or closed the channel (the first reason wins).
    pub fn end(&self, e: Error) {
        let mut s = self.lock();
        if s.end.is_none() {
            s.end = Some(e);
        }
        drop(s);
        self.cv.notify_all();
    }

    /// Wait for credit for an item of `len` body bytes; returns where to send it.
    pub fn reserve(
        &self,
        len: usize,
        deadline: Option<Instant>,
    ) -> Result<(ContextId, Handle), Error> {
        let mut s = self.lock();
        loop {
            if let Some(e) = &s.end {
                return Err(e.clone());
            }
            if let Some(dst) = s.dst {
                if s.window.take(len).is_ok() {
                    return Ok(dst);
                }
            }
            match super::latch::wait_once(&self.cv, s, deadline) {
                Ok(woken) => s = woken,
                Err(_) => {
                    return Err(Error::Timeout {
                        context: self.peer_name.clone(),
                        after: Default::default(),
                    })
                }
            }
        }
    }

    /// Close from this side: returns where to send the `Close`, if the receiver is known and
    /// the channel was open.
    pub fn close(&self) -> Option<(ContextId, Handle)> {
        let mut s = self.lock();
        if s.end.is_some() {
            return None;
        }
        s.end = Some(Error::ChannelClosed {
            context: self.peer_name.clone(),
        });
        let d = s.dst;
        drop(s);
        self.cv.notify_all();
        d
    }

    /// Open: the receiver has not closed the channel and its context is alive.
    pub fn is_open(&self) -> bool {
        self.lock().end.is_none()
    }
}
