//! A fleet of 10,000 contexts behind relays, routed by the core's `Router`s alone.
//!
//! The tree grows as the broker grows it: ids are allocated from 1 upwards; a context's parent
//! registers it on its own stream (`add_child`, stream id = the child's id, as the broker does)
//! and every ancestor above learns it from the `ROUTE_ADD` passed up hop by hop. Then a seeded
//! sample of frames, entering random contexts from every side with every kind of handle and
//! `src`/`dst` (unknown ids and forged sources included), is decided by the real routers and
//! compared with an oracle that knows only the tree (parents), not the tables, and applies
//! `docs/wire-format.md` section 6. On top, the authority invariant netsim checks holds for each
//! decision: a `CALL`/`SHUTDOWN`/`SPAWN`/`INIT` is delivered only from an ancestor, from
//! upstream, and never at the host. Finally relays lose their share (the relay's stream ends;
//! a relay's child exits and `ROUTE_DEL`s come up; a relay's whole subtree is deleted by
//! `ROUTE_DEL`), and every id is checked: exactly that share became unroutable, nothing else
//! moved.

mod common;
use common::Rng;

use std::collections::BTreeSet;

use econtext_core::body::{Body, DeadLetter, DeadReason};
use econtext_core::router::{Decision, DropCause, Origin, Router, StreamId};
use econtext_core::{handle, ContextId, Header};

/// Every context's stream to its parent.
const UP: StreamId = StreamId::MAX;
/// Contexts in the fleet (ids 1..=N; 0 is the host).
const N: u32 = 10_000;
/// Relays: ids 1..=RELAYS, direct children of the host.
const RELAYS: u32 = 20;
/// Frames decided per seed.
const SAMPLE: usize = 200_000;

/// Handles only ancestors may target (spelled out from the spec, not taken from the crate).
const PARENT_ONLY: [u32; 4] = [handle::CALL, handle::SHUTDOWN, handle::SPAWN, handle::INIT];
/// Handles travelling upwards.
const UPWARD: [u32; 4] = [
    handle::LOG,
    handle::GET_MODULE,
    handle::ROUTE_ADD,
    handle::ROUTE_DEL,
];

struct Fleet {
    /// `parent[id]`; `None` for the host.
    parent: Vec<Option<ContextId>>,
    children: Vec<Vec<ContextId>>,
    /// Every context's router; `routers[0]` is the host's.
    routers: Vec<Router>,
}

impl Fleet {
    /// Relays 1..=RELAYS under the host; then each new context under the host (1 in 25), a
    /// relay (most), or any context already behind a relay (so subtrees are several deep).
    fn grow(r: &mut Rng) -> Fleet {
        let mut f = Fleet {
            parent: vec![None],
            children: vec![Vec::new()],
            routers: vec![Router::root()],
        };
        let mut behind_relays: Vec<ContextId> = Vec::new();
        for id in 1..=N {
            let p = if id <= RELAYS || r.below(25) == 0 {
                0
            } else if r.below(4) != 0 {
                1 + r.below(RELAYS as u64) as ContextId
            } else {
                behind_relays[r.below(behind_relays.len() as u64) as usize]
            };
            f.come_up(id, p);
            if p != 0 || id <= RELAYS {
                behind_relays.push(id);
            }
        }
        f
    }

    /// Context `id` starts under `p`: `p` routes it on its stream, each ancestor above accepts
    /// the `ROUTE_ADD` arriving from the child on the path.
    fn come_up(&mut self, id: ContextId, p: ContextId) {
        assert_eq!(self.parent.len(), id as usize);
        self.parent.push(Some(p));
        self.children.push(Vec::new());
        self.children[p as usize].push(id);
        let ancestors = self.ancestors(id);
        self.routers.push(Router::child(id, UP, ancestors.clone()));
        self.routers[p as usize].add_child(id, id);
        for w in ancestors.windows(2) {
            let (below, a) = (w[0], w[1]);
            let router = &mut self.routers[a as usize];
            // A forged announcement first: on another stream, or a duplicate; both refused.
            let other = self.children[a as usize]
                .iter()
                .copied()
                .find(|c| *c != below);
            if let Some(o) = other {
                assert!(!router.accept_route_add(o, id, p), "{a} took {id} from {o}");
            }
            assert!(router.accept_route_add(below, id, p), "{a} refused {id}");
            assert!(
                !router.accept_route_add(below, id, p),
                "{a} took {id} twice"
            );
        }
    }

