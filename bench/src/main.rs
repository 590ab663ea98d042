//! `econtext-bench`: the econtext side of the side-by-side benchmark (`bench/run.sh` runs it
//! next to `bench/peers.py`, which measures Mitogen and execnet the same way).
//!
//! Each subcommand prints one JSON line:
//!
//! - `bootstrap PYTHON N`: N times connect a local context and make a first call
//!   (`os.getpid`); the floors `PYTHON -c pass` and `PYTHON -S -c pass`.
//! - `roundtrip PYTHON N`: N trivial calls on one context after 200 warm-up calls; the floor is
//!   a Python echo loop over a socketpair (the transport local contexts use).
//! - `fanout PYTHON N`: N local contexts from one thread, one call each; host RSS delta and
//!   the children's PSS per context; the floor is N bare interpreters started one by one.
//!
//! The ssh workloads need the test environment of `tests/env/up.sh` (its env file, default
//! `/tmp/econtext-testenv/env` or `$ECONTEXT_TESTENV/env`); PYTHON is the remote interpreter:
//!
//! - `ssh-bootstrap PYTHON N`: N times ssh `ectest@127.0.0.1` (key) + first call + shutdown;
//!   the floor `ssh ... ectest@127.0.0.1 PYTHON -c pass`.
//! - `ssh-roundtrip PYTHON N`: N trivial calls over that ssh context; the floor is a Python
//!   echo loop at the far end of `ssh`.
//! - `bytes-before-first-reply PYTHON N`: what the host wrote to the connection before the
//!   first reply (the remote command line, then stdin), counted by `bench/count_stdin.py`
//!   standing in front of ssh (N is ignored: the count is deterministic).
//! - `sudo2 PYTHON N [M]`: the chain ssh `ecpass@127.0.0.1` (password) -> sudo `ectarget`
//!   (password): N bootstraps, M (default 1000) round trips through the chain, bytes per hop;
//!   floors `sshpass ssh -tt ecpass@... 'sudo -S -u ectarget PYTHON -c pass'` and an echo loop
//!   behind `ssh ectest@... sudo -u ectarget`.
#![deny(missing_docs)]

mod containers;
mod fakessh;
mod files;
mod fleet;
mod routesim;
mod streams;

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext::connect::bootstrap::{shell_quote, stage0_shell, title};
use econtext::{BecomeUser, Context, Local, Password, Router, RouterOptions, Ssh};
use econtext_core::Value;

/// Warm-up calls before the round-trip measurement.
const WARMUP: usize = 200;

