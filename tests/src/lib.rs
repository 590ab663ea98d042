//! Helpers for the integration tests: the interpreters of this machine and leak checks read
//! from /proc.
#![deny(missing_docs)]

use std::path::PathBuf;

/// Every Python interpreter this machine has: `$(pyenv root)/versions/*/bin/python` and
/// `/usr/bin/python3` when present. Real binaries, never pyenv shims.
pub fn interpreters() -> Vec<PathBuf> {
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".pyenv")
        });
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("versions"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/python"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    for p in ["/usr/bin/python3"] {
        if std::path::Path::new(p).exists() {
            out.push(p.into());
        }
    }
    out.extend(extra_interpreters());
    out
}

/// Python 2.4, 2.5 and 2.6, built by `tests/env/pythons.sh` under `/opt/extra-pythons/X.Y/`:
/// they run the 2.4-2.6 stub (calls, modules, logging, stdio, as a target of any hop; not yet
/// channels, processes, files, or starting hops of their own), so they are not in
/// [`interpreters`]. Under CI a missing one fails the test that asks; elsewhere it is skipped
/// with a line saying so.
pub fn old_interpreters() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for v in ["2.4", "2.5", "2.6"] {
        let p = PathBuf::from(format!("/opt/extra-pythons/{v}/bin/python"));
        if p.exists() {
            out.push(p);
        } else if std::env::var_os("CI").is_some() {
            panic!(
                "no {}: ./ci.sh deps builds it (tests/env/pythons.sh)",
                p.display()
            );
        } else {
            eprintln!("SKIP python {v}: not built here (tests/env/pythons.sh)");
        }
    }
    out
}

/// [`interpreters`] and [`old_interpreters`]: every Python the core stub runs on.
pub fn every_python() -> Vec<PathBuf> {
    let mut out = old_interpreters();
    out.extend(interpreters());
    out
}

/// The interpreters `tests/env/pythons.sh` installs under `/opt/extra-pythons/X.Y/` (3.5 built
/// from source; 3.14 and 3.15 unpacked from Debian's packages, relocatable: they find their
/// standard library from their own path) that run the modern stub (2.4-2.6:
/// [`old_interpreters`]).
pub fn extra_interpreters() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["3.5", "3.14", "3.15"]
        .iter()
        .map(|v| PathBuf::from(format!("/opt/extra-pythons/{v}/bin/python")))
        .filter(|p| p.exists())
        .collect();
    out.sort();
    out
}

/// What a context must say about itself, whichever way it started (in-process locally, or
/// re-exec'd by stage 1 behind a wrapper, ssh, sudo): `sys.executable` is `python` (as given)
/// and runs itself, `sys.argv` is `['-c']`, `PYTHONHOME` is what the context's environment
/// had (`home`: `None` for none) both for the context and for a program it starts, and the
/// process title (`/proc/PID/cmdline`, the same machine) still starts with `econtext:`.
pub fn assert_identity(ctx: &econtext::Context, python: &str, home: Option<&str>) {
    use econtext::Value;
    let text = |v: &Value| match v {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    let eval = |e: &str| {
        ctx.call("__builtin__.eval", vec![e.into()])
            .or_else(|_| ctx.call("builtins.eval", vec![e.into()]))
            .unwrap_or_else(|err| panic!("{python}: {e}: {err}"))
    };
    assert_eq!(text(&eval("__import__('sys').executable")), python);
    assert_eq!(
        text(&eval("repr(__import__('sys').argv)")),
        "['-c']",
        "{python}"
    );
    let want = home.map(Value::from).unwrap_or(Value::None);
    assert_eq!(
        eval("__import__('os').environ.get('PYTHONHOME')"),
        want,
        "{python}"
    );
    let child = eval("__import__('os').popen('echo ${PYTHONHOME-unset}').read()");
    assert_eq!(text(&child).trim(), home.unwrap_or("unset"), "{python}");
    // It runs itself: the same binary as the context's.
    let exe = text(&eval("__import__('os').path.realpath('/proc/self/exe')"));
    let again = eval(
        r#"__import__('subprocess').Popen([__import__('sys').executable, '-c', 'import os; print(os.path.realpath("/proc/self/exe"))'], stdout=-1).communicate()[0]"#,
    );
    assert_eq!(text(&again).trim(), exe, "{python}");
    let pid = match eval("__import__('os').getpid()") {
        Value::Int(p) => p,
        other => panic!("{python}: pid {other:?}"),
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        cmdline.starts_with(b"econtext:"),
        "{python}: {}",
        String::from_utf8_lossy(&cmdline)
    );
}

/// The fastest interpreter to use when the version does not matter.
pub fn python() -> String {
    if let Ok(p) = std::env::var("ECONTEXT_TEST_PYTHON") {
        return p;
    }
    let all = interpreters();
    all.iter()
        .find(|p| p.to_string_lossy().contains("3.11"))
        .or(all.last())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "python3".into())
}