    fn known(&self, id: ContextId) -> bool {
        (id as usize) < self.parent.len()
    }

    /// Parent first, the host last.
    fn ancestors(&self, mut id: ContextId) -> Vec<ContextId> {
        let mut v = Vec::new();
        while let Some(Some(p)) = self.parent.get(id as usize) {
            v.push(*p);
            id = *p;
        }
        v
    }

    fn is_ancestor(&self, a: ContextId, mut of: ContextId) -> bool {
        while let Some(Some(p)) = self.parent.get(of as usize) {
            if *p == a {
                return true;
            }
            of = *p;
        }
        false
    }

    fn in_subtree(&self, id: ContextId, root: ContextId) -> bool {
        self.known(id) && (id == root || self.is_ancestor(root, id))
    }

    /// The child of `at` on the path down to its descendant `id`.
    fn child_towards(&self, at: ContextId, mut id: ContextId) -> ContextId {
        while self.parent[id as usize] != Some(at) {
            id = self.parent[id as usize].unwrap();
        }
        id
    }

    /// The whole subtree of `root`, sorted.
    fn subtree(&self, root: ContextId) -> Vec<ContextId> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            out.extend_from_slice(&self.children[out[i] as usize]);
            i += 1;
        }
        out.sort_unstable();
        out
    }

    /// What section 6 says context `at` must do with `h` entering from `from`, from the tree.
    fn oracle(&self, at: ContextId, h: &Header, from: Origin) -> Decision {
        let from_up = at != 0 && from == Origin::Stream(UP);
        if let Origin::Stream(s) = from {
            if !from_up && !self.in_subtree(h.src, s) {
                return Decision::Drop(DropCause::ForgedSource);
            }
        }
        if h.is_dead() && h.handle < handle::FIRST_DYNAMIC {
            return Decision::Drop(DropCause::ForgedSource);
        }
        let parent_only = PARENT_ONLY.contains(&h.handle);
        let upward = UPWARD.contains(&h.handle);
        if h.dst == at {
            if parent_only && !(from_up && self.is_ancestor(h.src, at)) {
                return Decision::Reject(DeadReason::Refused);
            }
            // Upward handles only from below.
            if upward && (from_up || from == Origin::Local) {
                return Decision::Reject(DeadReason::Refused);
            }
            return Decision::Deliver;
        }
        let down = self.is_ancestor(at, h.dst);
        let next = if down {
            self.child_towards(at, h.dst)
        } else if at != 0 {
            UP
        } else {
            return Decision::Reject(DeadReason::NoRoute);
        };
        if from == Origin::Stream(next) {
            return Decision::Reject(DeadReason::NoRoute);
        }
        if parent_only && !(down && (from_up || from == Origin::Local)) {
            return Decision::Reject(DeadReason::Refused);
        }
        if upward && down {
            return Decision::Reject(DeadReason::Refused);
        }
        Decision::Forward(next)
    }

    /// A random frame entering a random context: (at, header, origin).
    fn random_frame(&self, r: &mut Rng) -> (ContextId, Header, Origin) {
        // The host and the relays carry most traffic; any context may be asked.
        let at = match r.below(4) {
            0 | 1 => 0,
            2 => 1 + r.below(RELAYS as u64) as ContextId,
            _ => r.below(N as u64 + 1) as ContextId,
        };
        let kids = &self.children[at as usize];
        let any = |r: &mut Rng| -> ContextId {
            match r.below(20) {
                0 => N + 1 + r.below(100) as ContextId, // never allocated
                1 => u32::MAX - 1,
                _ => r.below(N as u64 + 1) as ContextId,
            }
        };
        let (from, src) = match r.below(3) {
            0 => (Origin::Local, at),
            1 if at != 0 => (Origin::Stream(UP), {
                // Usually an ancestor; sometimes anyone above or beside.
                let anc = self.ancestors(at);
                if r.below(2) == 0 {
                    anc[r.below(anc.len() as u64) as usize]
                } else {
                    any(r)
                }
            }),
            _ if !kids.is_empty() => {
                let c = kids[r.below(kids.len() as u64) as usize];
                let sub_src = if r.below(8) == 0 {
                    any(r) // forged, unless it happens to be in c's subtree
                } else {
                    // Someone in c's subtree: c itself or a descendant.
                    let mut s = c;
                    while !self.children[s as usize].is_empty() && r.below(2) == 0 {
                        let k = &self.children[s as usize];
                        s = k[r.below(k.len() as u64) as usize];
                    }
                    s
                };
                (Origin::Stream(c), sub_src)
            }
            _ => (Origin::Local, at),
        };
        let dst = match r.below(6) {
            0 => at,
            1 => 0,
            2 => N + 1 + r.below(1000) as ContextId, // unknown
            3 if !kids.is_empty() => {
                // Deep below `at`.
                let mut d = kids[r.below(kids.len() as u64) as usize];
                while !self.children[d as usize].is_empty() && r.below(2) == 0 {
                    let k = &self.children[d as usize];
                    d = k[r.below(k.len() as u64) as usize];
                }
                d
            }
            _ => r.below(N as u64 + 1) as ContextId,
        };
        let hd = match r.below(4) {
            0 => PARENT_ONLY[r.below(4) as usize],
            1 => UPWARD[r.below(4) as usize],
            _ => handle::FIRST_DYNAMIC + r.below(5) as u32,
        };
        let h = Header {
            flags: if r.below(16) == 0 { 1 } else { 0 },
            dst,
            src,
            handle: hd,
            reply_to: if r.below(4) == 0 {
                0
            } else {
                handle::FIRST_DYNAMIC + 7
            },
            len: 0,
        };
        (at, h, from)
    }
}

