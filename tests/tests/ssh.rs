//! ssh, sudo, su and doas through the real binaries against the private sshd of
//! tests/env/up.sh: every method, every failure mode, passwords kept secret.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use econtext::{
    BecomeUser, ConnectFailure, Error, HostKeyPolicy, LogEvent, Password, Router, RouterOptions,
    Value,
};
use econtext_tests::*;

fn router() -> (Router, Arc<Mutex<Vec<LogEvent>>>) {
    let events: Arc<Mutex<Vec<LogEvent>>> = Arc::default();
    let e = events.clone();
    let o = RouterOptions {
        sink: Arc::new(move |ev: &LogEvent| e.lock().unwrap().push(ev.clone())),
        ..Default::default()
    };
    (Router::with_options(o).unwrap(), events)
}

fn uid_of(user: &str) -> i64 {
    uid_number(user)
}

fn failure(r: Result<econtext::Context, Error>) -> ConnectFailure {
    match r {
        Err(Error::Connect { failure, .. }) => failure,
        other => panic!("expected a connect failure, got {other:?}"),
    }
}

#[test]
fn ssh_key_login_call_and_process_title() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let ctx = router.connect(&env.ssh("ectest")).unwrap();
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_of("ectest"))
    );
    // ps shows econtext:<user>@<host>:<pid of this process>.
    let Value::Int(pid) = ctx.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv0 = String::from_utf8_lossy(argv.split(|b| *b == 0).next().unwrap()).into_owned();
    assert!(
        argv0.starts_with("econtext:") && argv0.ends_with(&format!(":{}", std::process::id())),
        "{argv0}"
    );
    ctx.shutdown().unwrap();
}

#[test]
fn ssh_password_login_keeps_the_password_secret() {
    let Some(env) = testenv() else { return };
    let (router, events) = router();
    let secret = env.pw_ecpass.clone();
    // Watch the process table while connecting.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, seen, secret) = (stop.clone(), seen.clone(), secret.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
                        let c = String::from_utf8_lossy(&c).replace('\0', " ");
                        if c.contains(&secret) {
                            seen.lock().unwrap().push(c);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let m = env
        .ssh("ecpass")
        .identity("/dev/null")
        .password(Password::new(secret.clone()));
    let ctx = router.connect(&m).unwrap();
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_of("ecpass"))
    );
    let wrong = router.connect(
        &env.ssh("ecpass")
            .identity("/dev/null")
            .password(Password::new("nope-nope")),
    );
    let text = format!(
        "{:?} {}",
        wrong.as_ref().err(),
        wrong
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );
    assert_eq!(failure(wrong), ConnectFailure::WrongPassword);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        seen.lock().unwrap().is_empty(),
        "password on a command line: {:?}",
        seen.lock().unwrap()
    );
    assert!(!text.contains("nope-nope"), "password in an error: {text}");
    let logs = format!("{:?}", events.lock().unwrap());
    assert!(!logs.contains(&secret), "password in the logs");
    ctx.shutdown().unwrap();
}

#[test]
fn sudo_su_doas_with_and_without_passwords() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let target = Value::Int(uid_of("ectarget"));
    // sudo, NOPASSWD.
    let ctx = router
        .connect(&BecomeUser::sudo("ectarget").prefix(env.as_user("ectest")))
        .unwrap();
    assert_eq!(ctx.call("os.getuid", vec![]).unwrap(), target);
    // sudo with a password, under `Defaults requiretty`.
    let m = BecomeUser::sudo("ectarget")
        .prefix(env.as_user("ecpass"))
        .password(Password::new(env.pw_ecpass.clone()));
    assert_eq!(
        router
            .connect(&m)
            .unwrap()
            .call("os.getuid", vec![])
            .unwrap(),
        target
    );
    // su, password over a raw pty.
    let m = BecomeUser::su("ectarget")
        .prefix(env.as_user("ecpass"))
        .password(Password::new(env.pw_ectarget.clone()));
    let su = router.connect(&m).unwrap();
    assert_eq!(su.call("os.getuid", vec![]).unwrap(), target);
    // Binary data crosses the raw pty unchanged.
    let blob = Value::Bytes((0..=255u8).cycle().take(100_000).collect());
    assert_eq!(su.call("copy.copy", vec![blob.clone()]).unwrap(), blob);
    // doas with a password.
    let m = BecomeUser::doas("ectarget")
        .prefix(env.as_user("ecpass"))
        .password(Password::new(env.pw_ecpass.clone()));
    assert_eq!(
        router
            .connect(&m)
            .unwrap()
            .call("os.getuid", vec![])
            .unwrap(),
        target
    );
}

