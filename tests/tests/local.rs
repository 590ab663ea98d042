//! Local contexts end to end against the real interpreters of this machine.

use std::time::{Duration, Instant};

use econtext::{Error, Local, Router, Value};
use econtext_tests::*;

fn quiet() -> Router {
    quiet_router()
}

#[test]
fn python_matrix_calls_through_every_interpreter() {
    let all = every_python();
    assert!(!all.is_empty(), "no interpreters found");
    let router = quiet();
    let mut ran = Vec::new();
    for py in &all {
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        let v = ctx.call("platform.python_version", vec![]).unwrap();
        let text = match v {
            Value::Str(s) => s,
            Value::Bytes(b) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        };
        // pyenv's directories name the whole version, /opt/extra-pythons/ its X.Y.
        let dir = py
            .parent()
            .and_then(|b| b.parent())
            .and_then(|d| d.file_name());
        let xy = dir
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            py.to_string_lossy().contains(&text)
                || py.starts_with("/usr")
                || (py.starts_with("/opt/extra-pythons") && text.starts_with(&format!("{xy}."))),
            "{} said {text}",
            py.display()
        );
        // A round trip of every value shape.
        let sample = Value::Tuple(vec![
            Value::None,
            Value::Bool(true),
            Value::Int(-5),
            econtext::json::int_from_decimal("123456789012345678901234567890"),
            Value::Float(-0.0),
            Value::from("h\u{e9}\u{1f600}"),
            Value::Bytes(vec![0, 255]),
            Value::List(vec![Value::Dict(vec![(
                Value::Tuple(vec![Value::Int(1)]),
                Value::None,
            )])]),
        ]);
        let echoed = ctx.call("copy.deepcopy", vec![sample.clone()]).unwrap();
        assert_eq!(echoed, sample, "{}", py.display());
        ctx.shutdown().unwrap();
        ran.push(text);
    }
    eprintln!("python matrix ran: {ran:?}");
}

#[test]
fn remote_exception_is_typed_with_traceback() {
    let router = quiet();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    match ctx.call("json.loads", vec!["{".into()]) {
        Err(Error::Remote(e)) => {
            assert!(e.type_name.ends_with("JSONDecodeError"), "{}", e.type_name);
            assert!(e.traceback.contains("json/decoder.py"), "{}", e.traceback);
            assert!(
                !e.traceback.contains("<string>"),
                "stub frames leak: {}",
                e.traceback
            );
        }
        other => panic!("{other:?}"),
    }
    match ctx.call("no_such_module_xyz.f", vec![]) {
        Err(Error::Remote(e)) => {
            assert!(e.type_name.contains("Error") && e.message.contains("no_such_module_xyz"))
        }
        other => panic!("{other:?}"),
    }
    // Unencodable result: a clear TypeError, and the context keeps working.
    match ctx.call("builtins.set", vec![]) {
        Err(Error::Remote(e)) => assert!(e.message.contains("cannot send a set"), "{}", e.message),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ctx.call("operator.add", vec![Value::Int(2), Value::Int(3)])
            .unwrap(),
        Value::Int(5)
    );
    let kw = ctx
        .build("builtins.int")
        .unwrap()
        .arg("ff")
        .kwarg("base", Value::Int(16))
        .call()
        .unwrap();
    assert_eq!(kw, Value::Int(255));
}

/// Python 2.4-2.6: a call that outlives its timeout fails as Timeout, and the hung context is
/// shut down at once.
#[test]
fn old_pythons_time_out_and_shut_down() {
    let router = quiet();
    for py in old_interpreters() {
        times_out_then_shuts_down(&router, &py.display().to_string());
    }
}

