//! A sans-IO network of `core::router::Router`s (the model is smoltcp's `tests/netsim.rs`):
//! a host and a tree of contexts exchange frames over simulated links while a seeded schedule
//! issues calls, forges calls from compromised contexts, kills contexts and cuts links.
//! Asserted for every seed: every call the host waits on ends (a reply, a dead letter, or the
//! target reported gone), and no context ever runs a call that did not come from one of its
//! ancestors.

mod common;
use common::Rng;
use std::collections::{BTreeMap, HashMap, VecDeque};

use econtext_core::body::{Body, RouteDel};
use econtext_core::router::{Decision, Origin, Router, StreamId};
use econtext_core::{handle, ContextId, Frame, Header};

const UP: StreamId = u32::MAX;

struct Node {
    router: Router,
    parent: Option<ContextId>,
    alive: bool,
}

struct Net {
    nodes: BTreeMap<ContextId, Node>,
    /// Frames in flight per link (keyed by the child's id): (down, up).
    links: BTreeMap<ContextId, (VecDeque<Frame>, VecDeque<Frame>)>,
    /// The host's calls: reply handle -> the context called.
    waiters: HashMap<u32, ContextId>,
    next_handle: u32,
    calls_run: usize,
    ended: usize,
}

impl Net {
    /// A random tree of `n` contexts under the host (id 0).
    fn new(r: &mut Rng, n: u32) -> Net {
        let mut parents: BTreeMap<ContextId, Option<ContextId>> = BTreeMap::new();
        parents.insert(0, None);
        for id in 1..=n {
            let p = r.below(id as u64) as ContextId;
            parents.insert(id, Some(p));
        }
        let ancestors = |mut id: ContextId| {
            let mut v = Vec::new();
            while let Some(Some(p)) = parents.get(&id) {
                v.push(*p);
                id = *p;
            }
            v
        };
        let mut nodes = BTreeMap::new();
        for (&id, &parent) in &parents {
            let router = match parent {
                None => Router::root(),
                Some(_) => Router::child(id, UP, ancestors(id)),
            };
            nodes.insert(
                id,
                Node {
                    router,
                    parent,
                    alive: true,
                },
            );
        }
        // Every context routes its whole subtree through the child on the path.
        for &id in parents.keys() {
            let chain = ancestors(id);
            let mut below = id;
            for a in chain {
                nodes.get_mut(&a).unwrap().router.add_child(id, below);
                below = a;
            }
        }
        let links = parents
            .keys()
            .filter(|id| **id != 0)
            .map(|id| (*id, Default::default()))
            .collect();
        Net {
            nodes,
            links,
            waiters: HashMap::new(),
            next_handle: handle::FIRST_DYNAMIC,
            calls_run: 0,
            ended: 0,
        }
    }

    fn is_ancestor(&self, a: ContextId, mut of: ContextId) -> bool {
        while let Some(p) = self.nodes[&of].parent {
            if p == a {
                return true;
            }
            of = p;
        }
        false
    }

    /// A frame entered `at` from `from`.
    fn process(&mut self, at: ContextId, from: Origin, f: Frame) {
        if !self.nodes[&at].alive {
            return;
        }
        let h = f.header;
        match self.nodes[&at].router.decide(&h, from) {
            Decision::Deliver => self.deliver(at, from, f),
            Decision::Forward(s) => {
                if s == UP {
                    if let Some(l) = self.links.get_mut(&at) {
                        l.1.push_back(f);
                    }
                } else if let Some(l) = self.links.get_mut(&s) {
                    l.0.push_back(f);
                }
            }
            Decision::Reject(reason) => {
                let dl = self.nodes[&at]
                    .router
                    .dead_letter(&h, reason, "refused".into());
                if let Some(dl) = dl {
                    self.process(at, Origin::Local, dl);
                }
            }
            Decision::Drop(_) => {}
        }
    }

    fn deliver(&mut self, at: ContextId, from: Origin, f: Frame) {
        let h = f.header;
        match h.handle {
            handle::CALL => {
                assert!(
                    self.is_ancestor(h.src, at),
                    "context {at} ran a call from {}, not an ancestor",
                    h.src
                );
                assert_ne!(at, 0, "the host ran a call");
                self.calls_run += 1;
                if h.reply_to != 0 {
                    let r = Header {
                        dst: h.src,
                        src: at,
                        handle: h.reply_to,
                        ..Header::default()
                    };
                    self.process(at, Origin::Local, Frame::new(r, vec![0]).unwrap());
                }
            }
            handle::ROUTE_DEL => {
                let (Origin::Stream(s), Ok(d)) = (from, RouteDel::decode(&f.body)) else {
                    return;
                };
                let accepted = self
                    .nodes
                    .get_mut(&at)
                    .unwrap()
                    .router
                    .accept_route_del(s, d.id);
                if accepted {
                    if at == 0 {
                        self.fail(&[d.id]);
                    } else {
                        self.route_del_up(at, d.id);
                    }
                }
            }
            hd if hd >= handle::FIRST_DYNAMIC && at == 0 => {
                if let Some(t) = self.waiters.get(&hd) {
                    if h.is_dead() || *t == h.src {
                        self.waiters.remove(&hd);
                        self.ended += 1;
                    }
                }
            }
            hd if hd >= handle::FIRST_DYNAMIC => {
                // No waiters on contexts: every dynamic handle is unknown there.
                let dl = self.nodes[&at].router.dead_letter(
                    &h,
                    econtext_core::body::DeadReason::NoHandle,
                    "no handle".into(),
                );
                if let Some(dl) = dl {
                    self.process(at, Origin::Local, dl);
                }
            }
            _ => {}
        }
    }

