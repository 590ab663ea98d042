//! `route-sim PYTHON N`: the controller's routing table (`econtext_core::router::Router`) as the
//! fleet grows, simulated purely in core (no processes; PYTHON is ignored).
//!
//! Tables are built as the broker builds them: context ids are allocated from 1 upwards, a
//! direct child is registered on its own stream (`add_child(id, id)`), and a context started
//! via a relay is registered behind the relay's stream by the `ROUTE_ADD` the relay sends when
//! it comes up (`accept_route_add(relay, id, relay)`). Shapes: `k0` (every context a direct
//! child of the host), `k10` and `k100` (that many relays, each owning `size / K` contexts,
//! assigned round-robin). `relay` is the other side: a relay's own table
//! (`Router::child`) with `size` direct children, each on its own stream.
//!
//! Measured at 1,000, 10,000 and 100,000 contexts (and at N when it is none of those):
//!
//! - `*_bytes_per_route_SIZE`: heap bytes requested while building the table, divided by the
//!   routes it holds (relays included). Counted by the counting global allocator below.
//! - `*_ns_per_frame_SIZE`: one `decide` over a pool of 1M frames to uniformly random contexts,
//!   half going down (host: a `CALL` from the host itself, forwarded to the right stream;
//!   relay: a `CALL` from upstream, forwarded to the child's stream), half coming up (a reply
//!   from that context on its stream: host delivers, relay forwards upstream). Every round's
//!   decisions are checked against the expected streams; median of 5 rounds after a warm-up,
//!   timed by this thread's CPU time (`timer`; `wall_over_timer_median` shows how much the
//!   machine was shared), so a build next door does not inflate it.
//! - `kK_remove_relay_us_SIZE`: `remove_stream` of one relay (its stream ended), median of 5.
//! - `baseline_ns_per_frame`: the same loop over the pool with no `decide` (frame building
//!   and tallying only), the part of `ns_per_frame` that is not routing.
//!
//! The allocator: a wrapper around `System` (the allocator the binary used before) that counts
//! only while route-sim has switched counting on. For every other workload each allocation
//! costs one relaxed load of a flag nobody writes (a shared, read-only cache line) and a
//! predicted branch, next to malloc's tens of nanoseconds; nothing else changes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Duration;

use econtext_core::handle;
use econtext_core::router::{Decision, Origin, Router, StreamId};
use econtext_core::{ContextId, Header};

use super::{median, BenchResult};

