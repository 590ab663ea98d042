//! One child's death or misbehaviour never takes its parent with it: a child killed while
//! frames are being written to it, frames to unknown handles, undecodable bodies and a
//! malformed stream. On the namespace topology of tests/env/up.sh and with local contexts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use econtext::{BecomeUser, Error, Local, Value};
use econtext_tests::*;

/// Kill `child` (pid `victim`) while frames flood towards it; its parent `via` must go on.
fn kill_mid_traffic(via: &econtext::Context, child: &econtext::Context, victim: i64, round: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // Frames keep flowing towards the child while it dies, so the parent writes to a stream
    // whose reader has just gone (EPIPE) and reads one that was reset (ECONNRESET).
    let flood = {
        let (child, stop, sent) = (child.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let big = Value::Bytes(vec![7u8; 256 * 1024]);
            while !stop.load(Ordering::Relaxed) && !child.is_gone() {
                if let Err(e) = child.call_no_reply("builtins.len", vec![big.clone()]) {
                    eprintln!("flood: {e}");
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    assert!(eventually(5000, || sent.load(Ordering::Relaxed) > 20));
    kill9(victim);
    assert!(
        eventually(5000, || child.is_gone()),
        "round {round}: the killed child was never reported gone"
    );
    stop.store(true, Ordering::Relaxed);
    flood.join().unwrap();
    assert!(matches!(
        child.call("os.getpid", vec![]),
        Err(Error::Disconnected { .. })
    ));
    for i in 0..20 {
        via.call("os.getpid", vec![])
            .unwrap_or_else(|e| panic!("round {round}, call {i}: the parent went too: {e}"));
    }
}

#[test]
fn killing_a_child_mid_traffic_leaves_its_parent_serving() {
    let Some(env) = testenv() else { return };
    let router = fixture_router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    for round in 0..3 {
        let internal = router
            .connect_via(&env.internal("ectest"), &bastion)
            .unwrap();
        let victim = pid_of(&internal);
        kill_mid_traffic(&bastion, &internal, victim, round);
    }
}

#[test]
fn killing_a_local_child_mid_traffic_leaves_its_parent_serving() {
    let router = fixture_router();
    let via = router.connect(&Local::new().python(python())).unwrap();
    for round in 0..5 {
        let child = router
            .connect_via(&Local::new().python(python()), &via)
            .unwrap();
        let victim = pid_of(&child);
        kill_mid_traffic(&via, &child, victim, round);
    }
}

#[test]
fn unknown_handles_and_malformed_frames_from_a_child_harm_only_that_child() {
    let Some(env) = testenv() else { return };
    let router = fixture_router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let evil = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let sibling = router
        .connect_via(&BecomeUser::sudo("ectarget"), &bastion)
        .unwrap();
    // Unknown handles, reply wanted: a NO_HANDLE (4) dead letter from the parent stub, and
    // from the host.
    for dst in [bastion.id() as i64, 0] {
        // (With a timeout: before the fix the host dropped it and this call hung.)
        let r = evil
            .build("forge.unknown_handle")
            .unwrap()
            .args(vec![Value::Int(dst), Value::Int(4242)])
            .timeout(Duration::from_secs(10))
            .call()
            .unwrap();
        let Value::List(r) = r else { panic!("{r:?}") };
        assert_eq!(r.first(), Some(&Value::from("dead")), "{dst}: {r:?}");
        assert_eq!(r.get(1), Some(&Value::Int(4)), "{dst}: {r:?}");
    }
    // No reply wanted: dropped; the child and everyone else keep working.
    for dst in [bastion.id() as i64, 0, sibling.id() as i64] {
        evil.call("forge.no_reply", vec![Value::Int(dst), Value::Int(4243)])
            .unwrap();
    }
    assert!(evil.call("os.getpid", vec![]).is_ok());
    // An undecodable body: the child broke the protocol and is cut off; nothing else is.
    let r = evil.call("forge.bad_body", vec![Value::Int(bastion.id() as i64)]);
    assert!(matches!(r, Err(Error::Disconnected { .. })), "{r:?}");
    assert!(eventually(3000, || evil.is_gone()));
    // A stream that is not frames at all, from another child (on the sudo hop).
    let r = sibling.call("forge.garbage", vec![]);
    assert!(matches!(r, Err(Error::Disconnected { .. })), "{r:?}");
    assert!(eventually(3000, || sibling.is_gone()));
    for _ in 0..20 {
        bastion.call("os.getpid", vec![]).unwrap();
    }
    // And a fresh child of the same parent works.
    let again = router
        .connect_via(&BecomeUser::sudo("ectarget"), &bastion)
        .unwrap();
    assert_eq!(
        again.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_number("ectarget"))
    );
}

#[test]
fn a_direct_child_sending_garbage_is_closed_and_the_router_serves_on() {
    let router = fixture_router();
    let good = router.connect(&Local::new().python(python())).unwrap();
    let bad = router.connect(&Local::new().python(python())).unwrap();
    let r = bad
        .build("forge.unknown_handle")
        .unwrap()
        .args(vec![Value::Int(0), Value::Int(4242)])
        .timeout(Duration::from_secs(10))
        .call();
    let Ok(Value::List(r)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(r.get(1), Some(&Value::Int(4)), "{r:?}");
    let r = bad.call("forge.garbage", vec![]);
    assert!(
        matches!(
            r,
            Err(Error::Disconnected { .. }) | Err(Error::Protocol { .. })
        ),
        "{r:?}"
    );
    assert!(eventually(2000, || bad.is_gone()));
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..20 {
        good.call("os.getpid", vec![]).unwrap();
    }
}
