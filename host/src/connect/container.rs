//! Containers and chroots: docker, podman (exec and throwaway run), lxc, incus, lxd,
//! systemd-nspawn, chroot, kubectl, buildah and FreeBSD jails. Each is data: the runtime's
//! argv ending in the container's Python, no pty (`-i`, never `-t`), and the messages that mean
//! a typed failure. Run by whichever context is the hop, like every other method.

use std::time::Duration;

use super::watch::{shell_failures, ConnectFailure as F, FailureRule};
use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};

/// The container runtime a [`Container`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `docker exec -i` into a running container.
    Docker,
    /// `podman exec -i` into a running container.
    Podman,
    /// `docker run --rm -i IMAGE`: a throwaway container.
    DockerRun,
    /// `podman run --rm -i IMAGE`: a throwaway container.
    PodmanRun,
    /// `lxc-attach` into a running LXC container.
    Lxc,
    /// `incus exec --mode=non-interactive`.
    Incus,
    /// LXD's `lxc exec --mode=non-interactive`.
    Lxd,
    /// `systemd-nspawn --pipe` on a directory tree: a new container per connection.
    Nspawn,
    /// `chroot DIR`.
    Chroot,
    /// `kubectl exec -i POD`.
    Kubectl,
    /// `buildah run` in a working container.
    Buildah,
    /// FreeBSD's `jexec JAIL`.
    Jail,
}

/// Every runtime, in the order the docs list them.
pub const RUNTIMES: &[Runtime] = &[
    Runtime::Docker,
    Runtime::Podman,
    Runtime::DockerRun,
    Runtime::PodmanRun,
    Runtime::Lxc,
    Runtime::Incus,
    Runtime::Lxd,
    Runtime::Nspawn,
    Runtime::Chroot,
    Runtime::Kubectl,
    Runtime::Buildah,
    Runtime::Jail,
];

impl Runtime {
    /// The method name in a TARGET (`docker`, `podman-run`, `nspawn`...).
    pub fn method(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::DockerRun => "docker-run",
            Runtime::PodmanRun => "podman-run",
            Runtime::Lxc => "lxc",
            Runtime::Incus => "incus",
            Runtime::Lxd => "lxd",
            Runtime::Nspawn => "nspawn",
            Runtime::Chroot => "chroot",
            Runtime::Kubectl => "kubectl",
            Runtime::Buildah => "buildah",
            Runtime::Jail => "jail",
        }
    }

    /// The runtime from its method name.
    pub fn from_method(m: &str) -> Option<Runtime> {
        RUNTIMES.iter().copied().find(|r| r.method() == m)
    }

    /// The program it runs on the hop (LXD's client is called `lxc`).
    pub fn program(self) -> &'static str {
        match self {
            Runtime::Docker | Runtime::DockerRun => "docker",
            Runtime::Podman | Runtime::PodmanRun => "podman",
            Runtime::Lxc => "lxc-attach",
            Runtime::Incus => "incus",
            Runtime::Lxd => "lxc",
            Runtime::Nspawn => "systemd-nspawn",
            Runtime::Chroot => "chroot",
            Runtime::Kubectl => "kubectl",
            Runtime::Buildah => "buildah",
            Runtime::Jail => "jexec",
        }
    }

    /// Whether its user option takes names (else only numeric ids; names go through `su`
    /// inside the container).
    fn user_by_name(self) -> bool {
        !matches!(
            self,
            Runtime::Lxc | Runtime::Incus | Runtime::Lxd | Runtime::Kubectl
        )
    }
}

/// A context inside a container, chroot or jail, started by the runtime's own client on the
/// hop (so `ssh:host/docker:web` runs `docker exec` on `host`).
///
/// ```no_run
/// use econtext::{Container, Router};
/// let router = Router::new()?;
/// let web = router.connect(&Container::docker("web").user("www-data"))?;
/// println!("{:?}", web.call("platform.node", vec![])?);
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Container {
    runtime: Runtime,
    target: String,
    user: Option<String>,
    python: Option<String>,
    name: Option<String>,
    timeout: Duration,
    args: Vec<String>,
    program: Option<String>,
    namespace: Option<String>,
    container: Option<String>,
    kube_context: Option<String>,
}