/// Whether allocations are being counted (only inside route-sim).
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed while counting.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// `System`, counting live bytes while [`COUNTING`] is on.
struct CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Record `delta` live bytes when counting.
#[inline(always)]
fn note(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every method passes its arguments unchanged to `System` and returns its result; the
// bookkeeping is two atomics and never allocates, so `System`'s guarantees carry over as they are.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller upholds the rest.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Timing: this thread's CPU time, so another process competing for the cores (a build on a
/// shared machine) does not count; wall time where that clock is missing.
mod clock {
    use std::time::{Duration, Instant};

    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    #[allow(unsafe_code)]
    fn thread_cpu() -> Option<Duration> {
        /// `struct timespec` on 64-bit Linux.
        #[repr(C)]
        struct Timespec {
            tv_sec: i64,
            tv_nsec: i64,
        }
        extern "C" {
            fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
        }
        /// `CLOCK_THREAD_CPUTIME_ID`.
        const THREAD_CPUTIME: i32 = 3;
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes one `struct timespec` (two i64 on 64-bit Linux,
        // matching `Timespec`) through a pointer to a live, exclusively borrowed local.
        let rc = unsafe { clock_gettime(THREAD_CPUTIME, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    fn thread_cpu() -> Option<Duration> {
        None
    }

    /// A started measurement.
    pub struct Stopwatch {
        wall: Instant,
        cpu: Option<Duration>,
    }

    impl Stopwatch {
        /// Start both clocks.
        pub fn start() -> Stopwatch {
            Stopwatch {
                cpu: thread_cpu(),
                wall: Instant::now(),
            }
        }

        /// (the measured time: CPU time when available, else wall; wall time).
        pub fn stop(&self) -> (Duration, Duration) {
            let wall = self.wall.elapsed();
            let cpu = match (self.cpu, thread_cpu()) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => wall,
            };
            (cpu, wall)
        }
    }

    /// The name of the clock [`Stopwatch::stop`] measures with.
    pub fn name() -> &'static str {
        if thread_cpu().is_some() {
            "thread cpu time (CLOCK_THREAD_CPUTIME_ID)"
        } else {
            "wall"
        }
    }
}
use clock::Stopwatch;

/// The table sizes always measured.
const SIZES: [u32; 3] = [1_000, 10_000, 100_000];
/// Relays under the host (0: every context a direct child).
const RELAYS: [u32; 3] = [0, 10, 100];
/// Frames per timed round.
const FRAMES: usize = 1_000_000;
/// Timed rounds (after one warm-up round).
const ROUNDS: usize = 5;
/// A relay's upstream stream.
const UP: StreamId = StreamId::MAX;
/// The relay of the `relay` shape.
const RELAY_ID: ContextId = 1;
/// In a [`Probe`]: the frame goes down to `id` rather than coming up from it.
const DOWN: StreamId = 0;

/// One frame of the pool, in 8 bytes: to or from context `id`.
#[derive(Clone, Copy)]
struct Probe {
    /// The context the frame is addressed to (down) or comes from (up).
    id: ContextId,
    /// [`DOWN`], or the stream the frame comes up on.
    stream: StreamId,
}

/// What a round of decisions added up to; compared with what the tree says it must be.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    delivered: u64,
    forwarded: u64,
    /// Sum of the streams forwarded to.
    stream_sum: u64,
    other: u64,
}

impl Tally {
    fn add(&mut self, d: Decision) {
        match d {
            Decision::Deliver => self.delivered += 1,
            Decision::Forward(s) => {
                self.forwarded += 1;
                self.stream_sum += u64::from(s);
            }
            _ => self.other += 1,
        }
    }
}

/// Which side of the link a table is on.
#[derive(Clone, Copy)]
enum Side {
    /// The host (`Router::root`) with K relays.
    Host { relays: u32 },
    /// A relay's own table (`Router::child`) with direct children only.
    Relay,
}

impl Side {
    /// The frame a probe stands for, and where it enters.
    #[inline(always)]
    fn frame(self, p: Probe) -> (Header, Origin) {
        let down_from = match self {
            Side::Host { .. } => Origin::Local,
            Side::Relay => Origin::Stream(UP),
        };
        if p.stream == DOWN {
            let h = Header {
                dst: p.id,
                src: 0,
                handle: handle::CALL,
                reply_to: handle::FIRST_DYNAMIC,
                ..Header::default()
            };
            (h, down_from)
        } else {
            let h = Header {
                dst: 0,
                src: p.id,
                handle: handle::FIRST_DYNAMIC + 1,
                ..Header::default()
            };
            (h, Origin::Stream(p.stream))
        }
    }

    /// The stream context `id` is reached through.
    fn stream_of(self, id: ContextId) -> StreamId {
        match self {
            Side::Host { relays: k } if k > 0 && id > k => 1 + (id - k - 1) % k,
            _ => id,
        }
    }

    /// The ids in a table of `size` contexts.
    fn ids(self, size: u32) -> std::ops::RangeInclusive<ContextId> {
        match self {
            Side::Host { relays } => 1..=size + relays,
            Side::Relay => RELAY_ID + 1..=RELAY_ID + size,
        }
    }

    /// Build the table as contexts come up, in id order.
    fn build(self, size: u32) -> BenchResult<Router> {
        match self {
            Side::Host { relays: 0 } => {
                let mut r = Router::root();
                for id in 1..=size {
                    r.add_child(id, id);
                }
                Ok(r)
            }
            Side::Host { relays: k } => {
                let mut r = Router::root();
                for relay in 1..=k {
                    r.add_child(relay, relay);
                }
                for id in k + 1..=k + size {
                    let relay = self.stream_of(id);
                    if !r.accept_route_add(relay, id, relay) {
                        return Err(format!("ROUTE_ADD {id} behind relay {relay} refused"));
                    }
                }
                Ok(r)
            }
            Side::Relay => {
                let mut r = Router::child(RELAY_ID, UP, vec![0]);
                for id in self.ids(size) {
                    r.add_child(id, id);
                }
                Ok(r)
            }
        }
    }

    /// The decision a probe must get.
    fn expected(self, p: Probe) -> Decision {
        match (self, p.stream == DOWN) {
            (_, true) => Decision::Forward(self.stream_of(p.id)),
            (Side::Host { .. }, false) => Decision::Deliver,
            (Side::Relay, false) => Decision::Forward(UP),
        }
    }
}

/// xorshift64*, seeded: the same pool every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (((x >> 32) * u64::from(n)) >> 32) as u32
    }
}

