//! put and get (issue 13): `econtext put` / `econtext get` over ssh against `scp` (SFTP mode)
//! to the same sshd; put/get on a local context (library); a 4 KiB put on a live ssh context
//! against one trivial call.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use econtext::{GetOptions, Local, PutOptions};

use super::fakessh::{cli, compared, data_file, direct_scp as scp, sha, target, timed, Scratch};
use super::{median, ms, quiet_router, testenv, BenchResult};

/// `econtext put|get ssh:ectest@127.0.0.1 ...` against `scp` up and down, `mib` MiB, 3 runs
/// each, alternating (each includes its own connection, as scp's does).
pub fn ssh(_python: &str, mib: usize) -> BenchResult<String> {
    let env = testenv()?;
    let exe = cli()?;
    let s = Scratch::new("files")?;
    let src = data_file(&s.0, mib)?;
    let dst = s.0.join("dst");
    let back = s.0.join("back");
    let reset = || {
        let _ = std::fs::remove_file(s.0.join("dst"));
        let _ = std::fs::remove_file(s.0.join("back"));
        Ok(())
    };
    // `extra`: nothing, or `--no-verify` (neither end hashes).
    let eput = |src: &Path, dst: &Path, extra: &[&str]| {
        let mut c = Command::new(&exe);
        c.arg("put")
            .args(target(&env))
            .arg(src)
            .arg(dst)
            .arg("--no-fsync")
            .args(extra);
        c
    };
    let eget = |dst: &Path, back: &Path, extra: &[&str]| {
        let mut c = Command::new(&exe);
        c.arg("get")
            .args(target(&env))
            .arg(dst)
            .arg(back)
            .args(extra);
        c
    };
    let remote = |p: &Path| format!("ectest@127.0.0.1:{}", p.display());
    let (mut pe, mut pd, mut ge, mut gd) = (vec![], vec![], vec![], vec![]);
    let (mut pn, mut gn) = (vec![], vec![]);
    let nv = ["--no-verify"];
    for _ in 0..3 {
        pn.extend(timed(1, reset, || eput(&src, &dst, &nv))?);
        gn.extend(timed(1, || Ok(()), || eget(&dst, &back, &nv))?);
        pe.extend(timed(1, reset, || eput(&src, &dst, &[]))?);
        ge.extend(timed(1, || Ok(()), || eget(&dst, &back, &[]))?);
        if sha(&src)? != sha(&back)? {
            return Err("the round trip through econtext differs".into());
        }
        pd.extend(timed(1, reset, || {
            scp(&env, &src.display().to_string(), &remote(&dst))
        })?);
        gd.extend(timed(
            1,
            || Ok(()),
            || scp(&env, &remote(&dst), &back.display().to_string()),
        )?);
    }
    let bytes = mib << 20;
    // The library on a live context (no connection in the time), as Mitogen's row is.
    let router = quiet_router()?;
    let ctx = router
        .connect(&env.ssh("ectest", _python))
        .map_err(|e| format!("connect: {e}"))?;
    let o = PutOptions {
        fsync: false,
        ..Default::default()
    };
    let (mut lp, mut lg) = (vec![], vec![]);
    let dsts = dst.display().to_string();
    for _ in 0..3 {
        reset()?;
        let t = Instant::now();
        ctx.put(&src, &dsts, &o).map_err(|e| format!("put: {e}"))?;
        lp.push(t.elapsed());
        let t = Instant::now();
        ctx.get(&dsts, &back, &GetOptions::default())
            .map_err(|e| format!("get: {e}"))?;
        lg.push(t.elapsed());
    }
    let g = |v: &[Duration]| bytes as f64 / median(v).as_secs_f64() / 1e9;
    Ok(format!(
        "\"put\":{{{}}},\"get\":{{{}}},\"put_noverify\":{{{}}},\"get_noverify\":{{{}}},\"live_put_gbps\":{:.3},\"live_get_gbps\":{:.3}",
        compared(bytes, &pe, &pd),
        compared(bytes, &ge, &gd),
        compared(bytes, &pn, &pd),
        compared(bytes, &gn, &gd),
        g(&lp),
        g(&lg)
    ))
}

/// Library put and get of `mib` MiB on a local context, 3 runs each, in memory (/dev/shm: the
/// transfer, not this machine's disk).
pub fn local(python: &str, mib: usize) -> BenchResult<String> {
    if Path::new("/dev/shm").is_dir() {
        std::env::set_var("TMPDIR", "/dev/shm");
    }
    let s = Scratch::new("files-local")?;
    let src = data_file(&s.0, mib)?;
    let router = quiet_router()?;
    let ctx = router
        .connect(&Local::new().python(python))
        .map_err(|e| format!("connect: {e}"))?;
    let dst = s.0.join("dst").display().to_string();
    let back = s.0.join("back");
    let o = PutOptions {
        fsync: false,
        ..Default::default()
    };
    let (mut p, mut g) = (vec![], vec![]);
    for _ in 0..3 {
        let t = Instant::now();
        ctx.put(&src, &dst, &o).map_err(|e| format!("put: {e}"))?;
        p.push(t.elapsed());
        let t = Instant::now();
        ctx.get(&dst, &back, &GetOptions::default())
            .map_err(|e| format!("get: {e}"))?;
        g.push(t.elapsed());
    }
    // The transfer alone: no sha256 on either side (`--no-verify`).
    let nv = PutOptions {
        verify: false,
        ..o.clone()
    };
    let mut q = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        ctx.put(&src, &dst, &nv).map_err(|e| format!("put: {e}"))?;
        q.push(t.elapsed());
    }
    let gbps = |d: Duration| (mib << 20) as f64 / d.as_secs_f64() / 1e9;
    let t = Instant::now();
    econtext::sha256_file(&src).map_err(|e| e.to_string())?;
    let hash = gbps(t.elapsed());
    let runs = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.2}", gbps(*d)))
            .collect::<Vec<_>>()
            .join(",")
    };
    Ok(format!(
        "\"put_gbps\":{:.3},\"put_runs\":[{}],\"put_noverify_gbps\":{:.3},\"put_noverify_runs\":[{}],\"get_gbps\":{:.3},\"get_runs\":[{}],\"host_sha256_gbps\":{hash:.2}",
        gbps(median(&p)),
        runs(&p),
        gbps(median(&q)),
        runs(&q),
        gbps(median(&g)),
        runs(&g)
    ))
}