impl Container {
    /// A container of `runtime` named (or at) `target`.
    pub fn new(runtime: Runtime, target: impl Into<String>) -> Container {
        Container {
            runtime,
            target: target.into(),
            user: None,
            python: None,
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            args: Vec::new(),
            program: None,
            namespace: None,
            container: None,
            kube_context: None,
        }
    }

    /// `docker exec -i CONTAINER`.
    pub fn docker(container: &str) -> Container {
        Container::new(Runtime::Docker, container)
    }

    /// `podman exec -i CONTAINER`.
    pub fn podman(container: &str) -> Container {
        Container::new(Runtime::Podman, container)
    }

    /// `docker run --rm -i IMAGE`.
    pub fn docker_run(image: &str) -> Container {
        Container::new(Runtime::DockerRun, image)
    }

    /// `podman run --rm -i IMAGE`.
    pub fn podman_run(image: &str) -> Container {
        Container::new(Runtime::PodmanRun, image)
    }

    /// `lxc-attach -n NAME`.
    pub fn lxc(name: &str) -> Container {
        Container::new(Runtime::Lxc, name)
    }

    /// `incus exec NAME`.
    pub fn incus(name: &str) -> Container {
        Container::new(Runtime::Incus, name)
    }

    /// LXD: `lxc exec NAME`.
    pub fn lxd(name: &str) -> Container {
        Container::new(Runtime::Lxd, name)
    }

    /// `systemd-nspawn --pipe -D DIR`.
    pub fn nspawn(dir: &str) -> Container {
        Container::new(Runtime::Nspawn, dir)
    }

    /// `chroot DIR`.
    pub fn chroot(dir: &str) -> Container {
        Container::new(Runtime::Chroot, dir)
    }

    /// `kubectl exec -i POD`.
    pub fn kubectl(pod: &str) -> Container {
        Container::new(Runtime::Kubectl, pod)
    }

    /// `buildah run CONTAINER`.
    pub fn buildah(container: &str) -> Container {
        Container::new(Runtime::Buildah, container)
    }

    /// `jexec JAIL`.
    pub fn jail(jail: &str) -> Container {
        Container::new(Runtime::Jail, jail)
    }

    /// Run as this user inside (the runtime's user option; for lxc, incus, lxd and kubectl a
    /// numeric id is passed to it and a name goes through `su` inside the container).
    pub fn user(mut self, u: impl Into<String>) -> Container {
        self.user = Some(u.into());
        self
    }

    /// The interpreter inside (default: `python3`, else `python`, found by `/bin/sh`; giving
    /// one runs it directly, so images without a shell work).
    pub fn python(mut self, p: impl Into<String>) -> Container {
        self.python = Some(p.into());
        self
    }

    /// Name the context (default `docker:web` etc.).
    pub fn name(mut self, n: impl Into<String>) -> Container {
        self.name = Some(n.into());
        self
    }

