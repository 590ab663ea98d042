//! Routing decisions as a pure state machine: a frame and the stream it came from in, a
//! decision out. The authority and reverse-path rules of `docs/wire-format.md` section 6 live
//! here, once, for the host; the Python stub applies the same rules in its own router.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::body::{Body, DeadLetter, DeadReason};
use crate::decoder::Frame;
use crate::handle;
use crate::header::{ContextId, Header, FLAG_DEAD};

/// A stream (a connection to a child or to the parent), numbered by the IO layer.
pub type StreamId = u32;

/// Where a frame entered this router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Produced by this context itself.
    Local,
    /// Read from a stream.
    Stream(StreamId),
}

/// Why a frame was dropped without a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// A frame from a child whose `src` is not in that child's subtree: forged.
    ForgedSource,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hand it to the local handle.
    Deliver,
    /// Write it to this stream.
    Forward(StreamId),
    /// Refuse it: answer `reply_to` with a dead letter (see [`Router::dead_letter`]).
    Reject(DeadReason),
    /// Drop it silently (the sender is lying; answering would help it).
    Drop(DropCause),
}

/// One context's routing table.
#[derive(Debug, Clone)]
pub struct Router {
    me: ContextId,
    upstream: Option<StreamId>,
    ancestors: Vec<ContextId>,
    routes: BTreeMap<ContextId, StreamId>,
}

impl Router {
    /// The host's router: the root, no upstream.
    pub fn root() -> Router {
        Router {
            me: 0,
            upstream: None,
            ancestors: Vec::new(),
            routes: BTreeMap::new(),
        }
    }

    /// A context's router, with the stream to its parent and its ancestors (parent first).
    pub fn child(me: ContextId, upstream: StreamId, ancestors: Vec<ContextId>) -> Router {
        Router {
            me,
            upstream: Some(upstream),
            ancestors,
            routes: BTreeMap::new(),
        }
    }

    /// This context's id.
    pub fn me(&self) -> ContextId {
        self.me
    }

    /// A child directly connected on `stream`.
    pub fn add_child(&mut self, id: ContextId, stream: StreamId) {
        self.routes.insert(id, stream);
    }

    /// Where frames for `id` go, if it is in this context's subtree.
    pub fn route_of(&self, id: ContextId) -> Option<StreamId> {
        self.routes.get(&id).copied()
    }

    /// Apply a `ROUTE_ADD` read from `from`: accepted only for a new id whose announced parent
    /// lives behind that same stream. Returns whether it was accepted.
    pub fn accept_route_add(&mut self, from: StreamId, id: ContextId, parent: ContextId) -> bool {
        if id == self.me || self.routes.contains_key(&id) || self.ancestors.contains(&id) {
            return false;
        }
        if self.routes.get(&parent) != Some(&from) {
            return false;
        }
        self.routes.insert(id, from);
        true
    }

    /// Apply a `ROUTE_DEL` read from `from` (only for ids behind that stream).
    pub fn accept_route_del(&mut self, from: StreamId, id: ContextId) -> bool {
        if self.routes.get(&id) == Some(&from) {
            self.routes.remove(&id);
            return true;
        }
        false
    }