/// FRAMES probes to uniformly random contexts of the table, half down, half up; and the tally
/// they must produce.
fn pool(side: Side, size: u32, seed: u64) -> (Vec<Probe>, Tally) {
    let ids = side.ids(size);
    let (lo, count) = (*ids.start(), ids.end() - ids.start() + 1);
    let mut rng = Rng(seed | 1);
    let mut expect = Tally::default();
    let probes = (0..FRAMES)
        .map(|i| {
            let id = lo + rng.below(count);
            let stream = if i % 2 == 0 { DOWN } else { side.stream_of(id) };
            let p = Probe { id, stream };
            expect.add(side.expected(p));
            p
        })
        .collect();
    (probes, expect)
}

/// Heap bytes live after `f` minus before (counting must be on).
fn heap_delta<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let before = LIVE.load(Ordering::Relaxed);
    let t = f();
    (t, LIVE.load(Ordering::Relaxed) - before)
}

/// Median nanoseconds per decision over the pool; every round's tally checked.
fn time_decide(
    side: Side,
    table: &Router,
    probes: &[Probe],
    expect: Tally,
    walls: &mut Vec<f64>,
) -> BenchResult<f64> {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let probes = black_box(probes);
        let t = Stopwatch::start();
        let mut tally = Tally::default();
        for p in probes {
            let (h, from) = side.frame(*p);
            tally.add(table.decide(&h, from));
        }
        let (dt, wall) = t.stop();
        if tally != expect {
            return Err(format!("routing decisions {tally:?}, expected {expect:?}"));
        }
        if round > 0 {
            rounds.push(dt);
            walls.push(wall.as_secs_f64() / dt.as_secs_f64());
        }
    }
    Ok(ns_per(median(&rounds), probes.len()))
}

/// The loop of [`time_decide`] without the decision.
fn time_baseline(side: Side, probes: &[Probe]) -> f64 {
    let mut rounds = Vec::with_capacity(ROUNDS);
    for round in 0..=ROUNDS {
        let probes = black_box(probes);
        let t = Stopwatch::start();
        let mut tally = Tally::default();
        for p in probes {
            let (h, from) = black_box(side.frame(*p));
            tally.add(match from {
                Origin::Local => Decision::Deliver,
                Origin::Stream(_) => Decision::Forward(h.src),
            });
        }
        black_box(tally);
        if round > 0 {
            rounds.push(t.stop().0);
        }
    }
    ns_per(median(&rounds), probes.len())
}

/// Median microseconds for `remove_stream` of relay 1 (a fresh copy of the table each time);
/// checks exactly its share went.
fn time_remove_relay(side: Side, table: &Router, size: u32) -> BenchResult<f64> {
    let want: Vec<ContextId> = side
        .ids(size)
        .filter(|id| side.stream_of(*id) == 1)
        .collect();
    let mut runs = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let mut t = table.clone();
        let clock = Stopwatch::start();
        let gone = t.remove_stream(black_box(1));
        runs.push(clock.stop().0);
        if gone != want {
            return Err(format!(
                "relay 1 removed {} routes, expected {}",
                gone.len(),
                want.len()
            ));
        }
    }
    Ok(median(&runs).as_secs_f64() * 1e6)
}

