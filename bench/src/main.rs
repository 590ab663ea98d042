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
#![deny(missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext::{Context, Local, Router, RouterOptions};
use econtext_core::Value;

/// Warm-up calls before the round-trip measurement.
const WARMUP: usize = 200;

/// Why a workload failed: printed in the `error` field.
type BenchResult<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: econtext-bench bootstrap|roundtrip|fanout PYTHON N");
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
        other => {
            eprintln!("unknown workload {other:?}: bootstrap, roundtrip or fanout");
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
    let floor = echo_floor(python, n)?;
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

/// Round trips of a 32-byte message through a Python echo loop over a socketpair.
fn echo_floor(python: &str, n: usize) -> BenchResult<Vec<Duration>> {
    let (mut mine, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let theirs2 = theirs.try_clone().map_err(|e| format!("dup: {e}"))?;
    let mut child = Command::new(python)
        .args([
            "-S",
            "-c",
            "import os\nwhile 1:\n b=os.read(0,4096)\n if not b:break\n os.write(1,b)",
        ])
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