/// Why a workload failed: printed in the `error` field.
type BenchResult<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 && !(args.len() == 5 && args[1] == "sudo2") {
        eprintln!(
            "usage: econtext-bench bootstrap|roundtrip|fanout|ssh-bootstrap|ssh-roundtrip|\
bytes-before-first-reply|stream-down|stream-up|ssh-stream|pingpong|busy-roundtrip|\
slow-consumer|fakessh-rsync|fakessh-scp|run-cat|fakessh-start|ctr-METHOD|files-ssh|files-local|files-small PYTHON N\n       econtext-bench sudo2 PYTHON N [ROUNDTRIPS]"
        );
        std::process::exit(2);
    }
    let (workload, python) = (args[1].as_str(), args[2].as_str());
    let n: usize = match args[3].parse() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("N must be a positive integer, got {:?}", args[3]);
            std::process::exit(2);
        }
    };
    let result = match workload {
        "bootstrap" => bootstrap(python, n),
        "roundtrip" => roundtrip(python, n),
        "fanout" => fanout(python, n),
        "ssh-bootstrap" => ssh_bootstrap(python, n),
        "ssh-roundtrip" => ssh_roundtrip(python, n),
        "bytes-before-first-reply" => bytes_before_first_reply(python),
        "stream-down" => streams::stream_down(python, n),
        "stream-up" => streams::stream_up(python, n),
        "ssh-stream" => streams::ssh_stream(python, n),
        "pingpong" => streams::pingpong(python, n),
        "busy-roundtrip" => streams::busy_roundtrip(python, n),
        "slow-consumer" => streams::slow_consumer(python, n),
        "fakessh-rsync" => fakessh::rsync(python, n),
        "fakessh-scp" => fakessh::scp(python, n),
        "run-cat" => fakessh::run_cat(python, n),
        "fakessh-start" => fakessh::start(python, n),
        w if w.starts_with("ctr-") => containers::boot(&w[4..], n),
        "files-ssh" => files::ssh(python, n),
        "files-local" => files::local(python, n),
        "files-small" => files::small(python, n),
        "files-group" => files::group(python, n),
        "fleet-local" => fleet::local(python, n),
        "fleet-local-cli" => fleet::local_cli(python, n),
        "fleet-ssh" => fleet::ssh(python, n, 0),
        "fleet-relay" => fleet::ssh(python, n, 4),
        "route-sim" => routesim::route_sim(n),
        "sudo2" => {
            let m = match args.get(4).map(|a| a.parse::<usize>()) {
                None => 1000,
                Some(Ok(m)) if m > 0 => m,
                Some(_) => {
                    eprintln!("ROUNDTRIPS must be a positive integer, got {:?}", args[4]);
                    std::process::exit(2);
                }
            };
            sudo2(python, n, m)
        }
        other => {
            eprintln!(
                "unknown workload {other:?}: bootstrap, roundtrip, fanout, ssh-bootstrap, \
ssh-roundtrip, bytes-before-first-reply, route-sim or sudo2"
            );
            std::process::exit(2);
        }
    };
    let head = format!(
        "\"impl\":\"econtext\",\"workload\":{},\"python\":{},\"n\":{n}",
        json_str(workload),
        json_str(python)
    );
    match result {
        Ok(fields) => println!("{{{head},{fields}}}"),
        Err(e) => {
            println!("{{{head},\"error\":{}}}", json_str(&e));
            std::process::exit(1);
        }
    }
}

/// A router whose forwarded logs go nowhere.
fn quiet_router() -> BenchResult<Router> {
    Router::with_options(RouterOptions {
        sink: Arc::new(|_| {}),
        ..RouterOptions::default()
    })
    .map_err(|e| format!("router: {e}"))
}

/// Connect a local context on `python`.
fn connect(router: &Router, python: &str) -> BenchResult<Context> {
    router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))
}

/// One `os.getpid()` call, checked to return an int.
fn getpid(ctx: &Context) -> BenchResult<()> {
    match ctx.call("os.getpid", vec![]) {
        Ok(Value::Int(_)) => Ok(()),
        Ok(v) => Err(format!("os.getpid returned {v:?}")),
        Err(e) => Err(format!("call: {e}")),
    }
}

/// Connect + first call, the floors, N times each (one discarded warm-up each).
fn bootstrap(python: &str, n: usize) -> BenchResult<String> {
    let router = quiet_router()?;
    let mut total = Vec::with_capacity(n);
    let mut conn = Vec::with_capacity(n);
    let mut first = Vec::with_capacity(n);
    let mut down = Vec::with_capacity(n);
    for i in 0..=n {
        let t0 = Instant::now();
        let ctx = connect(&router, python)?;
        let t1 = Instant::now();
        getpid(&ctx)?;
        let t2 = Instant::now();
        ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        let t3 = Instant::now();
        if i > 0 {
            total.push(t2 - t0);
            conn.push(t1 - t0);
            first.push(t2 - t1);
            down.push(t3 - t2);
        }
    }
    drop(router);
    let floor = floor_start(python, &["-c", "pass"], n)?;
    let floor_s = floor_start(python, &["-S", "-c", "pass"], n)?;
    let (floor_med, floor_s_med) = (median(&floor), median(&floor_s));
    Ok(format!(
        "\"median_ms\":{:.2},\"min_ms\":{:.2},\"connect_median_ms\":{:.2},\
\"first_call_median_ms\":{:.3},\"shutdown_median_ms\":{:.2},\
\"floor_c_pass_median_ms\":{:.2},\"floor_c_pass_min_ms\":{:.2},\
\"floor_S_c_pass_median_ms\":{:.2},\"ratio_to_floor\":{:.2}",
        ms(median(&total)),
        ms(min(&total)),
        ms(median(&conn)),
        ms(median(&first)),
        ms(median(&down)),
        ms(floor_med),
        ms(min(&floor)),
        ms(floor_s_med),
        median(&total).as_secs_f64() / floor_med.as_secs_f64(),
    ))
}

