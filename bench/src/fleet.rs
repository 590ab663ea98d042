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

/// CPU seconds (user + system) of process `pid` so far, from /proc.
fn cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// This process and its live children (the ssh clients it runs): the controller's CPU.
fn controller_cpu_s() -> f64 {
    let me = std::process::id();
    let mut total = cpu_s(me);
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string))
            })
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) {
            total += cpu_s(pid);
        }
    }
    total
}

/// An ssh config with aliases fleet001..fleetN for the private sshd, as `ectest` with that
/// account's own key (readable by a relay running as ectest too).
fn ssh_config(env: &super::TestEnv, n: usize) -> BenchResult<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("econtext-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut cfg = String::new();
    for i in 1..=n {
        cfg.push_str(&format!(
            "Host fleet{i:03}\n    HostName 127.0.0.1\n    Port {}\n",
            env.port
        ));
    }
    cfg.push_str(&format!(
        "Host *\n    User ectest\n    IdentityFile ~ectest/.ssh/id_ed25519\n    IdentitiesOnly yes\n    \
         UserKnownHostsFile {}\n    StrictHostKeyChecking yes\n",
        env.known_hosts
    ));
    let p = dir.join("ssh_config");
    std::fs::write(&p, cfg).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
    Ok(p)
}

/// N ssh targets (distinct connections to the private sshd), one `os.getuid` each: direct
/// (`relays` = 0), or through that many relays (ssh contexts as ectest on the same sshd that
/// run the targets' ssh clients). Reports the wall time and the controller's CPU (itself and
/// the ssh clients it runs), per target.
pub fn ssh(python: &str, n: usize, relays: usize) -> BenchResult<String> {
    let env = super::testenv()?;
    let cfg = ssh_config(&env, n)?;
    let router = quiet_router()?;
    let ssh = |host: &str| econtext::Ssh::new(host).config_file(&cfg).python(python);
    let relay_ctxs: Vec<econtext::Context> = (0..relays)
        .map(|i| {
            router
                .connect(&ssh(&format!("fleet{:03}", i + 1)))
                .map_err(|e| format!("relay: {e}"))
        })
        .collect::<BenchResult<_>>()?;
    let targets = (1..=n)
        .map(|i| {
            let h = format!("fleet{i:03}");
            Target::new(h.clone(), ssh(&h))
        })
        .collect();
    let (rss0, fds0) = (vm_rss_kib()?, count("/proc/self/fd"));
    let cpu0 = controller_cpu_s();
    let t0 = Instant::now();
    let mut group = Group::new(&router, targets).via(relay_ctxs);
    let mut threads = 0;
    let (mut ok, mut failed) = (0, 0);
    let mut first_error = String::new();
    for o in group
        .call("os.getuid", vec![])
        .map_err(|e| format!("call: {e}"))?
    {
        threads = threads.max(count("/proc/self/task"));
        match o.result {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                if first_error.is_empty() {
                    first_error = format!("{}: {e}", o.target);
                }
            }
        }
    }
    let wall = t0.elapsed();
    let cpu = controller_cpu_s() - cpu0;
    let (rss1, fds) = (vm_rss_kib()?, count("/proc/self/fd"));
    let t1 = Instant::now();
    group.shutdown();
    let shutdown = t1.elapsed();
    drop(group);
    drop(router);
    let _ = std::fs::remove_dir_all(cfg.parent().unwrap_or(&cfg));
    if failed > 0 {
        eprintln!("fleet-ssh: {failed} failed, first: {first_error}");
    }
    let nf = n as f64;
    Ok(format!(
        "\"relays\":{relays},\"wall_s\":{:.3},\"ok\":{ok},\"failed\":{failed},\
\"controller_cpu_s\":{cpu:.3},\"controller_cpu_ms_per_target\":{:.2},\"fds\":{fds},\
\"host_rss_delta_kib_per_ctx\":{:.1},\"fds_per_ctx\":{:.2},\"threads\":{threads},\
\"shutdown_s\":{:.3}",
        wall.as_secs_f64(),
        cpu * 1000.0 / nf,
        (rss1 as f64 - rss0 as f64) / nf,
        (fds as f64 - fds0 as f64) / nf,
        shutdown.as_secs_f64()
    ))
}

/// N local contexts through the CLI (`econtext call --json -t ...`, each target a distinct
/// name for the same interpreter): the wall time of the whole command.
pub fn local_cli(python: &str, n: usize) -> BenchResult<String> {
    let bin = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("econtext");
    let dir = std::env::temp_dir().join(format!("econtext-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let real = std::fs::canonicalize(python).map_err(|e| format!("{python}: {e}"))?;
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["call", "-q", "--json"]);
    for i in 0..n {
        let link = dir.join(format!("py{i:04}"));
        let _ = std::os::unix::fs::symlink(&real, &link);
        cmd.arg("-t").arg(format!("local:{}", link.display()));
    }
    cmd.arg("os.getpid");
    let t0 = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let wall = t0.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    let ok = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"ok\":true"))
        .count();
    if !out.status.success() || ok != n {
        return Err(format!(
            "exit {:?}, {ok} ok: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(format!("\"wall_s\":{:.3},\"ok\":{ok}", wall.as_secs_f64()))
}