/// Deterministic pseudo-random bytes (xorshift from `seed`).
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Pids of live processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        if !zombie && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Children of process `pid` (zombies included).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(1).and_then(|x| x.parse::<u32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// True when `pid` is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Children of this process (zombies included).
pub fn children() -> Vec<u32> {
    children_of(std::process::id())
}

/// Wait up to `ms` for `f` to become true.
pub fn eventually(ms: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}

/// The ssh/sudo test environment started by `tests/env/up.sh`.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// Its directory.
    pub dir: PathBuf,
    /// The private sshd's port on 127.0.0.1.
    pub ssh_port: u16,
    /// The client key authorized for ectest, ectarget and root.
    pub client_key: PathBuf,
    /// known_hosts with the right host key.
    pub known_hosts: PathBuf,
    /// known_hosts with another key for the same host.
    pub known_hosts_changed: PathBuf,
    /// Passwords.
    pub pw_ecpass: String,
    /// ectarget's password (for su).
    pub pw_ectarget: String,
    /// The bastion's address (network namespace `ec-bastion`).
    pub bastion: String,
    /// The internal host's address, reachable only from the bastion.
    pub internal: String,
}

/// The test environment, or `None` (with a note) when it is not running. In CI its absence
/// is a failure: the README test command always starts it.
pub fn testenv() -> Option<TestEnv> {
    let dir = PathBuf::from(
        std::env::var("ECONTEXT_TESTENV").unwrap_or_else(|_| "/tmp/econtext-testenv".into()),
    );
    let Ok(text) = std::fs::read_to_string(dir.join("env")) else {
        assert!(
            std::env::var("CI").is_err(),
            "the ssh test environment is not running: ./ci.sh test starts it"
        );
        eprintln!("SKIP: no test environment (run tests/env/up.sh as root, or ./ci.sh test)");
        return None;
    };
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing from env"))
            .to_string()
    };
    Some(TestEnv {
        ssh_port: get("SSH_PORT").parse().unwrap(),
        client_key: get("CLIENT_KEY").into(),
        known_hosts: get("KNOWN_HOSTS").into(),
        known_hosts_changed: get("KNOWN_HOSTS_CHANGED").into(),
        pw_ecpass: get("PW_ECPASS"),
        pw_ectarget: get("PW_ECTARGET"),
        bastion: get("BASTION"),
        internal: get("INTERNAL"),
        dir,
    })
}

impl TestEnv {
    /// ssh to 127.0.0.1 as `user` with the test key and known_hosts.
    pub fn ssh(&self, user: &str) -> econtext::Ssh {
        econtext::Ssh::new("127.0.0.1")
            .user(user)
            .port(self.ssh_port)
            .identity(&self.client_key)
            .known_hosts(&self.known_hosts)
    }

    /// ssh to the bastion as `user` with the test key (the first hop of the topology).
    pub fn bastion(&self, user: &str) -> econtext::Ssh {
        econtext::Ssh::new(&self.bastion)
            .user(user)
            .identity(&self.client_key)
            .known_hosts(&self.known_hosts)
    }

    /// ssh to the internal host as `user` with that user's own key (a hop from the bastion).
    pub fn internal(&self, user: &str) -> econtext::Ssh {
        econtext::Ssh::new(&self.internal)
            .user(user)
            .known_hosts(&self.known_hosts)
    }

    /// The seed's chain on `router`: ssh to the bastion as `ecpass` with its password, sudo
    /// (requiretty, the same password) to `ectarget`, then ssh on to the internal host with
    /// ectarget's key. Returns (bastion, account, internal).
    pub fn seed_chain(
        &self,
        router: &econtext::Router,
    ) -> (econtext::Context, econtext::Context, econtext::Context) {
        let pw = || econtext::Password::new(self.pw_ecpass.clone());
        let bastion = router
            .connect(&self.bastion("ecpass").identity("/dev/null").password(pw()))
            .unwrap();
        let account = router
            .connect_via(
                &econtext::BecomeUser::sudo("ectarget").password(pw()),
                &bastion,
            )
            .unwrap();
        let internal = router
            .connect_via(&self.internal("ectarget"), &account)
            .unwrap();
        (bastion, account, internal)
    }