/// A 4 KiB put, N times, on a live ssh context, against one trivial call on it.
pub fn small(python: &str, n: usize) -> BenchResult<String> {
    let env = testenv()?;
    let s = Scratch::new("files-small")?;
    let src = s.0.join("small");
    std::fs::write(&src, vec![b'x'; 4096]).map_err(|e| e.to_string())?;
    let router = quiet_router()?;
    let ctx = router
        .connect(&env.ssh("ectest", python))
        .map_err(|e| format!("connect: {e}"))?;
    let dst = s.0.join("dst").display().to_string();
    let o = PutOptions {
        fsync: false,
        ..Default::default()
    };
    ctx.put(&src, &dst, &o).map_err(|e| format!("put: {e}"))?; // fetch the module once
    let (mut p, mut c) = (vec![], vec![]);
    for _ in 0..n {
        let t = Instant::now();
        ctx.put(&src, &dst, &o).map_err(|e| format!("put: {e}"))?;
        p.push(t.elapsed());
        let t = Instant::now();
        ctx.call("os.getpid", vec![])
            .map_err(|e| format!("call: {e}"))?;
        c.push(t.elapsed());
    }
    Ok(format!(
        "\"put_median_ms\":{:.3},\"call_median_ms\":{:.3}",
        ms(median(&p)),
        ms(median(&c))
    ))
}

/// A put of `mib` MiB to 4 local contexts behind one relay context: as one stream
/// (`Group::put`, the relay copies it) against a put per target (`Group::each`), 3 runs each
/// alternating: the time, and the bytes the relay read (`rchar`: what crossed its link).
pub fn group(python: &str, mib: usize) -> BenchResult<String> {
    use econtext::connect::Method;
    use econtext::{Group, Target};
    if Path::new("/dev/shm").is_dir() {
        std::env::set_var("TMPDIR", "/dev/shm");
    }
    let s = Scratch::new("files-group")?;
    let src = data_file(&s.0, mib)?;
    let router = quiet_router()?;
    let targets: Vec<Target> = (0..4)
        .map(|i| {
            let hops: Vec<(String, Box<dyn Method>)> = vec![
                ("relay".into(), Box::new(Local::new().python(python))),
                (
                    format!("t{i}"),
                    Box::new(Local::new().python(python).name(format!("t{i}"))),
                ),
            ];
            Target::chain(format!("t{i}"), hops)
        })
        .collect();
    let mut group = Group::new(&router, targets);
    let up: econtext::Results = group.connect().collect();
    if up.succeeded().count() != 4 {
        return Err(format!("connect: {up:?}"));
    }
    let relay_pid = {
        let (_, t0) = group.contexts().next().ok_or("no context")?;
        match t0.call("os.getppid", vec![]).map_err(|e| e.to_string())? {
            econtext::Value::Int(p) => p,
            v => return Err(format!("ppid {v:?}")),
        }
    };
    let rchar = || -> u64 {
        std::fs::read_to_string(format!("/proc/{relay_pid}/io"))
            .ok()
            .and_then(|io| {
                io.lines()
                    .find_map(|l| l.strip_prefix("rchar: "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    };
    let dst = s.0.join("dst").display().to_string();
    let o = PutOptions {
        fsync: false,
        ..Default::default()
    };
    let (mut one, mut each, mut one_read, mut each_read) = (vec![], vec![], 0, 0);
    for _ in 0..3 {
        let (t, r) = (Instant::now(), rchar());
        let res = group.put(&src, &dst, &o, |_, _| {});
        one.push(t.elapsed());
        one_read = rchar() - r;
        if res.succeeded().count() != 4 {
            return Err(format!("group put: {res:?}"));
        }
        let (t, r) = (Instant::now(), rchar());
        let res = group.each(
            |_, ctx| ctx.put(&src, &dst, &o).map(|t| t.to_value()),
            |_, _| {},
        );
        each.push(t.elapsed());
        each_read = rchar() - r;
        if res.succeeded().count() != 4 {
            return Err(format!("each put: {res:?}"));
        }
    }
    group.shutdown();
    Ok(format!(
        "\"targets\":4,\"stream_ms\":{:.0},\"each_ms\":{:.0},\"stream_relay_read_mib\":{:.1},\"each_relay_read_mib\":{:.1}",
        ms(median(&one)),
        ms(median(&each)),
        one_read as f64 / (1 << 20) as f64,
        each_read as f64 / (1 << 20) as f64
    ))
}
