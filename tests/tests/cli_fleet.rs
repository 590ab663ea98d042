//! `econtext call -t ...` as a user meets it: NDJSON, the gathered table, every exit bit, the
//! progress bar on a terminal and its absence when redirected, relays, Ctrl-C.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext::Value;
use econtext_tests::*;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"));
    c.stdin(Stdio::null());
    c
}

/// Run a shell command line on a terminal (`script`): its exit code and everything it wrote.
fn on_terminal(line: &str) -> (Option<i32>, String) {
    let mut child = Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let st = child.wait().unwrap();
    (st.code(), String::from_utf8_lossy(&out).into_owned())
}

/// The pyenv interpreter whose path holds `/versions/<v>.`.
fn py(v: &str) -> String {
    interpreters()
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .find(|p| p.contains(&format!("/versions/{v}.")))
        .unwrap_or_else(|| panic!("python {v} missing (pyenv)"))
}

/// 7 on 3.11 and 3.12, raises on 3.9, sleeps on 3.10.
const EXPR: &str = "(lambda v: 1/0 if v == (3, 9) else __import__('time').sleep(30) if v == (3, 10) else 7)(__import__('sys').version_info[:2])";

fn mixed_targets() -> Vec<String> {
    let mut v = Vec::new();
    for t in [
        format!("local:{}", py("3.11")),
        format!("local:{}", py("3.12")),
        format!("local:{}", py("3.9")),
        format!("local:{}", py("3.10")),
        "local:/nonexistent/python3".into(),
    ] {
        v.push("-t".into());
        v.push(t);
    }
    v
}

#[test]
fn ndjson_has_one_object_per_target_and_the_exit_bits_add_up() {
    let t = Instant::now();
    let out = cli()
        .args(["call", "--json", "--timeout", "2"])
        .args(mixed_targets())
        .args(["builtins.eval", EXPR])
        .output()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 1 raised | 4 unreachable | 8 timed out.
    assert_eq!(out.status.code(), Some(13), "{stdout}\n{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| econtext::json::parse(l).unwrap_or_else(|| panic!("not JSON: {l}")))
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let field = |v: &Value, k: &str| match v {
        Value::Dict(kv) => kv
            .iter()
            .find(|(key, _)| *key == Value::Str(k.into()))
            .map(|(_, v)| v.clone()),
        _ => None,
    };
    let by = |needle: &str| {
        lines
            .iter()
            .find(|l| matches!(field(l, "target"), Some(Value::Str(t)) if t.contains(needle)))
            .unwrap_or_else(|| panic!("{needle} missing: {stdout}"))
            .clone()
    };
    let status = |needle: &str| field(&by(needle), "status").unwrap();
    assert_eq!(status("/versions/3.11."), Value::Str("ok".into()));
    assert_eq!(field(&by("/versions/3.12."), "value"), Some(Value::Int(7)));
    assert_eq!(status("/versions/3.9."), Value::Str("raised".into()));
    assert_eq!(
        field(&by("/versions/3.9."), "kind"),
        Some(Value::Str("remote".into()))
    );
    assert_eq!(status("/versions/3.10."), Value::Str("timeout".into()));
    assert_eq!(status("nonexistent"), Value::Str("unreachable".into()));
    assert_eq!(field(&by("nonexistent"), "ok"), Some(Value::Bool(false)));
    assert!(matches!(field(&by("3.11."), "ms"), Some(Value::Int(_))));
    // Redirected: no escape codes anywhere, no progress on stdout.
    assert!(
        !stderr.contains('\x1b') && !stdout.contains('\x1b'),
        "{stderr:?}"
    );
    // Each exit bit on its own.
    let only = |targets: &[String], expr: &str| {
        let mut c = cli();
        c.args(["call", "-q", "--timeout", "2"]);
        for t in targets {
            c.args(["-t", t]);
        }
        c.args(["builtins.eval", expr])
            .output()
            .unwrap()
            .status
            .code()
    };
    let good = format!("local:{}", py("3.11"));
    assert_eq!(only(std::slice::from_ref(&good), "6*7"), Some(0));
    assert_eq!(only(std::slice::from_ref(&good), "1/0"), Some(1));
    assert_eq!(
        only(&[good.clone(), "local:/nonexistent/py".into()], "6*7"),
        Some(4)
    );
    assert_eq!(
        only(std::slice::from_ref(&good), "__import__('time').sleep(30)"),
        Some(8)
    );
    // No relay came up: 3, and the message says what to fix.
    let st = cli()
        .args([
            "call",
            "--relay",
            "local:/nonexistent/python3",
            "-t",
            &good,
            "os.getpid",
        ])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(3));
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("relay local:/nonexistent/python3 left out"),
        "{err}"
    );
    assert!(err.contains("no relay came up"), "{err}");
    // A usage error stays 2.
    let st = cli()
        .args(["call", "-t", "local", "--forks", "0", "os.getpid"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let st = cli()
        .args(["call", "-t", "@/dev/null", "os.getpid"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("no targets in it"));
    // The same target twice is one target.
    let st = cli()
        .args(["call", "--json", "-t", &good, "-t", &good, "os.getpid"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&st.stdout).lines().count(), 1);
    let st = cli()
        .args(["call", "-t", "web[3-1]", "os.getpid"])
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&st.stderr).contains("bad range"));
}

