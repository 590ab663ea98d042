//! `ssh`: the system ssh client, with the user's ssh config honoured as ssh does.

use std::path::PathBuf;
use std::time::Duration;

use super::watch::{shell_failures, ConnectFailure as F, FailureRule, Password, Prompt};
use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};

/// What to do about the server's host key. Without one ([`Ssh::host_key`] not called), no
/// host-key option is passed at all: your ssh config decides, and ssh's own default (in
/// BatchMode, refuse an unknown key) applies where it says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// The key must already be in known_hosts (`StrictHostKeyChecking=yes`).
    Enforce,
    /// Add unknown keys, refuse changed ones (`StrictHostKeyChecking=accept-new`).
    AcceptNew,
    /// Accept anything and remember nothing (`StrictHostKeyChecking=no`, no known_hosts).
    Ignore,
}

/// A context on another machine, over the system `ssh` binary.
///
/// ```no_run
/// use econtext::{Router, Ssh};
/// let router = Router::new()?;
/// let ctx = router.connect(&Ssh::new("db1").user("root").port(2222))?;
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ssh {
    host: String,
    user: Option<String>,
    port: Option<u16>,
    identity: Option<PathBuf>,
    options: Vec<String>,
    host_key: Option<HostKeyPolicy>,
    config: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    password: Option<Password>,
    python: Option<String>,
    name: Option<String>,
    timeout: Duration,
    ssh: String,
    prompt: bool,
}

impl Ssh {
    /// ssh to `host` (a name from the user's ssh config works too).
    pub fn new(host: impl Into<String>) -> Ssh {
        Ssh {
            host: host.into(),
            user: None,
            port: None,
            identity: None,
            options: Vec::new(),
            host_key: None,
            config: None,
            known_hosts: None,
            password: None,
            python: None,
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            ssh: "ssh".into(),
            prompt: false,
        }
    }

    /// Log in as this user.
    pub fn user(mut self, u: impl Into<String>) -> Ssh {
        self.user = Some(u.into());
        self
    }

    /// Connect to this port.
    pub fn port(mut self, p: u16) -> Ssh {
        self.port = Some(p);
        self
    }

    /// Use this private key.
    pub fn identity(mut self, p: impl Into<PathBuf>) -> Ssh {
        self.identity = Some(p.into());
        self
    }

    /// Pass `-o OPTION` (e.g. `"ProxyJump=bastion"`); repeatable.
    pub fn option(mut self, o: impl Into<String>) -> Ssh {
        self.options.push(o.into());
        self
    }

    /// Host key policy. Default: none, so your ssh config (`StrictHostKeyChecking`,
    /// `UserKnownHostsFile`) rules, and where it is silent ssh refuses an unknown key.
    pub fn host_key(mut self, p: HostKeyPolicy) -> Ssh {
        self.host_key = Some(p);
        self
    }

    /// Read this ssh config file instead of `~/.ssh/config` (`ssh -F FILE`).
    pub fn config_file(mut self, p: impl Into<PathBuf>) -> Ssh {
        self.config = Some(p.into());
        self
    }

    /// Use this known_hosts file instead of the user's.
    pub fn known_hosts(mut self, p: impl Into<PathBuf>) -> Ssh {
        self.known_hosts = Some(p.into());
        self
    }

    /// Log in with a password (typed into ssh's prompt on a pty; never on a command line).
    pub fn password(mut self, p: Password) -> Ssh {
        self.password = Some(p);
        self
    }

    /// Let ssh ask for a password when no key works and none was given (the router's
    /// `ask_password` answers; the CLI asks on the terminal). Default: off, so ssh fails with
    /// `AuthFailed` instead of waiting for a prompt (BatchMode).
    pub fn prompt_for_password(mut self, yes: bool) -> Ssh {
        self.prompt = yes;
        self
    }

    /// The interpreter on the target (default: python3, else python, from its PATH).
    pub fn python(mut self, p: impl Into<String>) -> Ssh {
        self.python = Some(p.into());
        self
    }

    /// Name the context (default `ssh:[user@]host`).
    pub fn name(mut self, n: impl Into<String>) -> Ssh {
        self.name = Some(n.into());
        self
    }

    /// Connect timeout (also passed to ssh as `ConnectTimeout`).
    pub fn connect_timeout(mut self, t: Duration) -> Ssh {
        self.timeout = t;
        self
    }

