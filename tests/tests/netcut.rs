//! A network cut ends no stream: heartbeats notice it. Alone in its own test binary because it
//! takes links of the shared namespace topology down for a moment.

use std::process::Command;
use std::time::{Duration, Instant};

use econtext::{Error, Router, RouterOptions, Value};
use econtext_tests::*;

fn link(ns: Option<&str>, dev: &str, state: &str) {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["netns", "exec", ns, "ip"]);
    }
    assert!(cmd
        .args(["link", "set", dev, state])
        .status()
        .unwrap()
        .success());
}

/// Puts a link back up even when the test fails.
struct Restore(Option<&'static str>, &'static str);

impl Drop for Restore {
    fn drop(&mut self) {
        link(self.0, self.1, "up");
    }
}

/// The two tests cut links the other one needs: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn router() -> Router {
    let o = RouterOptions {
        sink: std::sync::Arc::new(|_: &econtext::LogEvent| {}),
        heartbeat: Duration::from_millis(250),
        ..Default::default()
    };
    Router::with_options(o).unwrap()
}

#[test]
fn a_cut_behind_the_bastion_fails_calls_and_ends_the_remote_context() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(env) = testenv() else { return };
    let router = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let internal = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let Value::Int(pid) = internal.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    let pending = internal
        .build("time.sleep")
        .unwrap()
        .arg(Value::Int(3600))
        .spawn()
        .unwrap();
    let t = Instant::now();
    // Cut bastion <-> internal: no stream ends, packets just stop.
    let _restore = Restore(Some("ec-bastion"), "ec-b1");
    link(Some("ec-bastion"), "ec-b1", "down");
    assert!(matches!(pending.wait(), Err(Error::Disconnected { .. })));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // The internal context heard nothing from upstream either, and exited by itself.
    assert!(
        eventually(3000, || !alive(pid as u32)),
        "the internal context outlived the cut"
    );
    // The bastion is untouched.
    assert!(matches!(
        bastion.call("os.getpid", vec![]),
        Ok(Value::Int(_))
    ));
}

#[test]
fn a_cut_to_the_bastion_fails_everything_behind_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(env) = testenv() else { return };
    let router = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let internal = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let Value::Int(bpid) = bastion.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    let pending = internal
        .build("time.sleep")
        .unwrap()
        .arg(Value::Int(3600))
        .spawn()
        .unwrap();
    let t = Instant::now();
    let _restore = Restore(None, "ec-h0");
    link(None, "ec-h0", "down");
    assert!(matches!(pending.wait(), Err(Error::Disconnected { .. })));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(bastion.is_gone() || eventually(1000, || bastion.is_gone()));
    assert!(
        eventually(3000, || !alive(bpid as u32)),
        "the bastion context outlived the cut"
    );
}
