//! Channel flow control (`core::window`): the shared vectors of `testdata/channels.json`
//! (the Python side reads the same file), and a seeded simulation of a sender, a lossy-free
//! network with reordering between channels, and a consumer: credit never goes negative or
//! above the window, nothing is lost or duplicated, and the producer is never stranded.

mod common;
use common::Rng;
use econtext_core::window::{cost, Grants, Window, CHANNEL_WINDOW};
use serde_json::Value as J;

fn vectors() -> Vec<J> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/channels.json");
    match serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() {
        J::Array(v) => v,
        _ => panic!("channels.json: an array"),
    }
}

fn n(j: &J) -> u32 {
    j.as_u64().unwrap() as u32
}

#[test]
fn shared_vectors() {
    let all = vectors();
    assert!(all.len() >= 4);
    for v in all {
        let name = v["name"].as_str().unwrap();
        let w = n(&v["window"]);
        let ops = v["ops"].as_array().unwrap();
        match v["side"].as_str().unwrap() {
            "sender" => {
                let mut s = if v["start"] == "full" {
                    Window::full(w)
                } else {
                    Window::empty(w)
                };
                for (i, op) in ops.iter().enumerate() {
                    let op = op.as_array().unwrap();
                    let at = format!("{name} op {i}");
                    match op[0].as_str().unwrap() {
                        "send" => {
                            let r = s.take(n(&op[1]) as usize);
                            match op[2].as_str().unwrap() {
                                "ok" => assert_eq!(r, Ok(n(&op[3])), "{at}"),
                                _ => assert_eq!(r, Err(n(&op[3])), "{at}"),
                            }
                            assert_eq!(s.credit(), n(&op[4]), "{at}");
                        }
                        "grant" => {
                            let r = s.grant(n(&op[1]));
                            match op[2].as_str().unwrap() {
                                "ok" => assert!(r.is_ok(), "{at}"),
                                code => assert_eq!(r.unwrap_err().code(), code, "{at}"),
                            }
                            assert_eq!(s.credit(), n(&op[3]), "{at}");
                        }
                        o => panic!("{at}: unknown op {o}"),
                    }
                }
            }
            "receiver" => {
                let mut g = Grants::new(w);
                for (i, op) in ops.iter().enumerate() {
                    let op = op.as_array().unwrap();
                    let at = format!("{name} op {i}");
                    match op[0].as_str().unwrap() {
                        "arrive" => {
                            let r = g.arrived(n(&op[1]) as usize);
                            match op[2].as_str().unwrap() {
                                "ok" => assert!(r.is_ok(), "{at}"),
                                code => assert_eq!(r.unwrap_err().code(), code, "{at}"),
                            }
                            assert_eq!(g.available(), n(&op[3]), "{at}");
                        }
                        "take" => {
                            let r = g.taken(n(&op[1]) as usize, op[2].as_u64().unwrap() as usize);
                            assert_eq!(r, op[3].as_u64().map(|x| x as u32), "{at}");
                            assert_eq!(g.available(), n(&op[4]), "{at}");
                        }
                        o => panic!("{at}: unknown op {o}"),
                    }
                }
            }
            s => panic!("{name}: unknown side {s}"),
        }
    }
}

#[test]
fn simulated_sender_network_consumer() {
    for seed in 1..=300u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let window = [100u32, 1000, CHANNEL_WINDOW][r.below(3) as usize];
        let mut tx = if r.below(2) == 0 {
            Window::full(window)
        } else {
            Window::empty(window)
        };
        let mut rx = Grants::new(window);
        // In flight: items to the receiver, credits to the sender (each in order).
        let mut to_rx: std::collections::VecDeque<(u64, usize)> = Default::default();
        let mut to_tx: std::collections::VecDeque<u32> = Default::default();
        if tx.credit() == 0 {
            to_tx.push_back(window); // the receiver's first Credit(window)
        }
        let mut queue: std::collections::VecDeque<(u64, usize)> = Default::default();
        let total = 200 + r.below(300);
        let mut next = 0u64;
        let mut got = Vec::new();
        let mut queued_bytes: u64 = 0;
        for _step in 0..200_000 {
            if got.len() as u64 == total {
                break;
            }
            match r.below(4) {
                0 if next < total => {
                    let len = match r.below(10) {
                        0 => window as usize * 3, // larger than the window
                        1 => 0,
                        _ => r.below(window as u64 / 3 + 1) as usize,
                    };
                    if tx.take(len).is_ok() {
                        to_rx.push_back((next, len));
                        next += 1;
                    }
                }
                1 => {
                    if let Some((id, len)) = to_rx.pop_front() {
                        rx.arrived(len)
                            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                        queue.push_back((id, len));
                        queued_bytes += cost(len, window) as u64;
                    }
                }
                2 => {
                    if let Some((id, len)) = queue.pop_front() {
                        queued_bytes -= cost(len, window) as u64;
                        got.push(id);
                        if let Some(c) = rx.taken(len, queue.len()) {
                            to_tx.push_back(c);
                        }
                    }
                }
                _ => {
                    if let Some(c) = to_tx.pop_front() {
                        tx.grant(c).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
                    }
                }
            }
            // Invariants: what the receiver thinks the sender may still send is exactly the
            // sender's credit plus what is on the way; with what is queued and what is owed
            // back, it makes the window.
            let in_flight: u64 = to_rx.iter().map(|(_, l)| cost(*l, window) as u64).sum();
            let credits: u64 = to_tx.iter().map(|c| *c as u64).sum();
            assert_eq!(
                rx.available() as u64,
                tx.credit() as u64 + in_flight + credits,
                "seed {seed}"
            );
            assert!(
                rx.available() as u64 + queued_bytes <= window as u64,
                "seed {seed}"
            );
            assert!(
                tx.credit() <= window && queued_bytes <= window as u64,
                "seed {seed}"
            );
        }
        assert_eq!(
            got,
            (0..total).collect::<Vec<_>>(),
            "seed {seed}: lost, duplicated or stuck"
        );
    }
}