/// A call past its timeout fails as Timeout within 2 s; the hung context still shuts down
/// within 2 s (its IO thread exits even while the call runs), and calls on it then fail at once.
fn times_out_then_shuts_down(router: &Router, py: &str) {
    let ctx = router.connect(&Local::new().python(py)).unwrap();
    let t = Instant::now();
    let r = ctx
        .build("time.sleep")
        .unwrap()
        .arg(Value::Float(30.0))
        .timeout(Duration::from_millis(300))
        .call();
    assert!(matches!(r, Err(Error::Timeout { .. })), "{py}: {r:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{py}");
    let t = Instant::now();
    ctx.shutdown().unwrap();
    assert!(ctx.is_gone(), "{py}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "{py}: {:?}",
        t.elapsed()
    );
    assert!(
        matches!(
            ctx.call("os.getpid", vec![]),
            Err(Error::Disconnected { .. })
        ),
        "{py}"
    );
}

#[test]
fn timeout_then_shutdown_and_async_fan_out() {
    let router = quiet();
    times_out_then_shuts_down(&router, &python());

    // call_no_reply runs without an answer; call_async returns at once; attributes of
    // modules (os.environ.__setitem__) are reachable.
    let other = router.connect(&Local::new().python(python())).unwrap();
    other
        .call_no_reply("os.environ.__setitem__", vec!["EC_SEEN".into(), "1".into()])
        .unwrap();
    let h = other
        .call_async("os.getenv", vec!["EC_SEEN".into()])
        .unwrap();
    assert_eq!(h.wait().unwrap(), Value::from("1"));
    other.call_no_reply("json.loads", vec!["{".into()]).unwrap();
    // Many calls in flight from one thread.
    let ctxs: Vec<_> = (0..4)
        .map(|_| router.connect(&Local::new().python(python())).unwrap())
        .collect();
    let handles: Vec<_> = ctxs
        .iter()
        .map(|c| c.build("os.getpid").unwrap().spawn().unwrap())
        .collect();
    let pids: std::collections::BTreeSet<_> = handles
        .into_iter()
        .map(|h| h.wait().unwrap())
        .map(|v| format!("{v:?}"))
        .collect();
    assert_eq!(pids.len(), 4);
}

