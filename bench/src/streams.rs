//! Channel workloads: throughput both ways, over ssh, value ping-pong, the trivial-call round
//! trip while a bulk stream flows on the same context, and memory under a slow consumer.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext::{Context, Local, Router, RouterOptions, Value};

use super::{median, pct, us, vm_rss_kib, BenchResult};

/// The remote side of the channel workloads.
fn modpath() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py")
}

fn router() -> BenchResult<Router> {
    Router::with_options(RouterOptions {
        sink: Arc::new(|_| {}),
        module_path: vec![modpath()],
        ..RouterOptions::default()
    })
    .map_err(|e| format!("router: {e}"))
}

const CHUNK: usize = 64 * 1024;

/// Receive `mib` MiB from a generator in 64 KiB items; GB/s (10^9 bytes/s).
fn down(ctx: &Context, mib: usize) -> BenchResult<f64> {
    let n = mib * 1024 * 1024 / CHUNK;
    let t = Instant::now();
    let rx = ctx
        .stream(
            "bench_streams.chunks",
            vec![Value::Int(n as i64), Value::Int(CHUNK as i64)],
        )
        .map_err(|e| format!("stream: {e}"))?;
    let mut bytes = 0usize;
    for v in &rx {
        match v {
            Ok(Value::Bytes(b)) => bytes += b.len(),
            Ok(o) => return Err(format!("unexpected item {o:?}")),
            Err(e) => return Err(format!("stream: {e}")),
        }
    }
    let dt = t.elapsed();
    if bytes != n * CHUNK {
        return Err(format!("got {bytes} bytes of {}", n * CHUNK));
    }
    Ok(bytes as f64 / dt.as_secs_f64() / 1e9)
}

