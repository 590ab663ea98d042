//! Programs with streamed stdio on a context (`Context::process`, `econtext run`): stdin,
//! stdout and stderr both ways and binary-safe, exit codes and signals, env and cwd, kill,
//! a context dying mid-run, on every interpreter and over ssh.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext::{Error, Local, Value};
use econtext_tests::*;

fn drain(rx: econtext::Receiver) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        rx.into_reader().read_to_end(&mut v).unwrap();
        v
    })
}

/// Bytes that are not text: every byte value, in a pattern that does not repeat quickly.
fn binary(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn cat_round_trips_binary_data_on_every_interpreter() {
    let router = quiet_router();
    for py in every_python() {
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        let mut p = ctx.process(["cat"]).spawn().unwrap();
        let out = drain(p.stdout.take().unwrap());
        let err = drain(p.stderr.take().unwrap());
        let data = binary(3 * 1024 * 1024 + 17);
        let mut w = p.stdin.take().unwrap();
        w.write_all(&data).unwrap();
        drop(w); // EOF
        let st = p.wait().unwrap();
        assert!(st.success(), "{}: {st:?}", py.display());
        let got = out.join().unwrap();
        assert!(
            got == data,
            "{}: {} bytes back of {}",
            py.display(),
            got.len(),
            data.len()
        );
        assert!(err.join().unwrap().is_empty());
        ctx.shutdown().unwrap();
    }
}

/// Regression (2026-12-03): the splice of a program's output waited on its pipe with
/// select(), which refuses a descriptor over 1,023: a context with that many files open lost
/// the program's stdout. Python 3.10+ (os.splice).
#[test]
fn a_context_with_many_files_open_still_streams_a_programs_output() {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let hard = ctx.call("resource.getrlimit", vec![Value::Int(7)]).unwrap();
    let (Value::List(v) | Value::Tuple(v)) = hard else {
        panic!("{hard:?}")
    };
    ctx.call(
        "resource.setrlimit",
        vec![
            Value::Int(7),
            Value::Tuple(vec![Value::Int(2048), v[1].clone()]),
        ],
    )
    .unwrap();
    for _ in 0..1100 {
        ctx.call("os.open", vec!["/dev/null".into(), Value::Int(0)])
            .unwrap();
    }
    let mut p = ctx.process(["cat"]).spawn().unwrap();
    let (tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = drain(p.stdout.take().unwrap());
        let data = binary(2 * 1024 * 1024 + 5);
        let mut w = p.stdin.take().unwrap();
        w.write_all(&data).unwrap();
        drop(w);
        let ok = p.wait().unwrap().success();
        let _ = tx.send((ok, out.join().unwrap() == data));
    });
    // Bounded: with the bug, cat blocks on its full stdout and nothing ever ends.
    let got = done
        .recv_timeout(Duration::from_secs(20))
        .expect("the program's stdout was never read (its pump died)");
    assert_eq!(got, (true, true), "(exit 0, output whole)");
    ctx.shutdown().unwrap();
}

#[test]
fn exit_codes_signals_stderr_env_and_cwd() {
    // The modern stub's python, and 2.4-2.6 (econtext_process in 2.4's syntax).
    let mut pythons = vec![python()];
    pythons.extend(old_interpreters().iter().map(|p| p.display().to_string()));
    for py in pythons {
        exit_codes_on(&py);
    }
}

fn exit_codes_on(py: &str) {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(py)).unwrap();
    let mut p = ctx
        .shell("echo out; echo err >&2; echo $ECX_TEST; pwd; exit 7")
        .env("ECX_TEST", "hello env")
        .cwd("/tmp")
        .spawn()
        .unwrap();
    let out = drain(p.stdout.take().unwrap());
    let err = drain(p.stderr.take().unwrap());
    let st = p.wait().unwrap();
    assert_eq!((st.code, st.signal, st.shell_code()), (Some(7), None, 7));
    assert_eq!(
        String::from_utf8_lossy(&out.join().unwrap()),
        "out\nhello env\n/tmp\n"
    );
    assert_eq!(String::from_utf8_lossy(&err.join().unwrap()), "err\n");
    let p = ctx.shell("kill -TERM $$").spawn().unwrap();
    let st = p.wait().unwrap();
    assert_eq!((st.code, st.signal, st.shell_code()), (None, Some(15), 143));
    // A program that does not exist fails the process with the remote error.
    let p = ctx.process(["/no/such/program-x"]).spawn().unwrap();
    assert!(matches!(p.wait(), Err(Error::Remote(_))));
}

#[test]
fn kill_and_a_dying_context() {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let p = ctx.process(["sleep", "100"]).spawn().unwrap();
    let pid = p.pid(Duration::from_secs(10)).unwrap();
    assert!(alive(pid as u32));
    // The context keeps answering while the program runs.
    assert!(ctx.call("os.getpid", vec![]).is_ok());
    p.kill(15).unwrap();
    let t = Instant::now();
    let st = p.wait().unwrap();
    assert_eq!(st.signal, Some(15));
    assert!(t.elapsed() < Duration::from_secs(3));
    // The context dies mid-run: the readers and wait fail at once.
    let mut p = ctx.process(["sleep", "100"]).spawn().unwrap();
    let out = p.stdout.take().unwrap();
    p.pid(Duration::from_secs(10)).unwrap();
    let Value::Int(ctx_pid) = ctx.call("os.getpid", vec![]).unwrap() else {
        panic!()
    };
    Command::new("kill")
        .args(["-9", &ctx_pid.to_string()])
        .status()
        .unwrap();
    let t = Instant::now();
    assert!(matches!(out.recv(), Err(Error::Disconnected { .. })));
    assert!(matches!(p.wait(), Err(Error::Disconnected { .. })));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
}

