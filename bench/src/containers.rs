//! Container methods (issue 14): bootstrap + first call through each method against the
//! runtime's own `PREFIX python3 -c pass`. Needs the containers of tests/env/containers.sh.
//!
//! `ctr-METHOD PYTHON N` with METHOD one of docker, podman, lxc, nspawn, chroot, docker-run,
//! setns-docker, setns-podman, setns-lxc, setns-pid (docker's leader by pid: no inspect per
//! connect). PYTHON is ignored: the container's python3 runs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext::connect::Method;
use econtext::{Container, Leader, Setns};

use super::{getpid, median, min, ms, quiet_router, BenchResult};

const ROOTFS: &str = "/srv/rootfs";

/// The method and the exec prefix its floor runs `python3 -c pass` behind: for a runtime, its
/// own recipe's argv up to the interpreter (so the floor runs exactly what econtext runs); for
/// setns, `nsenter -t PID -a`.
fn method(m: &str) -> BenchResult<(Box<dyn Method>, Vec<String>)> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let nsenter = |pid: String| v(&["nsenter", "-t", &pid, "-a"]);
    let runtime = |c: Container| -> (Box<dyn Method>, Vec<String>) {
        // The recipe ends in the interpreter's command: `/bin/sh -c LINE`.
        let mut prefix = c.recipe("floor", 1).argv;
        prefix.truncate(prefix.len() - 3);
        (Box::new(c), prefix)
    };
    Ok(match m {
        "docker" => runtime(Container::docker("ectx-docker")),
        "podman" => runtime(Container::podman("ectx-podman")),
        "lxc" => runtime(Container::lxc("ectx-lxc")),
        "nspawn" => runtime(
            Container::nspawn(ROOTFS)
                .arg("--read-only")
                .arg("--timezone=off"),
        ),
        "chroot" => runtime(Container::chroot(ROOTFS)),
        "docker-run" => runtime(Container::docker_run("localhost/pyroot").arg("--network=none")),
        "setns-docker" => (
            Box::new(Setns::new(Leader::Docker("ectx-docker".into()))),
            nsenter(inspect("docker", "ectx-docker")?),
        ),
        "setns-podman" => (
            Box::new(Setns::new(Leader::Podman("ectx-podman".into()))),
            nsenter(inspect("podman", "ectx-podman")?),
        ),
        "setns-lxc" => (
            Box::new(Setns::new(Leader::Lxc("ectx-lxc".into()))),
            nsenter(lxc_pid()?),
        ),
        "setns-pid" => {
            // The pure setns cost: the leader's pid given, no runtime client asked.
            let pid = inspect("docker", "ectx-docker")?;
            let p: u32 = pid
                .parse()
                .map_err(|_| format!("docker inspect said {pid:?}"))?;
            (Box::new(Setns::new(Leader::Pid(p))), nsenter(pid))
        }
        other => return Err(format!("unknown container method {other:?}")),
    })
}

fn output(prog: &str, args: &[&str]) -> BenchResult<String> {
    let o = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("{prog}: {e}"))?;
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn inspect(rt: &str, name: &str) -> BenchResult<String> {
    output(rt, &["inspect", "--format", "{{.State.Pid}}", name])
}

fn lxc_pid() -> BenchResult<String> {
    output("lxc-info", &["-n", "ectx-lxc", "-pH"])
}

/// Time `prefix python3 -c pass`, N times after one warm-up.
fn floor(prefix: &[String], n: usize) -> BenchResult<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..=n {
        let t0 = Instant::now();
        let st = Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(["python3", "-c", "pass"])
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("floor {prefix:?}: {e}"))?;
        if !st.success() {
            return Err(format!("floor {prefix:?}: {st}"));
        }
        if i > 0 {
            out.push(t0.elapsed());
        }
    }
    Ok(out)
}

/// Connect through `m` + first call + shutdown, N times, against its floor.
pub fn boot(m: &str, n: usize) -> BenchResult<String> {
    let (method, prefix) = method(m)?;
    let router = quiet_router()?;
    let (mut total, mut conn) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..=n {
        let t0 = Instant::now();
        let ctx = router
            .connect(method.as_ref())
            .map_err(|e| format!("connect: {e}"))?;
        let t1 = Instant::now();
        getpid(&ctx)?;
        let t2 = Instant::now();
        ctx.shutdown().map_err(|e| format!("shutdown: {e}"))?;
        if i > 0 {
            total.push(t2 - t0);
            conn.push(t1 - t0);
        }
    }
    drop(router);
    let f = floor(&prefix, n)?;
    Ok(format!(
        "\"method\":\"{m}\",\"median_ms\":{:.2},\"min_ms\":{:.2},\"connect_median_ms\":{:.2},\
\"floor_median_ms\":{:.2},\"floor_min_ms\":{:.2},\"floor\":\"{} python3 -c pass\",\"ratio_to_floor\":{:.2}",
        ms(median(&total)),
        ms(min(&total)),
        ms(median(&conn)),
        ms(median(&f)),
        ms(min(&f)),
        prefix.join(" "),
        median(&total).as_secs_f64() / median(&f).as_secs_f64(),
    ))
}