/// Counts of each kind of decision, so the sample is known to reach every rule.
#[derive(Default, Debug)]
struct Seen {
    deliver: usize,
    deliver_call: usize,
    forward_down: usize,
    forward_up: usize,
    no_route_unknown: usize,
    no_route_back: usize,
    refused: usize,
    forged: usize,
    dead_letters: usize,
}

fn check_sample(f: &Fleet, r: &mut Rng, seed: u64) -> Seen {
    let mut seen = Seen::default();
    for i in 0..SAMPLE {
        let (at, h, from) = f.random_frame(r);
        let router = &f.routers[at as usize];
        let got = router.decide(&h, from);
        let want = f.oracle(at, &h, from);
        assert_eq!(
            got, want,
            "seed {seed} frame {i}: at {at} from {from:?}: {h:?}"
        );
        // The authority invariant, independently of the oracle.
        if PARENT_ONLY.contains(&h.handle) {
            match got {
                Decision::Deliver => {
                    assert_ne!(at, 0, "the host ran {h:?}");
                    assert_eq!(from, Origin::Stream(UP), "{at} ran {h:?} not from upstream");
                    assert!(
                        f.is_ancestor(h.src, at),
                        "{at} ran {h:?} from a non-ancestor"
                    );
                    seen.deliver_call += 1;
                }
                Decision::Forward(s) => {
                    assert_ne!(s, UP, "{at} passed {h:?} upwards");
                    assert!(matches!(from, Origin::Local | Origin::Stream(UP)));
                }
                _ => {}
            }
        }
        match got {
            Decision::Deliver => seen.deliver += 1,
            Decision::Forward(UP) => seen.forward_up += 1,
            Decision::Forward(s) => {
                // Down: the stream is the child of `at` whose subtree holds dst.
                assert!(f.in_subtree(h.dst, s) && f.parent[s as usize] == Some(at));
                seen.forward_down += 1;
            }
            Decision::Reject(reason) => {
                match reason {
                    DeadReason::NoRoute if !f.known(h.dst) => seen.no_route_unknown += 1,
                    DeadReason::NoRoute => seen.no_route_back += 1,
                    _ => seen.refused += 1,
                }
                check_dead_letter(f, at, &h, reason, &mut seen);
            }
            Decision::Drop(_) => seen.forged += 1,
        }
    }
    seen
}