/// `stream-down PYTHON MIB`: remote -> host.
pub fn stream_down(python: &str, mib: usize) -> BenchResult<String> {
    let router = router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    down(&ctx, 16)?;
    let runs: Vec<f64> = (0..3).map(|_| down(&ctx, mib)).collect::<Result<_, _>>()?;
    let floor = socketpair_floor(python, mib)?;
    Ok(format!(
        "\"gbps\":{:.3},\"runs\":{:?},\"floor_socketpair_gbps\":{floor:.3}",
        med(&runs),
        runs.iter()
            .map(|x| (x * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    ))
}

fn med(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

/// A Python child writing `mib` MiB in 64 KiB blocks to a socketpair this process drains.
fn socketpair_floor(python: &str, mib: usize) -> BenchResult<f64> {
    use std::io::Read;
    let (mut mine, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let code = format!(
        "import os\nb=b'\\0'*{CHUNK}\nfor _ in range({}):\n os.write(1,b)",
        mib * 1024 * 1024 / CHUNK
    );
    let t = Instant::now();
    let mut child = std::process::Command::new(python)
        .args(["-S", "-c", &code])
        .stdout(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            theirs,
        )))
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0usize;
    loop {
        let n = mine.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        total += n;
    }
    let _ = child.wait();
    Ok(total as f64 / t.elapsed().as_secs_f64() / 1e9)
}

/// Send `mib` MiB in 64 KiB items to a remote consumer; GB/s.
fn up(ctx: &Context, mib: usize) -> BenchResult<f64> {
    let n = mib * 1024 * 1024 / CHUNK;
    let t = Instant::now();
    let (tx, call) = ctx
        .stream_to("bench_streams.sink", vec![])
        .map_err(|e| format!("stream_to: {e}"))?;
    let item = vec![0u8; CHUNK];
    for _ in 0..n {
        tx.send(Value::Bytes(item.clone()))
            .map_err(|e| format!("send: {e}"))?;
    }
    drop(tx);
    let got = call.wait().map_err(|e| format!("sink: {e}"))?;
    let dt = t.elapsed();
    if got != Value::Int((n * CHUNK) as i64) {
        return Err(format!("the sink counted {got:?}"));
    }
    Ok((n * CHUNK) as f64 / dt.as_secs_f64() / 1e9)
}

/// `stream-up PYTHON MIB`: host -> remote.
pub fn stream_up(python: &str, mib: usize) -> BenchResult<String> {
    let router = router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    up(&ctx, 16)?;
    let runs: Vec<f64> = (0..3).map(|_| up(&ctx, mib)).collect::<Result<_, _>>()?;
    Ok(format!(
        "\"gbps\":{:.3},\"runs\":{:?}",
        med(&runs),
        runs.iter()
            .map(|x| (x * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    ))
}

/// `ssh-stream PYTHON MIB`: remote -> host over ssh to 127.0.0.1, and the floor
/// `ssh ectest@127.0.0.1 head -c MIB M /dev/zero` into /dev/null (no forced compression).
pub fn ssh_stream(python: &str, mib: usize) -> BenchResult<String> {
    let env = super::testenv()?;
    let router = router()?;
    let ctx = router
        .connect(&env.ssh("ectest", python))
        .map_err(|e| format!("connect: {e}"))?;
    down(&ctx, 16)?;
    let runs: Vec<f64> = (0..3).map(|_| down(&ctx, mib)).collect::<Result<_, _>>()?;
    let mut floors = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let st = env
            .ssh_cmd("ectest@127.0.0.1", &format!("head -c {mib}M /dev/zero"))
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("floor ssh: {st}"));
        }
        floors.push((mib * 1024 * 1024) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    let (g, f) = (med(&runs), med(&floors));
    Ok(format!(
        "\"gbps\":{g:.3},\"floor_ssh_head_gbps\":{f:.3},\"of_floor\":{:.3}",
        g / f
    ))
}

/// `pingpong PYTHON N`: a value sent down a channel and echoed back up another, N times.
pub fn pingpong(python: &str, n: usize) -> BenchResult<String> {
    let router = router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    let rx = ctx.receiver().map_err(|e| e.to_string())?;
    let (tx, call) = ctx
        .stream_to("bench_streams.echo", vec![rx.sender()])
        .map_err(|e| format!("stream_to: {e}"))?;
    let mut rt = Vec::with_capacity(n);
    for i in 0..(n + super::WARMUP) {
        let t = Instant::now();
        tx.send(Value::Int(i as i64))
            .map_err(|e| format!("send: {e}"))?;
        match rx.recv() {
            Ok(Value::Int(j)) if j == i as i64 => {}
            other => return Err(format!("echo: {other:?}")),
        }
        if i >= super::WARMUP {
            rt.push(t.elapsed());
        }
    }
    drop(tx);
    call.wait().map_err(|e| format!("echo: {e}"))?;
    Ok(format!(
        "\"median_us\":{:.1},\"p99_us\":{:.1}",
        us(median(&rt)),
        us(pct(&rt, 99))
    ))
}

/// `busy-roundtrip PYTHON N`: N trivial calls while 1 GiB streams on the same context.
pub fn busy_roundtrip(python: &str, n: usize) -> BenchResult<String> {
    let router = router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let bulk = {
        let (ctx, stop) = (ctx.clone(), stop.clone());
        std::thread::spawn(move || -> BenchResult<usize> {
            let rx = ctx
                .stream(
                    "bench_streams.chunks",
                    vec![Value::Int(16384), Value::Int(CHUNK as i64)],
                )
                .map_err(|e| e.to_string())?;
            let mut items = 0;
            for v in &rx {
                v.map_err(|e| e.to_string())?;
                items += 1;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(items)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let mut rt = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ctx.call("os.getpid", vec![])
            .map_err(|e| format!("call: {e}"))?;
        rt.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let items = bulk.join().map_err(|_| "bulk thread panicked")??;
    Ok(format!(
        "\"median_us\":{:.1},\"p99_us\":{:.1},\"bulk_items_meanwhile\":{items}",
        us(median(&rt)),
        us(pct(&rt, 99))
    ))
}

/// `slow-consumer PYTHON MIB`: MIB MiB produced through a Sender while the host takes one
/// 64 KiB item per millisecond; the host's RSS growth and the producer's time blocked.
pub fn slow_consumer(python: &str, mib: usize) -> BenchResult<String> {
    let router = router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    let rss0 = vm_rss_kib()?;
    let rx = ctx.receiver().map_err(|e| e.to_string())?;
    let n = mib * 1024 * 1024 / CHUNK;
    let call = ctx
        .call_async(
            "bench_streams.timed_chunks",
            vec![rx.sender(), Value::Int(n as i64), Value::Int(CHUNK as i64)],
        )
        .map_err(|e| e.to_string())?;
    let mut peak = rss0;
    let mut items = 0;
    let t = Instant::now();
    for v in &rx {
        v.map_err(|e| e.to_string())?;
        items += 1;
        std::thread::sleep(Duration::from_millis(1));
        if items % 64 == 0 {
            peak = peak.max(vm_rss_kib()?);
        }
    }
    let blocked = match call.wait().map_err(|e| e.to_string())? {
        Value::Float(b) => b,
        o => return Err(format!("timed_chunks returned {o:?}")),
    };
    Ok(format!(
        "\"items\":{items},\"seconds\":{:.2},\"rss_growth_kib\":{},\"window_kib\":{},\
\"producer_blocked_s\":{blocked:.2}",
        t.elapsed().as_secs_f64(),
        peak.saturating_sub(rss0),
        econtext_core::window::CHANNEL_WINDOW / 1024
    ))
}
