//! Module, logging and stdio forwarding, and single-file programs, on every interpreter.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use econtext::{Error, Local, LogEvent, Router, RouterOptions, Value};
use econtext_tests::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

type Events = Arc<Mutex<Vec<LogEvent>>>;

fn make(level: u32) -> (Router, Events) {
    let events: Events = Arc::default();
    let e = events.clone();
    let o = RouterOptions {
        sink: Arc::new(move |ev: &LogEvent| e.lock().unwrap().push(ev.clone())),
        log_level: level,
        module_path: vec![fixtures().join("modpath")],
        module_files: vec![fixtures().join("install_app.py")],
        ..Default::default()
    };
    (Router::with_options(o).unwrap(), events)
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn packages_subpackages_relative_imports_everywhere() {
    for py in interpreters() {
        let (router, _) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        let v = ctx.call("app.hello", vec![Value::Int(1)]).unwrap();
        let Value::Tuple(t) = &v else { panic!("{v:?}") };
        assert_eq!(t[0], Value::Int(43), "{}", py.display());
        assert_eq!(t[1], Value::Int(21));
        assert!(
            text(&t[2]).ends_with("fixtures/modpath/app/__init__.py"),
            "__file__ {:?}",
            t[2]
        );
        assert_eq!(text(&t[3]), "app");
        // One round trip for the package and everything it imports.
        assert_eq!(router.module_requests(), 1, "{}", py.display());
        let v = ctx.call("app.importlib_checks", vec![]).unwrap();
        assert_eq!(
            v,
            Value::List(vec![Value::Int(21), Value::Bool(true)]),
            "{}",
            py.display()
        );
        assert_eq!(
            router.module_requests(),
            1,
            "preloaded modules are not asked for again"
        );

        // 20 modules, constant round trips.
        let before = router.module_requests();
        assert_eq!(ctx.call("bigpkg.total", vec![]).unwrap(), Value::Int(117));
        let trips = router.module_requests() - before;
        assert_eq!(
            trips,
            1,
            "{}: 20-module package took {trips} round trips",
            py.display()
        );

        // A forwarded name shadows the remote's own module of that name.
        assert_eq!(
            text(&ctx.call("colorsys.marker", vec![]).unwrap()),
            "forwarded colorsys"
        );
        ctx.shutdown().unwrap();
    }
}

#[test]
fn missing_and_broken_modules_raise_the_normal_errors() {
    for py in interpreters() {
        let (router, _) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        match ctx.call("app.nope.f", vec![]) {
            Err(Error::Remote(e)) => assert!(
                e.type_name.contains("ImportError") || e.type_name.contains("ModuleNotFoundError"),
                "{e:?}"
            ),
            other => panic!("{other:?}"),
        }
        match ctx.call("broken.bad.f", vec![]) {
            Err(Error::Remote(e)) => {
                assert_eq!(e.type_name, "SyntaxError", "{}", py.display());
                assert!(
                    e.traceback.contains("modpath/broken/bad.py") && e.traceback.contains("line 2"),
                    "{}",
                    e.traceback
                );
            }
            other => panic!("{other:?}"),
        }
        // Names that try to leave the root are not served.
        for bad in ["..secret.f", "os/../../etc.f"] {
            assert!(
                matches!(ctx.call(bad, vec![]), Err(Error::Remote(_))),
                "{bad}"
            );
        }
        ctx.shutdown().unwrap();
    }
}

#[test]
fn single_file_program() {
    for py in every_python() {
        let (router, _) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        assert_eq!(
            text(&ctx.call("install_app.install", vec![]).unwrap()),
            "installed by install_app"
        );
        ctx.shutdown().unwrap();
    }
}

#[test]
fn logging_records_arrive_with_name_level_and_context() {
    for py in every_python() {
        let (router, events) = make(10);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()).name("logctx"))
            .unwrap();
        assert_eq!(ctx.call("logs.every_level", vec![]).unwrap(), Value::Int(5));
        let got: Vec<(String, u32, String, String)> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.logger == "econtext.test.logs")
            .map(|e| {
                (
                    e.logger.clone(),
                    e.level,
                    e.message.clone(),
                    e.context.clone(),
                )
            })
            .collect();
        let levels: Vec<u32> = got.iter().map(|g| g.1).collect();
        assert_eq!(
            levels,
            vec![10, 20, 30, 40, 50],
            "{}: {got:?}",
            py.display()
        );
        assert!(got.iter().all(|g| g.3 == "logctx"));
        assert_eq!(got[0].2, "d-record");
        ctx.shutdown().unwrap();

        // At the default level, debug records are filtered in the context.
        let (router, events) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        ctx.call("logs.every_level", vec![]).unwrap();
        let n = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.logger == "econtext.test.logs")
            .count();
        assert_eq!(n, 4, "{}", py.display());
        ctx.shutdown().unwrap();
    }
}