    /// The ssh binary (default `ssh` from PATH).
    pub fn ssh_path(mut self, p: impl Into<String>) -> Ssh {
        self.ssh = p.into();
        self
    }
}

/// Failure messages of OpenSSH's client.
pub fn ssh_failures() -> Vec<FailureRule> {
    let mut v = vec![
        FailureRule::new("could not resolve hostname", F::UnknownHost),
        FailureRule::new("name or service not known", F::UnknownHost),
        FailureRule::new("connection refused", F::ConnectionRefused),
        FailureRule::new("connection timed out", F::NetworkTimeout),
        FailureRule::new("operation timed out", F::NetworkTimeout),
        FailureRule::new("no route to host", F::Unreachable),
        FailureRule::new("network is unreachable", F::Unreachable),
        FailureRule::new("remote host identification has changed", F::HostKeyChanged),
        FailureRule::new("host key verification failed", F::HostKeyUnknown),
        FailureRule::new("no * host key is known", F::HostKeyUnknown),
        FailureRule::new("too many authentication failures", F::AuthFailed),
        FailureRule::new("permission denied (", F::AuthFailed),
        // sshd's MaxStartups drops a login before the key exchange (OpenSSH >= 8.2 says
        // kex_exchange_identification; older ones ssh_exchange_identification).
        FailureRule::new("exchange_identification", F::ConnectionClosed),
    ];
    v.extend(shell_failures());
    v
}

impl Method for Ssh {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        let mut argv = vec![self.ssh.clone(), "-T".into()];
        if let Some(f) = &self.config {
            argv.extend(["-F".into(), f.display().to_string()]);
        }
        let mut o = |s: String| {
            argv.push("-o".into());
            argv.push(s);
        };
        o("LogLevel=ERROR".into());
        o(format!("ConnectTimeout={}", self.timeout.as_secs().max(1)));
        o("ServerAliveInterval=15".into());
        o("ServerAliveCountMax=3".into());
        // Only an explicit policy overrides the user's ssh config (ssh takes the first value
        // it sees, and -o comes before any config file).
        match self.host_key {
            Some(HostKeyPolicy::Enforce) => o("StrictHostKeyChecking=yes".into()),
            Some(HostKeyPolicy::AcceptNew) => o("StrictHostKeyChecking=accept-new".into()),
            Some(HostKeyPolicy::Ignore) => o("StrictHostKeyChecking=no".into()),
            None => {}
        }
        match (&self.known_hosts, self.host_key) {
            (_, Some(HostKeyPolicy::Ignore)) => o("UserKnownHostsFile=/dev/null".into()),
            (Some(k), _) => o(format!("UserKnownHostsFile={}", k.display())),
            (None, _) => {}
        }
        let interactive = self.password.is_some() || self.prompt;
        if !interactive {
            o("BatchMode=yes".into());
        } else {
            o("BatchMode=no".into());
            o("NumberOfPasswordPrompts=2".into());
        }
        for x in &self.options {
            o(x.clone());
        }
        if let Some(p) = self.port {
            argv.extend(["-p".into(), p.to_string()]);
        }
        if let Some(i) = &self.identity {
            argv.extend(["-i".into(), i.display().to_string()]);
        }
        if let Some(u) = &self.user {
            argv.extend(["-l".into(), u.clone()]);
        }
        argv.push(self.host.clone());
        argv.push(bootstrap::stage0_shell(
            self.python.as_deref(),
            title,
            stage2_len,
        ));
        let name = self.name.clone().unwrap_or_else(|| match &self.user {
            Some(u) => format!("ssh:{u}@{}", self.host),
            None => format!("ssh:{}", self.host),
        });
        Recipe {
            name,
            kind: "ssh",
            whose: super::watch::Whose::AsPrompted,
            argv,
            arg0: None,
            env: Vec::new(),
            pty: interactive,
            stdio_on_pty: false,
            wait_for_stage1: interactive,
            connect_timeout: self.timeout,
            prompts: vec![
                Prompt {
                    pattern: "'s password:".into(),
                },
                Prompt {
                    pattern: "password for".into(),
                },
            ],
            failures: ssh_failures(),
            password: self.password.clone(),
            program_missing: Some(super::watch::ConnectFailure::ProgramMissing),
            enter: None,
        }
    }
}