    fn route_del_up(&mut self, at: ContextId, id: ContextId) {
        let h = Header {
            dst: 0,
            src: at,
            handle: handle::ROUTE_DEL,
            ..Header::default()
        };
        let f = Frame::new(h, RouteDel { id }.encode().unwrap()).unwrap();
        self.process(at, Origin::Local, f);
    }

    /// The host learned these contexts are gone: their calls end.
    fn fail(&mut self, ids: &[ContextId]) {
        let before = self.waiters.len();
        self.waiters.retain(|_, t| !ids.contains(t));
        self.ended += before - self.waiters.len();
    }

    /// Context `id` dies (or its upstream link is cut, which makes it exit): its subtree goes
    /// with it, frames in flight on its links are lost, its parent notices the stream end.
    fn kill(&mut self, id: ContextId) {
        if id == 0 || !self.nodes[&id].alive {
            return;
        }
        let subtree: Vec<ContextId> = self
            .nodes
            .keys()
            .copied()
            .filter(|n| *n == id || self.is_ancestor(id, *n))
            .collect();
        for n in &subtree {
            self.nodes.get_mut(n).unwrap().alive = false;
            self.links.remove(n);
        }
        let parent = self.nodes[&id].parent.unwrap();
        if !self.nodes[&parent].alive {
            return;
        }
        let gone = self
            .nodes
            .get_mut(&parent)
            .unwrap()
            .router
            .remove_stream(id);
        if parent == 0 {
            self.fail(&gone);
        } else {
            for g in gone {
                self.route_del_up(parent, g);
            }
        }
    }

    fn call(&mut self, target: ContextId) {
        let hd = self.next_handle;
        self.next_handle += 1;
        self.waiters.insert(hd, target);
        let h = Header {
            dst: target,
            handle: handle::CALL,
            reply_to: hd,
            ..Header::default()
        };
        self.process(0, Origin::Local, Frame::new(h, vec![]).unwrap());
    }

    /// A compromised context sends a call to anyone, sometimes claiming another source.
    fn forge(&mut self, r: &mut Rng, from: ContextId) {
        if from == 0 || !self.nodes[&from].alive {
            return;
        }
        let n = self.nodes.len() as u64;
        let dst = r.below(n) as ContextId;
        let src = if r.below(3) == 0 {
            r.below(n) as ContextId
        } else {
            from
        };
        let h = Header {
            dst,
            src,
            handle: [handle::CALL, handle::SHUTDOWN, handle::SPAWN][r.below(3) as usize],
            reply_to: 5000,
            ..Header::default()
        };
        // Straight onto its upstream link, as a compromised stub's raw write would.
        if let Some(l) = self.links.get_mut(&from) {
            l.1.push_back(Frame::new(h, vec![]).unwrap());
        }
    }

    /// Deliver the head of one link's queue (down or up); false when nothing is in flight.
    fn step_link(&mut self, r: &mut Rng) -> bool {
        let busy: Vec<(ContextId, bool)> = self
            .links
            .iter()
            .flat_map(|(id, (d, u))| {
                let mut v = Vec::new();
                if !d.is_empty() {
                    v.push((*id, true));
                }
                if !u.is_empty() {
                    v.push((*id, false));
                }
                v
            })
            .collect();
        if busy.is_empty() {
            return false;
        }
        let (child, down) = busy[r.below(busy.len() as u64) as usize];
        let l = self.links.get_mut(&child).unwrap();
        let f = if down {
            l.0.pop_front()
        } else {
            l.1.pop_front()
        }
        .unwrap();
        if down {
            self.process(child, Origin::Stream(UP), f);
        } else {
            let p = self.nodes[&child].parent.unwrap();
            self.process(p, Origin::Stream(child), f);
        }
        true
    }
}

#[test]
fn every_waiter_ends_and_authority_holds_under_kills_and_cuts() {
    let mut total_calls = 0;
    let mut total_run = 0;
    for seed in 1..=400u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let n = 2 + r.below(12) as u32;
        let mut net = Net::new(&mut r, n);
        for _ in 0..400 {
            match r.below(20) {
                0..=5 => {
                    let t = 1 + r.below(n as u64) as ContextId;
                    net.call(t);
                    total_calls += 1;
                }
                6..=7 => {
                    let from = r.below(n as u64 + 1) as ContextId;
                    net.forge(&mut r, from);
                }
                8 if r.below(4) == 0 => {
                    let v = 1 + r.below(n as u64) as ContextId;
                    net.kill(v);
                }
                _ => {
                    net.step_link(&mut r);
                }
            }
        }
        // Quiesce: everything in flight arrives (or is lost with its link).
        while net.step_link(&mut r) {}
        assert!(
            net.waiters.is_empty(),
            "seed {seed}: {} calls never ended: {:?}",
            net.waiters.len(),
            net.waiters
        );
        total_run += net.calls_run;
        assert!(net.ended > 0, "seed {seed}: nothing ended");
    }
    assert!(
        total_calls > 10_000 && total_run > 1000,
        "{total_calls} {total_run}"
    );
}
