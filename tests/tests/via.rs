//! Multi-hop contexts on the namespace topology of tests/env/up.sh: this process reaches
//! `bastion`; `internal` is reachable only from the bastion.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use econtext::{
    BecomeUser, ConnectFailure, Error, LogEvent, Password, Router, RouterOptions, Value,
};
use econtext_tests::*;

fn router() -> (Router, Arc<Mutex<Vec<LogEvent>>>) {
    let events: Arc<Mutex<Vec<LogEvent>>> = Arc::default();
    let e = events.clone();
    let o = RouterOptions {
        sink: Arc::new(move |ev: &LogEvent| e.lock().unwrap().push(ev.clone())),
        module_path: vec![
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/modpath")
        ],
        ..Default::default()
    };
    (Router::with_options(o).unwrap(), events)
}

fn uid_of(user: &str) -> Value {
    Value::Int(uid_number(user))
}

fn text(v: Value) -> String {
    match v {
        Value::Str(s) => s,
        Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn bastion_then_internal_and_no_direct_way_in() {
    let Some(env) = testenv() else { return };
    let (router, events) = router();
    // A direct connection to the internal host fails: no route.
    let direct = router.connect(
        &econtext::Ssh::new(&env.internal)
            .user("ectest")
            .identity(&env.client_key)
            .known_hosts(&env.known_hosts),
    );
    assert!(
        matches!(
            direct,
            Err(Error::Connect {
                failure: ConnectFailure::Unreachable,
                ..
            })
        ),
        "{direct:?}"
    );

    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let internal = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let addrs = text(
        internal
            .call(
                "subprocess.check_output",
                vec![Value::List(vec!["hostname".into(), "-I".into()])],
            )
            .unwrap(),
    );
    assert!(addrs.contains(&env.internal), "{addrs}");
    // Logs and output of the deep context carry the full path of names.
    internal
        .call("os.system", vec!["echo from-internal".into()])
        .unwrap();
    let path = format!("ssh:ectest@{}/ssh:ectest@{}", env.bastion, env.internal);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.context == path && e.message == "from-internal"),
        "{:?}",
        events.lock().unwrap()
    );
    // A hop that fails says which hop and why.
    let closed = router.connect_via(&env.internal("ectest").port(2), &bastion);
    match closed {
        Err(
            e @ Error::Connect {
                failure: ConnectFailure::ConnectionRefused,
                ..
            },
        ) => {
            assert!(
                e.to_string().starts_with(&format!(
                    "ssh:ectest@{}/ssh:ectest@{}",
                    env.bastion, env.internal
                )),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    internal.shutdown().unwrap();
    bastion.shutdown().unwrap();
}

#[test]
fn the_seed_example_bastion_sudo_with_password_then_internal() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    // ssh to the bastion with a password, sudo to the account that holds the key, then on.
    let (bastion, _account, internal) = env.seed_chain(&router);
    assert_eq!(
        internal.call("os.getuid", vec![]).unwrap(),
        uid_of("ectarget")
    );
    let ip = text(
        internal
            .call(
                "subprocess.check_output",
                vec![Value::List(vec!["hostname".into(), "-I".into()])],
            )
            .unwrap(),
    );
    assert!(ip.contains(&env.internal));
    // Round trips through three hops keep working.
    for i in 0..50 {
        assert_eq!(
            internal
                .call("operator.add", vec![Value::Int(i), Value::Int(1)])
                .unwrap(),
            Value::Int(i + 1)
        );
    }
    // A wrong password on a remote hop is reported as such.
    let wrong = router.connect_via(
        &BecomeUser::sudo("ectarget").password(Password::new("nope")),
        &bastion,
    );
    assert!(
        matches!(
            wrong,
            Err(Error::Connect {
                failure: ConnectFailure::WrongPassword,
                ..
            })
        ),
        "{wrong:?}"
    );
}

#[test]
fn the_seed_example_as_a_cli_one_liner() {
    let Some(env) = testenv() else { return };
    let target = format!(
        "ssh:ecpass@{}/sudo:ectarget/ssh:ectarget@{}",
        env.bastion, env.internal
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args([
            "call",
            &target,
            "--known-hosts",
            &env.known_hosts.to_string_lossy(),
            "--password-env",
            "EC_PW",
            "os.system",
            "hostname -I; id -un",
        ])
        .env("EC_PW", &env.pw_ecpass)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(
        stderr.contains(&format!("ctx.{target}: stdout: ectarget")),
        "{stderr}"
    );
    assert!(stderr.contains(&env.internal), "{stderr}");
    assert!(!stderr.contains(&env.pw_ecpass));
}

#[test]
fn four_hops_bastion_internal_sudo_su() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let internal = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let sudo = router
        .connect_via(&BecomeUser::sudo("ectarget"), &internal)
        .unwrap();
    let su = router
        .connect_via(
            &BecomeUser::su("ecpass").password(Password::new(env.pw_ecpass.clone())),
            &sudo,
        )
        .unwrap();
    assert_eq!(su.call("os.getuid", vec![]).unwrap(), uid_of("ecpass"));
    assert!(
        su.name().ends_with("/sudo:ectarget/su:ecpass"),
        "{}",
        su.name()
    );
    // Modules reach the deepest context; each link carries a module once.
    assert_eq!(
        su.call("app.hello", vec![Value::Int(0)])
            .unwrap()
            .to_string_lossy_first(),
        Value::Int(42)
    );
}

trait First {
    fn to_string_lossy_first(self) -> Value;
}

impl First for Value {
    fn to_string_lossy_first(self) -> Value {
        match self {
            Value::Tuple(mut t) if !t.is_empty() => t.remove(0),
            other => other,
        }
    }
}

#[test]
fn module_requests_are_answered_by_the_nearest_hop() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let a = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let b = router
        .connect_via(&BecomeUser::sudo("ectarget"), &bastion)
        .unwrap();
    let before = router.module_requests();
    assert_eq!(a.call("bigpkg.total", vec![]).unwrap(), Value::Int(117));
    let after_a = router.module_requests();
    assert_eq!(after_a - before, 1, "the bastion fetched bigpkg once for a");
    assert_eq!(b.call("bigpkg.total", vec![]).unwrap(), Value::Int(117));
    assert_eq!(
        router.module_requests(),
        after_a,
        "b was served from the bastion's cache"
    );
}

#[test]
fn killing_the_bastion_fails_everything_behind_it_at_once() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let internal = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let Value::Int(bastion_pid) = bastion.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    let Value::Int(internal_pid) = internal.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    let pending = internal
        .build("time.sleep")
        .unwrap()
        .arg(Value::Int(3600))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Everything this test started behind the bastion: the internal stub and the bastion's
    // own children (its ssh client). Other tests run in parallel, so count only these.
    let mut ours = children_of(bastion_pid as u32);
    ours.push(internal_pid as u32);
    assert!(ours.len() >= 2, "{ours:?}");
    let t = Instant::now();
    std::process::Command::new("kill")
        .args(["-9", &bastion_pid.to_string()])
        .status()
        .unwrap();
    assert!(matches!(pending.wait(), Err(Error::Disconnected { .. })));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(internal.is_gone() || eventually(1000, || internal.is_gone()));
    assert!(matches!(
        internal.call("os.getpid", vec![]),
        Err(Error::Disconnected { .. })
    ));
    assert!(
        eventually(1500, || !ours.iter().any(|p| alive(*p))),
        "left: {:?}",
        ours.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

#[test]
fn a_compromised_child_cannot_make_its_parent_or_a_sibling_run_code() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let bastion = router.connect(&env.bastion("ectest")).unwrap();
    let evil = router
        .connect_via(&env.internal("ectest"), &bastion)
        .unwrap();
    let sibling = router
        .connect_via(&BecomeUser::sudo("ectarget"), &bastion)
        .unwrap();
    let marker = env.dir.join(format!("forged-{}", std::process::id()));
    let m = marker.to_string_lossy().to_string();
    let parent = evil.call("forge.parent", vec![]).unwrap();
    assert_eq!(parent, Value::Int(bastion.id() as i64));
    for dst in [bastion.id(), sibling.id(), 0] {
        let r = evil
            .call(
                "forge.forged_call",
                vec![Value::Int(dst as i64), m.clone().into()],
            )
            .unwrap();
        let Value::List(r) = r else { panic!("{r:?}") };
        assert_eq!(
            text(r[0].clone()),
            "dead",
            "a forged call to {dst} was not refused: {r:?}"
        );
        assert_eq!(r[1], Value::Int(2), "refused, for {dst}: {r:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!marker.exists(), "a forged call ran");
    // The legitimate parent chain still works.
    assert_eq!(
        sibling.call("os.getuid", vec![]).unwrap(),
        uid_of("ectarget")
    );
}

#[test]
fn every_interpreter_can_be_an_intermediate_hop() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    for py in every_python() {
        // root's context on this interpreter starts a sudo hop and routes for it.
        let mid = router
            .connect(&env.ssh("root").python(py.to_string_lossy()))
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        let leaf = router
            .connect_via(
                &BecomeUser::sudo("ectarget").python("/usr/bin/python3"),
                &mid,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        assert_eq!(
            leaf.call("os.getuid", vec![]).unwrap(),
            uid_of("ectarget"),
            "{}",
            py.display()
        );
        assert_eq!(
            leaf.call("app.hello", vec![Value::Int(1)])
                .unwrap()
                .to_string_lossy_first(),
            Value::Int(43),
            "{}",
            py.display()
        );
        mid.shutdown().unwrap();
        assert!(
            eventually(2000, || leaf.is_gone()),
            "{}: the leaf outlived its parent",
            py.display()
        );
    }
}

/// Python 2.4-2.6 behind every kind of hop: sudo as a first hop (stage 2 waits for stage 1,
/// and the right one is chosen when it names its version), ssh with a key behind a context
/// (pipelined: the spawn routine refuses the modern one and the host starts it again with
/// theirs), and at the end of the seed's chain (bastion, sudo with requiretty and a password,
/// ssh to the internal host); and an old context starting a hop of its own.
#[test]
fn old_pythons_as_targets_of_every_hop() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let mid = router.connect(&env.ssh("root")).unwrap();
    let (_bastion, account, _internal) = env.seed_chain(&router);
    for py in old_interpreters() {
        let p = py.to_string_lossy().into_owned();
        let xy = py.parent().unwrap().parent().unwrap().file_name().unwrap();
        let xy = xy.to_string_lossy().into_owned();
        let sudo = router
            .connect(&BecomeUser::sudo("ectarget").python(&p))
            .unwrap_or_else(|e| panic!("{p}: sudo: {e}"));
        let behind = router
            .connect_via(&env.ssh("ectarget").python(&p), &mid)
            .unwrap_or_else(|e| panic!("{p}: ssh behind a context: {e}"));
        let internal = router
            .connect_via(&env.internal("ectarget").python(&p), &account)
            .unwrap_or_else(|e| panic!("{p}: the seed's chain: {e}"));
        for ctx in [&sudo, &behind, &internal] {
            let v = text(ctx.call("platform.python_version", vec![]).unwrap());
            assert!(v.starts_with(&format!("{xy}.")), "{p}: {v}");
            assert_eq!(ctx.call("os.getuid", vec![]).unwrap(), uid_of("ectarget"));
            assert_identity(ctx, &p, None);
        }
        assert_eq!(
            internal
                .call("oldapp.hello", vec![Value::Int(1)])
                .unwrap()
                .to_string_lossy_first(),
            Value::Int(43),
            "{p}"
        );
        // And an old context starts hops of its own (the intermediate-hop test covers it
        // with modules; here: one behind the seed's chain, on the same old Python).
        let deeper = router
            .connect_via(&env.internal("ectarget").python(&p), &internal)
            .unwrap_or_else(|e| panic!("{p}: a hop from an old context: {e}"));
        assert_identity(&deeper, &p, None);
        deeper.shutdown().unwrap();
        for ctx in [sudo, behind, internal] {
            ctx.shutdown().unwrap();
        }
    }
}
