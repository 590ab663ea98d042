//! `setns:`: enter the namespaces of a running process (a container's leader) with setns(2),
//! no `nsenter` and no runtime client in the way. As a first hop this process resolves
//! everything before fork (the leader's pid, its namespace, root and cwd fds, the user from the
//! container's own /etc/passwd, the interpreter's path inside) and the child only makes
//! syscalls (`sys::setns`). Behind another hop the same steps run in a small Python helper on
//! that hop (`stub/python/setns.py`), started like any method's argv.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::container::container_failures;
use super::watch::{ConnectFailure as F, FailureRule};
use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};
use crate::Error;

/// The helper a hop runs to enter namespaces (`-S`: no site import).
pub const HELPER: &str = include_str!("../../../stub/python/setns.py");

/// Whose namespaces to enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leader {
    /// A process id on the hop.
    Pid(u32),
    /// A docker container: its leader from `docker inspect`.
    Docker(String),
    /// A podman container: its leader from `podman inspect`.
    Podman(String),
    /// An LXC container: its leader from `lxc-info -p`.
    Lxc(String),
}

impl Leader {
    /// `pid:N`, `docker:NAME`... as the helper takes it.
    fn spec(&self) -> String {
        match self {
            Leader::Pid(p) => format!("pid:{p}"),
            Leader::Docker(n) => format!("docker:{n}"),
            Leader::Podman(n) => format!("podman:{n}"),
            Leader::Lxc(n) => format!("lxc:{n}"),
        }
    }

    /// From the part after `setns:` (`1234`, `docker:web`, `podman:web`, `lxc:web`).
    pub fn parse(s: &str) -> Option<Leader> {
        match s.split_once(':') {
            None => s.parse().ok().filter(|p| *p > 0).map(Leader::Pid),
            Some(("docker", n)) if !n.is_empty() => Some(Leader::Docker(n.into())),
            Some(("podman", n)) if !n.is_empty() => Some(Leader::Podman(n.into())),
            Some(("lxc", n)) if !n.is_empty() => Some(Leader::Lxc(n.into())),
            Some(("pid", p)) => p.parse().ok().filter(|p| *p > 0).map(Leader::Pid),
            _ => None,
        }
    }
}

/// What a recipe asks the first hop to do itself.
#[derive(Debug, Clone)]
pub struct Enter {
    /// Whose namespaces.
    pub leader: Leader,
    /// The user inside (name or uid; default: stay root).
    pub user: Option<String>,
    /// The interpreter inside (default python3, else python, on the leader's PATH).
    pub python: Option<String>,
}

/// A context in the namespaces of a running process.
///
/// ```no_run
/// use econtext::{Leader, Router, Setns};
/// let router = Router::new()?;
/// let web = router.connect(&Setns::new(Leader::Docker("web".into())))?;
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Setns {
    enter: Enter,
    name: Option<String>,
    timeout: Duration,
}

impl Setns {
    /// Enter `leader`'s namespaces.
    pub fn new(leader: Leader) -> Setns {
        Setns {
            enter: Enter {
                leader,
                user: None,
                python: None,
            },
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Become this user of the container (looked up in its /etc/passwd).
    pub fn user(mut self, u: impl Into<String>) -> Setns {
        self.enter.user = Some(u.into());
        self
    }

    /// The interpreter inside.
    pub fn python(mut self, p: impl Into<String>) -> Setns {
        self.enter.python = Some(p.into());
        self
    }

    /// Name the context (default `setns:docker:web` etc.).
    pub fn name(mut self, n: impl Into<String>) -> Setns {
        self.name = Some(n.into());
        self
    }

    /// Connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Setns {
        self.timeout = t;
        self
    }
}

/// The helper's messages, as typed failures (the first hop's own resolution returns them
/// directly).
fn setns_failures() -> Vec<FailureRule> {
    let mut f = container_failures();
    f.extend([
        FailureRule::new("econtext-setns: no such container", F::NoSuchContainer),
        FailureRule::new("econtext-setns: not running", F::ContainerNotRunning),
        FailureRule::new("econtext-setns: permission denied", F::PermissionDenied),
        FailureRule::new("econtext-setns: unknown user", F::UnknownUser),
        FailureRule::new("econtext-setns: no python", F::NoPython),
        FailureRule::new("econtext-setns: cannot run", F::ProgramMissing),
        FailureRule::new("econtext-setns: cannot connect", F::ConnectionRefused),
    ]);
    f
}

impl Method for Setns {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        let e = &self.enter;
        // Behind a hop: `python -Sc HELPER LEADER USER PYTHON -Suc STAGE1` through the hop's
        // shell (which finds its python).
        let args = [
            e.leader.spec(),
            e.user.clone().unwrap_or_default(),
            e.python.clone().unwrap_or_default(),
            "-Suc".into(),
            bootstrap::stage1(title, stage2_len),
        ];
        let quoted: Vec<String> = std::iter::once(HELPER.to_string())
            .chain(args)
            .map(|a| bootstrap::shell_quote(&a))
            .collect();
        let line = format!(
            "exec $(command -v python3||echo python) -Sc {}",
            quoted.join(" ")
        );
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("setns:{}", display(&e.leader)));
        let argv = vec!["/bin/sh".into(), "-c".into(), line];
        Recipe {
            enter: Some(e.clone()),
            ..Recipe::exec(name, "setns", argv, self.timeout, setns_failures())
        }
    }
}

