//! `econtext stream` as users run it: the seed's tail example from the command line on every
//! interpreter, Ctrl-C and a closed stdout closing the channel, --json and --raw.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext_tests::*;

fn modpath() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/modpath")
        .to_string_lossy()
        .into_owned()
}

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"));
    c.stdin(Stdio::null());
    c
}

#[test]
fn the_seeds_tail_example_from_the_cli_on_every_interpreter() {
    for py in interpreters() {
        let tmpdir_log = TempDir::new("cli-stream");
        let log = tmpdir_log.join(format!(
            "tail-{}.log",
            py.display().to_string().replace('/', "_")
        ));
        std::fs::write(&log, "before\n").unwrap();
        let mut child = cli()
            .args([
                "-q",
                "stream",
                &format!("local:{}", py.display()),
                "-m",
                &modpath(),
            ])
            .args(["logs.tail_log_file", "@channel", &log.to_string_lossy()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let needle = format!(":{}", child.id());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(eventually(10_000, || !processes_matching(&needle).is_empty()));
        std::thread::sleep(Duration::from_millis(300));
        for i in 0..2 {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            writeln!(f, "line {i}").unwrap();
            drop(f);
            let got = lines.next().unwrap().unwrap();
            assert_eq!(got, format!("line {i}"), "{}", py.display());
        }
        // Ctrl-C: the channel closes, the context goes, nothing is left running.
        interrupt(child.id());
        let st = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(st.code(), Some(130), "{}: {err}", py.display());
        assert!(
            eventually(2000, || processes_matching(&needle).is_empty()),
            "{}: left running: {:?}",
            py.display(),
            processes_matching(&needle)
        );
        let _ = std::fs::remove_file(&log);
    }
}

#[test]
fn a_closed_stdout_closes_the_channel_and_the_producer_sees_it() {
    let tmpdir_marker = TempDir::new("cli-stream");
    let marker = tmpdir_marker.join("head-closed");
    let _ = std::fs::remove_file(&marker);
    let mut child = cli()
        .args(["stream", &format!("local:{}", python()), "-m", &modpath()])
        .args(["streams.forever", &marker.to_string_lossy()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let needle = format!(":{}", child.id());
    // `| head -3`
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for want in ["0", "1", "2"] {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert_eq!(l.trim(), want);
    }
    drop(out);
    let t = Instant::now();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        eventually(2000, || marker.exists()),
        "the generator never saw the close"
    );
    assert!(eventually(2000, || processes_matching(&needle).is_empty()));
}

#[test]
fn json_raw_and_errors() {
    let target = format!("local:{}", python());
    let out = cli()
        .args([
            "stream",
            &target,
            "-m",
            &modpath(),
            "--json",
            "streams.count",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n2\n");
    let out = cli()
        .args([
            "stream",
            &target,
            "-m",
            &modpath(),
            "--raw",
            "streams.count",
            "4",
            "100000",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 400_000);
    let out = cli()
        .args([
            "stream",
            &target,
            "-m",
            &modpath(),
            "streams.count_then_fail",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n1\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ValueError: producer failed after 2"), "{err}");
    assert!(
        !err.contains("econtext_channel.py"),
        "internal frames in the traceback: {err}"
    );
    let out = cli()
        .args(["stream", &target, "--raw", "--jsno", "x.y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_at_a_terminal_signals_the_group_and_still_closes_the_channel() {
    let Some(env) = testenv() else { return };
    use std::os::unix::process::CommandExt;
    let tmpdir_marker = TempDir::new("cli-stream");
    let marker = tmpdir_marker.join("group-closed");
    let _ = std::fs::remove_file(&marker);
    // The CLI leads a process group, as a terminal's foreground job; Ctrl-C signals the group.
    let mut child = cli()
        .args(["stream", &format!("ssh:ectest@127.0.0.1:{}", env.ssh_port)])
        .args(["-i", &env.client_key.to_string_lossy()])
        .args(["--known-hosts", &env.known_hosts.to_string_lossy()])
        .args(["--python", "/usr/bin/python3", "-m", &modpath()])
        .args(["streams.forever", &marker.to_string_lossy()])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "0");
    // (procps kill reads `-INT -PGID` as two options: the group needs `--`.)
    Command::new("kill")
        .args(["-s", "INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    let drain = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = out.read_to_end(&mut rest);
    });
    let st = child.wait().unwrap();
    drain.join().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(st.code(), Some(130), "{err}");
    assert!(
        eventually(3000, || marker.exists()),
        "the remote generator never saw the close: {err}"
    );
}