#[test]
fn the_table_gathers_identical_results_under_folded_names() {
    let dir = TempDir::new("cli-fleet-table");
    // Ten names for the same interpreter, from a target file with a range and comments.
    let p311 = py("3.11");
    for i in 1..=10 {
        std::os::unix::fs::symlink(&p311, dir.join(format!("py{i:02}"))).unwrap();
    }
    let list = dir.join("hosts.txt");
    std::fs::write(
        &list,
        format!(
            "# ten of them\nlocal:{}/py[01-10]\n\nlocal:/nonexistent/python3 # broken\n",
            dir.join("").display()
        ),
    )
    .unwrap();
    let out = cli()
        .args(["call", "-t"])
        .arg(format!("@{}", list.display()))
        .args(["builtins.eval", "6*7"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("TARGETS") && lines[0].contains("STATUS"));
    assert!(lines[1].contains("/py[01-10] (10)"), "{stdout}");
    assert!(
        lines[1].contains(" ok ") && lines[1].ends_with(" 42"),
        "{stdout}"
    );
    assert!(lines[2].contains("unreachable"), "{stdout}");
    assert!(
        stderr.contains("11 targets") && stderr.contains("10 ok"),
        "{stderr}"
    );
}

#[test]
fn a_progress_bar_on_a_terminal_only() {
    let cli_path = env!("CARGO_BIN_EXE_econtext_cli_for_tests");
    let line = format!(
        "{cli_path} call -t 'local:{}' -t 'local:{}' builtins.eval \"__import__('time').sleep(1.5)\"",
        py("3.11"),
        py("3.12")
    );
    let (code, out) = on_terminal(&line);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("] 0/2"), "no bar: {out:?}");
    assert!(
        out.contains("waiting: local:"),
        "the bar names the pending targets: {out:?}"
    );
    assert!(out.contains("\x1b[K"), "{out:?}");
    assert!(out.contains("(2)  ok"), "{out:?}");
}

#[test]
fn relays_start_the_targets_and_the_controller_keeps_one_connection() {
    let out = cli()
        .args([
            "call",
            "--json",
            "--relay",
            &format!("local:{}", py("3.11")),
        ])
        .args([
            "-t",
            &format!("local:{}", py("3.12")),
            "-t",
            &format!("local:{}", py("3.13")),
        ])
        .args(["-t", &format!("local:{}", py("3.9"))])
        .args(["os.getppid"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = out.id().to_string();
    let out = out.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ppids: Vec<String> = stdout
        .lines()
        .map(|l| {
            l.rsplit("\"value\":")
                .next()
                .unwrap()
                .trim_end_matches('}')
                .to_string()
        })
        .collect();
    assert_eq!(ppids.len(), 3, "{stdout}");
    assert!(
        ppids.iter().all(|p| *p == ppids[0]),
        "one relay started them all: {stdout}"
    );
    assert_ne!(
        ppids[0], cli_pid,
        "the relay started them, not the CLI: {stdout}"
    );
    // Without --relay the CLI starts them itself (so the check above can fail).
    let child = cli()
        .args(["call", "--json", "-t", &format!("local:{}", py("3.12"))])
        .arg("os.getppid")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = child.id().to_string();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("\"value\":{cli_pid}}}")),
        "{stdout}"
    );
}