/// Time `python ARGS` to exit, N times after one warm-up.
fn floor_start(python: &str, args: &[&str], n: usize) -> BenchResult<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..=n {
        let t0 = Instant::now();
        let st = Command::new(python)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("floor {python}: {e}"))?;
        if !st.success() {
            return Err(format!("floor {python} {args:?}: {st}"));
        }
        if i > 0 {
            out.push(t0.elapsed());
        }
    }
    Ok(out)
}

/// N timed trivial calls on one context after the warm-up; the socketpair echo floor.
fn roundtrip(python: &str, n: usize) -> BenchResult<String> {
    let router = quiet_router()?;
    let ctx = connect(&router, python)?;
    for _ in 0..WARMUP {
        getpid(&ctx)?;
    }
    let mut rt = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        getpid(&ctx)?;
        rt.push(t0.elapsed());
    }
    ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    drop(router);
    let mut cmd = Command::new(python);
    cmd.args(["-S", "-c", ECHO_LOOP]);
    let floor = echo_floor(cmd, n)?;
    Ok(format!(
        "\"median_us\":{:.1},\"p99_us\":{:.1},\"min_us\":{:.1},\
\"floor_echo_median_us\":{:.1},\"floor_echo_p99_us\":{:.1}",
        us(median(&rt)),
        us(pct(&rt, 99)),
        us(min(&rt)),
        us(median(&floor)),
        us(pct(&floor, 99)),
    ))
}

/// The echo loop of the round-trip floors.
const ECHO_LOOP: &str = "import os\nwhile 1:\n b=os.read(0,4096)\n if not b:break\n os.write(1,b)";

/// Round trips of a 32-byte message through `cmd` (an echo loop), over a socketpair.
fn echo_floor(mut cmd: Command, n: usize) -> BenchResult<Vec<Duration>> {
    let (mut mine, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let theirs2 = theirs.try_clone().map_err(|e| format!("dup: {e}"))?;
    let mut child = cmd
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs2)))
        .spawn()
        .map_err(|e| format!("echo floor: {e}"))?;
    let msg = [7u8; 32];
    let mut buf = [0u8; 32];
    let mut out = Vec::with_capacity(n);
    let mut io = || -> std::io::Result<Duration> {
        let t0 = Instant::now();
        mine.write_all(&msg)?;
        mine.read_exact(&mut buf)?;
        Ok(t0.elapsed())
    };
    for i in 0..WARMUP + n {
        let d = io().map_err(|e| format!("echo floor: {e}"))?;
        if i >= WARMUP {
            out.push(d);
        }
    }
    drop(mine);
    let _ = child.wait();
    Ok(out)
}

/// N contexts connected one by one, then one call on each (spawned, then waited).
fn fanout(python: &str, n: usize) -> BenchResult<String> {
    let router = quiet_router()?;
    let rss0 = vm_rss_kib()?;
    let t0 = Instant::now();
    let mut ctxs = Vec::with_capacity(n);
    for _ in 0..n {
        ctxs.push(connect(&router, python)?);
    }
    let t1 = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for c in &ctxs {
        let h = c
            .build("os.getpid")
            .and_then(|b| b.spawn())
            .map_err(|e| format!("spawn: {e}"))?;
        handles.push(h);
    }
    for h in handles {
        match h.wait() {
            Ok(Value::Int(_)) => {}
            Ok(v) => return Err(format!("os.getpid returned {v:?}")),
            Err(e) => return Err(format!("call: {e}")),
        }
    }
    let t2 = Instant::now();
    let rss1 = vm_rss_kib()?;
    let (nkids, pss) = descendants_pss_kib();
    for c in &ctxs {
        c.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    }
    let t3 = Instant::now();
    drop(router);
    let (floor_wall, floor_pss) = fanout_floor(python, n)?;
    let nf = n as f64;
    Ok(format!(
        "\"wall_s\":{:.3},\"connect_s\":{:.3},\"calls_s\":{:.4},\"shutdown_s\":{:.3},\
\"host_rss_delta_kib_per_ctx\":{:.1},\"children\":{nkids},\
\"children_pss_kib_per_ctx\":{:.0},\"children_pss_mib_total\":{:.1},\
\"floor_wall_s\":{:.3},\"floor_pss_mib_total\":{:.1}",
        (t2 - t0).as_secs_f64(),
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        (t3 - t2).as_secs_f64(),
        (rss1 as f64 - rss0 as f64) / nf,
        pss as f64 / nf,
        pss as f64 / 1024.0,
        floor_wall.as_secs_f64(),
        floor_pss as f64 / 1024.0,
    ))
}