    /// argv prefix that runs a program as `user` (so sudo/su/doas ask for a password).
    pub fn as_user(&self, user: &str) -> Vec<String> {
        [
            "setpriv",
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
            "--",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Write an ssh config at `path` with `n` aliases `fleet001`.. for the private sshd (as
    /// ectest, key exchange curve25519: the default sntrup761 costs ~0.1 s of CPU a login
    /// here), and broken hosts: `refused` (nothing listens), `tarpit` (port `tarpit`),
    /// `wrongkey` (a key the server refuses), `unknown` (does not resolve).
    pub fn fleet_ssh_config(&self, path: &std::path::Path, n: usize, tarpit: u16) -> PathBuf {
        let mut cfg = String::new();
        for i in 1..=n {
            cfg.push_str(&format!(
                "Host fleet{i:03}\n    HostName 127.0.0.1\n    Port {}\n    User ectest\n    IdentityFile {}\n",
                self.ssh_port,
                self.client_key.display()
            ));
        }
        cfg.push_str(&format!(
            "Host refused\n    HostName 127.0.0.1\n    Port {}\n\
             Host tarpit\n    HostName 127.0.0.1\n    Port {tarpit}\n\
             Host wrongkey\n    HostName 127.0.0.1\n    Port {}\n    User ectest\n    IdentityFile {}\n\
             Host unknown\n    HostName no-such-host.invalid\n\
             Host *\n    UserKnownHostsFile {}\n    StrictHostKeyChecking yes\n    IdentitiesOnly yes\n\
             \x20   KexAlgorithms curve25519-sha256\n",
            closed_port(),
            self.ssh_port,
            self.dir.join("other_key").display(),
            self.known_hosts.display()
        ));
        std::fs::write(path, cfg).unwrap();
        path.to_path_buf()
    }

    /// A file in the environment's directory, readable by the test users.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

/// A router whose log sink drops everything (tests that do not look at logs).
pub fn quiet_router() -> econtext::Router {
    let o = econtext::RouterOptions {
        sink: std::sync::Arc::new(|_: &econtext::LogEvent| {}),
        ..Default::default()
    };
    econtext::Router::with_options(o).unwrap()
}

/// The uid of a local user, from `id -u`.
pub fn uid_number(user: &str) -> i64 {
    let out = std::process::Command::new("id")
        .args(["-u", user])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// True while process `pid` exists and has not exited (zombies count as gone).
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

/// A temporary directory for one test, writable by the test users (a producer over ssh runs
/// as `ectest`), removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory named after `tag`, this process and a counter.
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("econtext-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        TempDir(d)
    }

    /// A path inside it.
    pub fn join(&self, name: impl AsRef<std::path::Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A router serving `tests/fixtures/modpath` whose log sink drops everything.
pub fn fixture_router() -> econtext::Router {
    let o = econtext::RouterOptions {
        sink: std::sync::Arc::new(|_: &econtext::LogEvent| {}),
        module_path: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/modpath")],
        ..Default::default()
    };
    econtext::Router::with_options(o).unwrap()
}

/// The pid of a context's interpreter.
pub fn pid_of(ctx: &econtext::Context) -> i64 {
    match ctx.call("os.getpid", vec![]).unwrap() {
        econtext::Value::Int(p) => p,
        other => panic!("os.getpid returned {other:?}"),
    }
}

/// `kill -INT pid` (what Ctrl-C sends).
pub fn interrupt(pid: u32) {
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
}

/// `kill -9 pid`.
pub fn kill9(pid: i64) {
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
}

/// Kill `victim`'s interpreter while `rx` streams: `rx` must fail with `Disconnected` within
/// 2 s (items already on the way may come first).
pub fn kill_and_expect_disconnect(rx: &econtext::Receiver, victim: &econtext::Context) {
    kill9(pid_of(victim));
    let t = std::time::Instant::now();
    let end = loop {
        match rx.recv() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(end, econtext::Error::Disconnected { .. }),
        "{end:?}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}

/// True when the containers of tests/env/containers.sh are up (`ectx-docker`, `ectx-podman`,
/// `ectx-lxc`, the nspawn machine, /srv/rootfs). Under CI their absence is a failure.
pub fn containers() -> bool {
    if std::path::Path::new("/run/ectx-containers/ready").exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "the test containers are not running: ./ci.sh test starts them"
    );
    eprintln!("SKIP: no test containers (run tests/env/containers.sh up as root, or ./ci.sh test)");
    false
}

/// Pids of live processes whose environment contains `needle` (e.g. `MARK=1234`): finds a
/// process inside a container from the host, whatever its pid namespace calls it.
pub fn processes_with_env(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'));
        if !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// A port on 127.0.0.1 nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
