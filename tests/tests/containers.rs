//! Container methods against the real runtimes of tests/env/containers.sh: docker, podman
//! (exec and throwaway run), lxc, systemd-nspawn, chroot, setns (into docker, podman, lxc and
//! a pid) and custom prefixes, each as a first hop and behind sudo, with calls, module and
//! output forwarding; every failure mode as a typed error; a context whose exec client is
//! killed gone within a second; kubectl, buildah, incus, lxd and jexec through a recording
//! fake (their real tools cannot run here).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use econtext::connect::Method;
use econtext::{
    BecomeUser, ConnectFailure, Container, Custom, Error, Leader, LogEvent, Router, RouterOptions,
    Runtime, Setns, Value,
};
use econtext_tests::*;

const CLI: &str = env!("CARGO_BIN_EXE_econtext_cli_for_tests");
const ROOTFS: &str = "/srv/rootfs";

fn router() -> (Router, Arc<Mutex<Vec<LogEvent>>>) {
    let events: Arc<Mutex<Vec<LogEvent>>> = Arc::default();
    let e = events.clone();
    let o = RouterOptions {
        sink: Arc::new(move |ev: &LogEvent| e.lock().unwrap().push(ev.clone())),
        module_path: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/modpath")],
        ..Default::default()
    };
    (Router::with_options(o).unwrap(), events)
}