fn display(l: &Leader) -> String {
    match l {
        Leader::Pid(p) => p.to_string(),
        other => other.spec(),
    }
}

/// Everything the child needs, resolved before fork.
#[derive(Debug)]
pub struct Resolved {
    /// What the forked child does: the namespace, root and cwd fds, the second fork, the ids.
    pub plan: crate::sys::setns::Plan,
    /// The environment inside: the leader's, with HOME/USER/LOGNAME of the user.
    pub env: Vec<(String, String)>,
    /// The interpreter's path inside.
    pub python: String,
    /// It is a binary, not a `#!` script: the host can name the process itself and stage 1 can
    /// run stage 2 in-process (one interpreter start instead of two).
    pub native: bool,
}

fn failed(context: &str, failure: F, output: String) -> Error {
    Error::Connect {
        context: context.into(),
        failure,
        output,
    }
}

/// The leader's pid, from the runtime when named.
fn leader_pid(context: &str, l: &Leader) -> Result<u32, Error> {
    let (prog, args): (&str, Vec<String>) = match l {
        Leader::Pid(p) => return Ok(*p),
        Leader::Docker(n) => (
            "docker",
            vec![
                "inspect".into(),
                "--format".into(),
                "{{.State.Pid}}".into(),
                n.clone(),
            ],
        ),
        Leader::Podman(n) => (
            "podman",
            vec![
                "inspect".into(),
                "--format".into(),
                "{{.State.Pid}}".into(),
                n.clone(),
            ],
        ),
        Leader::Lxc(n) => ("lxc-info", vec!["-n".into(), n.clone(), "-pH".into()]),
    };
    let mut cmd = Command::new(prog);
    crate::sys::process::restore_fd_limit(&mut cmd);
    let out = cmd
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            failed(
                context,
                F::ProgramMissing,
                format!("cannot run {prog}: {e}"),
            )
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = text.trim().to_string();
    match said.parse::<u32>() {
        Ok(0) => Err(failed(context, F::ContainerNotRunning, said)),
        Ok(p) if out.status.success() => Ok(p),
        _ => {
            let kind = classify(&said, out.status.success());
            Err(failed(context, kind, format!("{prog}: {said}")))
        }
    }
}

/// What a runtime's leader lookup said when it gave no pid.
fn classify(said: &str, success: bool) -> F {
    let low = said.to_ascii_lowercase();
    if low.contains("cannot connect") || low.contains("connection refused") {
        F::ConnectionRefused
    } else if low.contains("permission denied") {
        F::PermissionDenied
    } else if success && said.is_empty() {
        // lxc-info prints no pid for a stopped container.
        F::ContainerNotRunning
    } else {
        F::NoSuchContainer
    }
}

fn read_text(p: &Path) -> Option<String> {
    let mut s = String::new();
    File::open(p).ok()?.read_to_string(&mut s).ok()?;
    Some(s)
}

/// `user` (a name or uid) in the passwd text: (name, uid, gid, home).
pub fn passwd_entry(passwd: &str, user: &str) -> Option<(String, u32, u32, String)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let (uid, gid) = (f[2].parse().ok()?, f[3].parse().ok()?);
        (f[0] == user || f[2] == user).then(|| (f[0].to_string(), uid, gid, f[5].to_string()))
    })
}

/// The supplementary groups of `name` in the group text, with `gid` first.
pub fn groups_of(group: &str, name: &str, gid: u32) -> Vec<u32> {
    let mut g = vec![gid];
    for l in group.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
            if let Ok(id) = f[2].parse() {
                if !g.contains(&id) {
                    g.push(id);
                }
            }
        }
    }
    g
}

/// Find `python` (a path, a name on `path`, or python3/python) under `root`; the path inside.
fn find_python(root: &Path, python: Option<&str>, path: &str) -> Option<String> {
    let names: Vec<&str> = match python {
        Some(p) => vec![p],
        None => vec!["python3", "python"],
    };
    for n in names {
        if let Some(rel) = n.strip_prefix('/') {
            if root.join(rel).symlink_metadata().is_ok() {
                return Some(n.to_string());
            }
            continue;
        }
        for dir in path.split(':').filter(|d| d.starts_with('/')) {
            let inside = format!("{}/{n}", dir.trim_end_matches('/'));
            if root.join(&inside[1..]).symlink_metadata().is_ok() {
                return Some(inside);
            }
        }
    }
    None
}