    /// Connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Container {
        self.timeout = t;
        self
    }

    /// An extra argument for the runtime, placed before the container name (e.g.
    /// `--read-only` for nspawn, `--network=none` for docker-run, `-e`, `-w`).
    pub fn arg(mut self, a: impl Into<String>) -> Container {
        self.args.push(a.into());
        self
    }

    /// Run this program instead of the runtime's usual one (`/opt/bin/docker`).
    pub fn program(mut self, p: impl Into<String>) -> Container {
        self.program = Some(p.into());
        self
    }

    /// kubectl: the namespace (`-n`).
    pub fn namespace(mut self, ns: impl Into<String>) -> Container {
        self.namespace = Some(ns.into());
        self
    }

    /// kubectl: the container in the pod (`-c`).
    pub fn container(mut self, c: impl Into<String>) -> Container {
        self.container = Some(c.into());
        self
    }

    /// kubectl: the kubeconfig context (`--context`).
    pub fn kube_context(mut self, c: impl Into<String>) -> Container {
        self.kube_context = Some(c.into());
        self
    }

    /// The runtime.
    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    /// The argv up to (not including) the interpreter, and whether the user still has to be
    /// switched inside (a name the runtime cannot take).
    fn prefix(&self) -> (Vec<String>, Option<String>) {
        let r = self.runtime;
        let prog = self.program.clone().unwrap_or_else(|| r.program().into());
        let mut v: Vec<String> = vec![prog];
        let s = |x: &str| x.to_string();
        let (user_opt, su) = match &self.user {
            Some(u) if r.user_by_name() || u.bytes().all(|b| b.is_ascii_digit()) => {
                (Some(u.clone()), None)
            }
            Some(u) => (None, Some(u.clone())),
            None => (None, None),
        };
        let t = self.target.clone();
        match r {
            Runtime::Docker | Runtime::Podman => {
                v.extend([s("exec"), s("-i")]);
                if let Some(u) = user_opt {
                    v.extend([s("-u"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.push(t);
            }
            Runtime::DockerRun | Runtime::PodmanRun => {
                v.extend([s("run"), s("--rm"), s("-i")]);
                if let Some(u) = user_opt {
                    v.extend([s("-u"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.push(t);
            }
            Runtime::Lxc => {
                // --clear-env: the hop's environment stays out (lxc sets a default PATH).
                v.extend([s("--clear-env"), s("-n"), t]);
                if let Some(u) = user_opt {
                    v.extend([s("-u"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.push(s("--"));
            }
            Runtime::Incus | Runtime::Lxd => {
                v.extend([s("exec"), s("--mode=non-interactive")]);
                if let Some(u) = user_opt {
                    v.extend([s("--user"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.extend([t, s("--")]);
            }
            Runtime::Nspawn => {
                // --register=no --keep-unit: no machined or D-Bus needed, and any number of
                // connections to one tree; --as-pid2: a minimal init reaps what the context
                // starts and forwards signals.
                v.extend([
                    s("--quiet"),
                    s("--pipe"),
                    s("--register=no"),
                    s("--keep-unit"),
                    s("--as-pid2"),
                ]);
                if let Some(u) = user_opt {
                    v.push(format!("--user={u}"));
                }
                v.extend(self.args.iter().cloned());
                v.extend([s("-D"), t]);
            }
            Runtime::Chroot => {
                if let Some(u) = user_opt {
                    v.push(format!("--userspec={u}"));
                }
                v.extend(self.args.iter().cloned());
                v.push(t);
            }
            Runtime::Kubectl => {
                if let Some(c) = &self.kube_context {
                    v.extend([s("--context"), c.clone()]);
                }
                v.extend([s("exec"), s("-i")]);
                if let Some(ns) = &self.namespace {
                    v.extend([s("-n"), ns.clone()]);
                }
                if let Some(c) = &self.container {
                    v.extend([s("-c"), c.clone()]);
                }
                v.extend(self.args.iter().cloned());
                v.extend([t, s("--")]);
            }
            Runtime::Buildah => {
                v.push(s("run"));
                if let Some(u) = user_opt {
                    v.extend([s("--user"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.extend([t, s("--")]);
            }
            Runtime::Jail => {
                if let Some(u) = user_opt {
                    v.extend([s("-U"), u]);
                }
                v.extend(self.args.iter().cloned());
                v.push(t);
            }
        }
        (v, su)
    }
}

/// The interpreter's argv at the end of an exec-style prefix: the given interpreter run
/// directly, else `/bin/sh` picking python3 or python; as `user` through `su` when set.
pub fn python_argv(
    python: Option<&str>,
    su_user: Option<&str>,
    title: &str,
    stage2_len: usize,
) -> Vec<String> {
    match (su_user, python) {
        (Some(u), p) => vec![
            "su".into(),
            "-s".into(),
            "/bin/sh".into(),
            u.into(),
            "-c".into(),
            bootstrap::stage0_shell(p, title, stage2_len),
        ],
        (None, Some(p)) => bootstrap::stage0_argv(p, title, stage2_len),
        (None, None) => vec![
            "/bin/sh".into(),
            "-c".into(),
            bootstrap::stage0_shell(None, title, stage2_len),
        ],
    }
}

/// What container runtimes print when they fail, as typed failures (docker, podman, lxc,
/// nspawn, chroot, kubectl wording; matched lowercase within one line).
pub fn container_failures() -> Vec<FailureRule> {
    let mut f = shell_failures();
    f.extend([
        FailureRule::new("no such container", F::NoSuchContainer),
        FailureRule::new("no container with name or id", F::NoSuchContainer),
        FailureRule::new("error from server (notfound)", F::NoSuchContainer),
        FailureRule::new("failed to resolve path", F::NoSuchContainer),
        FailureRule::new(
            "cannot change root directory to*no such file",
            F::NoSuchContainer,
        ),
        FailureRule::new("is not running", F::ContainerNotRunning),
        FailureRule::new(
            "can only create exec sessions on running",
            F::ContainerNotRunning,
        ),
        FailureRule::new("failed to get init pid", F::ContainerNotRunning),
        FailureRule::new("no such image", F::ImageNotFound),
        FailureRule::new("image not known", F::ImageNotFound),
        FailureRule::new("unable to find image", F::ImageNotFound),
        FailureRule::new("pull access denied", F::ImageNotFound),
        FailureRule::new("manifest unknown", F::ImageNotFound),
        FailureRule::new("did not resolve to an alias", F::ImageNotFound),
        FailureRule::new(
            "permission denied while trying to connect to the docker",
            F::PermissionDenied,
        ),
        FailureRule::new("need to be root", F::PermissionDenied),
        FailureRule::new(
            "cannot change root directory to*not permitted",
            F::PermissionDenied,
        ),
        FailureRule::new("unable to find user", F::UnknownUser),
        FailureRule::new("failed to resolve user", F::UnknownUser),
        FailureRule::new("chroot: invalid user", F::UnknownUser),
        FailureRule::new("su: user * does not exist", F::UnknownUser),
        FailureRule::new("executable file not found", F::NoPython),
        FailureRule::new("failed to exec \"", F::NoPython),
        FailureRule::new("execv(*) failed", F::NoPython),
        FailureRule::new("chroot: failed to run command", F::NoPython),
        FailureRule::new("is currently busy", F::Busy),
        FailureRule::new("cannot connect to the docker daemon", F::ConnectionRefused),
        FailureRule::new(
            "couldn't get current server api group list",
            F::ConnectionRefused,
        ),
        FailureRule::new("unable to connect to podman socket", F::ConnectionRefused),
    ]);
    f
}

impl Method for Container {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        let (mut argv, su) = self.prefix();
        argv.extend(python_argv(
            self.python.as_deref(),
            su.as_deref(),
            title,
            stage2_len,
        ));
        let kind = self.runtime.method();
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("{kind}:{}", self.target));
        Recipe::exec(name, kind, argv, self.timeout, container_failures())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(c: &Container) -> Vec<String> {
        let r = c.recipe("t", 10);
        let n = r.argv.len();
        // Everything before the interpreter's own three words.
        r.argv[..n - 3].to_vec()
    }

    #[test]
    fn argv_per_runtime() {
        let cases: Vec<(Container, &[&str])> = vec![
            (
                Container::docker("web").user("app"),
                &["docker", "exec", "-i", "-u", "app", "web"],
            ),
            (Container::podman("web"), &["podman", "exec", "-i", "web"]),
            (
                Container::docker_run("img").arg("--network=none"),
                &["docker", "run", "--rm", "-i", "--network=none", "img"],
            ),
            (
                Container::podman_run("img"),
                &["podman", "run", "--rm", "-i", "img"],
            ),
            (
                Container::lxc("c1").user("0"),
                &["lxc-attach", "--clear-env", "-n", "c1", "-u", "0", "--"],
            ),
            (
                Container::incus("c1"),
                &["incus", "exec", "--mode=non-interactive", "c1", "--"],
            ),
            (
                Container::lxd("c1"),
                &["lxc", "exec", "--mode=non-interactive", "c1", "--"],
            ),
            (
                Container::nspawn("/srv/r").user("app").arg("--read-only"),
                &[
                    "systemd-nspawn",
                    "--quiet",
                    "--pipe",
                    "--register=no",
                    "--keep-unit",
                    "--as-pid2",
                    "--user=app",
                    "--read-only",
                    "-D",
                    "/srv/r",
                ],
            ),
            (
                Container::chroot("/srv/r").user("app"),
                &["chroot", "--userspec=app", "/srv/r"],
            ),
            (
                Container::kubectl("pod1")
                    .namespace("ns")
                    .container("c")
                    .kube_context("k"),
                &[
                    "kubectl",
                    "--context",
                    "k",
                    "exec",
                    "-i",
                    "-n",
                    "ns",
                    "-c",
                    "c",
                    "pod1",
                    "--",
                ],
            ),
            (
                Container::buildah("w").user("app"),
                &["buildah", "run", "--user", "app", "w", "--"],
            ),
            (
                Container::jail("j").user("app"),
                &["jexec", "-U", "app", "j"],
            ),
        ];
        for (c, want) in cases {
            assert_eq!(argv(&c), want, "{:?}", c.runtime());
            let r = c.recipe("t", 10);
            assert!(!r.pty && !r.stdio_on_pty, "no pty for {:?}", c.runtime());
            assert!(!r.argv.iter().any(|a| a == "-t" || a == "-it"));
        }
    }

    #[test]
    fn names_become_su_where_the_runtime_takes_only_ids() {
        let r = Container::kubectl("pod1").user("app").recipe("t", 10);
        let at = r.argv.iter().position(|a| a == "--").unwrap();
        assert_eq!(&r.argv[at + 1..at + 5], ["su", "-s", "/bin/sh", "app"]);
        let r = Container::docker("web")
            .python("/usr/bin/python3")
            .recipe("t", 10);
        assert_eq!(r.argv[4], "/usr/bin/python3");
        assert_eq!(r.argv[5], "-Suc");
    }

    #[test]
    fn runtime_messages_are_typed() {
        let rules = container_failures();
        let kind = |line: &str| {
            let line = line.to_lowercase();
            rules
                .iter()
                .find(|r| super::super::watch::glob_in(&line, &r.pattern))
                .map(|r| r.kind)
        };
        let cases = [
            ("Error response from daemon: No such container: nope", F::NoSuchContainer),
            ("Error: no container with name or ID \"nope\" found: no such container", F::NoSuchContainer),
            ("Error response from daemon: Container 5e65 is not running", F::ContainerNotRunning),
            ("Error: can only create exec sessions on running containers: container state improper", F::ContainerNotRunning),
            ("lxc-attach: nope: ../src/lxc/attach.c: get_attach_context: 406 Connection refused - Failed to get init pid", F::ContainerNotRunning),
            ("docker: Error response from daemon: No such image: nope:latest.", F::ImageNotFound),
            ("Error: nope: image not known", F::ImageNotFound),
            ("OCI runtime exec failed: exec failed: unable to start container process: exec: \"python9\": executable file not found in $PATH: unknown", F::NoPython),
            ("unable to find user nobodyx: no matching entries in passwd file", F::UnknownUser),
            ("Failed to resolve user nobodyx.", F::UnknownUser),
            ("chroot: invalid user", F::UnknownUser),
            ("chroot: cannot change root directory to '/nope': No such file or directory", F::NoSuchContainer),
            ("Failed to resolve path /nope: No such file or directory", F::NoSuchContainer),
            ("Directory tree /srv/rootfs is currently busy.", F::Busy),
            ("permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock", F::PermissionDenied),
            ("econtext: cannot run docker: [Errno 2] No such file or directory", F::ProgramMissing),
            ("lxc-attach: ectx-lxc: ../src/lxc/attach.c: lxc_attach_run_command: 1841 No such file or directory - Failed to exec \"nopython\"", F::NoPython),
            ("execv(nopython) failed: No such file or directory", F::NoPython),
        ];
        for (line, want) in cases {
            assert_eq!(kind(line), Some(want), "{line}");
        }
    }
}