#[test]
fn econtext_run_behaves_like_ssh() {
    let target = format!("local:{}", python());
    // Exit status, stderr apart, binary stdin -> stdout.
    let out = cli()
        .args(["run", &target, "--", "sh", "-c", "echo to-err >&2; exit 3"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to-err\n");
    let data = binary(2 * 1024 * 1024);
    let mut child = cli()
        .args(["run", &target, "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let d2 = data.clone();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&d2).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == data, "{} bytes back", out.stdout.len());
    // A signal is 128 + N; a missing program 127; a connection failure 255.
    let out = cli()
        .args(["run", &target, "--", "sh", "-c", "kill -KILL $$"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    let out = cli()
        .args(["run", &target, "--", "no-such-program-x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("command not found"));
    let out = cli()
        .args(["run", "local:/no/such/python", "--", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let out = cli().args(["run", &target]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing CMD"));
}

#[test]
fn econtext_run_over_ssh_and_ctrl_c() {
    let Some(env) = testenv() else { return };
    let target = format!("ssh:ectest@127.0.0.1:{}", env.ssh_port);
    let ssh_opts = [
        "-i".to_string(),
        env.client_key.to_string_lossy().into_owned(),
        "--known-hosts".into(),
        env.known_hosts.to_string_lossy().into_owned(),
    ];
    let out = cli()
        .arg("run")
        .arg(&target)
        .args(&ssh_opts)
        .args(["--", "sh", "-c", "id -un; exit 5"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ectest\n");
    // Ctrl-C is sent to the remote program (SIGINT), and nothing is left running.
    let mut child = cli()
        .arg("run")
        .arg(&target)
        .args(&ssh_opts)
        .args(["--", "sleep", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let needle = format!(":{}", child.id());
    assert!(eventually(10_000, || processes_matching("sleep 100")
        .iter()
        .any(|p| std::fs::read_to_string(format!("/proc/{p}/status"))
            .map(|s| s.contains("Uid:\t") && !s.contains("Uid:\t0\t"))
            .unwrap_or(false))));
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130));
    assert!(eventually(3000, || processes_matching(&needle).is_empty()));
}

/// Everything a pty process printed, after sending it `input` (then waiting for its end).
fn on_pty(
    p: econtext::ProcessBuilder<'_>,
    input: &[&[u8]],
    resize: Option<(u16, u16)>,
) -> (String, econtext::ExitStatus) {
    let mut p = p.spawn().unwrap();
    let out = drain(p.stdout.take().unwrap());
    let mut w = p.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    if let Some((r, c)) = resize {
        w.resize(r, c).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in input {
        w.write_all(i).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = p.wait().unwrap();
    drop(w);
    (
        String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        st,
    )
}

#[test]
fn programs_on_a_pty_size_resize_and_a_login_shell() {
    let router = quiet_router();
    for py in every_python() {
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap();
        let (out, st) = on_pty(
            ctx.process(["sh", "-c", "stty size; tty; exit 4"])
                .pty(30, 90),
            &[],
            None,
        );
        assert!(out.contains("30 90"), "{}: {out:?}", py.display());
        assert!(out.contains("/dev/pts/"), "{}: {out:?}", py.display());
        assert_eq!(st.code, Some(4));
        let (out, _) = on_pty(
            ctx.shell("read x; stty size").pty(24, 80),
            &[b"go\n"],
            Some((50, 100)),
        );
        assert!(out.contains("50 100"), "{}: {out:?}", py.display());
        // ^C is a byte the terminal turns into SIGINT there.
        let (_, st) = on_pty(ctx.process(["sleep", "100"]).pty(24, 80), &[b"\x03"], None);
        assert_eq!(st.signal, Some(2), "{}", py.display());
        ctx.shutdown().unwrap();
    }
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let (out, st) = on_pty(
        ctx.login_shell(24, 80),
        &[b"echo zero=$0; pwd; exit 3\n"],
        None,
    );
    assert!(out.contains("zero=-"), "{out:?}");
    assert!(out.contains(&home), "{out:?}");
    assert_eq!(st.code, Some(3));
}

/// `econtext shell` on a terminal (`script`): type a command, read its output, exit with a
/// status; the terminal settings are the same afterwards.
fn shell_session(target_and_opts: &str) -> (Option<i32>, String) {
    let cli = env!("CARGO_BIN_EXE_econtext_cli_for_tests");
    let line = format!("stty -g; {cli} shell {target_and_opts}; st=$?; stty -g; exit $st");
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let typist = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        stdin.write_all(b"echo hi-$((40+2))\n").unwrap();
        std::thread::sleep(Duration::from_millis(700));
        stdin.write_all(b"exit 3\n").unwrap();
        std::thread::sleep(Duration::from_millis(2000));
    });
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let st = child.wait().unwrap();
    typist.join().unwrap();
    (st.code(), String::from_utf8_lossy(&out).replace('\r', ""))
}

#[test]
fn econtext_shell_on_a_terminal() {
    let (code, out) = shell_session(&format!("local:{}", python()));
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("hi-42"), "{out}");
    let modes: Vec<&str> = out
        .lines()
        .filter(|l| l.matches(':').count() > 10)
        .collect();
    assert_eq!(modes.len(), 2, "{out}");
    assert_eq!(modes[0], modes[1], "the terminal was not restored");
    let Some(env) = testenv() else { return };
    let (code, out) = shell_session(&format!(
        "ssh:ectest@127.0.0.1:{} -i {} --known-hosts {}",
        env.ssh_port,
        env.client_key.display(),
        env.known_hosts.display()
    ));
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("hi-42"), "{out}");
}