/// The dead letter answering a rejected frame goes back to its `src`, and is routed there.
fn check_dead_letter(f: &Fleet, at: ContextId, h: &Header, reason: DeadReason, seen: &mut Seen) {
    let router = &f.routers[at as usize];
    let dl = router.dead_letter(h, reason, "x".into());
    if h.reply_to == 0 || h.is_dead() {
        assert!(dl.is_none(), "dead letter answering {h:?}");
        return;
    }
    let dl = dl.expect("a dead letter");
    assert!(dl.header.is_dead());
    assert_eq!(
        (
            dl.header.dst,
            dl.header.src,
            dl.header.handle,
            dl.header.reply_to
        ),
        (h.src, at, h.reply_to, 0)
    );
    assert_eq!(
        DeadLetter::decode(&dl.body).unwrap().reason,
        reason as u32,
        "{h:?}"
    );
    let back = router.decide(&dl.header, Origin::Local);
    assert_eq!(back, f.oracle(at, &dl.header, Origin::Local));
    // A known sender below `at` gets it down the stream it came from; `at` itself keeps it.
    if h.src == at {
        assert_eq!(back, Decision::Deliver);
    } else if f.is_ancestor(at, h.src) {
        assert_eq!(back, Decision::Forward(f.child_towards(at, h.src)));
    }
    seen.dead_letters += 1;
}

/// The host's view: every id routes to the top-level context on its path, or not at all when
/// it is in `gone`.
fn check_host_routes(f: &Fleet, host: &Router, gone: &BTreeSet<ContextId>, what: &str) {
    for id in 1..=N + 10 {
        let want = if f.known(id) && !gone.contains(&id) {
            Some(f.child_towards(0, id))
        } else {
            None
        };
        assert_eq!(host.route_of(id), want, "{what}: host route of {id}");
        let h = Header {
            dst: id,
            handle: handle::CALL,
            reply_to: 1000,
            ..Header::default()
        };
        let d = host.decide(&h, Origin::Local);
        match want {
            Some(s) => assert_eq!(d, Decision::Forward(s), "{what}: call to {id}"),
            None => assert_eq!(d, Decision::Reject(DeadReason::NoRoute), "{what}: {id}"),
        }
    }
}