/// N bare interpreters (`PYTHON -c`, site imported) started one by one, each waited for until
/// it writes a byte; then the wall time and their PSS.
fn fanout_floor(python: &str, n: usize) -> BenchResult<(Duration, u64)> {
    let t0 = Instant::now();
    let mut kids: Vec<Child> = Vec::with_capacity(n);
    let run = |kids: &mut Vec<Child>| -> std::io::Result<()> {
        for _ in 0..n {
            let mut c = Command::new(python)
                .args(["-c", "import os;os.write(1,b'r');os.read(0,1)"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let mut b = [0u8; 1];
            let r = c.stdout.as_mut().map(|o| o.read_exact(&mut b));
            kids.push(c);
            r.unwrap_or(Ok(()))?;
        }
        Ok(())
    };
    let res = run(&mut kids);
    let wall = t0.elapsed();
    let (_, pss) = descendants_pss_kib();
    for mut c in kids {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    res.map_err(|e| format!("fanout floor: {e}"))?;
    Ok((wall, pss))
}

// --- ssh and multi-hop (the test environment of tests/env/up.sh) ---------------------------

/// What the bench needs from the test environment's env file.
pub(crate) struct TestEnv {
    pub(crate) port: u16,
    pub(crate) key: String,
    pub(crate) known_hosts: String,
    pw_ecpass: String,
}

/// Read `$ECONTEXT_TESTENV/env` (default `/tmp/econtext-testenv/env`).
pub(crate) fn testenv() -> BenchResult<TestEnv> {
    let dir = std::env::var("ECONTEXT_TESTENV").unwrap_or_else(|_| "/tmp/econtext-testenv".into());
    let path = format!("{dir}/env");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e} (run tests/env/up.sh as root)"))?;
    let get = |k: &str| -> BenchResult<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(str::to_string)
            .ok_or_else(|| format!("{path}: no {k}"))
    };
    Ok(TestEnv {
        port: get("SSH_PORT")?
            .parse()
            .map_err(|e| format!("SSH_PORT: {e}"))?,
        key: get("CLIENT_KEY")?,
        known_hosts: get("KNOWN_HOSTS")?,
        pw_ecpass: get("PW_ECPASS")?,
    })
}

impl TestEnv {
    /// ssh to `user`@127.0.0.1 on the private sshd, running `python` there.
    fn ssh(&self, user: &str, python: &str) -> Ssh {
        Ssh::new("127.0.0.1")
            .user(user)
            .port(self.port)
            .identity(&self.key)
            .known_hosts(&self.known_hosts)
            .python(python)
    }

    /// ssh as `ecpass` with its password (no key).
    fn ssh_ecpass(&self, python: &str) -> Ssh {
        self.ssh("ecpass", python)
            .identity("/dev/null")
            .password(Password::new(self.pw_ecpass.clone()))
    }

    /// sudo to `ectarget` with ecpass's password.
    fn sudo_ectarget(&self, python: &str) -> BecomeUser {
        BecomeUser::sudo("ectarget")
            .password(Password::new(self.pw_ecpass.clone()))
            .python(python)
    }

    /// The `ssh` command of the floors: the options econtext passes that matter, then `login`
    /// and the remote command.
    fn ssh_cmd(&self, login: &str, remote: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-T", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts))
            .args(["-i", &self.key, "-p", &self.port.to_string(), login, remote]);
        c
    }
}

/// Time `cmd` to exit, N times after one warm-up.
fn floor_cmd(mut make: impl FnMut() -> Command, n: usize) -> BenchResult<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..=n {
        let mut cmd = make();
        let t0 = Instant::now();
        let st = cmd
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("floor {cmd:?}: {e}"))?;
        if !st.success() {
            return Err(format!("floor {cmd:?}: {st}"));
        }
        if i > 0 {
            out.push(t0.elapsed());
        }
    }
    Ok(out)
}

