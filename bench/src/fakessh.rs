//! fakessh and `econtext run` workloads against the private sshd of tests/env/up.sh: rsync,
//! scp and `run -- cat` throughput through econtext against the same tool over plain ssh, and
//! the start of one fake ssh invocation on an existing connection against a fresh ssh login.
//! The econtext CLI is the release binary next to this one (bench/run.sh builds both).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use econtext::fakessh::Gateway;

use super::{median, min, ms, quiet_router, testenv, BenchResult, TestEnv};

/// The release `econtext` binary beside this benchmark.
pub(crate) fn cli() -> BenchResult<PathBuf> {
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let p = me.with_file_name("econtext");
    if !p.exists() {
        return Err(format!(
            "{} missing: cargo build --release -p econtext",
            p.display()
        ));
    }
    Ok(p)
}

/// A scratch directory (removed on drop) that the test users can write.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> BenchResult<Scratch> {
        let d = std::env::temp_dir().join(format!("econtext-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        sh(&format!("chmod 1777 {}", d.display()))?;
        Ok(Scratch(d))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn sh(line: &str) -> BenchResult<String> {
    let out = Command::new("sh")
        .args(["-c", line])
        .output()
        .map_err(|e| format!("{line}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `mib` MiB of random bytes in `dir/data`.
pub(crate) fn data_file(dir: &Path, mib: usize) -> BenchResult<PathBuf> {
    let p = dir.join("data");
    sh(&format!("head -c {}M /dev/urandom > {}", mib, p.display()))?;
    Ok(p)
}

/// The ssh command line (for `rsync -e`) that the direct runs use.
fn ssh_line(env: &TestEnv) -> String {
    format!(
        "ssh -T -o LogLevel=ERROR -o BatchMode=yes -o StrictHostKeyChecking=yes \
         -o UserKnownHostsFile={} -i {} -p {}",
        env.known_hosts, env.key, env.port
    )
}

/// The econtext TARGET and options for ectest on the private sshd.
pub(crate) fn target(env: &TestEnv) -> Vec<String> {
    vec![
        format!("ssh:ectest@127.0.0.1:{}", env.port),
        "-i".into(),
        env.key.clone(),
        "--known-hosts".into(),
        env.known_hosts.clone(),
    ]
}

/// Run `make()` `runs` times, each after `reset`; durations of successful runs.
pub(crate) fn timed(
    runs: usize,
    mut reset: impl FnMut() -> BenchResult<()>,
    mut make: impl FnMut() -> Command,
) -> BenchResult<Vec<Duration>> {
    let mut v = Vec::new();
    for _ in 0..runs {
        reset()?;
        let mut c = make();
        let t = Instant::now();
        let out = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("{c:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{c:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        v.push(t.elapsed());
    }
    Ok(v)
}

/// The JSON fields of `bytes` moved through econtext (`e`) and directly (`d`).
pub(crate) fn compared(bytes: usize, e: &[Duration], d: &[Duration]) -> String {
    let (em, dm) = (median(e), median(d));
    format!(
        "\"gbps\":{:.3},\"runs\":[{}],\"direct_gbps\":{:.3},\"direct_runs\":[{}],\"of_direct\":{:.3}",
        gbps(bytes, em),
        runs_json(bytes, e),
        gbps(bytes, dm),
        runs_json(bytes, d),
        dm.as_secs_f64() / em.as_secs_f64()
    )
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn runs_json(bytes: usize, v: &[Duration]) -> String {
    v.iter()
        .map(|d| format!("{:.3}", gbps(bytes, *d)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A tool run through econtext against the same tool over plain ssh: `mib` MiB, 3 runs each,
/// alternating. `via_econtext(src, dst)` and `direct(src, dst)` build the two commands.
fn transfer(
    tag: &str,
    mib: usize,
    via_econtext: impl Fn(&Path, &Path) -> Command,
    direct: impl Fn(&Path, &Path) -> Command,
) -> BenchResult<String> {
    let s = Scratch::new(tag)?;
    let src = data_file(&s.0, mib)?;
    let dst = s.0.join("dst");
    let reset = || {
        let _ = std::fs::remove_file(&dst);
        Ok(())
    };
    let bytes = mib << 20;
    let (mut e, mut d) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        e.extend(timed(1, reset, || via_econtext(&src, &dst))?);
        if sha(&src)? != sha(&dst)? {
            return Err(format!("{tag}: the copy through econtext differs"));
        }
        d.extend(timed(1, reset, || direct(&src, &dst))?);
    }
    Ok(compared(bytes, &e, &d))
}

pub(crate) fn sha(p: &Path) -> BenchResult<String> {
    sh(&format!("sha256sum < {}", p.display()))
}

/// `econtext rsync TARGET -- SRC x:DST` against `rsync -e ssh SRC ectest@127.0.0.1:DST`.
pub fn rsync(_python: &str, mib: usize) -> BenchResult<String> {
    let env = testenv()?;
    let exe = cli()?;
    transfer(
        "rsync",
        mib,
        |src, dst| {
            let mut c = Command::new(&exe);
            c.arg("rsync")
                .args(target(&env))
                .args(["--", "--whole-file"])
                .arg(src)
                .arg(format!("x:{}", dst.display()));
            c
        },
        |src, dst| {
            let mut c = Command::new("rsync");
            c.args(["-e", &ssh_line(&env), "--whole-file"])
                .arg(src)
                .arg(format!("ectest@127.0.0.1:{}", dst.display()));
            c
        },
    )
}

/// Plain `scp FROM TO` (SFTP mode) with the test key and known_hosts on the private sshd.
pub(crate) fn direct_scp(env: &TestEnv, from: &str, to: &str) -> Command {
    let mut c = Command::new("scp");
    c.args([
        "-q",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
    ])
    .arg("-o")
    .arg(format!("UserKnownHostsFile={}", env.known_hosts))
    .args(["-i", &env.key, "-P", &env.port.to_string(), from, to]);
    c
}

/// `econtext scp TARGET -- SRC x:DST` against `scp SRC ectest@127.0.0.1:DST` (SFTP mode).
pub fn scp(_python: &str, mib: usize) -> BenchResult<String> {
    let env = testenv()?;
    let exe = cli()?;
    transfer(
        "scp",
        mib,
        |src, dst| {
            let mut c = Command::new(&exe);
            c.arg("scp")
                .args(target(&env))
                .arg("--")
                .arg(src)
                .arg(format!("x:{}", dst.display()));
            c
        },
        |src, dst| {
            direct_scp(
                &env,
                &src.display().to_string(),
                &format!("ectest@127.0.0.1:{}", dst.display()),
            )
        },
    )
}

/// `econtext run TARGET -- cat < DATA > /dev/null` against `ssh host cat`: `mib` MiB up and
/// back down.
pub fn run_cat(_python: &str, mib: usize) -> BenchResult<String> {
    let env = testenv()?;
    let exe = cli()?;
    let s = Scratch::new("cat")?;
    let src = data_file(&s.0, mib)?;
    let file = || std::fs::File::open(&src).map(Stdio::from);
    let bytes = mib << 20;
    let (mut e, mut d) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        e.extend(timed(
            1,
            || Ok(()),
            || {
                let mut c = Command::new(&exe);
                c.arg("run").args(target(&env)).args(["--", "cat"]);
                c.stdin(file().unwrap_or(Stdio::null()));
                c
            },
        )?);
        d.extend(timed(
            1,
            || Ok(()),
            || {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("{} ectest@127.0.0.1 cat", ssh_line(&env))]);
                c.stdin(file().unwrap_or(Stdio::null()));
                c
            },
        )?);
    }
    Ok(compared(bytes, &e, &d))
}

/// One fake ssh invocation (`true`) on an existing connection, N times: through the host's
/// way back (the release binary as the fake ssh) and from a context (the memfd client, via
/// `$ECONTEXT_SSH` in a shell loop); against a fresh `ssh ectest@127.0.0.1 true`.
pub fn start(python: &str, n: usize) -> BenchResult<String> {
    let env = testenv()?;
    let exe = cli()?;
    let router = quiet_router()?;
    let to = router
        .connect(&env.ssh("ectest", python))
        .map_err(|e| format!("connect: {e}"))?;
    let gw = Gateway::start(&to).map_err(|e| format!("gateway: {e}"))?;
    let host = timed(
        n + 1,
        || Ok(()),
        || {
            let mut c = Command::new(&exe);
            c.args(["h", "true"]).envs(gw.env()).stdin(Stdio::null());
            c
        },
    )?;
    let host = &host[1..];
    let ssh = timed(
        n + 1,
        || Ok(()),
        || {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("{} ectest@127.0.0.1 true", ssh_line(&env))])
                .stdin(Stdio::null());
            c
        },
    )?;
    let ssh = &ssh[1..];
    // From a context: the shell loop times each invocation itself (ns since the epoch).
    let from = router
        .connect(&econtext::Local::new().python(python))
        .map_err(|e| format!("connect local: {e}"))?;
    let line = format!(
        "$ECONTEXT_SSH h true; for i in $(seq {n}); do a=$(date +%s%N); $ECONTEXT_SSH h true; \
         b=$(date +%s%N); echo $((b - a)); done"
    );
    let mut p = from
        .process(["sh", "-c", &line])
        .ssh_to(&to)
        .map_err(|e| format!("ssh_to: {e}"))?;
    let mut out = Vec::new();
    if let Some(rx) = p.stdout.take() {
        use std::io::Read;
        rx.into_reader()
            .read_to_end(&mut out)
            .map_err(|e| format!("read: {e}"))?;
    }
    let st = p.wait().map_err(|e| format!("wait: {e}"))?;
    if !st.success() {
        return Err(format!("the loop on the context: {st:?}"));
    }
    let ctx: Vec<Duration> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .map(Duration::from_nanos)
        .collect();
    if ctx.len() != n {
        return Err(format!("the loop printed {} times of {n}", ctx.len()));
    }
    drop(gw);
    let _ = from.shutdown();
    let _ = to.shutdown();
    Ok(format!(
        "\"host_median_ms\":{:.2},\"host_min_ms\":{:.2},\"context_median_ms\":{:.2},\
         \"context_min_ms\":{:.2},\"ssh_median_ms\":{:.2},\"ssh_min_ms\":{:.2}",
        ms(median(host)),
        ms(min(host)),
        ms(median(&ctx)),
        ms(min(&ctx)),
        ms(median(ssh)),
        ms(min(ssh))
    ))
}