#[test]
fn killed_context_fails_pending_calls_at_once() {
    let router = quiet();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let h = ctx
        .build("time.sleep")
        .unwrap()
        .arg(Value::Int(60))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    ctx.kill();
    assert!(matches!(h.wait(), Err(Error::Disconnected { .. })));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn bootstrap_errors_carry_version_and_output() {
    let dir = std::env::temp_dir().join(format!("econtext-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("python-old");
    std::fs::write(&old, "#!/bin/sh\necho 'EC02.3.9'\nsleep 5\n").unwrap();
    let broken = dir.join("python-broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'EC03.99.0'\necho 'Traceback: SyntaxError: invalid syntax' >&2\nexit 1\n",
    )
    .unwrap();
    let silent = dir.join("python-silent");
    std::fs::write(&silent, "#!/bin/sh\necho 'motd: hello'\nexec sleep 30\n").unwrap();
    for p in [&old, &broken, &silent] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let router = quiet();
    match router.connect(&Local::new().python(old.to_string_lossy())) {
        Err(Error::PythonTooOld { version, .. }) => assert_eq!(version, "2.3.9"),
        other => panic!("{other:?}"),
    }
    match router.connect(&Local::new().python(broken.to_string_lossy())) {
        Err(e @ Error::Bootstrap { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("3.99.0") && text.contains("SyntaxError"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let t = Instant::now();
    match router.connect(
        &Local::new()
            .python(silent.to_string_lossy())
            .connect_timeout(Duration::from_millis(500)),
    ) {
        Err(e @ Error::ConnectTimeout { .. }) => {
            assert!(e.to_string().contains("motd: hello"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(3));
    match router.connect(&Local::new().python("/nonexistent/python")) {
        Err(Error::Spawn { .. }) => {}
        other => panic!("{other:?}"),
    }
    drop(router);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nothing_is_written_to_disk_under_a_read_only_root() {
    let Some(bwrap) = ["/usr/bin/bwrap", "/bin/bwrap"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "bubblewrap missing in CI: the test command installs it"
        );
        eprintln!("SKIP: bubblewrap not installed");
        return;
    };
    let router = quiet();
    let prefix: Vec<String> = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--die-with-parent",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for py in interpreters() {
        let ctx = router
            .connect(
                &Local::new()
                    .python(py.to_string_lossy())
                    .prefix(prefix.clone()),
            )
            .unwrap();
        // The root really is read-only for the context...
        let r = ctx.call("os.mkdir", vec!["/tmp/econtext-ro-probe".into()]);
        assert!(
            matches!(&r, Err(Error::Remote(e)) if e.message.contains("Read-only")),
            "{r:?}"
        );
        // ...and it still works: bootstrap, calls, stdio capture need no disk.
        assert_eq!(
            ctx.call("os.system", vec!["echo ok".into()]).unwrap(),
            Value::Int(0)
        );
        ctx.shutdown().unwrap();
    }
}

/// Regression: `sys.executable` was `''` in every context (the interpreter is started with the
/// process title as `argv[0]`), so `subprocess.run([sys.executable, ...])` failed. Every
/// interpreter knows its path now, started by the host itself (stage 2 in-process) and behind
/// a wrapper (stage 1 re-execs it: the path of ssh, sudo, containers), and runs itself.
#[test]
fn sys_executable_is_the_interpreter_and_runs_itself() {
    let router = quiet_router();
    for py in every_python() {
        let p = py.display().to_string();
        for prefix in [vec![], vec!["env".to_string()]] {
            let ctx = router
                .connect(&Local::new().python(&p).prefix(prefix))
                .unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_identity(&ctx, &p, None);
            ctx.shutdown().unwrap();
        }
    }
}

/// A `PYTHONHOME` the environment has already is the user's: it stays, for the context and
/// for the programs it starts (stage 1 sets one for the re-exec only when there is none).
#[test]
fn a_users_pythonhome_is_kept() {
    let router = quiet_router();
    let p = "/usr/bin/python3";
    if !std::path::Path::new(p).exists() {
        panic!("{p} is missing: the test environment installs Debian's python3");
    }
    let prefix = vec!["env".to_string(), "PYTHONHOME=/usr".to_string()];
    let ctx = router
        .connect(&Local::new().python(p).prefix(prefix))
        .unwrap();
    assert_identity(&ctx, p, Some("/usr"));
    ctx.shutdown().unwrap();
}

#[test]
fn poll_waits_in_slices_keeps_the_call_and_its_select() {
    // CallHandle::poll (the Python binding's wait): a slice that passes leaves the call
    // waiting, and a Select watching it is still told when the result comes.
    let router = quiet();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let h = ctx
        .call_async("time.sleep", vec![Value::Float(0.3)])
        .unwrap();
    let mut sel = econtext::Select::new();
    sel.add_call(&h, 7);
    assert!(h.poll(Duration::from_millis(20)).is_none());
    assert_eq!(sel.wait(Some(Duration::from_secs(20))), Some(7));
    assert_eq!(
        h.poll(Duration::from_secs(20)).unwrap().unwrap(),
        Value::None
    );
    assert!(h.try_result().is_none(), "taken once");
}

#[test]
fn relocatable_interpreters_start_and_nothing_leaks() {
    // 3.14 and 3.15 from tests/env/pythons.sh find their standard library from their own path
    // (reached through a symlink): named with the process title they could not start
    // ("Failed to import encodings"). PYTHONHOME gets them going, and is gone again before
    // any program of theirs starts.
    let relocatable: Vec<_> = ["3.14", "3.15"]
        .iter()
        .map(|v| std::path::PathBuf::from(format!("/opt/extra-pythons/{v}/bin/python")))
        .filter(|p| p.exists())
        .collect();
    for v in ["3.14", "3.15"] {
        if std::path::Path::new(&format!("/opt/extra-pythons/{v}/bin/python")).exists() {
            continue;
        }
        // A download that failed is a visible skip; never having tried is a failure in CI.
        match std::fs::read_to_string(format!("/opt/extra-pythons/unavailable-{v}")) {
            Ok(why) => eprintln!("SKIP python {v}: its download failed: {}", why.trim()),
            Err(_) => assert!(
                std::env::var("CI").is_err(),
                "no /opt/extra-pythons/{v}: ./ci.sh deps installs it (tests/env/pythons.sh)"
            ),
        }
    }
    let router = quiet();
    for py in relocatable {
        let path = py.to_string_lossy().into_owned();
        // Started by the host (PYTHONHOME from the host) and behind a wrapper (stage 1 sets
        // it for the re-exec: the way over ssh, sudo, into containers).
        for prefix in [vec![], vec!["env".to_string()]] {
            let ctx = router
                .connect(&Local::new().python(&path).prefix(prefix))
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let v = ctx.call("platform.python_version", vec![]).unwrap();
            let want = py.parent().unwrap().parent().unwrap().file_name().unwrap();
            assert!(
                matches!(&v, Value::Str(s) if s.starts_with(&*want.to_string_lossy())),
                "{path}: {v:?}"
            );
            assert_identity(&ctx, &path, None);
            ctx.shutdown().unwrap();
        }
    }
}

/// A venv's interpreter sees the venv's packages, started by the host and behind a wrapper:
/// stage 2 sets `sys.executable` to the venv's python before the lazy `site.main()`, which
/// finds `pyvenv.cfg` next to it (named by the process title, the interpreter could not).
#[test]
fn a_venvs_packages_are_there() {
    let dir = TempDir::new("venv");
    let venv = dir.join("v");
    let ok = std::process::Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("/usr/bin/python3");
    assert!(ok.success(), "python3 -m venv failed: install python3-venv");
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::write(site.join("econtext_venv_probe.py"), "X = 42\n").unwrap();
    let python = venv.join("bin/python").to_string_lossy().into_owned();
    let router = quiet();
    for prefix in [vec![], vec!["env".to_string()]] {
        let ctx = router
            .connect(&Local::new().python(&python).prefix(prefix.clone()))
            .unwrap();
        let x = ctx
            .call(
                "builtins.eval",
                vec!["__import__('econtext_venv_probe').X".into()],
            )
            .unwrap_or_else(|e| panic!("wrapper {prefix:?}: {e}"));
        assert_eq!(x, Value::Int(42), "wrapper {prefix:?}");
        assert_identity(&ctx, &python, None);
        ctx.shutdown().unwrap();
    }
}

/// What is really too old (2.3 and earlier, 3.0-3.4) is refused by name, started by the host
/// and behind a wrapper. The interpreter here is a script that answers stage 1 the way an old
/// Python would (its version after the ready marker): no such Python is built here.
#[test]
fn pythons_too_old_are_refused_by_name() {
    let dir = TempDir::new("tooold");
    let router = quiet();
    for v in ["2.3.7", "3.4.10", "1.5.2"] {
        let py = dir.join(format!("python{v}"));
        std::fs::write(
            &py,
            format!("#!/bin/sh\necho EC0{v}\nexec cat >/dev/null\n"),
        )
        .unwrap();
        std::fs::set_permissions(&py, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let py = py.to_string_lossy().into_owned();
        for prefix in [vec![], vec!["env".to_string()]] {
            match router.connect(&Local::new().python(&py).prefix(prefix.clone())) {
                Err(e @ Error::PythonTooOld { .. }) => {
                    let Error::PythonTooOld { version, .. } = &e else {
                        unreachable!()
                    };
                    assert_eq!(version, v, "{py} {prefix:?}");
                    assert!(
                        e.to_string().contains(&format!("python {v} is too old")),
                        "{e}"
                    );
                }
                other => panic!("{py} {prefix:?}: {other:?}"),
            }
        }
    }
}
