//! Fleets: many targets from one thread (the group API), against real interpreters and the
//! private sshd: bounded concurrency, shared prefixes, broken targets, relays, no leaks.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use econtext::{Error, ErrorKind, Group, Local, Select, Target, Value};
use econtext_tests::*;

/// The tests of this file count this process's fds, threads and children: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every process this test started has exited.
fn assert_no_children() {
    assert!(
        eventually(3000, || children().is_empty()),
        "children left: {:?}",
        children()
    );
}

fn local(name: &str) -> Target {
    Target::new(name, Local::new().python(python()))
}

#[test]
fn two_hundred_local_contexts_answer_once_each_and_nothing_is_left() {
    let _one = serial();
    let (fds0, threads0) = (fd_count(), thread_count());
    {
        let router = quiet_router();
        let targets = (0..200).map(|i| local(&format!("l{i:03}"))).collect();
        let mut group = Group::new(&router, targets);
        let t = Instant::now();
        let run = group.call("os.getpid", vec![]).unwrap();
        let results: econtext::Results = run.collect();
        eprintln!("200 local contexts, one call each: {:?}", t.elapsed());
        assert_eq!(results.outcomes.len(), 200);
        assert_eq!(results.succeeded().count(), 200);
        let pids: HashSet<i64> = results
            .outcomes
            .iter()
            .map(|o| match o.result {
                Ok(Value::Int(p)) => p,
                ref other => panic!("{}: {other:?}", o.target),
            })
            .collect();
        assert_eq!(pids.len(), 200, "one interpreter per target");
        let names: HashSet<&str> = results.outcomes.iter().map(|o| o.target.as_str()).collect();
        assert_eq!(names.len(), 200);
        assert!(
            fd_count() <= fds0 + 3 * 200 + 8,
            "at most 3 fds per local context: {fds0} -> {}",
            fd_count()
        );
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
        assert_eq!(group.contexts().count(), 200);
    }
    assert_no_children();
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
    let _one = serial();
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
    let _one = serial();
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
    match seen[1].take().unwrap() {
        Err(e @ Error::Spawn { .. }) => {
            let os = std::error::Error::source(&e).expect("the io::Error underneath");
            let io = os.downcast_ref::<std::io::Error>().unwrap();
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
            assert_eq!(e.kind(), ErrorKind::LocalResource);
        }
        other => panic!("{other:?}"),
    }
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

/// A TCP port that accepts connections and never says a word (the held sockets close when
/// it is dropped).
struct Tarpit {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tarpit {
    fn new() -> Tarpit {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Tarpit {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn ssh_fan_out_to_fifty_targets_with_broken_ones_among_them() {
    let _one = serial();
    let Some(env) = testenv() else { return };
    let dir = TempDir::new("fleet-ssh");
    let tarpit = Tarpit::new();
    let cfg = env.fleet_ssh_config(&dir.join("ssh_config"), 50, tarpit.port);
    let ssh = |host: &str| {
        econtext::Ssh::new(host)
            .config_file(&cfg)
            .connect_timeout(Duration::from_secs(6))
    };
    // The tarpit first: it holds one connection slot for its whole timeout, and nothing else.
    let mut targets = vec![Target::new("ssh:tarpit", ssh("tarpit"))];
    targets.extend((1..=50).map(|i| {
        let h = format!("fleet{i:03}");
        Target::new(format!("ssh:{h}"), ssh(&h))
    }));
    for h in ["refused", "wrongkey", "unknown"] {
        targets.push(Target::new(format!("ssh:{h}"), ssh(h)));
    }
    targets.push(Target::new(
        "ssh:nopython",
        ssh("fleet001").python("/nonexistent/python3"),
    ));
    let router = quiet_router();
    let t = Instant::now();
    let mut group = Group::new(&router, targets);
    let mut results = econtext::Results::default();
    let mut run = group.call("os.getuid", vec![]).unwrap();
    let mut good_done = None;
    for o in &mut run {
        results.push(o);
        if results.succeeded().count() == 50 && good_done.is_none() {
            good_done = Some(t.elapsed());
        }
    }
    drop(run);
    eprintln!(
        "55 ssh targets: the 50 good ones in {:?}, all in {:?}",
        good_done,
        t.elapsed()
    );
    let uid = uid_number("ectest");
    assert_eq!(
        results.succeeded().count(),
        50,
        "{:#?}",
        results.unreachable().collect::<Vec<_>>()
    );
    for o in results.succeeded() {
        assert_eq!(o.result.as_ref().unwrap(), &Value::Int(uid), "{}", o.target);
    }
    let kind = |name: &str| {
        let o = results
            .outcomes
            .iter()
            .find(|o| o.target == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(o.is_unreachable(), "{name}: {:?}", o.result);
        let e = o.result.as_ref().unwrap_err();
        assert!(e.is_connect(), "{name}: {e}");
        assert!(
            e.to_string().contains(name),
            "the error names the target: {e}"
        );
        e.kind()
    };
    assert_eq!(kind("ssh:refused"), ErrorKind::Unreachable);
    assert_eq!(kind("ssh:tarpit"), ErrorKind::Unreachable);
    assert_eq!(kind("ssh:wrongkey"), ErrorKind::AuthRefused);
    assert_eq!(kind("ssh:unknown"), ErrorKind::Unreachable);
    assert_eq!(kind("ssh:nopython"), ErrorKind::NoPython);
    // The tarpit delayed nothing but itself: the good ones did not wait for its timeout (the
    // key exchange is curve25519 here: the default sntrup761 costs ~0.2 s of CPU per login on
    // this machine, which would make 50 logins on 2 cores take longer than the timeout).
    assert!(
        good_done.unwrap() < Duration::from_secs(6),
        "the good targets waited for the tarpit: {good_done:?}"
    );
    group.shutdown();
    drop(group);
    drop(router);
    assert_no_children();
}

#[test]
fn relays_on_the_namespace_topology_carry_their_share_and_a_dead_relay_fails_only_its_own() {
    let _one = serial();
    let Some(env) = testenv() else { return };
    let router = quiet_router();
    // Two relays on the bastion; the internal host is reachable only from there.
    let relays = vec![
        router.connect(&env.bastion("ectest")).unwrap(),
        router.connect(&env.bastion("ectarget")).unwrap(),
    ];
    let relay_pids: Vec<i64> = relays.iter().map(pid_of).collect();
    let targets = vec![
        Target::new("internal-ectest", env.internal("ectest")),
        Target::new("internal-ectarget", env.internal("ectarget")),
        Target::new("internal-root", env.internal("root")),
        Target::new("internal-ecnope", env.internal("ecnope")),
    ];
    let kids_before = children().len();
    let mut group = Group::new(&router, targets).via(relays.clone());
    let results: econtext::Results = group
        .call(
            "builtins.eval",
            vec!["[__import__('os').getuid(), __import__('os').getppid()]".into()],
        )
        .unwrap()
        .collect();
    assert_eq!(results.succeeded().count(), 3, "{results:#?}");
    let un: Vec<_> = results.unreachable().collect();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0].target, "internal-ecnope");
    assert_eq!(
        un[0].result.as_ref().unwrap_err().kind(),
        ErrorKind::AuthRefused
    );
    // This host runs no ssh client for the targets: only the two relays' connections.
    assert_eq!(
        children().len(),
        kids_before,
        "the targets' ssh clients run on the relays"
    );
    // Kill relay 0: its share fails at once, the other's answers.
    let share0: Vec<String> = results
        .succeeded()
        .filter(|o| o.index % 2 == 0)
        .map(|o| o.target.clone())
        .collect();
    assert!(!share0.is_empty());
    // (The bastion is a network namespace on this machine: the relay's pid is ours to kill.)
    kill9(relay_pids[0]);
    let t = Instant::now();
    let after: econtext::Results = group.call("os.getuid", vec![]).unwrap().collect();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    for o in &after.outcomes {
        if share0.contains(&o.target) {
            let e = o.result.as_ref().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Disconnected, "{}: {e}", o.target);
        } else if o.connected {
            assert!(o.result.is_ok(), "{}: {:?}", o.target, o.result);
        }
    }
    assert!(after.succeeded().count() >= 1);
    group.shutdown();
}

/// A private sshd (the test environment's config and keys) on its own port with extra
/// settings; killed when dropped.
struct Sshd {
    port: u16,
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Sshd {
    fn start(env: &TestEnv, dir: &TempDir, extra: &str) -> Sshd {
        let port = closed_port();
        let base = std::fs::read_to_string(env.dir.join("sshd_config")).unwrap();
        let cfg: String = base
            .lines()
            .filter(|l| !l.starts_with("Port ") && !l.starts_with("PidFile "))
            .map(|l| format!("{l}\n"))
            .collect();
        let pid = dir.join("sshd.pid");
        let path = dir.join("sshd_config");
        std::fs::write(
            &path,
            format!("{cfg}Port {port}\nPidFile {}\n{extra}\n", pid.display()),
        )
        .unwrap();
        let log = dir.join("sshd.log");
        let child = std::process::Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&path)
            .arg("-E")
            .arg(&log)
            .spawn()
            .unwrap();
        assert!(
            eventually(5000, || std::net::TcpStream::connect(("127.0.0.1", port))
                .is_ok()),
            "the sshd on port {port} did not come up"
        );
        Sshd { port, child, log }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logins_dropped_by_max_startups_are_retried_and_the_error_says_when_it_gave_up() {
    let _one = serial();
    let Some(env) = testenv() else { return };
    let dir = TempDir::new("fleet-maxstartups");
    // Beyond 2 unauthenticated connections, sshd drops every new one.
    let sshd = Sshd::start(&env, &dir, "MaxStartups 2");
    let mut cfg = String::new();
    for i in 1..=12 {
        cfg.push_str(&format!("Host m{i:02}\n    HostName 127.0.0.1\n"));
    }
    cfg.push_str(&format!(
        "Host *\n    Port {}\n    User ectest\n    IdentityFile {}\n    IdentitiesOnly yes\n    \
         StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n",
        sshd.port,
        env.client_key.display()
    ));
    let cfg_path = dir.join("ssh_config");
    std::fs::write(&cfg_path, cfg).unwrap();
    let targets = || -> Vec<Target> {
        (1..=12)
            .map(|i| {
                let h = format!("m{i:02}");
                Target::new(
                    h.clone(),
                    econtext::Ssh::new(h)
                        .config_file(&cfg_path)
                        .connect_timeout(Duration::from_secs(20)),
                )
            })
            .collect()
    };
    let router = quiet_router();
    // Without retries some logins are lost, each a typed ConnectionClosed.
    let mut group = Group::new(&router, targets()).forks(12).retries(0);
    let results: econtext::Results = group.call("os.getpid", vec![]).unwrap().collect();
    let dropped: Vec<_> = results.unreachable().collect();
    assert!(
        !dropped.is_empty(),
        "sshd dropped nothing: the test proves nothing"
    );
    for o in &dropped {
        match o.result.as_ref().unwrap_err() {
            e @ Error::Connect {
                failure: econtext::ConnectFailure::ConnectionClosed,
                ..
            } => assert_eq!(e.kind(), ErrorKind::Unreachable),
            e => panic!("{}: {e}", o.target),
        }
    }
    group.shutdown();
    // With retries every login gets in.
    let mut group = Group::new(&router, targets()).forks(12).retries(12);
    let results: econtext::Results = group.call("os.getpid", vec![]).unwrap().collect();
    assert_eq!(
        results.succeeded().count(),
        12,
        "{:#?}",
        results.unreachable().collect::<Vec<_>>()
    );
    group.shutdown();
    // With a single retry against a server that drops everything past its limit, the error
    // says how often it was tried.
    let log = std::fs::read_to_string(&sshd.log).unwrap_or_default();
    assert!(log.contains("MaxStartups"), "{log}");
    let mut group = Group::new(&router, targets()).forks(12).retries(1);
    let results: econtext::Results = group.call("os.getpid", vec![]).unwrap().collect();
    eprintln!(
        "MaxStartups 2, one retry: {} of 12 gave up",
        results.unreachable().count()
    );
    assert!(
        results.unreachable().count() > 0,
        "nothing gave up: the message below goes unchecked"
    );
    for o in results.unreachable() {
        let e = o.result.as_ref().unwrap_err().to_string();
        assert!(e.contains("gave up after 2 attempts"), "{e}");
    }
    group.shutdown();
}

#[test]
fn a_run_left_early_keeps_what_came_up_and_the_next_run_finishes_the_rest() {
    let _one = serial();
    let router = quiet_router();
    let targets = (0..20).map(|i| local(&format!("e{i:02}"))).collect();
    let mut group = Group::new(&router, targets).forks(4);
    {
        let mut run = group.call("os.getpid", vec![]).unwrap();
        for _ in 0..3 {
            assert!(run.next().unwrap().result.is_ok());
        }
        // Dropped with connections coming up and calls in flight.
    }
    // (A prefix left pending by the first run would make this one wait forever: bounded.)
    let mut results = econtext::Results::default();
    let mut run = group.call("os.getpid", vec![]).unwrap();
    while let Some(o) = run
        .wait(Some(Duration::from_secs(30)))
        .expect("the second run finishes")
    {
        results.push(o);
    }
    drop(run);
    assert_eq!(results.outcomes.len(), 20);
    assert_eq!(
        results.succeeded().count(),
        20,
        "{:#?}",
        results
            .outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .collect::<Vec<_>>()
    );
    group.shutdown();
    drop(group);
    drop(router);
    assert_no_children();
}

#[test]
fn forks_bound_the_hops_behind_a_shared_prefix_too() {
    let _one = serial();
    let router = quiet_router();
    // Twelve targets behind one shared first hop: each second hop is a via connection (a
    // thread here while its spawn is answered). At most 3 may be coming up at once.
    let targets: Vec<Target> = (0..12)
        .map(|i| {
            let hops: Vec<(String, Box<dyn econtext::connect::Method>)> = vec![
                ("local".to_string(), Box::new(Local::new().python(python()))),
                (
                    format!("local{i:02}"),
                    Box::new(Local::new().python(python()).name(format!("l{i}"))),
                ),
            ];
            Target::chain(format!("c{i:02}"), hops)
        })
        .collect();
    let mut group = Group::new(&router, targets).forks(3);
    let mut run = group.call("os.getppid", vec![]).unwrap();
    let mut peak = run.progress().connecting;
    let mut results = econtext::Results::default();
    loop {
        match run.wait(Some(Duration::from_millis(2))) {
            Ok(Some(o)) => results.push(o),
            Ok(None) => break,
            Err(()) => {}
        }
        peak = peak.max(run.progress().connecting);
    }
    drop(run);
    assert_eq!(results.succeeded().count(), 12, "{results:#?}");
    let ppids: HashSet<String> = results
        .outcomes
        .iter()
        .map(|o| format!("{:?}", o.result))
        .collect();
    assert_eq!(
        ppids.len(),
        1,
        "one shared first hop started them all: {ppids:?}"
    );
    // (Counted by the run itself: a count of threads was off by the via threads that had
    // answered and not yet exited.)
    assert!(peak <= 3, "{peak} connections at once with forks(3)");
    assert!(
        peak >= 1,
        "nothing was seen coming up: the check above proves nothing"
    );
    group.shutdown();
}