/// Resolve an [`Enter`] on this machine, for context `context`.
pub fn resolve(context: &str, e: &Enter) -> Result<Resolved, Error> {
    let pid = leader_pid(context, &e.leader)?;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return Err(failed(
            context,
            F::NoSuchContainer,
            format!("no process {pid}"),
        ));
    }
    let open = |p: &Path| -> Result<OwnedFd, Error> {
        File::open(p).map(OwnedFd::from).map_err(|err| {
            let kind = if err.kind() == std::io::ErrorKind::PermissionDenied {
                F::PermissionDenied
            } else {
                F::NoSuchContainer
            };
            failed(context, kind, format!("{}: {err}", p.display()))
        })
    };
    let mut namespaces = Vec::new();
    let mut fork = false;
    for (ns, flag) in crate::sys::setns::NAMESPACES {
        let theirs = proc_dir.join("ns").join(ns);
        let Ok(meta) = theirs.metadata() else {
            continue; // a kernel without it
        };
        let same = Path::new("/proc/self/ns")
            .join(ns)
            .metadata()
            .is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev());
        if same {
            continue;
        }
        if *ns == "pid" {
            fork = true;
        }
        namespaces.push((open(&theirs)?, *flag));
    }
    let root_path = proc_dir.join("root");
    let root = open(&root_path)?;
    let cwd = File::open(proc_dir.join("cwd")).ok().map(OwnedFd::from);
    let mut env: Vec<(String, String)> = std::fs::read(proc_dir.join("environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    let mut set = |k: &str, v: String| {
        env.retain(|(x, _)| x != k);
        env.push((k.to_string(), v));
    };
    let ids = match &e.user {
        None => None,
        Some(u) => {
            let passwd = read_text(&root_path.join("etc/passwd")).unwrap_or_default();
            let Some((name, uid, gid, home)) = passwd_entry(&passwd, u) else {
                return Err(failed(
                    context,
                    F::UnknownUser,
                    format!("no user {u:?} in the container's /etc/passwd"),
                ));
            };
            let group = read_text(&root_path.join("etc/group")).unwrap_or_default();
            set("HOME", home);
            set("USER", name.clone());
            set("LOGNAME", name.clone());
            Some((uid, gid, groups_of(&group, &name, gid)))
        }
    };
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()
        });
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), path.clone()));
    }
    let python = find_python(&root_path, e.python.as_deref(), &path).ok_or_else(|| {
        failed(
            context,
            F::NoPython,
            format!(
                "no {} in the container (PATH {path})",
                e.python.as_deref().unwrap_or("python3 or python")
            ),
        )
    })?;
    let native =
        bootstrap::is_native_executable(&root_path.join(&python[1..]).display().to_string());
    Ok(Resolved {
        plan: crate::sys::setns::Plan {
            namespaces,
            root,
            cwd,
            fork,
            ids,
        },
        env,
        python,
        native,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_and_users_parse() {
        assert_eq!(Leader::parse("1234"), Some(Leader::Pid(1234)));
        assert_eq!(
            Leader::parse("docker:web"),
            Some(Leader::Docker("web".into()))
        );
        assert_eq!(Leader::parse("lxc:c1"), Some(Leader::Lxc("c1".into())));
        assert_eq!(Leader::parse("0"), None);
        assert_eq!(Leader::parse("kubectl:x"), None);
        let pw = "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1001:App:/home/app:/bin/sh\n";
        assert_eq!(
            passwd_entry(pw, "app"),
            Some(("app".into(), 1000, 1001, "/home/app".into()))
        );
        assert_eq!(passwd_entry(pw, "1000").map(|e| e.0), Some("app".into()));
        assert_eq!(passwd_entry(pw, "nope"), None);
        let gr = "adm:x:4:app,other\nwww:x:33:\nstaff:x:50:app\n";
        assert_eq!(groups_of(gr, "app", 1001), [1001, 4, 50]);
    }

    #[test]
    fn lookup_messages_are_typed() {
        let c = |s: &str, ok| classify(s, ok);
        assert_eq!(c("Error: No such object: nope", false), F::NoSuchContainer);
        assert_eq!(c("nope doesn't exist", false), F::NoSuchContainer);
        assert_eq!(c("", true), F::ContainerNotRunning);
        assert_eq!(
            c("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", false),
            F::ConnectionRefused
        );
        assert_eq!(
            c(
                "permission denied while trying to connect to the Docker daemon socket",
                false
            ),
            F::PermissionDenied
        );
    }

    #[test]
    fn the_helper_travels_quoted_through_the_hop_shell() {
        let r = Setns::new(Leader::Docker("web".into()))
            .user("app")
            .recipe("t", 10);
        assert_eq!(r.argv[..2], ["/bin/sh", "-c"]);
        assert!(r.argv[2].contains(" docker:web app '' -Suc "));
        assert!(r.enter.is_some());
    }
}