/// Nanoseconds per item.
fn ns_per(d: Duration, items: usize) -> f64 {
    d.as_secs_f64() * 1e9 / items as f64
}

/// `1k`, `10k`, `100k`, or the number.
fn label(size: u32) -> String {
    if size.is_multiple_of(1000) {
        format!("{}k", size / 1000)
    } else {
        size.to_string()
    }
}

/// The workload: every shape at every size; one JSON fragment.
pub fn route_sim(n: usize) -> BenchResult<String> {
    let n = u32::try_from(n)
        .ok()
        .filter(|n| *n <= 10_000_000)
        .ok_or_else(|| format!("N = {n}: at most 10000000 contexts"))?;
    let mut sizes = SIZES.to_vec();
    if !sizes.contains(&n) {
        sizes.push(n);
        sizes.sort_unstable();
    }
    let mut shapes: Vec<(String, Side)> = RELAYS
        .iter()
        .map(|k| (format!("k{k}"), Side::Host { relays: *k }))
        .collect();
    shapes.push(("relay".into(), Side::Relay));

    let mut bytes = Vec::new();
    let mut ns = Vec::new();
    let mut remove = Vec::new();
    let mut baseline = 0.0;
    let mut walls = Vec::new();
    COUNTING.store(true, Ordering::Relaxed);
    let result = (|| -> BenchResult<()> {
        for (name, side) in &shapes {
            for &size in &sizes {
                let (table, delta) = heap_delta(|| side.build(size));
                let table = table?;
                let routes = side.ids(size).count();
                for id in side.ids(size) {
                    if table.route_of(id) != Some(side.stream_of(id)) {
                        return Err(format!("{name} {size}: {id} not routed to its stream"));
                    }
                }
                let key = format!("{name}_{{}}_{}", label(size));
                bytes.push((
                    key.replace("{}", "bytes_per_route"),
                    delta as f64 / routes as f64,
                ));
                let (probes, expect) = pool(*side, size, 0x9e37_79b9_7f4a_7c15 ^ u64::from(size));
                ns.push((
                    key.replace("{}", "ns_per_frame"),
                    time_decide(*side, &table, &probes, expect, &mut walls)?,
                ));
                if matches!(side, Side::Host { relays } if *relays > 0) {
                    remove.push((
                        key.replace("{}", "remove_relay_us"),
                        time_remove_relay(*side, &table, size)?,
                    ));
                }
                if matches!(side, Side::Host { relays: 0 }) && size == 100_000 {
                    baseline = time_baseline(*side, &probes);
                }
            }
        }
        Ok(())
    })();
    COUNTING.store(false, Ordering::Relaxed);
    result?;

    let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let mut out = format!(
        "\"sizes\":[{}],\"relays\":[{}],\"frames_per_round\":{FRAMES},\"rounds\":{ROUNDS},\
\"heap_measure\":\"counting global allocator: requested bytes live after building minus before\",\
\"timer\":\"{}\",\"wall_over_timer_median\":{:.2}",
        list(&sizes),
        list(&RELAYS),
        clock::name(),
        {
            walls.sort_by(f64::total_cmp);
            walls.get(walls.len() / 2).copied().unwrap_or(1.0)
        },
    );
    for (k, v) in &bytes {
        out.push_str(&format!(",\"{k}\":{v:.1}"));
    }
    for (k, v) in &ns {
        out.push_str(&format!(",\"{k}\":{v:.1}"));
    }
    for (k, v) in &remove {
        out.push_str(&format!(",\"{k}\":{v:.1}"));
    }
    out.push_str(&format!(",\"baseline_ns_per_frame\":{baseline:.1}"));
    Ok(out)
}