/// Python 2.4-2.6 (the 2.4-2.6 stub: a PEP 302 importer): packages, subpackages and Python 2's
/// implicit relative imports (2.4 has no `from . import`), in one round trip for the package
/// and one for 20 modules (the host preloads `pkg.name` for each `import name` in a package),
/// a forwarded name shadowing the remote's own, and the normal errors for missing and broken
/// modules.
#[test]
fn old_pythons_forward_packages_and_implicit_relative_imports() {
    for py in old_interpreters() {
        let (router, _) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        let v = ctx.call("oldapp.hello", vec![Value::Int(1)]).unwrap();
        let Value::Tuple(t) = &v else { panic!("{v:?}") };
        assert_eq!(t[0], Value::Int(43), "{}", py.display());
        assert_eq!(t[1], Value::Int(21));
        assert!(
            text(&t[2]).ends_with("fixtures/modpath/oldapp/__init__.py"),
            "__file__ {:?}",
            t[2]
        );
        assert_eq!(text(&t[3]), "oldapp");
        assert_eq!(router.module_requests(), 1, "{}", py.display());
        let before = router.module_requests();
        assert_eq!(ctx.call("oldbig.total", vec![]).unwrap(), Value::Int(117));
        let trips = router.module_requests() - before;
        assert_eq!(
            trips,
            1,
            "{}: 20 modules took {trips} round trips",
            py.display()
        );
        assert_eq!(
            text(&ctx.call("colorsys.marker", vec![]).unwrap()),
            "forwarded colorsys"
        );
        match ctx.call("oldapp.nope.f", vec![]) {
            Err(Error::Remote(e)) => assert!(e.type_name.contains("ImportError"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        match ctx.call("broken.bad.f", vec![]) {
            Err(Error::Remote(e)) => {
                assert_eq!(e.type_name, "SyntaxError", "{}", py.display());
                assert!(
                    e.traceback.contains("modpath/broken/bad.py"),
                    "{}",
                    e.traceback
                );
            }
            other => panic!("{other:?}"),
        }
        ctx.shutdown().unwrap();
    }
}

#[test]
fn stdout_and_stderr_of_the_function_and_its_children() {
    for py in every_python() {
        // Python 2.4 and 2.5 have no b'' literals: the same function without them.
        let module = if old_interpreters().contains(&py) {
            "oldoutput"
        } else {
            "output"
        };
        let (router, events) = make(20);
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        assert_eq!(
            text(&ctx.call(&format!("{module}.both"), vec![]).unwrap()),
            "done"
        );
        // Everything written before the function returned arrived before its result.
        let got: Vec<(String, String)> = events
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.logger.clone(), e.message.clone()))
            .collect();
        let want = [
            ("stdout", "from python"),
            ("stdout", "child-out"),
            ("stderr", "child-err"),
            ("stdout", "bad utf8 \u{fffd}\u{fffd}"),
            ("stdout", "partial line"),
        ];
        for (l, m) in want {
            assert!(
                got.iter().any(|(gl, gm)| gl == l && gm == m),
                "{}: ({l}, {m}) not in {got:?}",
                py.display()
            );
        }
        ctx.shutdown().unwrap();
    }
}

#[test]
fn cli_serves_a_single_file_program() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args(["-q", "call", &format!("local:{}", python()), "--file"])
        .arg(fixtures().join("install_app.py"))
        .arg("install_app.install")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "installed by install_app"
    );
}

#[test]
fn a_line_that_never_ends_arrives_in_pieces() {
    let (router, events) = make(20);
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    assert_eq!(
        text(&ctx.call("output.endless_line", vec![]).unwrap()),
        "done"
    );
    let got: usize = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.logger == "stdout")
        .map(|e| e.message.len())
        .sum();
    assert_eq!(got, 300_000);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.message.len() <= 65536),
        "pieces of at most 64 KiB"
    );
}
