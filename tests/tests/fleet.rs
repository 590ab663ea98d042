//! Fleets: many targets from one thread (the group API), against real interpreters and the
//! private sshd: bounded concurrency, shared prefixes, broken targets, relays, no leaks.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use econtext::{Error, ErrorKind, Group, Local, Router, Select, Target, Value};
use econtext_tests::*;

fn local(name: &str) -> Target {
    Target::new(name, Local::new().python(python()))
}

#[test]
fn a_hundred_local_contexts_answer_in_arrival_order_and_nothing_is_left() {
    let (fds0, threads0) = (fd_count(), thread_count());
    {
        let router = quiet_router();
        let targets = (0..100).map(|i| local(&format!("l{i:03}"))).collect();
        let mut group = Group::new(&router, targets);
        let t = Instant::now();
        let run = group.call("os.getpid", vec![]).unwrap();
        let results: econtext::Results = run.collect();
        eprintln!("100 local contexts, one call each: {:?}", t.elapsed());
        assert_eq!(results.outcomes.len(), 100);
        assert_eq!(results.succeeded().count(), 100);
        let pids: HashSet<i64> = results
            .outcomes
            .iter()
            .map(|o| match o.result {
                Ok(Value::Int(p)) => p,
                ref other => panic!("{}: {other:?}", o.target),
            })
            .collect();
        assert_eq!(pids.len(), 100, "one interpreter per target");
        let names: HashSet<&str> = results.outcomes.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(names.len(), 100);
        // A second pass reuses the connections.
        let again: econtext::Results = group.call("os.getpid", vec![]).unwrap().collect();
        let pids2: HashSet<i64> = again
            .outcomes
            .iter()
            .filter_map(|o| match o.result {
                Ok(Value::Int(p)) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(pids, pids2, "the second call went to the same contexts");
        assert_eq!(group.contexts().count(), 100);
    }
    assert!(
        eventually(3000, || children().is_empty()),
        "children left: {:?}",
        children()
    );
    assert!(
        eventually(3000, || fd_count() <= fds0),
        "fds: {fds0} -> {}",
        fd_count()
    );
    assert!(
        eventually(3000, || thread_count() <= threads0),
        "threads: {threads0} -> {}",
        thread_count()
    );
}

#[test]
fn broken_targets_are_reported_typed_and_never_stop_the_others() {
    let router = quiet_router();
    let targets = vec![
        local("good1"),
        Target::new("nopython", Local::new().python("/nonexistent/python3")),
        local("raises"),
        local("good2"),
    ];
    let mut group = Group::new(&router, targets).timeout(Duration::from_secs(2));
    let results: econtext::Results = group
        .call("builtins.eval", vec!["__import__('os').getpid()".into()])
        .unwrap()
        .collect();
    assert_eq!(results.outcomes.len(), 4);
    assert_eq!(results.succeeded().count(), 3);
    let un: Vec<_> = results.unreachable().collect();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].target, "nopython");
    let e = un[0].result.as_ref().unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert_eq!(e.kind(), ErrorKind::LocalResource, "{e}");
    // A remote exception and a per-target timeout, on the contexts that are up.
    let mut group =
        Group::new(&router, vec![local("a"), local("b")]).timeout(Duration::from_millis(500));
    let results: econtext::Results = group
        .call("time.sleep", vec![Value::Int(5)])
        .unwrap()
        .collect();
    for o in &results.outcomes {
        let e = o.result.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(o.connected);
    }
    assert_eq!(results.failed().count(), 2);
    // (Those two are still sleeping: calls on a context run in order.)
    let mut group = Group::new(&router, vec![local("c"), local("d")]);
    let results: econtext::Results = group
        .call("json.loads", vec!["{".into()])
        .unwrap()
        .collect();
    for o in &results.outcomes {
        assert_eq!(o.result.as_ref().unwrap_err().kind(), ErrorKind::Remote);
    }
}

#[test]
fn connect_async_is_selectable_with_calls() {
    let router = quiet_router();
    let a = router
        .connect_async(&Local::new().python(python()))
        .unwrap();
    let b = router
        .connect_async(&Local::new().python("/nonexistent/python3"))
        .unwrap();
    let mut sel = Select::new();
    sel.add_connect(&a, 0);
    sel.add_connect(&b, 1);
    let mut seen = [None, None];
    while seen.iter().any(Option::is_none) {
        let t = sel
            .wait(Some(Duration::from_secs(20)))
            .expect("a connection fired");
        let c = [&a, &b][t];
        if let Some(r) = c.try_result() {
            seen[t] = Some(r);
        }
    }
    let ctx = seen[0].take().unwrap().unwrap();
    assert!(matches!(seen[1].take().unwrap(), Err(Error::Spawn { .. })));
    let call = ctx.call_async("os.getpid", vec![]).unwrap();
    sel.add_call(&call, 7);
    assert_eq!(sel.wait(Some(Duration::from_secs(10))), Some(7));
    assert!(matches!(call.try_result(), Some(Ok(Value::Int(_)))));
}

#[test]
fn the_open_file_limit_is_raised_and_children_get_the_old_one() {
    let hard = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
        .unwrap();
    // The CLI started with a soft limit of 256: it raises its own to the hard limit, and the
    // interpreter it starts gets 256 back.
    let out = std::process::Command::new("prlimit")
        .arg(format!("--nofile=256:{hard}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args([
            "call",
            "-q",
            &format!("local:{}", python()),
            "builtins.eval",
        ])
        .arg(
            "[__import__('resource').getrlimit(7)[0], [l for l in open('/proc/%d/limits' % \
             __import__('os').getppid()) if l.startswith('Max open files')][0].split()[3]]",
        )
        .output()
        .expect("prlimit (util-linux) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), format!("[256, \"{hard}\"]"));
}