#[test]
fn ten_thousand_contexts_route_right_and_lose_exactly_a_relays_share() {
    for seed in [1u64, 2, 3] {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let f = Fleet::grow(&mut r);
        assert_eq!(f.routers.len(), N as usize + 1);

        // Every table holds exactly its subtree, each id on the right stream.
        for (at, router) in f.routers.iter().enumerate() {
            let at = at as ContextId;
            if at != 0 && at > RELAYS && r.below(50) != 0 {
                continue; // the host, the relays, and a sample of the rest
            }
            for id in 0..=N {
                let want = f.is_ancestor(at, id).then(|| f.child_towards(at, id));
                assert_eq!(router.route_of(id), want, "seed {seed}: at {at}, {id}");
            }
        }

        let seen = check_sample(&f, &mut r, seed);
        let floor = SAMPLE / 200;
        assert!(
            seen.deliver > floor
                && seen.deliver_call > floor / 10
                && seen.forward_down > floor
                && seen.forward_up > floor
                && seen.no_route_unknown > floor
                && seen.no_route_back > floor / 10
                && seen.refused > floor
                && seen.forged > floor
                && seen.dead_letters > floor,
            "seed {seed}: the sample missed a rule: {seen:?}"
        );

        let mut host = f.routers[0].clone();
        let mut gone = BTreeSet::new();
        check_host_routes(&f, &host, &gone, "before");

        // 1. Relay a dies: its stream ends at the host; exactly its subtree goes.
        let a = 1 + r.below(RELAYS as u64) as ContextId;
        let share = f.subtree(a);
        assert!(
            share.len() > N as usize / RELAYS as usize / 2,
            "{}",
            share.len()
        );
        assert_eq!(host.remove_stream(a), share, "seed {seed}: relay {a} died");
        gone.extend(share.iter().copied());
        check_host_routes(&f, &host, &gone, "relay died");
        // Its share can no longer speak on its stream, nor be reached through it.
        let from_dead = Header {
            src: share[share.len() / 2],
            dst: 0,
            handle: handle::LOG,
            ..Header::default()
        };
        assert_eq!(
            host.decide(&from_dead, Origin::Stream(a)),
            Decision::Drop(DropCause::ForgedSource)
        );

        // 2. A child c of relay b exits: b's stream to c ends, b sends ROUTE_DEL upwards for
        //    every id that was behind it; the host takes them only from b's stream.
        let b = (a % RELAYS) + 1;
        let mut b_router = f.routers[b as usize].clone();
        let c = f.children[b as usize]
            .iter()
            .copied()
            .max_by_key(|c| f.subtree(*c).len())
            .unwrap();
        let c_share = f.subtree(c);
        assert_eq!(
            b_router.remove_stream(c),
            c_share,
            "seed {seed}: {b} lost {c}"
        );
        let wrong = (b % RELAYS) + 1;
        for id in &c_share {
            assert!(
                !host.accept_route_del(wrong, *id),
                "ROUTE_DEL of {id} from {wrong}"
            );
            assert!(host.accept_route_del(b, *id), "ROUTE_DEL of {id} from {b}");
            assert!(!host.accept_route_del(b, *id), "second ROUTE_DEL of {id}");
        }
        // Nothing of a's share (already gone) nor of the host's own children can be deleted
        // from b's stream.
        assert!(!host.accept_route_del(b, a));
        assert!(!host.accept_route_del(b, wrong));
        gone.extend(c_share.iter().copied());
        check_host_routes(&f, &host, &gone, "a relay's child exited");
        // b itself and the rest of its subtree still route, at b too.
        for id in f.subtree(b) {
            let want = (!c_share.contains(&id) && id != b).then(|| f.child_towards(b, id));
            assert_eq!(b_router.route_of(id), want, "at {b}: {id}");
        }

        // 3. Relay d's children all exit (d stays up): ROUTE_DEL for its whole subtree below it.
        let d = (b % RELAYS) + 1;
        assert_ne!(d, a);
        let d_below: Vec<ContextId> = f.subtree(d).into_iter().filter(|id| *id != d).collect();
        for id in &d_below {
            assert!(host.accept_route_del(d, *id));
        }
        gone.extend(d_below.iter().copied());
        check_host_routes(&f, &host, &gone, "a relay's children all exited");
        assert_eq!(host.route_of(d), Some(d));

        // Exactly those shares went: a's whole subtree, c's subtree, d's subtree below d.
        let routable = (1..=N).filter(|id| host.route_of(*id).is_some()).count();
        assert_eq!(
            routable + share.len() + c_share.len() + d_below.len(),
            N as usize,
            "seed {seed}"
        );
    }
}
