//! The command line as a new user meets it: version, typos, a closed stdout, and bootstraps
//! that go wrong in ways that must fail at once with a short, printable error.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext::{Error, Local};
use econtext_tests::*;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"));
    c.stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An executable script in a fresh temp dir (removed by the returned guard).
struct Script(std::path::PathBuf);

impl Script {
    fn new(name: &str, body: &str) -> Script {
        let dir = std::env::temp_dir().join(format!("econtext-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        Script(p)
    }
    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn version_in_both_spellings() {
    for arg in ["--version", "version", "-V"] {
        let out = cli().arg(arg).output().unwrap();
        assert!(out.status.success(), "{arg}");
        assert_eq!(
            text(&out.stdout),
            format!("econtext {}\n", env!("CARGO_PKG_VERSION")),
            "{arg}"
        );
    }
}

#[test]
fn typos_get_the_nearest_valid_word() {
    let out = cli()
        .args(["call", "local", "os.getpid", "--jsno"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean --json?"),
        "{}",
        text(&out.stderr)
    );
    let out = cli()
        .args(["call", "local", "os.getpid", "--time-out", "3"])
        .output()
        .unwrap();
    assert!(
        text(&out.stderr).contains("did you mean --timeout?"),
        "{}",
        text(&out.stderr)
    );
    let out = cli().args(["cal", "local", "os.getpid"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean call?"),
        "{}",
        text(&out.stderr)
    );
    let out = cli().args(["--verison"]).output().unwrap();
    assert!(
        text(&out.stderr).contains("did you mean --version?"),
        "{}",
        text(&out.stderr)
    );
    let out = cli()
        .args(["call", "local", "f", "--zzzzzzzz"])
        .output()
        .unwrap();
    assert!(
        !text(&out.stderr).contains("did you mean"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_zero() {
    let py = python();
    let target = format!("local:{py}");
    for args in [vec!["call", target.as_str(), "os.getpid"], vec!["--help"]] {
        let mut child = cli()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| true`: the reader is gone before anything is printed.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_stderr_never_aborts_the_broker() {
    // Forwarded output goes to stderr from the broker thread: a closed stderr must not panic.
    let py = python();
    let target = format!("local:{py}");
    let mut child = cli()
        .args([
            "call",
            &target,
            "os.system",
            "echo to-stdout; echo to-stderr >&2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), "0");
}

/// Fake interpreters that break the bootstrap protocol in one way each.
const FLIPPED: &str = "#!/bin/sh\nprintf 'EC03.11.2\\nEC2\\n'\nexec sleep 30\n";
const GARBAGE: &str = "#!/bin/sh\nprintf 'EC0'\nhead -c 65536 /dev/urandom\nexec sleep 30\n";
const JUNK_AFTER: &str = "#!/bin/sh\nprintf 'EC03.11.2\\n\\033[2Jhello'\nexec sleep 30\n";
const NOISE: &str = "#!/bin/sh\nyes 'a banner line' | head -c 100000\nexec sleep 30\n";

#[test]
fn a_broken_ready_marker_fails_at_once_with_a_short_printable_error() {
    for (name, body, want) in [
        ("flipped", FLIPPED, "only the stage-2 marker EC1"),
        (
            "garbage",
            GARBAGE,
            "expected a Python version after the ready marker EC0",
        ),
        ("junk-after", JUNK_AFTER, "only the stage-2 marker EC1"),
        ("noise", NOISE, "no ready marker (EC0)"),
    ] {
        let s = Script::new(name, body);
        let t = Instant::now();
        let out = cli()
            .args(["call", &format!("local:{}", s.path()), "os.getpid"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{name}: took {:?}",
            t.elapsed()
        );
        assert_eq!(out.status.code(), Some(3), "{name}: {err}");
        assert!(
            err.contains("protocol error") && err.contains(want),
            "{name}: {err}"
        );
        // Bounded: a few hundred bytes per quote, a bounded tail; printable: no control bytes.
        assert!(
            out.stderr.len() < 8 * 1024,
            "{name}: {} bytes of error",
            out.stderr.len()
        );
        assert!(
            !err.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{name}: control characters in {err:?}"
        );
        assert!(
            !err.contains('\u{fffd}'),
            "{name}: raw invalid UTF-8 in {err:?}"
        );
    }
}

#[test]
fn a_broken_ready_marker_behind_another_context_fails_at_once_too() {
    let router = quiet_router();
    let via = router.connect(&Local::new().python(python())).unwrap();
    for (name, body, want) in [
        ("v-flipped", FLIPPED, "only EC1 may come"),
        ("v-garbage", GARBAGE, "no Python version after EC0"),
        ("v-noise", NOISE, "no ready marker (EC0)"),
    ] {
        let s = Script::new(name, body);
        let t = Instant::now();
        let r = router.connect_via(&Local::new().python(s.path()), &via);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{name}: took {:?}",
            t.elapsed()
        );
        match r {
            Err(e @ Error::Bootstrap { .. }) => {
                let m = e.to_string();
                assert!(
                    m.contains("protocol error") && m.contains(want),
                    "{name}: {m}"
                );
                assert!(m.len() < 8 * 1024, "{name}: {} bytes", m.len());
                assert!(
                    !m.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
                    "{name}: {m:?}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // The via context is unharmed.
    assert!(via.call("os.getpid", vec![]).is_ok());
}

#[test]
fn help_teaches_the_host_key_default_and_version() {
    let out = cli().arg("--help").output().unwrap();
    let t = text(&out.stdout);
    assert!(
        t.contains("--ssh-config") && t.contains("your ssh config decides"),
        "{t}"
    );
    assert!(t.contains("econtext --version"));
    let _ = std::io::stdout().flush();
}