#[test]
fn ctrl_c_cancels_everything_and_leaves_no_process() {
    let mut child = cli()
        .args(["call", "-q"])
        .args([
            "-t",
            &format!("local:{}", py("3.11")),
            "-t",
            &format!("local:{}", py("3.12")),
        ])
        .args(["-t", &format!("local:{}", py("3.13")), "time.sleep", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(
        eventually(15000, || children_of(pid).len() >= 3),
        "the contexts did not start"
    );
    // Give the calls a moment to be running, then Ctrl-C.
    std::thread::sleep(Duration::from_millis(500));
    let kids = children_of(pid);
    let t = Instant::now();
    interrupt(pid);
    let st = child.wait().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(st.code(), Some(130));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("interrupted: 3 of 3 targets not finished"),
        "{err}"
    );
    assert!(
        eventually(3000, || kids.iter().all(|k| !alive(*k))),
        "left running: {kids:?}"
    );
}

/// Three names for one interpreter (distinct targets) in `dir`.
fn three_pythons(dir: &TempDir) -> Vec<String> {
    (1..=3)
        .map(|i| {
            let p = dir.join(format!("py{i}"));
            std::os::unix::fs::symlink(py("3.11"), &p).unwrap();
            format!("local:{}", p.display())
        })
        .collect()
}

#[test]
fn put_and_get_to_many_targets_lay_files_out_per_target() {
    let dir = TempDir::new("cli-fleet-files");
    let targets = three_pythons(&dir);
    let src = dir.join("app.conf");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &body).unwrap();
    let remote = dir.join("remote");
    std::fs::create_dir(&remote).unwrap();
    // put: every target gets the file; identical results gather under one line.
    let mut c = cli();
    c.arg("put");
    for t in &targets {
        c.args(["-t", t]);
    }
    c.args(["-t", "local:/nonexistent/python3"]);
    c.arg(&src)
        .arg(format!("{}/", remote.display()))
        .args(["--mode", "0600"]);
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].contains("/py[1-3] (3)") && lines[1].contains(" ok "),
        "{stdout}"
    );
    assert!(lines[1].contains("\"bytes\": 300000"), "{stdout}");
    assert!(lines[2].contains("unreachable"), "{stdout}");
    assert_eq!(std::fs::read(remote.join("app.conf")).unwrap(), body);
    // get: LOCAL/<target>/<name>, one per target, NDJSON back.
    let got = dir.join("got");
    let mut c = cli();
    c.args(["get", "--json"]);
    for t in &targets {
        c.args(["-t", t]);
    }
    c.arg(remote.join("app.conf")).arg(&got);
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    for l in stdout.lines() {
        assert!(econtext::json::parse(l).is_some(), "{l}");
        assert!(
            l.contains("\"ok\":true") && l.contains("\"bytes\": 300000"),
            "{l}"
        );
    }
    for t in &targets {
        let f = got.join(t.replace('/', "_")).join("app.conf");
        assert_eq!(std::fs::read(&f).unwrap(), body, "{}", f.display());
    }
    // A file error on every target is exit 1 with its kind.
    let mut c = cli();
    c.arg("get");
    for t in &targets {
        c.args(["-t", t]);
    }
    let out = c.arg("/nonexistent/file").arg(&got).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed"));
    // stdout cannot be shared by many targets (stdin can: a put reads it once for all,
    // tests/group_put.rs).
    let out = cli()
        .args([
            "get",
            "-t",
            &targets[0],
            "-t",
            &targets[1],
            "/etc/hostname",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOCAL_DIR cannot be `-`"));
}

#[test]
fn a_transfer_on_a_terminal_shows_bytes_rate_and_eta() {
    let dir = TempDir::new("cli-files-bar");
    let src = dir.join("big.bin");
    std::fs::write(&src, vec![7u8; 300 << 20]).unwrap();
    let dst = dir.join("copy.bin");
    let cli_path = env!("CARGO_BIN_EXE_econtext_cli_for_tests");
    let line = format!(
        "{cli_path} put local:{} {} {}",
        py("3.11"),
        src.display(),
        dst.display()
    );
    let (code, out) = on_terminal(&line);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" / 300.0 MiB"), "{out:?}");
    assert!(out.contains("MiB/s") && out.contains("ETA"), "{out:?}");
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), 300 << 20);
    // Redirected: the summary only, no bar, no escape codes.
    let out = cli()
        .args(["put", &format!("local:{}", py("3.11"))])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\x1b'));
}

/// The issue's own scenario: `econtext call -t @hosts.txt os.uname` over 100 real ssh targets
/// with broken ones among them: a progress bar on a terminal, one gathered line for the 100,
/// NDJSON with --json, exit status 4.
#[test]
fn a_hundred_ssh_targets_from_a_host_file_with_broken_ones() {
    let Some(env) = testenv() else { return };
    let dir = TempDir::new("cli-fleet-ssh");
    let cfg = env.fleet_ssh_config(&dir.join("ssh_config"), 100, closed_port());
    let hosts = dir.join("hosts.txt");
    std::fs::write(
        &hosts,
        "# the web tier\nssh:fleet[001-100]\n# broken\nssh:refused\nssh:unknown\nssh:wrongkey\n",
    )
    .unwrap();
    let cli_path = env!("CARGO_BIN_EXE_econtext_cli_for_tests");
    let line = format!(
        "{cli_path} call -F {} --connect-timeout 20 -t @{} builtins.eval \"__import__('os').uname()[0]\"",
        cfg.display(),
        hosts.display()
    );
    let (code, out) = on_terminal(&line);
    assert_eq!(code, Some(4), "{out}");
    assert!(
        out.contains("/103") && out.contains("waiting: ssh:"),
        "no bar: {out:?}"
    );
    assert!(out.contains("ssh:fleet[001-100] (100)  ok"), "{out}");
    assert!(out.contains("Linux"), "{out}");
    for broken in ["ssh:refused", "ssh:unknown", "ssh:wrongkey"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(broken) && l.contains("unreachable")),
            "{broken}: {out}"
        );
    }
    // Redirected, with --json: one object per target, no escape codes.
    let out = cli()
        .args(["call", "--json", "-F"])
        .arg(&cfg)
        .args(["--connect-timeout", "20", "-t"])
        .arg(format!("@{}", hosts.display()))
        .args(["os.getuid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 103, "{stdout}");
    assert!(lines.iter().all(|l| econtext::json::parse(l).is_some()));
    let uid = format!("\"value\":{}}}", uid_number("ectest"));
    assert_eq!(lines.iter().filter(|l| l.ends_with(&uid)).count(), 100);
    assert!(stdout.contains("\"kind\":\"auth_refused\""), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\x1b'));
}