fn sh(line: &str) -> String {
    let out = Command::new("sh").args(["-c", line]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn text(v: Value) -> String {
    match v {
        Value::Str(s) => s,
        other => format!("{other:?}"),
    }
}

/// The nspawn machine's payload process (`sleep infinity` inside it).
fn nspawn_pid() -> u32 {
    let leader = std::fs::read_to_string("/run/ectx-containers/nspawn.pid").unwrap();
    sh(&format!("pgrep -P {} | head -1", leader.trim()))
        .parse()
        .expect("the nspawn machine runs")
}

/// Every method that works here, with the hostname its context must report.
fn methods() -> Vec<(Box<dyn Method>, String)> {
    let docker = sh("docker inspect -f '{{.Config.Hostname}}' ectx-docker");
    let podman = sh("podman inspect -f '{{.Config.Hostname}}' ectx-podman");
    let host = sh("uname -n");
    vec![
        (Box::new(Container::docker("ectx-docker")), docker.clone()),
        (Box::new(Container::podman("ectx-podman")), podman.clone()),
        (Box::new(Container::lxc("ectx-lxc")), "ectx-lxc".into()),
        (Box::new(Container::chroot(ROOTFS)), host.clone()),
        (
            Box::new(
                Container::nspawn(ROOTFS)
                    .arg("--read-only")
                    .arg("--timezone=off"),
            ),
            "rootfs".into(),
        ),
        (
            Box::new(Container::docker_run("localhost/pyroot").arg("--network=none")),
            String::new(),
        ),
        (
            Box::new(Container::podman_run("localhost/pyroot").arg("--network=none")),
            String::new(),
        ),
        (
            Box::new(Setns::new(Leader::Docker("ectx-docker".into()))),
            docker,
        ),
        (
            Box::new(Setns::new(Leader::Podman("ectx-podman".into()))),
            podman,
        ),
        (
            Box::new(Setns::new(Leader::Lxc("ectx-lxc".into()))),
            "ectx-lxc".into(),
        ),
        (
            Box::new(Setns::new(Leader::Pid(nspawn_pid()))),
            "ectx-nspawn".into(),
        ),
        (
            Box::new(Custom::new([
                "unshare",
                "--fork",
                "--pid",
                "--mount-proc",
                &format!("--root={ROOTFS}"),
            ])),
            host,
        ),
    ]
}

/// Calls, a module from this host, and forwarded output through `ctx`.
fn exercise(ctx: &econtext::Context, want_host: &str, events: &Arc<Mutex<Vec<LogEvent>>>) {
    let node = text(ctx.call("platform.node", vec![]).unwrap());
    if !want_host.is_empty() {
        assert_eq!(node, want_host, "{}", ctx.name());
    }
    // Inside: this host's rootfs directory is not there.
    let outside = ctx.call("os.path.exists", vec![ROOTFS.into()]).unwrap();
    assert_eq!(outside, Value::Bool(false), "{}", ctx.name());
    let v = ctx.call("app.hello", vec![Value::Int(1)]).unwrap();
    assert!(
        format!("{v:?}").contains("Int(43)"),
        "{}: {v:?}",
        ctx.name()
    );
    let mark = format!("out-of-{}", ctx.name());
    ctx.call("os.system", vec![format!("echo {mark}").into()])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e.message.contains(&mark))
    {
        assert!(
            Instant::now() < deadline,
            "{}: output not forwarded",
            ctx.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_method_as_a_first_hop() {
    if !containers() {
        return;
    }
    let (router, events) = router();
    for (m, host) in methods() {
        let ctx = router.connect(m.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        exercise(&ctx, &host, &events);
        ctx.shutdown().unwrap();
    }
}

#[test]
fn every_method_behind_sudo() {
    if !containers() {
        return;
    }
    let (router, events) = router();
    let root = router.connect(&BecomeUser::sudo("root")).unwrap();
    for (m, host) in methods() {
        let ctx = router
            .connect_via(m.as_ref(), &root)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ctx.name().starts_with("sudo:root/"), "{}", ctx.name());
        exercise(&ctx, &host, &events);
        ctx.shutdown().unwrap();
    }
}

#[test]
fn users_inside_containers() {
    if !containers() {
        return;
    }
    let (router, _) = router();
    let root = router.connect(&BecomeUser::sudo("root")).unwrap();
    let uid = |m: &dyn Method, via: Option<&econtext::Context>| {
        let ctx = match via {
            None => router.connect(m),
            Some(v) => router.connect_via(m, v),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        let (u, home) = (
            ctx.call("os.getuid", vec![]).unwrap(),
            ctx.call("os.path.expanduser", vec!["~".into()]).unwrap(),
        );
        ctx.shutdown().unwrap();
        (u, text(home))
    };
    for m in [
        Box::new(Container::docker("ectx-docker").user("nobody")) as Box<dyn Method>,
        Box::new(Container::podman("ectx-podman").user("nobody")),
        Box::new(Container::chroot(ROOTFS).user("nobody")),
        Box::new(Container::lxc("ectx-lxc").user("nobody")), // a name: su inside
        Box::new(Setns::new(Leader::Docker("ectx-docker".into())).user("nobody")),
    ] {
        assert_eq!(uid(m.as_ref(), None).0, Value::Int(65534));
    }
    // setns behind a hop: the Python helper resolves the user from the container's files.
    let (u, home) = uid(
        &Setns::new(Leader::Docker("ectx-docker".into())).user("nobody"),
        Some(&root),
    );
    assert_eq!((u, home.as_str()), (Value::Int(65534), "/nonexistent"));
}

fn failure(r: Result<econtext::Context, Error>) -> (ConnectFailure, String) {
    match r {
        Err(Error::Connect {
            failure, output, ..
        }) => (failure, output),
        Err(other) => panic!("not a connect failure: {other}"),
        Ok(c) => panic!("{} connected", c.name()),
    }
}

/// A stopped container of each runtime, removed (by name) when dropped.
struct Stopped(String);

impl Stopped {
    fn new() -> Stopped {
        let name = format!("ectx-stopped-{}", std::process::id());
        for rt in ["docker", "podman"] {
            let ok = Command::new(rt)
                .args(["create", "--name", &name, "localhost/pyroot", "true"])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(ok, "{rt} create");
        }
        Stopped(name)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for rt in ["docker", "podman"] {
            let _ = Command::new(rt)
                .args(["rm", "-f", &self.0])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[test]
fn failures_are_typed_first_hop_and_behind_sudo() {
    if !containers() {
        return;
    }
    use ConnectFailure as F;
    let stopped = Stopped::new();
    let s = stopped.0.as_str();
    let (router, _) = router();
    let root = router.connect(&BecomeUser::sudo("root")).unwrap();
    let t = Duration::from_secs(20);
    let cases: Vec<(Box<dyn Method>, F)> = vec![
        (Box::new(Container::docker("ectx-nope")), F::NoSuchContainer),
        (Box::new(Container::podman("ectx-nope")), F::NoSuchContainer),
        (
            Box::new(Container::chroot("/nonexistent-root")),
            F::NoSuchContainer,
        ),
        (
            Box::new(Container::nspawn("/nonexistent-root")),
            F::NoSuchContainer,
        ),
        (Box::new(Container::docker(s)), F::ContainerNotRunning),
        (Box::new(Container::podman(s)), F::ContainerNotRunning),
        (
            Box::new(Container::lxc("ectx-nope")),
            F::ContainerNotRunning,
        ),
        (
            Box::new(Container::docker_run("ectx-nope")),
            F::ImageNotFound,
        ),
        (
            Box::new(Container::podman_run("ectx-nope")),
            F::ImageNotFound,
        ),
        (
            Box::new(Container::docker_run("localhost/ectx-nope").arg("--pull=never")),
            F::ImageNotFound,
        ),
        (
            Box::new(Container::docker("ectx-docker").user("ectx-nobody")),
            F::UnknownUser,
        ),
        (
            Box::new(Container::podman("ectx-podman").user("ectx-nobody")),
            F::UnknownUser,
        ),
        (
            Box::new(Container::chroot(ROOTFS).user("ectx-nobody")),
            F::UnknownUser,
        ),
        (
            Box::new(Container::lxc("ectx-lxc").user("ectx-nobody")),
            F::UnknownUser,
        ),
        (
            Box::new(
                Container::nspawn(ROOTFS)
                    .arg("--read-only")
                    .arg("--timezone=off")
                    .user("ectx-nobody"),
            ),
            F::UnknownUser,
        ),
        (
            Box::new(Container::docker("ectx-docker").python("ectx-nopython")),
            F::NoPython,
        ),
        (
            Box::new(Container::podman("ectx-podman").python("ectx-nopython")),
            F::NoPython,
        ),
        (
            Box::new(Container::lxc("ectx-lxc").python("ectx-nopython")),
            F::NoPython,
        ),
        (
            Box::new(Container::chroot(ROOTFS).python("ectx-nopython")),
            F::NoPython,
        ),
        // Without the read-only share the machine holds the tree.
        (Box::new(Container::nspawn(ROOTFS)), F::Busy),
        (
            Box::new(Container::docker("ectx-docker").program("/nonexistent/docker")),
            F::ProgramMissing,
        ),
        (
            Box::new(Setns::new(Leader::Docker("ectx-nope".into()))),
            F::NoSuchContainer,
        ),
        (
            Box::new(Setns::new(Leader::Docker(s.into()))),
            F::ContainerNotRunning,
        ),
        (
            Box::new(Setns::new(Leader::Podman(s.into()))),
            F::ContainerNotRunning,
        ),
        (
            Box::new(Setns::new(Leader::Lxc("ectx-nope".into()))),
            F::NoSuchContainer,
        ),
        (
            Box::new(Setns::new(Leader::Pid(4_000_000))),
            F::NoSuchContainer,
        ),
        (
            Box::new(Setns::new(Leader::Docker("ectx-docker".into())).user("ectx-nobody")),
            F::UnknownUser,
        ),
        (
            Box::new(Setns::new(Leader::Docker("ectx-docker".into())).python("ectx-nopython")),
            F::NoPython,
        ),
        (
            Box::new(Custom::new(["/nonexistent/runner", "--pipe"])),
            F::ProgramMissing,
        ),
    ];
    for (m, want) in &cases {
        let (got, out) = failure(router.connect(m.as_ref()));
        assert_eq!(got, *want, "first hop: {out}");
        let (got, out) = failure(router.connect_via(m.as_ref(), &root));
        assert_eq!(got, *want, "behind sudo: {out}");
    }
    let _ = t;
}

#[test]
fn docker_socket_permission_is_a_typed_failure() {
    if !containers() {
        return;
    }
    let Some(_env) = testenv() else { return };
    let (router, _) = router();
    // ectest is not in the docker group: the daemon's socket refuses it.
    let user = router.connect(&BecomeUser::sudo("ectest")).unwrap();
    let (got, out) = failure(router.connect_via(&Container::docker("ectx-docker"), &user));
    assert_eq!(got, ConnectFailure::PermissionDenied, "{out}");
    // chroot and nspawn need root.
    let (got, out) = failure(router.connect_via(&Container::chroot(ROOTFS), &user));
    assert_eq!(got, ConnectFailure::PermissionDenied, "{out}");
    let (got, out) =
        failure(router.connect_via(&Setns::new(Leader::Docker("ectx-docker".into())), &user));
    assert_eq!(got, ConnectFailure::PermissionDenied, "{out}");
}

/// Connect with a marker in the container's environment, kill the exec client with SIGKILL,
/// and expect the context inside gone within a second.
fn dies_with_its_client(router: &Router, via: Option<&econtext::Context>, m: Container, rt: &str) {
    let mark = format!("ECTX_MARK={}-{}", std::process::id(), rt);
    let m = match rt {
        "lxc" => m.arg("--set-var").arg(&mark),
        _ => m.arg("-e").arg(&mark),
    };
    let ctx = match via {
        None => router.connect(&m),
        Some(v) => router.connect_via(&m, v),
    }
    .unwrap();
    assert_eq!(ctx.call("os.getuid", vec![]).unwrap(), Value::Int(0));
    let inside = processes_with_env(&mark);
    assert!(!inside.is_empty(), "{rt}: no context found by its marker");
    let client: Vec<u32> = processes_matching(&mark)
        .into_iter()
        .filter(|p| !inside.contains(p))
        .collect();
    assert_eq!(client.len(), 1, "{rt}: the exec client: {client:?}");
    sh(&format!("kill -9 {}", client[0]));
    let t0 = Instant::now();
    while !processes_with_env(&mark).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "{rt}: the context outlived its client: {:?}",
            processes_with_env(&mark)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = ctx.call("os.getpid", vec![]).unwrap_err();
    assert!(matches!(e, Error::Disconnected { .. }), "{e}");
}

#[test]
fn a_context_ends_with_its_exec_client() {
    if !containers() {
        return;
    }
    let (router, _) = router();
    dies_with_its_client(&router, None, Container::docker("ectx-docker"), "docker");
    dies_with_its_client(&router, None, Container::podman("ectx-podman"), "podman");
    dies_with_its_client(&router, None, Container::lxc("ectx-lxc"), "lxc");
    let root = router.connect(&BecomeUser::sudo("root")).unwrap();
    dies_with_its_client(&router, Some(&root), Container::lxc("ectx-lxc"), "lxc");
    dies_with_its_client(
        &router,
        Some(&root),
        Container::docker("ectx-docker"),
        "docker",
    );
}

#[test]
fn setns_enters_every_namespace_and_forks_into_the_pid_namespace() {
    if !containers() {
        return;
    }
    let (router, _) = router();
    let ctx = router
        .connect(&Setns::new(Leader::Docker("ectx-docker".into())))
        .unwrap();
    let leader = sh("docker inspect -f '{{.State.Pid}}' ectx-docker");
    for ns in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        let theirs = sh(&format!("readlink /proc/{leader}/ns/{ns}"));
        let mine = text(
            ctx.call("os.readlink", vec![format!("/proc/self/ns/{ns}").into()])
                .unwrap(),
        );
        assert_eq!(mine, theirs, "{ns}");
    }
    // In the container's pid namespace (checked above), so /proc/self (the container's procfs)
    // is this process.
    let pid = ctx.call("os.getpid", vec![]).unwrap();
    let me = text(ctx.call("os.readlink", vec!["/proc/self".into()]).unwrap());
    assert_eq!(
        Value::Str(me),
        Value::Str(format!(
            "{}",
            match pid {
                Value::Int(p) => p,
                _ => -1,
            }
        ))
    );
    // The container's root and environment, not ours.
    let etc = text(
        ctx.call("os.path.exists", vec!["/srv/rootfs".into()])
            .unwrap(),
    );
    assert_eq!(etc, "Bool(false)");
    let host = ctx.call("os.environ.get", vec!["HOSTNAME".into()]).unwrap();
    assert_eq!(
        text(host),
        sh("docker inspect -f '{{.Config.Hostname}}' ectx-docker")
    );
    ctx.shutdown().unwrap();
}

/// A fake runtime client: records its argv next to itself, then runs what follows `--` (or,
/// for jexec, what follows the jail name).
fn fake(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let run = if name == "jexec" {
        "while [ \"$1\" = -U ]; do shift 2; done; shift; exec \"$@\""
    } else {
        "while [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\""
    };
    std::fs::write(
        &p,
        format!("#!/bin/sh\nprintf '%s\\n' \"$0\" \"$@\" > \"$0.argv\"\n{run}\n"),
    )
    .unwrap();
    sh(&format!("chmod +x {}", p.display()));
    p
}

#[test]
fn kubectl_buildah_incus_lxd_and_jexec_through_a_recording_fake() {
    let dir = std::env::temp_dir().join(format!("ectx-fakes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (router, _) = router();
    let cases: Vec<(Container, &[&str])> = vec![
        (
            Container::kubectl("pod-1")
                .namespace("prod")
                .container("app")
                .kube_context("east"),
            &[
                "--context",
                "east",
                "exec",
                "-i",
                "-n",
                "prod",
                "-c",
                "app",
                "pod-1",
                "--",
            ],
        ),
        (
            Container::buildah("work-1").user("0"),
            &["run", "--user", "0", "work-1", "--"],
        ),
        (
            Container::incus("c1").user("0"),
            &["exec", "--mode=non-interactive", "--user", "0", "c1", "--"],
        ),
        (
            Container::lxd("c1"),
            &["exec", "--mode=non-interactive", "c1", "--"],
        ),
        (Container::jail("j1").user("root"), &["-U", "root", "j1"]),
    ];
    for (c, want) in cases {
        let prog = fake(&dir, c.runtime().program());
        let c = c.program(prog.display().to_string());
        let ctx = router.connect(&c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ctx.call("os.getuid", vec![]).unwrap(), Value::Int(0));
        ctx.shutdown().unwrap();
        let argv = std::fs::read_to_string(format!("{}.argv", prog.display())).unwrap();
        let argv: Vec<&str> = argv.lines().skip(1).collect();
        assert_eq!(&argv[..want.len()], want, "{:?}", c.runtime());
        assert!(!argv.iter().any(|a| *a == "-t" || *a == "-it"));
    }
    // kubectl takes no user name: it goes through su inside.
    let prog = fake(&dir, "kubectl");
    let ctx = router
        .connect(
            &Container::new(Runtime::Kubectl, "pod-1")
                .user("nobody")
                .program(prog.display().to_string()),
        )
        .unwrap();
    assert_eq!(ctx.call("os.getuid", vec![]).unwrap(), Value::Int(65534));
    ctx.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_container_chains() {
    if !containers() {
        return;
    }
    let want = sh("docker inspect -f '{{.Config.Hostname}}' ectx-docker");
    for target in [
        "docker:ectx-docker",
        "sudo:root/docker:ectx-docker",
        "setns:docker:ectx-docker",
        "sudo:root/setns:docker:ectx-docker",
        "nspawn:/srv/rootfs,arg=--read-only,arg=--timezone=off/chroot:/",
    ] {
        let out = Command::new(CLI)
            .args(["call", target, "platform.node"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if target.contains("docker") {
            assert_eq!(stdout.trim(), want, "{target}");
        }
    }
    let out = Command::new(CLI)
        .args(["call", "docker:ectx-nope", "platform.node"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("no such container") && err.contains("ectx-nope"),
        "{err}"
    );
}

#[test]
fn named_custom_methods_from_the_config_file() {
    if !containers() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ectx-methods-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("methods");
    std::fs::write(
        &file,
        format!("# test methods\nrootfs = unshare --fork --pid --mount-proc --root={ROOTFS}\n"),
    )
    .unwrap();
    let out = Command::new(CLI)
        .args(["call", "custom:rootfs", "os.path.exists", "/srv/rootfs"])
        .env("ECONTEXT_METHODS", &file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "false");
    let out = Command::new(CLI)
        .args(["call", "custom:'unshare --fork", "os.getpid"])
        .env("ECONTEXT_METHODS", &file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Zombie children of `pid` (a container's init that never reaps).
fn zombies_of(pid: &str) -> usize {
    sh(&format!(
        "ps -eo ppid=,stat= | awk '$1 == {pid} && $2 ~ /^Z/' | wc -l"
    ))
    .parse()
    .unwrap()
}

#[test]
fn contexts_leave_no_zombie_under_a_container_init_that_never_reaps() {
    if !containers() {
        return;
    }
    // PID 1 of these containers is `sleep infinity`: whatever a context leaves to it stays.
    let docker = sh("docker inspect -f '{{.State.Pid}}' ectx-docker");
    let lxc = sh("lxc-info -n ectx-lxc -pH");
    let before = (zombies_of(&docker), zombies_of(&lxc));
    let (router, _) = router();
    let mark = format!("ECTX_ZMARK={}", std::process::id());
    for _ in 0..3 {
        for m in [
            Box::new(Container::docker("ectx-docker").arg("-e").arg(&mark)) as Box<dyn Method>,
            Box::new(Container::lxc("ectx-lxc").arg("--set-var").arg(&mark)),
            Box::new(Setns::new(Leader::Docker("ectx-docker".into()))),
        ] {
            let ctx = router.connect(m.as_ref()).unwrap();
            ctx.call("os.system", vec!["true".into()]).unwrap();
            ctx.shutdown().unwrap();
        }
    }
    // Nothing of theirs lives on (a helper of the stub's exit carries its environment).
    let t0 = Instant::now();
    while !processes_with_env(&mark).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "left behind: {:?}",
            processes_with_env(&mark)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!((zombies_of(&docker), zombies_of(&lxc)), before);
}

#[test]
fn a_context_exits_by_itself_on_shutdown_without_help() {
    // The host kills a context that has not exited EXIT_GRACE after SHUTDOWN: a stub whose own
    // exit hung (its group kill raised) would only show as that kill. So: gone well before it.
    let (router, _) = router();
    for m in [
        Box::new(econtext::Local::new().python(python())) as Box<dyn Method>,
        Box::new(BecomeUser::sudo("root")),
    ] {
        let ctx = router.connect(m.as_ref()).unwrap();
        let Value::Int(pid) = ctx.call("os.getpid", vec![]).unwrap() else {
            panic!()
        };
        ctx.call("os.system", vec!["true".into()]).unwrap();
        let t0 = Instant::now();
        ctx.shutdown().unwrap();
        while alive(pid as u32) {
            assert!(
                t0.elapsed() < Duration::from_millis(500),
                "{}: still there after shutdown",
                ctx.name()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if !containers() {
        return;
    }
    // A throwaway container whose PID 1 is the stub itself: it ends, and the container with it.
    let name = format!("ectx-run-{}", std::process::id());
    let ctx = router
        .connect(
            &Container::docker_run("localhost/pyroot")
                .arg("--network=none")
                .arg("--name")
                .arg(&name),
        )
        .unwrap();
    assert_eq!(ctx.call("os.getpid", vec![]).unwrap(), Value::Int(1));
    ctx.shutdown().unwrap();
    let t0 = Instant::now();
    while !sh(&format!("docker ps -aq --filter name=^{name}$")).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(5), "{name} still there");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_custom_ssh_prefix_is_shell_style_against_the_real_sshd() {
    // `custom:'ssh ... host'`: ssh hands its arguments to the remote shell, so the interpreter's
    // command must travel as one command line (Custom::parse picks shell style for ssh).
    let Some(env) = testenv() else { return };
    let prefix = format!(
        "ssh -T -o BatchMode=yes -o UserKnownHostsFile={} -i {} -p {} ectest@127.0.0.1",
        env.known_hosts.display(),
        env.client_key.display(),
        env.ssh_port
    );
    let (router, _) = router();
    let ctx = router
        .connect(&Custom::parse(&prefix).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_number("ectest"))
    );
    ctx.shutdown().unwrap();
    let out = Command::new(CLI)
        .args(["call", &format!("custom:{prefix}"), "os.getuid"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        uid_number("ectest").to_string()
    );
}

/// The setns helper a hop runs (`stub/python/setns.py`, with the hop's own python) is 2.4
/// syntax: on 2.5 and 2.6 it enters the container through ctypes (2.5's without `use_errno`)
/// and execs the container's python; on 2.4 (no ctypes, no `os.setns`) it fails with the line
/// the host types as ProgramMissing, naming the cause.
#[test]
fn the_setns_helper_runs_on_old_pythons() {
    if !containers() {
        return;
    }
    let host = sh("docker inspect -f '{{.Config.Hostname}}' ectx-docker");
    for py in old_interpreters() {
        let p = py.display().to_string();
        let out = Command::new(&py)
            .args([
                "-Sc",
                econtext::connect::setns::HELPER,
                "docker:ectx-docker",
                "",
            ])
            .args([
                "python3",
                "-c",
                "import socket; print(socket.gethostname())",
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        if p.contains("/2.4/") {
            assert!(!out.status.success(), "{p}: {stdout}");
            assert!(
                stderr.contains("econtext-setns: cannot run: setns: python 2.4.6 on this hop has neither os.setns nor ctypes"),
                "{p}: {stderr}"
            );
        } else {
            assert!(out.status.success(), "{p}: {stderr}");
            assert_eq!(stdout.trim(), host, "{p}: {stderr}");
        }
    }
}

/// Regression (2026-12-03): a context that is a pid namespace's init (PID 1) moved itself into
/// an anchor child's process group on exit; the kernel's zap of the namespace then waited for
/// the anchor's pid forever, and every such context stayed behind, unkillable, in
/// `zap_pid_ns_processes`. Needs root for `unshare --pid` and no fixture; both stubs.
#[test]
fn a_pid_namespace_init_context_exits_for_good() {
    if sh("id -u") != "0" {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("SKIPPED a_pid_namespace_init_context_exits_for_good: needs root");
        return;
    }
    let router = quiet_router();
    let mut pythons = vec![PathBuf::from(python())];
    pythons.extend(old_interpreters().into_iter().take(1));
    for py in pythons {
        let mark = format!("ECTX_PIDNS={}-{}", std::process::id(), py.display());
        let m =
            Custom::new(["env", &mark, "unshare", "--fork", "--pid"]).python(py.to_str().unwrap());
        let ctx = router.connect(&m).unwrap();
        assert_eq!(
            ctx.call("os.getpid", vec![]).unwrap(),
            Value::Int(1),
            "{py:?}"
        );
        let ours = processes_with_env(&mark);
        assert!(ours.len() >= 2, "{py:?}: unshare and the context: {ours:?}");
        ctx.shutdown().unwrap();
        let gone = eventually(5000, || ours.iter().all(|p| !alive(*p)));
        let left: Vec<String> = ours
            .iter()
            .filter(|p| alive(**p))
            .map(|p| format!("{p} in {}", sh(&format!("cat /proc/{p}/wchan"))))
            .collect();
        assert!(gone, "{py:?}: left behind: {left:?}");
    }
}
