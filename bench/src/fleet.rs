//! Fleet workloads: many targets from one process through the group API (and the CLI).

use std::time::Instant;

use econtext::{Group, Local, Target, Value};

use super::{quiet_router, vm_rss_kib, BenchResult};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// N local contexts connected with the group's default concurrency, one `os.getpid` each.
pub fn local(python: &str, n: usize) -> BenchResult<String> {
    let router = quiet_router()?;
    let (rss0, fds0) = (vm_rss_kib()?, count("/proc/self/fd"));
    let targets = (0..n)
        .map(|i| Target::new(format!("l{i}"), Local::new().python(python)))
        .collect();
    let mut group = Group::new(&router, targets);
    let t0 = Instant::now();
    let mut threads = 0;
    let mut ok = 0;
    for o in group
        .call("os.getpid", vec![])
        .map_err(|e| format!("call: {e}"))?
    {
        threads = threads.max(count("/proc/self/task"));
        match o.result {
            Ok(Value::Int(_)) => ok += 1,
            other => return Err(format!("{}: {other:?}", o.target)),
        }
    }
    let wall = t0.elapsed();
    let (rss1, fds1) = (vm_rss_kib()?, count("/proc/self/fd"));
    let t1 = Instant::now();
    group.shutdown();
    drop(group);
    drop(router);
    let nf = n as f64;
    Ok(format!(
        "\"wall_s\":{:.3},\"ok\":{ok},\"host_rss_delta_kib_per_ctx\":{:.1},\"fds_per_ctx\":{:.2},\
\"threads\":{threads},\"shutdown_s\":{:.3}",
        wall.as_secs_f64(),
        (rss1 as f64 - rss0 as f64) / nf,
        (fds1 as f64 - fds0 as f64) / nf,
        t1.elapsed().as_secs_f64(),
    ))
}