#[test]
fn each_failure_has_its_own_error() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let t = Duration::from_secs(10);
    let bad = Password::new("definitely-wrong");
    let pass = |m: BecomeUser| m.prefix(env.as_user("ecpass")).connect_timeout(t);
    assert_eq!(
        failure(router.connect(&pass(BecomeUser::sudo("ectarget")).password(bad.clone()))),
        ConnectFailure::WrongPassword
    );
    assert_eq!(
        failure(router.connect(&pass(BecomeUser::su("ectarget")).password(bad.clone()))),
        ConnectFailure::WrongPassword
    );
    assert_eq!(
        failure(router.connect(&pass(BecomeUser::doas("ectarget")).password(bad.clone()))),
        ConnectFailure::WrongPassword
    );
    assert_eq!(
        failure(router.connect(&pass(BecomeUser::sudo("ectarget")))),
        ConnectFailure::PasswordRequired
    );
    assert_eq!(
        failure(router.connect(
            &pass(BecomeUser::sudo("ecnope")).password(Password::new(env.pw_ecpass.clone()))
        )),
        ConnectFailure::NotAllowed
    );
    assert_eq!(
        failure(router.connect(
            &pass(BecomeUser::doas("ecnope")).password(Password::new(env.pw_ecpass.clone()))
        )),
        ConnectFailure::NotAllowed
    );
    assert_eq!(
        failure(
            router.connect(
                &pass(BecomeUser::sudo("no-such-user-x"))
                    .password(Password::new(env.pw_ecpass.clone()))
            )
        ),
        ConnectFailure::UnknownUser
    );
    assert_eq!(
        failure(router.connect(&pass(BecomeUser::su("no-such-user-x")).password(bad.clone()))),
        ConnectFailure::UnknownUser
    );

    assert_eq!(
        failure(router.connect(&econtext::Ssh::new("no-such-host.invalid").connect_timeout(t))),
        ConnectFailure::UnknownHost
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(
        failure(router.connect(&env.ssh("ectest").port(closed))),
        ConnectFailure::ConnectionRefused
    );
    assert_eq!(
        failure(router.connect(&env.ssh("ecnope"))),
        ConnectFailure::AuthFailed
    );
    assert_eq!(
        failure(router.connect(&env.ssh("ectest").known_hosts("/dev/null"))),
        ConnectFailure::HostKeyUnknown
    );
    assert_eq!(
        failure(router.connect(&env.ssh("ectest").known_hosts(&env.known_hosts_changed))),
        ConnectFailure::HostKeyChanged
    );
    // accept-new takes an unknown key but never a changed one; ignore takes anything.
    let fresh = env.dir.join("known_hosts_fresh");
    let _ = std::fs::remove_file(&fresh);
    let ok = router
        .connect(
            &env.ssh("ectest")
                .known_hosts(&fresh)
                .host_key(HostKeyPolicy::AcceptNew),
        )
        .unwrap();
    ok.shutdown().unwrap();
    assert_eq!(
        failure(
            router.connect(
                &env.ssh("ectest")
                    .known_hosts(&env.known_hosts_changed)
                    .host_key(HostKeyPolicy::AcceptNew)
            )
        ),
        ConnectFailure::HostKeyChanged
    );
    router
        .connect(
            &env.ssh("ectest")
                .known_hosts(&env.known_hosts_changed)
                .host_key(HostKeyPolicy::Ignore),
        )
        .unwrap()
        .shutdown()
        .unwrap();

    assert_eq!(
        failure(router.connect(&env.ssh("ectest").python("/nonexistent/python3"))),
        ConnectFailure::NoPython
    );
    let old = env.script("python-old", "#!/bin/sh\necho EC02.3.9\nsleep 5\n");
    match router.connect(&env.ssh("ectest").python(old.to_string_lossy())) {
        Err(Error::PythonTooOld { version, .. }) => assert_eq!(version, "2.3.9"),
        other => panic!("{other:?}"),
    }
    // A bootstrap that stalls fails at the connect timeout with the last lines printed.
    let stall = env.script(
        "python-stall",
        "#!/bin/sh\necho 'stalling here'\nexec sleep 60\n",
    );
    let started = Instant::now();
    match router.connect(
        &env.ssh("ectest")
            .python(stall.to_string_lossy())
            .connect_timeout(Duration::from_secs(2)),
    ) {
        Err(e @ Error::ConnectTimeout { .. }) => {
            assert!(e.to_string().contains("stalling here"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn killing_the_host_during_a_remote_call_leaves_nothing_behind() {
    let Some(env) = testenv() else { return };
    let target = format!("ssh:ectest@127.0.0.1:{}", env.ssh_port);
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args([
            "call",
            &target,
            "-i",
            &env.client_key.to_string_lossy(),
            "--known-hosts",
            &env.known_hosts.to_string_lossy(),
            "time.sleep",
            "3600",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!(":{}", cli.id());
    assert!(
        eventually(15_000, || !processes_matching(&needle).is_empty()),
        "remote context never started"
    );
    cli.kill().unwrap();
    cli.wait().unwrap();
    assert!(
        eventually(1500, || processes_matching(&needle).is_empty()),
        "left: {:?}",
        processes_matching(&needle)
    );
}

#[test]
fn python_matrix_over_ssh() {
    let Some(env) = testenv() else { return };
    let (router, _) = router();
    let mut ran = Vec::new();
    // 2.4-2.6 over ssh with a key: stage 2 goes out before stage 1 names the Python, so the
    // first start gets the modern one and the broker starts it again with theirs.
    for py in every_python() {
        let ctx = router
            .connect(&env.ssh("root").python(py.to_string_lossy()))
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        let v = ctx.call("platform.python_version", vec![]).unwrap();
        ran.push(format!("{v:?}"));
        // Re-exec'd by stage 1 behind sshd: still its own path, no PYTHONHOME leaking (the
        // relocatable 3.14 and 3.15 need one to start).
        assert_identity(&ctx, &py.to_string_lossy(), None);
        ctx.shutdown().unwrap();
    }
    eprintln!("python matrix over ssh: {ran:?}");
}

#[test]
fn cli_reads_a_password_from_a_file_descriptor() {
    let Some(env) = testenv() else { return };
    use std::io::Write;
    let target = format!("ssh:ecpass@127.0.0.1:{}", env.ssh_port);
    // sh moves its stdin (the password) to fd 7, then becomes the CLI.
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" \"$@\" 7<&0 </dev/null",
            env!("CARGO_BIN_EXE_econtext_cli_for_tests"),
        ])
        .args([
            "call",
            &target,
            "-i",
            "/dev/null",
            "--known-hosts",
            &env.known_hosts.to_string_lossy(),
        ])
        .args(["--password-fd", "7", "os.getuid"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", env.pw_ecpass).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uid = uid_of("ecpass");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid.to_string());
}

#[test]
fn cli_asks_for_a_password_on_the_terminal() {
    let Some(env) = testenv() else { return };
    use std::io::{Read, Write};
    let cli = format!(
        "{} call ssh:ecpass@127.0.0.1:{} --known-hosts {} os.getuid",
        env!("CARGO_BIN_EXE_econtext_cli_for_tests"),
        env.ssh_port,
        env.known_hosts.display()
    );
    // `script` gives the CLI a terminal; we are the person typing.
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cli, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("password:") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen)
        .contains("econtext: ssh:ecpass@127.0.0.1: ecpass@127.0.0.1's password:"));
    writeln!(child.stdin.as_mut().unwrap(), "{}", env.pw_ecpass).unwrap();
    out.read_to_end(&mut seen).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains(&uid_of("ecpass").to_string()), "{text}");
    assert!(
        !text.contains(&env.pw_ecpass),
        "the typed password was echoed: {text}"
    );
}