/// ssh key login + first call + shutdown, N times; the `ssh ... PYTHON -c pass` floor.
fn ssh_bootstrap(python: &str, n: usize) -> BenchResult<String> {
    let env = testenv()?;
    let router = quiet_router()?;
    let m = env.ssh("ectest", python);
    let (mut total, mut up, mut conn, mut first, mut down) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..=n {
        let t0 = Instant::now();
        let ctx = router.connect(&m).map_err(|e| format!("connect: {e}"))?;
        let t1 = Instant::now();
        getpid(&ctx)?;
        let t2 = Instant::now();
        ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        let t3 = Instant::now();
        if i > 0 {
            total.push(t3 - t0);
            up.push(t2 - t0);
            conn.push(t1 - t0);
            first.push(t2 - t1);
            down.push(t3 - t2);
        }
    }
    drop(router);
    let floor = floor_cmd(
        || {
            env.ssh_cmd(
                "ectest@127.0.0.1",
                &format!("{} -c pass", shell_quote(python)),
            )
        },
        n,
    )?;
    let fm = median(&floor);
    Ok(format!(
        "\"median_ms\":{:.1},\"min_ms\":{:.1},\"up_median_ms\":{:.1},\"connect_median_ms\":{:.1},\
\"first_call_median_ms\":{:.2},\"shutdown_median_ms\":{:.1},\"floor_median_ms\":{:.1},\
\"floor_min_ms\":{:.1},\"ratio_to_floor\":{:.3},\"up_ratio_to_floor\":{:.3}",
        ms(median(&total)),
        ms(min(&total)),
        ms(median(&up)),
        ms(median(&conn)),
        ms(median(&first)),
        ms(median(&down)),
        ms(fm),
        ms(min(&floor)),
        median(&total).as_secs_f64() / fm.as_secs_f64(),
        median(&up).as_secs_f64() / fm.as_secs_f64(),
    ))
}

/// N trivial calls over one ssh context; the floor: an echo loop at the far end of ssh.
fn ssh_roundtrip(python: &str, n: usize) -> BenchResult<String> {
    let env = testenv()?;
    let router = quiet_router()?;
    let ctx = router
        .connect(&env.ssh("ectest", python))
        .map_err(|e| format!("connect: {e}"))?;
    let rt = timed_calls(&ctx, n)?;
    ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    drop(router);
    let remote = format!("{} -Sc {}", shell_quote(python), shell_quote(ECHO_LOOP));
    let floor = echo_floor(env.ssh_cmd("ectest@127.0.0.1", &remote), n)?;
    Ok(format!(
        "\"median_us\":{:.1},\"p99_us\":{:.1},\"min_us\":{:.1},\
\"floor_echo_median_us\":{:.1},\"floor_echo_p99_us\":{:.1}",
        us(median(&rt)),
        us(pct(&rt, 99)),
        us(min(&rt)),
        us(median(&floor)),
        us(pct(&floor, 99)),
    ))
}

/// WARMUP calls, then N timed ones.
fn timed_calls(ctx: &Context, n: usize) -> BenchResult<Vec<Duration>> {
    for _ in 0..WARMUP {
        getpid(ctx)?;
    }
    let mut rt = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        getpid(ctx)?;
        rt.push(t0.elapsed());
    }
    Ok(rt)
}

/// A byte counter in front of ssh: `bench/count_stdin.py` behind a `ssh` wrapper script.
struct Counter {
    dir: std::path::PathBuf,
}

impl Counter {
    fn new(python: &str) -> BenchResult<Counter> {
        let dir = std::env::temp_dir().join(format!("econtext-bench-{}", std::process::id()));
        let io = |e: std::io::Error| format!("counter: {e}");
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(
            dir.join("count_stdin.py"),
            include_str!("../count_stdin.py"),
        )
        .map_err(io)?;
        let script = format!(
            "#!/bin/sh\nexec {} -S {} {} ssh \"$@\"\n",
            shell_quote(python),
            shell_quote(&dir.join("count_stdin.py").to_string_lossy()),
            shell_quote(&dir.join("count").to_string_lossy()),
        );
        let ssh = dir.join("ssh");
        std::fs::write(&ssh, script).map_err(io)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        Ok(Counter { dir })
    }