    /// Forget a stream; returns every context that was reachable only through it.
    pub fn remove_stream(&mut self, stream: StreamId) -> Vec<ContextId> {
        let gone: Vec<ContextId> = self
            .routes
            .iter()
            .filter(|(_, s)| **s == stream)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.routes.remove(id);
        }
        gone
    }

    /// Decide what to do with a frame that entered through `from`.
    pub fn decide(&self, h: &Header, from: Origin) -> Decision {
        let from_up = matches!(from, Origin::Stream(s) if Some(s) == self.upstream);
        if let Origin::Stream(s) = from {
            if !from_up && self.routes.get(&h.src) != Some(&s) {
                return Decision::Drop(DropCause::ForgedSource);
            }
        }
        if h.is_dead() {
            // Dead letters go to dynamic handles only and are never refused with another one.
            if h.handle < handle::FIRST_DYNAMIC {
                return Decision::Drop(DropCause::ForgedSource);
            }
        }
        if h.dst == self.me {
            if handle::is_parent_only(h.handle) && !(from_up && self.ancestors.contains(&h.src)) {
                return Decision::Reject(DeadReason::Refused);
            }
            if handle::is_upward(h.handle) && (from_up || from == Origin::Local) {
                return Decision::Reject(DeadReason::Refused);
            }
            return Decision::Deliver;
        }
        let next = match (self.routes.get(&h.dst), self.upstream) {
            (Some(s), _) => *s,
            (None, Some(up)) => up,
            (None, None) => return Decision::Reject(DeadReason::NoRoute),
        };
        if from == Origin::Stream(next) {
            return Decision::Reject(DeadReason::NoRoute);
        }
        let going_down = Some(next) != self.upstream;
        if handle::is_parent_only(h.handle) && !(going_down && (from_up || from == Origin::Local)) {
            return Decision::Reject(DeadReason::Refused);
        }
        if handle::is_upward(h.handle) && going_down {
            return Decision::Reject(DeadReason::Refused);
        }
        Decision::Forward(next)
    }

    /// The dead letter answering `h`, or `None` when no answer is wanted or `h` is one itself.
    pub fn dead_letter(&self, h: &Header, reason: DeadReason, detail: String) -> Option<Frame> {
        if h.reply_to == handle::NONE || h.is_dead() {
            return None;
        }
        let body = DeadLetter {
            reason: reason as u32,
            detail,
        }
        .encode()
        .ok()?;
        let header = Header {
            flags: FLAG_DEAD,
            dst: h.src,
            src: self.me,
            handle: h.reply_to,
            reply_to: 0,
            len: 0,
        };
        Frame::new(header, body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const UP: StreamId = 0;

    fn hdr(src: u32, dst: u32, handle: u32) -> Header {
        Header {
            src,
            dst,
            handle,
            reply_to: 1000,
            ..Header::default()
        }
    }

    /// Host(0) -> A(1) on stream 1 -> B(2) behind A; C(3) on stream 3.
    fn host() -> Router {
        let mut r = Router::root();
        r.add_child(1, 1);
        r.add_child(3, 3);
        assert!(r.accept_route_add(1, 2, 1));
        r
    }

    #[test]
    fn host_routes_down_and_refuses_children_authority() {
        let r = host();
        assert_eq!(
            r.decide(&hdr(0, 2, handle::CALL), Origin::Local),
            Decision::Forward(1)
        );
        assert_eq!(
            r.decide(&hdr(2, 0, handle::LOG), Origin::Stream(1)),
            Decision::Deliver
        );
        // A child forging a call to a sibling through the host is refused.
        assert_eq!(
            r.decide(&hdr(1, 3, handle::CALL), Origin::Stream(1)),
            Decision::Reject(DeadReason::Refused)
        );
        // A child claiming to be another context is dropped.
        assert_eq!(
            r.decide(&hdr(3, 0, handle::LOG), Origin::Stream(1)),
            Decision::Drop(DropCause::ForgedSource)
        );
        // Nothing may make the host run code.
        assert_eq!(
            r.decide(&hdr(1, 0, handle::CALL), Origin::Stream(1)),
            Decision::Reject(DeadReason::Refused)
        );
        assert_eq!(
            r.decide(&hdr(0, 9, 1000), Origin::Local),
            Decision::Reject(DeadReason::NoRoute)
        );
        // Replies between contexts are routed.
        assert_eq!(
            r.decide(&hdr(3, 2, 1001), Origin::Stream(3)),
            Decision::Forward(1)
        );
    }

    #[test]
    fn child_accepts_calls_only_from_ancestors_upstream() {
        let mut a = Router::child(1, UP, vec![0]);
        a.add_child(2, 5);
        assert_eq!(
            a.decide(&hdr(0, 1, handle::CALL), Origin::Stream(UP)),
            Decision::Deliver
        );
        assert_eq!(
            a.decide(&hdr(2, 1, handle::CALL), Origin::Stream(5)),
            Decision::Reject(DeadReason::Refused)
        );
        assert_eq!(
            a.decide(&hdr(0, 2, handle::CALL), Origin::Stream(UP)),
            Decision::Forward(5)
        );
        // Its child cannot make the parent (host) run code.
        assert_eq!(
            a.decide(&hdr(2, 0, handle::CALL), Origin::Stream(5)),
            Decision::Reject(DeadReason::Refused)
        );
        assert_eq!(
            a.decide(&hdr(2, 0, handle::LOG), Origin::Stream(5)),
            Decision::Forward(UP)
        );
        // Route announcements only for the announcing subtree.
        assert!(!a.accept_route_add(5, 7, 3));
        assert!(a.accept_route_add(5, 7, 2));
        assert_eq!(a.remove_stream(5), vec![2, 7]);
    }

    #[test]
    fn dead_letters_answer_reply_to_once() {
        let r = host();
        let h = hdr(2, 9, 1000);
        let f = r
            .dead_letter(&h, DeadReason::NoRoute, "no such context".into())
            .unwrap();
        assert!(f.header.is_dead());
        assert_eq!((f.header.dst, f.header.handle), (2, 1000));
        assert!(r
            .dead_letter(&f.header, DeadReason::NoRoute, String::new())
            .is_none());
        let d = DeadLetter::decode(&f.body).unwrap();
        assert_eq!(d.reason, DeadReason::NoRoute as u32);
    }
}