    /// The wrapper to pass as `ssh_path`.
    fn ssh_path(&self) -> String {
        self.dir.join("ssh").to_string_lossy().into_owned()
    }

    /// (remote command bytes, stdin bytes so far).
    fn read(&self) -> BenchResult<(u64, u64)> {
        let t = std::fs::read_to_string(self.dir.join("count"))
            .map_err(|e| format!("count file: {e}"))?;
        let num = |k: &str| -> BenchResult<u64> {
            t.split(&format!("\"{k}\": "))
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| format!("count file {t:?}: no {k}"))
        };
        Ok((num("cmd")?, num("stdin")?))
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes the host wrote to an ssh connection before the first reply arrived.
fn bytes_before_first_reply(python: &str) -> BenchResult<String> {
    let env = testenv()?;
    let counter = Counter::new(python)?;
    let router = quiet_router()?;
    let ctx = router
        .connect(&env.ssh("ectest", python).ssh_path(counter.ssh_path()))
        .map_err(|e| format!("connect: {e}"))?;
    getpid(&ctx)?;
    let (cmd, stdin) = counter.read()?;
    ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    let stage2 = econtext_stub::STAGE2.len();
    let stage0 = stage0_shell(Some(python), &title(), stage2).len();
    Ok(format!(
        "\"total_bytes\":{},\"command_bytes\":{cmd},\"stdin_bytes\":{stdin},\
\"stage2_bytes\":{stage2},\"frames_bytes\":{},\"stage0_computed_bytes\":{stage0},\
\"stage2_inflated_bytes\":{}",
        cmd + stdin,
        stdin.saturating_sub(stage2 as u64),
        econtext_stub::STAGE2_MIN.len(),
    ))
}

/// ssh with a password, then sudo with a password: bootstrap, round trips, bytes per hop.
fn sudo2(python: &str, n: usize, m: usize) -> BenchResult<String> {
    let env = testenv()?;
    let router = quiet_router()?;
    let (ssh_m, sudo_m) = (env.ssh_ecpass(python), env.sudo_ectarget(python));
    let chain = |ssh_m: &Ssh| -> BenchResult<(Context, Context)> {
        let a = router
            .connect(ssh_m)
            .map_err(|e| format!("connect ssh: {e}"))?;
        let b = router
            .connect_via(&sudo_m, &a)
            .map_err(|e| format!("connect_via sudo: {e}"))?;
        Ok((a, b))
    };
    let (mut total, mut up, mut hop1) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..=n {
        let t0 = Instant::now();
        let a = router
            .connect(&ssh_m)
            .map_err(|e| format!("connect ssh: {e}"))?;
        let t1 = Instant::now();
        let b = router
            .connect_via(&sudo_m, &a)
            .map_err(|e| format!("connect_via sudo: {e}"))?;
        getpid(&b)?;
        let t2 = Instant::now();
        b.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        a.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        let t3 = Instant::now();
        if i > 0 {
            total.push(t3 - t0);
            up.push(t2 - t0);
            hop1.push(t1 - t0);
        }
    }
    // Round trips through the chain; the target's uid proves the chain.
    let (a, b) = chain(&ssh_m)?;
    let uid = b
        .call("os.getuid", vec![])
        .map_err(|e| format!("call: {e}"))?;
    let rt = timed_calls(&b, m)?;
    b.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    a.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    // Bytes per hop, through the counter.
    let counter = Counter::new(python)?;
    let a = router
        .connect(&ssh_m.clone().ssh_path(counter.ssh_path()))
        .map_err(|e| format!("connect ssh (counted): {e}"))?;
    let (cmd1, in1) = counter.read()?;
    let b = router
        .connect_via(&sudo_m, &a)
        .map_err(|e| format!("connect_via sudo (counted): {e}"))?;
    getpid(&b)?;
    let (_, in2) = counter.read()?;
    b.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    a.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    drop(counter);
    drop(router);
    // Floors: ssh (password, via sshpass) + sudo (password) + `PYTHON -c pass`; without
    // sshpass, key login + NOPASSWD sudo. Round trips: an echo loop behind ssh + sudo.
    let py = shell_quote(python);
    let have_sshpass = Command::new("sshpass")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (floor_kind, floor) = if have_sshpass {
        let remote = format!(
            "echo {} | sudo -S -p '' -u ectarget {py} -c pass",
            shell_quote(&env.pw_ecpass)
        );
        let make = || {
            let mut c = Command::new("sshpass");
            c.env("SSHPASS", &env.pw_ecpass)
                .args(["-e", "ssh", "-tt", "-o", "LogLevel=ERROR"])
                .args(["-o", "StrictHostKeyChecking=yes"])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", env.known_hosts))
                .args(["-o", "PubkeyAuthentication=no", "-p"])
                .arg(env.port.to_string())
                .args(["ecpass@127.0.0.1", &remote])
                .stdout(Stdio::null());
            c
        };
        (
            "sshpass ssh -tt ecpass (password) + sudo -S (password)",
            floor_cmd(make, n)?,
        )
    } else {
        let remote = format!("sudo -u ectarget {py} -c pass");
        let make = || env.ssh_cmd("ectest@127.0.0.1", &remote);
        (
            "ssh ectest (key) + sudo NOPASSWD (no sshpass)",
            floor_cmd(make, n)?,
        )
    };
    let remote = format!("sudo -u ectarget {py} -Sc {}", shell_quote(ECHO_LOOP));
    let floor_rt = echo_floor(env.ssh_cmd("ectest@127.0.0.1", &remote), m)?;
    let fm = median(&floor);
    Ok(format!(
        "\"rt_n\":{m},\"target_uid\":{},\"boot_median_ms\":{:.1},\"boot_min_ms\":{:.1},\
\"boot_up_median_ms\":{:.1},\"hop1_up_median_ms\":{:.1},\"floor_kind\":{},\
\"floor_median_ms\":{:.1},\"ratio_to_floor\":{:.3},\"up_ratio_to_floor\":{:.3},\
\"rt_median_us\":{:.1},\"rt_p99_us\":{:.1},\"rt_min_us\":{:.1},\
\"floor_echo_median_us\":{:.1},\"floor_echo_p99_us\":{:.1},\
\"hop1_command_bytes\":{cmd1},\"hop1_stdin_bytes\":{in1},\"hop1_bytes\":{},\"hop2_bytes\":{}",
        match uid {
            Value::Int(u) => u.to_string(),
            other => json_str(&format!("{other:?}")),
        },
        ms(median(&total)),
        ms(min(&total)),
        ms(median(&up)),
        ms(median(&hop1)),
        json_str(floor_kind),
        ms(fm),
        median(&total).as_secs_f64() / fm.as_secs_f64(),
        median(&up).as_secs_f64() / fm.as_secs_f64(),
        us(median(&rt)),
        us(pct(&rt, 99)),
        us(min(&rt)),
        us(median(&floor_rt)),
        us(pct(&floor_rt, 99)),
        cmd1 + in1,
        in2.saturating_sub(in1),
    ))
}

/// VmRSS of this process, in KiB.
fn vm_rss_kib() -> BenchResult<u64> {
    let s = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    kib_field(&s, "VmRSS:").ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

/// The KiB value of a `Name:   123 kB` line.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Every process below this one: their count and the sum of their PSS in KiB.
fn descendants_pss_kib() -> (usize, u64) {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut queue: VecDeque<u32> = VecDeque::from([std::process::id()]);
    let (mut count, mut pss) = (0usize, 0u64);
    while let Some(p) = queue.pop_front() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            count += 1;
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{c}/smaps_rollup")) {
                pss += kib_field(&s, "Pss:").unwrap_or(0);
            }
            queue.push_back(c);
        }
    }
    (count, pss)
}

/// The median of some durations.
fn median(v: &[Duration]) -> Duration {
    pct(v, 50)
}

/// The `p`th percentile (nearest rank) of some durations.
fn pct(v: &[Duration], p: usize) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let i = (s.len() * p).div_ceil(100).saturating_sub(1);
    s[i.min(s.len() - 1)]
}

/// The smallest of some durations.
fn min(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

/// Milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds.
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
