//! The `econtext` command line. Thin: parse, resolve, call the library, print.

use std::time::Duration;

use crate::connect::Method;

/// `eprintln!` that never panics: a closed stderr is no reason to abort.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}
use crate::{json, log, Error, Local, Router, RouterOptions, Value};

mod fakessh;
mod files;
mod fleet;
mod progress;
mod run;
mod shell;
mod stream;
pub mod targets;

pub use fakessh::Tool;

/// Top-level help.
pub const HELP: &str = "\
econtext: run Python functions on machines that have nothing but Python

USAGE:
    econtext [-v | -q] call TARGET FUNCTION [ARG...] [OPTIONS]
    econtext [-v | -q] call -t TARGET [-t TARGET | -t @FILE]... [--forks N] [--relay TARGET]...
                            FUNCTION [ARG...] [OPTIONS]
    econtext [-v | -q] stream TARGET FUNCTION [ARG...] [OPTIONS] [--raw]
    econtext [-v | -q] run TARGET [OPTIONS] -- CMD [ARG...]
    econtext [-v | -q] run FROM --ssh-to TO [OPTIONS] -- CMD [ARG...]
    econtext [-v | -q] shell TARGET [OPTIONS]
    econtext [-v | -q] put TARGET LOCAL REMOTE [FILE OPTIONS]
    econtext [-v | -q] get TARGET REMOTE LOCAL [--preserve]
    econtext [-v | -q] put -t TARGET [-t TARGET | -t @FILE]... LOCAL REMOTE [FILE OPTIONS]
    econtext [-v | -q] get -t TARGET [-t TARGET | -t @FILE]... REMOTE LOCAL_DIR [--preserve]
    econtext [-v | -q] rsync TARGET [OPTIONS] -- [RSYNC ARG...]
    econtext [-v | -q] scp TARGET [OPTIONS] -- [SCP ARG...]
    econtext [-v | -q] sftp TARGET [OPTIONS] [-- SFTP ARG...]
    econtext [-v | -q] git TARGET [OPTIONS] -- [GIT ARG...]
    econtext --version

`call` prints the function's result. With -t (many targets) it runs the function on every
target at once (--forks N connections coming up at a time; default min(20 x CPUs, targets,
what the open-file limit allows)), then prints one table with identical results gathered under
one line (`ssh:web[01-05,07] (6)  ok  0.31-0.45s  0`); --json prints NDJSON instead, one
object per target as it finishes ({\"target\", \"ok\", \"status\", \"ms\", \"value\" or
\"kind\" and \"error\"}). On a terminal a progress bar shows done/total, failures and the
slowest pending targets (never when stderr is redirected). -t takes a TARGET chain, a range
(`ssh:web[01-20]`, `ssh:db[1,3,5-7]`) or @FILE (one target chain per line, `#` comments; @-
reads stdin). --relay TARGET (repeatable) spreads the targets over relay contexts that start
their first hops (so this host keeps one connection per relay). Logins that sshd drops
(MaxStartups) are retried with backoff while fewer are started at once. Ctrl-C stops every
context on every target (exit 130). Exit status: the OR of 1 (some function raised), 4 (some
target unreachable) and 8 (some call timed out or its context was lost); 0 when all succeeded.

`stream` prints a stream of items as they arrive: an ARG
written `@channel` is replaced by a channel (a Sender there: `channel.send(x)`,
`channel.open()`) whose items are printed; without one, the function's returned generator or
iterator is streamed item by item. Each item prints as a line (a str as itself, anything else
as JSON; --json: JSON lines; --raw: bytes items written to stdout unchanged). Ctrl-C or a
closed stdout (`| head -3`) closes the channel: the remote producer sees it, nothing is left
running.

`run` starts CMD on the target (looked up on its PATH; `-- sh -c '...'` for a shell line) with
stdin, stdout and stderr streamed both ways, binary-safe, and exits with its status like ssh:
the program's code, 128 + N when signal N killed it, 255 when the connection failed. Ctrl-C
sends SIGINT to the program (twice: SIGKILL).

`run FROM --ssh-to TO` runs CMD on FROM with every ssh it starts (rsync, scp, sftp, git,
or `$ECONTEXT_SSH` in a script) reaching TO over the connections already up: the seed's
fakessh. Nothing is written on FROM (the fake ssh is an executable memfd). Chains that share
a prefix share its connections.

`rsync`, `scp`, `sftp` and `git` run the tool here with this binary as its ssh program: every
HOST:path in the arguments reaches TARGET, whatever HOST says, even through a chain that asks
for passwords or needs a tty (sudo with requiretty). Only your user can use the way back. The
tool's exit status is returned.

`shell` opens the account's login shell on a pty at the end of the chain (e.g.
ssh:bastion/sudo:app/ssh:billing0): this terminal goes to raw mode (restored on exit), its
size and size changes follow, ^C and ^Z act there, and the shell's exit status is returned.

`put` copies LOCAL (`-`: stdin) to REMOTE on the target and `get` REMOTE to LOCAL (`-`:
stdout), streamed, atomic (a temporary in the destination directory renamed over it once
complete; on any failure the old file is intact and nothing is left) and verified (sha256 both
ends). A REMOTE ending in `/` (or a LOCAL directory for get) takes the source's name. FILE
OPTIONS: --mode 0640, --owner USER, --group GROUP, --preserve (times; get: mode and mtime),
--mkdirs, --skip-unchanged (compare sha256, send nothing when equal), --no-overwrite,
--no-fsync, --no-verify, --follow-symlinks (else a symlink destination is refused). `..`
components and non-regular destinations (/dev/null) are refused. Exit status 1 for a file
error (its kind and path on stderr), 3 when the connection failed. On a terminal a progress
line shows bytes, rate and ETA. With -t (many targets, as for call) put sends LOCAL to every
target as one stream, each byte over each link once (a bastion or --relay in front of many
targets copies it for them; stdin is read once), and get writes LOCAL_DIR/<target>/NAME for each; the result is the gathered table (or
NDJSON with --json) and the exit status the OR of 1 (a transfer failed), 4 (unreachable), 8
(lost).

TARGET: one hop, or a chain of hops joined with `/`, each started from the previous one
(e.g. ssh:jump-box/sudo:app/ssh:billing0). A hop is one of:
    local                  python3 on this machine (from PATH)
    local:/path/to/python  that interpreter
    ssh:[USER@]HOST[:PORT] over the system ssh client (your ssh config applies)
    sudo:USER              sudo -u USER on this machine
    su:USER                su USER on this machine
    doas:USER              doas -u USER on this machine
    docker:[USER@]NAME     docker exec -i into a running container (podman:NAME likewise)
    docker-run:IMAGE       a throwaway container, docker run --rm -i (podman-run:IMAGE)
    lxc:NAME  incus:NAME  lxd:NAME     lxc-attach / incus exec / lxc exec
    nspawn:DIR             systemd-nspawn --pipe on a directory tree (a new container)
    chroot:DIR             chroot DIR
    kubectl:POD            kubectl exec -i (options namespace=, container=, context=)
    buildah:NAME  jail:NAME            buildah run / jexec
    setns:PID  setns:docker:NAME  setns:podman:NAME  setns:lxc:NAME
                           enter a running process's namespaces (setns(2), no nsenter)
    custom:'PREFIX'        PREFIX followed by the interpreter (custom:'systemd-run --pipe
                           --wait'); custom:NAME from ~/.config/econtext/methods
A container hop takes options after its name: docker:web,user=app,arg=-e,arg=TZ=UTC
(user=, arg= for the runtime, repeatable; program= another client binary). See
docs/methods.md for every method's argv, options and failures.

FUNCTION is a dotted module.function, e.g. os.getpid, os.path.join, platform.node.
Each ARG is a JSON literal when it parses as one (42, 1.5, true, null, \"text\", [1, 2],
{\"k\": 1}) and a plain string otherwise.

OPTIONS (after `call`):
    -t, --target TARGET|@FILE   one more target (repeatable; ranges like ssh:web[01-20])
    --forks N         connections coming up at once (many targets)
    --relay TARGET    start the targets' first hops from this context (repeatable)
    --kw NAME=VALUE   keyword argument (VALUE as for ARG); repeatable
    -m, --module-path DIR    serve the modules and packages in DIR to the context (repeatable):
                      FUNCTION may live there, and everything it imports from there follows
    --file SCRIPT.py  serve one script as module SCRIPT (repeatable); its
                      `if __name__ == '__main__':` block does not run remotely
    --timeout SECS    fail when the call has not returned after SECS (fractions allowed)
    --connect-timeout SECS   fail when the context is not up after SECS (default 30)
    --python PATH     the interpreter on the target (default: python3, else python)
    -i, --identity [HOP=]FILE  ssh private key, for hop number HOP or every ssh hop
    -p, --port PORT   ssh port
    -o, --ssh-option OPT     passed to ssh as `-o OPT` (repeatable), e.g. -o ProxyJump=gw
    -F, --ssh-config FILE    read FILE instead of ~/.ssh/config
    --host-key POLICY        enforce (the key must be in known_hosts), accept-new, or
                      ignore. Default: none given to ssh, so your ssh config decides
                      (StrictHostKeyChecking, UserKnownHostsFile); where it is silent, ssh
                      refuses an unknown key
    --known-hosts FILE       use FILE instead of ~/.ssh/known_hosts
    --password-env [HOP=]VAR read a password from environment variable VAR, for hop
                      number HOP (1 = first) or for every hop
    --password-fd [HOP=]FD   read a password from file descriptor FD (one line)
                      Without either, a hop that asks for a password (any hop of the
                      chain) is answered from the terminal, with a prompt naming the hop and
                      the account. Passwords are never accepted on the command line.
    --python PATH applies to the last hop; ssh options to every ssh hop.
    --json            print the result as JSON (bytes, tuples, big ints: see README)
    -v                also show debug records from the context
    -q                hide forwarded log records and output lines

EXAMPLES:
    econtext call local platform.python_version
    econtext call local os.system 'hostname; uptime'
    econtext call local:/usr/bin/python2.7 os.path.join /tmp x
    econtext call local --json os.uname
    econtext call local time.sleep 10 --timeout 1.5
    econtext call ssh:root@db1 os.system 'df -h; uptime'
    ECONTEXT_PW=... econtext call sudo:postgres --password-env ECONTEXT_PW pwd.getpwuid 0
    econtext call ssh:jump-box/sudo:app/ssh:billing0 --password-env 2=APP_PW \\
        os.system './run-nightly-billing.py'
    econtext call local -m ./lib myapp.tasks.install --kw version=2
    econtext call local --file install_app.py install_app.install
    econtext stream ssh:web1 -m lib logs.tail_log_file @channel /var/log/syslog
    econtext stream local -m lib mytasks.progress_events --json
    econtext stream local --raw -m lib dumps.tar_of /etc > etc.tar
    econtext call -t 'ssh:web[01-20]' -t @more-hosts.txt --json os.uname
    econtext call -t 'ssh:app[001-400]' --relay ssh:jump1 --relay ssh:jump2 os.system 'uptime'
    econtext call docker:web platform.node
    econtext call ssh:host1/sudo:root/docker:app@web os.getuid
    econtext call setns:docker:web --python /usr/local/bin/python3 os.listdir /
    econtext call 'nspawn:/srv/rootfs,arg=--read-only' platform.freedesktop_os_release
    econtext run ssh:db1 -- df -h
    econtext put ssh:web1/sudo:root app.conf /etc/app/ --mode 0640 --owner app
    econtext get ssh:db1 /var/log/syslog ./logs/
    tar -C site -c . | econtext run ssh:web1/sudo:www -- tar -C /srv/site -x
    econtext rsync ssh:bastion/sudo:app -- -a --delete site/ app:/srv/site/
    econtext scp ssh:db1 -- db1:/var/backups/latest.dump .
    econtext sftp ssh:db1 -- -b batch.txt
    econtext git ssh:bastion/ssh:git1 -- clone git1:/srv/repo.git
    econtext run ssh:bastion/ssh:files --ssh-to ssh:bastion/ssh:web/sudo:webapp \\
        -- rsync -a appdata/ appserver:appdata/

EXIT STATUS:
    0 success; 1 the function raised (type, message and traceback on stderr);
    2 usage error; 3 connection or bootstrap failure; 4 timeout or context lost mid-call.
    Many targets (-t): the OR of 1 some raised, 4 some unreachable, 8 some timed out or
    lost; 2 usage error; 130 Ctrl-C.
";

/// What `econtext --version` prints.
pub fn version() -> String {
    format!("econtext {}\n", env!("CARGO_PKG_VERSION"))
}

/// Every option `call` takes (for suggestions on a typo).
const CALL_FLAGS: &[&str] = &[
    "--help",
    "--target",
    "--relay",
    "--forks",
    "--json",
    "--module-path",
    "--file",
    "--python",
    "--identity",
    "--port",
    "--ssh-option",
    "--ssh-config",
    "--host-key",
    "--known-hosts",
    "--password-env",
    "--password-fd",
    "--timeout",
    "--connect-timeout",
    "--kw",
    "--mode",
    "--owner",
    "--group",
    "--preserve",
    "--no-verify",
    "--mkdirs",
    "--skip-unchanged",
    "--no-overwrite",
    "--no-fsync",
    "--follow-symlinks",
];

/// Edit distance between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The valid word nearest to `given`, when one is near enough to be a typo.
fn nearest<'a>(given: &str, valid: &[&'a str]) -> Option<&'a str> {
    let given = given.split('=').next().unwrap_or(given);
    valid
        .iter()
        .map(|v| (distance(given, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4) || v.starts_with(given) && given.len() > 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// `unknown option X` with the nearest valid one, if any.
fn unknown(what: &str, given: &str, valid: &[&str], help: &str) -> String {
    match nearest(given, valid) {
        Some(v) => format!("unknown {what} {given:?}: did you mean {v}? (see {help})"),
        None => format!("unknown {what} {given:?}: see {help}"),
    }
}

/// Help for `call`.
pub const CALL_HELP: &str = HELP;

/// A parsed `call` command.
#[derive(Debug, Clone, PartialEq)]
pub struct CallCmd {
    /// Where to run.
    pub target: String,
    /// `module.function`.
    pub function: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Vec<(String, Value)>,
    /// Call timeout.
    pub timeout: Option<Duration>,
    /// Connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Print JSON.
    pub json: bool,
    /// Forwarding verbosity: -1 quiet, 0 normal, 1 debug.
    pub verbosity: i32,
    /// Directories to serve modules from.
    pub module_path: Vec<std::path::PathBuf>,
    /// Scripts to serve as modules.
    pub files: Vec<std::path::PathBuf>,
    /// Options for the hop's method.
    pub hop: HopOptions,
    /// Which subcommand.
    pub mode: Mode,
    /// `stream --raw`: write bytes items to stdout unchanged.
    pub raw: bool,
    /// `run`, `rsync`...: the program (or the tool's) arguments.
    pub argv: Vec<String>,
    /// `run --ssh-to TO`: where the program's ssh invocations go.
    pub ssh_to: Option<String>,
    /// `put` / `get`: how the file moves.
    pub put: crate::PutOptions,
    /// `-t` (many targets): every target chain, expanded (`@FILE`, ranges).
    pub targets: Vec<String>,
    /// `--relay TARGET`: contexts that start the targets' first hops.
    pub relays: Vec<String>,
    /// `--forks N`: connections coming up at once.
    pub forks: Option<usize>,
}

/// The subcommand of a [`CallCmd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `call`: print one result.
    Call,
    /// `stream`: print a stream of items.
    Stream,
    /// `run`: a program with streamed stdio (`argv`).
    Run,
    /// `shell`: an interactive login shell on a pty.
    Shell,
    /// `rsync`, `scp`, `sftp`, `git`: a local tool with econtext as its ssh.
    Tool(Tool),
    /// `put TARGET LOCAL REMOTE`.
    Put,
    /// `get TARGET REMOTE LOCAL`.
    Get,
}

/// Options of the connection method, from the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HopOptions {
    /// Remote interpreter.
    pub python: Option<String>,
    /// ssh identity files: (hop number or every ssh hop, file).
    pub identity: Vec<(Option<usize>, String)>,
    /// ssh port.
    pub port: Option<u16>,
    /// ssh -o options.
    pub ssh_options: Vec<String>,
    /// Host key policy.
    pub host_key: Option<crate::HostKeyPolicy>,
    /// known_hosts file.
    pub known_hosts: Option<String>,
    /// ssh config file (`ssh -F`).
    pub ssh_config: Option<String>,
    /// Environment variables holding passwords: (hop number or every hop, variable).
    pub password_env: Vec<(Option<usize>, String)>,
    /// File descriptors to read passwords from: (hop number or every hop, fd).
    pub password_fd: Vec<(Option<usize>, i32)>,
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print this text and exit 0.
    Help(&'static str),
    /// Print the version and exit 0.
    Version,
    /// Run a call.
    Call(Box<CallCmd>),
}

/// An ARG: JSON when it parses, a string otherwise.
pub fn arg_value(s: &str) -> Value {
    json::parse(s).unwrap_or_else(|| Value::Str(s.to_string()))
}

fn secs(flag: &str, v: Option<String>) -> Result<Duration, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a number of seconds"))?;
    match crate::float::parse(&v) {
        Some(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{flag} {v:?}: expected a positive number of seconds"
        )),
    }
}

/// Parse argv (without the program name).
pub fn parse(args: Vec<String>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let mut verbosity = 0;
    let sub = loop {
        match it.next().as_deref() {
            None | Some("-h") | Some("--help") | Some("help") => return Ok(Command::Help(HELP)),
            Some("-V") | Some("--version") | Some("version") => return Ok(Command::Version),
            Some("-v") => verbosity = 1,
            Some("-q") => verbosity = -1,
            Some("call") => break Mode::Call,
            Some("stream") => break Mode::Stream,
            Some("run") => break Mode::Run,
            Some("shell") => break Mode::Shell,
            Some("put") => break Mode::Put,
            Some("get") => break Mode::Get,
            Some(t) if Tool::from_name(t).is_some() => {
                break Mode::Tool(Tool::from_name(t).unwrap_or(Tool::Rsync))
            }
            Some(other) if other.starts_with('-') => {
                return Err(unknown(
                    "option",
                    other,
                    &["--help", "--version", "-v", "-q"],
                    "`econtext --help`",
                ))
            }
            Some(other) => {
                return Err(unknown(
                    "command",
                    other,
                    &[
                        "call", "stream", "run", "shell", "put", "get", "rsync", "scp", "sftp",
                        "git", "help", "version",
                    ],
                    "`econtext --help`",
                ))
            }
        }
    };
    let mut pos = Vec::new();
    let mut c = CallCmd {
        target: String::new(),
        function: String::new(),
        args: vec![],
        kwargs: vec![],
        timeout: None,
        connect_timeout: None,
        json: false,
        verbosity,
        module_path: vec![],
        files: vec![],
        hop: HopOptions::default(),
        mode: sub,
        raw: false,
        argv: vec![],
        ssh_to: None,
        put: crate::PutOptions::default(),
        targets: vec![],
        relays: vec![],
        forks: None,
    };
    let mut rest_are_args = false;
    while let Some(a) = it.next() {
        if rest_are_args {
            pos.push(a);
            continue;
        }
        match a.as_str() {
            "-h" | "--help" => return Ok(Command::Help(CALL_HELP)),
            "--" => rest_are_args = true,
            "--json" => c.json = true,
            "-t" | "--target" => {
                let v = it.next().ok_or("--target needs a TARGET, @FILE or a range like ssh:web[01-20]")?;
                let got = targets::expand(&v)?;
                if got.is_empty() {
                    return Err(format!("-t {v}: no targets in it"));
                }
                c.targets.extend(got);
            }
            "--relay" => c.relays.push(it.next().ok_or("--relay needs a TARGET (a context that starts the targets' first hops)")?),
            "--forks" => {
                let v = it.next().ok_or("--forks needs a number of connections")?;
                c.forks = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("--forks {v:?}: expected a positive number"))?);
            }
            "--raw" if c.mode == Mode::Stream => c.raw = true,
            "--ssh-to" if c.mode == Mode::Run => {
                c.ssh_to = Some(it.next().ok_or("--ssh-to needs a TARGET (where ssh goes)")?)
            }
            "--mode" if matches!(c.mode, Mode::Put) => {
                let v = it.next().ok_or("--mode needs octal permission bits, e.g. 0640")?;
                c.put.mode = Some(
                    u32::from_str_radix(v.trim_start_matches("0o"), 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("--mode {v:?}: expected octal bits, e.g. 0640"))?,
                );
            }
            "--owner" if c.mode == Mode::Put => {
                c.put.owner = Some(it.next().ok_or("--owner needs a user name or uid")?)
            }
            "--group" if c.mode == Mode::Put => {
                c.put.group = Some(it.next().ok_or("--group needs a group name or gid")?)
            }
            "--preserve" if matches!(c.mode, Mode::Put | Mode::Get) => {
                c.put.preserve_times = true
            }
            "--no-verify" if matches!(c.mode, Mode::Put | Mode::Get) => c.put.verify = false,
            "--mkdirs" if c.mode == Mode::Put => c.put.mkdirs = true,
            "--skip-unchanged" if c.mode == Mode::Put => c.put.skip_unchanged = true,
            "--no-overwrite" if c.mode == Mode::Put => c.put.overwrite = false,
            "--no-fsync" if c.mode == Mode::Put => c.put.fsync = false,
            "--follow-symlinks" if matches!(c.mode, Mode::Put | Mode::Get) => {
                c.put.follow_symlinks = true
            }
            "-v" => c.verbosity = 1,
            "-q" => c.verbosity = -1,
            "-m" | "--module-path" => c
                .module_path
                .push(it.next().ok_or("--module-path needs a directory")?.into()),
            "--file" => c
                .files
                .push(it.next().ok_or("--file needs a SCRIPT.py")?.into()),
            "--python" => c.hop.python = Some(it.next().ok_or("--python needs a path")?),
            "-i" | "--identity" => {
                let v = it.next().ok_or("--identity needs [HOP=]FILE")?;
                c.hop.identity.push(per_hop(&v)?);
            }
            "-p" | "--port" => {
                let v = it.next().ok_or("--port needs a number")?;
                c.hop.port = Some(v.parse().map_err(|_| format!("--port {v:?}: expected 1-65535"))?);
            }
            "-o" | "--ssh-option" => c.hop.ssh_options.push(it.next().ok_or("--ssh-option needs OPTION=VALUE")?),
            "--host-key" => {
                let v = it.next().ok_or("--host-key needs enforce, accept-new or ignore")?;
                c.hop.host_key = Some(match v.as_str() {
                    "enforce" => crate::HostKeyPolicy::Enforce,
                    "accept-new" => crate::HostKeyPolicy::AcceptNew,
                    "ignore" => crate::HostKeyPolicy::Ignore,
                    _ => return Err(format!("--host-key {v:?}: expected enforce, accept-new or ignore")),
                });
            }
            "-F" | "--ssh-config" => c.hop.ssh_config = Some(it.next().ok_or("--ssh-config needs a file")?),
            "--known-hosts" => c.hop.known_hosts = Some(it.next().ok_or("--known-hosts needs a file")?),
            "--password-env" => {
                let v = it.next().ok_or("--password-env needs [HOP=]VARIABLE")?;
                c.hop.password_env.push(per_hop(&v)?);
            }
            "--password-fd" => {
                let v = it.next().ok_or("--password-fd needs [HOP=]FD")?;
                let (hop, fd) = per_hop(&v)?;
                c.hop.password_fd.push((hop, fd.parse().map_err(|_| format!("--password-fd {v:?}: expected a number"))?));
            }
            "--password" => {
                return Err("passwords are not accepted on the command line (they would show in ps): use --password-env VAR or --password-fd FD, or answer the prompt".into())
            }
            "--timeout" => c.timeout = Some(secs("--timeout", it.next())?),
            "--connect-timeout" => c.connect_timeout = Some(secs("--connect-timeout", it.next())?),
            "--kw" => {
                let kv = it.next().ok_or("--kw needs NAME=VALUE")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--kw {kv:?}: expected NAME=VALUE"))?;
                if k.is_empty() {
                    return Err(format!("--kw {kv:?}: the NAME is empty"));
                }
                c.kwargs.push((k.to_string(), arg_value(v)));
            }
            s if s.starts_with("--") => {
                return Err(unknown("option", s, CALL_FLAGS, "`econtext call --help`"))
            }
            _ => pos.push(a),
        }
    }
    let mut pos = pos.into_iter();
    // The same target twice is one target (one connection, one result, one directory).
    let mut seen = std::collections::BTreeSet::new();
    c.targets.retain(|t| seen.insert(t.clone()));
    // Many targets (-t): no positional TARGET; the rest is parsed as for one.
    let many = !c.targets.is_empty() || !c.relays.is_empty() || c.forks.is_some();
    if many {
        if !matches!(c.mode, Mode::Call | Mode::Put | Mode::Get) {
            return Err("-t/--target, --relay and --forks are options of `econtext call`, `put` and `get` (many targets)".into());
        }
        if c.targets.is_empty() {
            return Err("--relay and --forks need targets: -t TARGET (repeatable), -t @FILE or -t 'ssh:web[01-20]'".into());
        }
    } else {
        c.target = pos
            .next()
            .ok_or("missing TARGET (e.g. local): see `econtext call --help`")?;
    }
    if c.mode == Mode::Shell {
        if let Some(extra) = pos.next() {
            return Err(format!(
                "econtext shell takes only a TARGET, not {extra:?} (for a command: econtext run TARGET -- CMD)"
            ));
        }
        return Ok(Command::Call(Box::new(c)));
    }
    if let Mode::Tool(t) = c.mode {
        c.argv = pos.collect();
        if c.argv.is_empty() && t != Tool::Sftp {
            return Err(format!(
                "missing {0} arguments: econtext {0} TARGET [OPTIONS] -- [{1} ARG...] (see `econtext --help`)",
                t.name(),
                t.name().to_uppercase()
            ));
        }
        return Ok(Command::Call(Box::new(c)));
    }
    if matches!(c.mode, Mode::Put | Mode::Get) {
        c.argv = pos.collect();
        if c.argv.len() != 2 {
            return Err(match (c.mode == Mode::Put, many) {
                (true, false) => "usage: econtext put TARGET LOCAL REMOTE [--mode M] [--owner U] [--group G] [--preserve] [--mkdirs] [--skip-unchanged] (see `econtext --help`)",
                (false, false) => "usage: econtext get TARGET REMOTE LOCAL [--preserve] (see `econtext --help`)",
                (true, true) => "usage: econtext put -t TARGET [-t TARGET]... LOCAL REMOTE [FILE OPTIONS]",
                (false, true) => "usage: econtext get -t TARGET [-t TARGET]... REMOTE LOCAL_DIR (each target's file goes to LOCAL_DIR/<target>/)",
            }
            .into());
        }
        // A put reads stdin once for all targets; a get cannot write them all to stdout.
        if many && c.mode == Mode::Get && c.argv[1] == "-" {
            return Err("with many targets, LOCAL_DIR cannot be `-` (stdout): give a directory (each target's file goes to LOCAL_DIR/<target>/)".into());
        }
        return Ok(Command::Call(Box::new(c)));
    }
    if c.mode == Mode::Run {
        c.argv = pos.collect();
        if c.argv.is_empty() {
            return Err(
                "missing CMD: econtext run TARGET [OPTIONS] -- CMD [ARG...] (see `econtext --help`)"
                    .into(),
            );
        }
        return Ok(Command::Call(Box::new(c)));
    }
    c.function = pos
        .next()
        .ok_or("missing FUNCTION (e.g. platform.node): see `econtext call --help`")?;
    c.args = pos.map(|a| arg_value(&a)).collect();
    Ok(Command::Call(Box::new(c)))
}

/// `[HOP=]VALUE`, HOP a 1-based hop number.
fn per_hop(v: &str) -> Result<(Option<usize>, String), String> {
    match v.split_once('=') {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            let n: usize = n.parse().map_err(|_| format!("{v:?}: bad hop number"))?;
            if n == 0 {
                return Err(format!("{v:?}: hops are numbered from 1"));
            }
            Ok((Some(n), rest.to_string()))
        }
        _ => Ok((None, v.to_string())),
    }
}

/// Read the password of hop `n` (1-based) from where the options say, if anywhere.
pub fn password(hop: &HopOptions, n: usize) -> Result<Option<crate::Password>, String> {
    let pick = |h: &Option<usize>| h.is_none_or(|h| h == n);
    if let Some((_, var)) = hop.password_env.iter().rev().find(|(h, _)| pick(h)) {
        let v = std::env::var(var)
            .map_err(|_| format!("--password-env {var}: the variable is not set"))?;
        return Ok(Some(crate::Password::new(v)));
    }
    if let Some((_, fd)) = hop.password_fd.iter().rev().find(|(h, _)| pick(h)) {
        let line = crate::sys::tty::dup_named_fd(*fd)
            .and_then(crate::sys::tty::read_fd_line)
            .map_err(|e| format!("--password-fd {fd}: {e}"))?;
        return Ok(Some(crate::Password::new(line)));
    }
    Ok(None)
}

/// Method names that start a hop in a TARGET chain (followed by `:`).
pub const METHODS: &[&str] = &[
    "local",
    "ssh",
    "sudo",
    "su",
    "doas",
    "docker",
    "podman",
    "docker-run",
    "podman-run",
    "lxc",
    "incus",
    "lxd",
    "nspawn",
    "chroot",
    "kubectl",
    "buildah",
    "jail",
    "setns",
    "custom",
];

/// Split a TARGET chain (`ssh:jump/sudo:app/ssh:billing0`) into hops. A `/` starts a new hop
/// only before a method name, so `local:/usr/local/bin/python3` and `nspawn:/srv/rootfs`
/// stay whole (a bare `local` segment is a hop only at the end or before another hop).
pub fn hops(target: &str) -> Vec<String> {
    let segs: Vec<&str> = target.split('/').collect();
    let named = |seg: &str| {
        seg.split_once(':')
            .is_some_and(|(m, _)| METHODS.contains(&m))
    };
    let mut out: Vec<String> = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let bare_local =
            *seg == "local" && segs.get(i + 1).is_none_or(|n| named(n) || *n == "local");
        let starts_hop = named(seg) || bare_local;
        match out.last_mut() {
            Some(last) if !starts_hop => {
                last.push('/');
                last.push_str(seg);
            }
            _ => out.push(seg.to_string()),
        }
    }
    out
}

/// `[USER@]NAME[,key=value...]` of a container hop: (user, name, options).
fn container_spec(rest: &str) -> (Option<String>, String, Vec<(String, String)>) {
    let mut parts = rest.split(',');
    let head = parts.next().unwrap_or("");
    let (user, name) = match head.split_once('@') {
        Some((u, n)) => (Some(u.to_string()), n.to_string()),
        None => (None, head.to_string()),
    };
    let opts = parts
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect();
    (user, name, opts)
}

/// A container or setns hop from `METHOD:[USER@]NAME[,key=value...]`.
fn container_method(
    kind: &str,
    rest: &str,
    t: Duration,
    hop: &HopOptions,
) -> Result<Box<dyn Method>, String> {
    let target = format!("{kind}:{rest}");
    let (mut user, name, opts) = container_spec(rest);
    if name.is_empty() {
        return Err(format!(
            "TARGET {target:?}: give the container name, e.g. {kind}:web"
        ));
    }
    let mut args = Vec::new();
    let (mut program, mut ns, mut container, mut context) = (None, None, None, None);
    let allowed: &[&str] = match kind {
        "setns" => &["user"],
        "kubectl" => &[
            "user",
            "arg",
            "program",
            "namespace",
            "container",
            "context",
        ],
        _ => &["user", "arg", "program"],
    };
    for (k, v) in opts {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "TARGET {target:?}: unknown option {k:?} (options of {kind}: {})",
                allowed.join(", ")
            ));
        }
        match k.as_str() {
            "user" => user = Some(v),
            "arg" => args.push(v),
            "program" => program = Some(v),
            "namespace" => ns = Some(v),
            "container" => container = Some(v),
            _ => context = Some(v),
        }
    }
    if kind == "setns" {
        let leader = crate::Leader::parse(&name).ok_or_else(|| {
            format!("TARGET {target:?}: use setns:PID, setns:docker:NAME, setns:podman:NAME or setns:lxc:NAME")
        })?;
        let mut m = crate::Setns::new(leader).connect_timeout(t);
        if let Some(u) = user {
            m = m.user(u);
        }
        if let Some(p) = &hop.python {
            m = m.python(p);
        }
        return Ok(Box::new(m));
    }
    let runtime =
        crate::Runtime::from_method(kind).ok_or_else(|| format!("unknown method {kind}"))?;
    let mut m = crate::Container::new(runtime, name).connect_timeout(t);
    for a in args {
        m = m.arg(a);
    }
    if let Some(u) = user {
        m = m.user(u);
    }
    if let Some(p) = program {
        m = m.program(p);
    }
    if let Some(n) = ns {
        m = m.namespace(n);
    }
    if let Some(c) = container {
        m = m.container(c);
    }
    if let Some(c) = context {
        m = m.kube_context(c);
    }
    if let Some(p) = &hop.python {
        m = m.python(p);
    }
    Ok(Box::new(m))
}

/// Resolve a TARGET chain into one method per hop.
pub fn methods(
    target: &str,
    connect_timeout: Option<Duration>,
    hop: &HopOptions,
) -> Result<Vec<Box<dyn Method>>, String> {
    let hs = hops(target);
    let last = hs.len();
    hs.iter()
        .enumerate()
        .map(|(i, h)| {
            let mut o = hop.clone();
            if i + 1 != last {
                o.python = None;
            }
            o.identity.retain(|(h, _)| h.is_none_or(|h| h == i + 1));
            method(h, connect_timeout, &o, password(hop, i + 1)?)
        })
        .collect()
}

/// Resolve a TARGET into a method.
pub fn method(
    target: &str,
    connect_timeout: Option<Duration>,
    hop: &HopOptions,
    pw: Option<crate::Password>,
) -> Result<Box<dyn Method>, String> {
    let t = connect_timeout.unwrap_or(crate::connect::DEFAULT_CONNECT_TIMEOUT);
    let (kind, rest) = target.split_once(':').unwrap_or((target, ""));
    let m: Box<dyn Method> = match kind {
        "local" => {
            let mut m = Local::new().connect_timeout(t);
            if let Some(p) = hop.python.as_deref().or((!rest.is_empty()).then_some(rest)) {
                m = m.python(p);
            }
            Box::new(m)
        }
        "ssh" if !rest.is_empty() => {
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, rest),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (
                    h,
                    Some(
                        p.parse::<u16>()
                            .map_err(|_| format!("TARGET {target:?}: bad port {p:?}"))?,
                    ),
                ),
                _ => (hostport, None),
            };
            let mut m = crate::Ssh::new(host).connect_timeout(t);
            if let Some(u) = user {
                m = m.user(u);
            }
            if let Some(p) = port.or(hop.port) {
                m = m.port(p);
            }
            if let Some((_, i)) = hop.identity.last() {
                m = m.identity(i);
            }
            for o in &hop.ssh_options {
                m = m.option(o);
            }
            if let Some(k) = hop.host_key {
                m = m.host_key(k);
            }
            if let Some(k) = &hop.known_hosts {
                m = m.known_hosts(k);
            }
            if let Some(f) = &hop.ssh_config {
                m = m.config_file(f);
            }
            if let Some(p) = &hop.python {
                m = m.python(p);
            }
            match pw {
                Some(p) => m = m.password(p),
                // A person at a terminal can answer ssh's own password prompt.
                None => m = m.prompt_for_password(crate::sys::tty::available()),
            }
            Box::new(m)
        }
        "sudo" | "su" | "doas" if !rest.is_empty() => {
            let mut m = match kind {
                "sudo" => crate::BecomeUser::sudo(rest),
                "su" => crate::BecomeUser::su(rest),
                _ => crate::BecomeUser::doas(rest),
            }
            .connect_timeout(t);
            if let Some(p) = &hop.python {
                m = m.python(p);
            }
            if let Some(p) = pw {
                m = m.password(p);
            }
            Box::new(m)
        }
        "custom" => {
            let mut m = crate::Custom::parse(rest)
                .map_err(|e| e.to_string())?
                .connect_timeout(t);
            if let Some(p) = &hop.python {
                m = m.python(p);
            }
            Box::new(m)
        }
        k if METHODS.contains(&k) && !matches!(k, "local" | "ssh" | "sudo" | "su" | "doas") => {
            container_method(k, rest, t, hop)?
        }
        _ => {
            let hint = nearest(kind, METHODS)
                .map(|m| format!(" (did you mean {m}?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown TARGET {target:?}{hint}: use local, local:/path/to/python, ssh:[user@]host[:port], sudo:user, su:user, doas:user, docker:NAME, podman:NAME, docker-run:IMAGE, podman-run:IMAGE, lxc:NAME, incus:NAME, lxd:NAME, nspawn:DIR, chroot:DIR, kubectl:POD, buildah:NAME, jail:NAME, setns:PID|docker:NAME|podman:NAME|lxc:NAME or custom:'PREFIX' (see `econtext --help`)"
            ));
        }
    };
    Ok(m)
}

/// The whole program: parse `std::env::args`, run, return the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Started by a tool as its ssh program (econtext rsync ..., fakessh): be the fake ssh.
    if std::env::var_os(crate::fakessh::ENV_SOCKET).is_some() {
        return crate::fakessh::client_main(args);
    }
    match parse(args) {
        Ok(cmd) => run(cmd),
        Err(e) => {
            say!("econtext: {e}");
            2
        }
    }
}

/// Connect a chain of hops, reusing the contexts of `up` (hop prefix, context) for the prefix
/// it shares with chains connected before: `ssh:b/ssh:f` and `ssh:b/ssh:w` share `ssh:b`.
fn connect_chain(
    router: &Router,
    hops: &[String],
    chain: Vec<Box<dyn Method>>,
    up: &mut Vec<(String, crate::Context)>,
) -> Result<crate::Context, Error> {
    let mut ctx: Option<crate::Context> = None;
    for (i, m) in chain.iter().enumerate() {
        let prefix = hops[..=i].join("/");
        if let Some((_, c)) = up.iter().find(|(p, _)| *p == prefix) {
            ctx = Some(c.clone());
            continue;
        }
        let next = match &ctx {
            None => router.connect(m.as_ref())?,
            Some(via) => router.connect_via(m.as_ref(), via)?,
        };
        up.push((prefix, next.clone()));
        ctx = Some(next);
    }
    ctx.ok_or_else(|| Error::Usage("empty TARGET".into()))
}

/// Write to stdout. A closed stdout (EPIPE) is reported to the caller, never a panic.
pub(crate) fn out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

/// Run a parsed command; returns the exit status.
pub fn run(cmd: Command) -> i32 {
    let c = match cmd {
        Command::Help(t) => {
            let _ = out(t);
            return 0;
        }
        Command::Version => {
            let _ = out(&version());
            return 0;
        }
        Command::Call(c) => *c,
    };
    let fleet = !c.targets.is_empty();
    let chain = if fleet {
        Vec::new()
    } else {
        match methods(&c.target, c.connect_timeout, &c.hop) {
            Ok(m) => m,
            Err(e) => {
                say!("econtext: {e}");
                return 2;
            }
        }
    };
    let bar = if fleet {
        progress::Bar::on_terminal()
    } else {
        None
    };
    // While a person types, the progress bar (many targets) stays off the screen.
    let asking = bar.clone();
    let ask: crate::connect::watch::AskPassword =
        std::sync::Arc::new(move |r: &crate::PasswordRequest| {
            let _quiet = asking.as_ref().map(|b| b.pause());
            crate::sys::tty::ask_password(&format!("econtext: {}: {} ", r.hop, r.prompt))
                .map(crate::Password::new)
        });
    let mut opts = RouterOptions {
        ask_password: Some(ask),
        module_path: c.module_path.clone(),
        module_files: c.files.clone(),
        ..Default::default()
    };
    match c.verbosity {
        1 => opts.log_level = 10,
        -1 => {
            opts.log_level = 100;
            opts.sink = std::sync::Arc::new(|_: &log::LogEvent| {});
        }
        _ => {}
    }
    if let (Some(b), false) = (&bar, c.verbosity == -1) {
        opts.sink = b.sink();
    }
    let router = match Router::with_options(opts) {
        Ok(r) => r,
        Err(e @ Error::Usage(_)) => {
            say!("econtext: {e}");
            return 2;
        }
        Err(e) => {
            say!("econtext: {e}");
            return 3;
        }
    };
    if fleet {
        return fleet::run(router, c, bar);
    }
    // `run`, `shell` and the tools report a connection failure as ssh does.
    let failed = match c.mode {
        Mode::Call | Mode::Stream => 3,
        _ => 255,
    };
    let mut up = Vec::new();
    let ctx = match connect_chain(&router, &hops(&c.target), chain, &mut up) {
        Ok(ctx) => ctx,
        Err(e) => {
            say!("econtext: {e}");
            return failed;
        }
    };
    let to = match &c.ssh_to {
        None => None,
        Some(t) => {
            let ms = match methods(t, c.connect_timeout, &c.hop) {
                Ok(m) => m,
                Err(e) => {
                    say!("econtext: --ssh-to: {e}");
                    return 2;
                }
            };
            match connect_chain(&router, &hops(t), ms, &mut up) {
                Ok(to) => Some(to),
                Err(e) => {
                    say!("econtext: --ssh-to {t}: {e}");
                    return failed;
                }
            }
        }
    };
    match c.mode {
        Mode::Stream => return stream::run(&ctx, c),
        Mode::Run => {
            let st = run::run(&ctx, to.as_ref(), c);
            if let Some(to) = to {
                let _ = to.shutdown();
            }
            return st;
        }
        Mode::Tool(t) => return fakessh::run(&ctx, t, c),
        Mode::Shell => return shell::run(&ctx, c),
        Mode::Put | Mode::Get => return files::run(&ctx, c),
        Mode::Call => {}
    }
    let mut b = match ctx.build(&c.function) {
        Ok(b) => b.args(c.args),
        Err(e) => {
            say!("econtext: {e}");
            return 2;
        }
    };
    for (k, v) in c.kwargs {
        b = b.kwarg(k, v);
    }
    if let Some(t) = c.timeout {
        b = b.timeout(t);
    }
    let status = match b.call() {
        Ok(v) => {
            let text = match (&v, c.json) {
                (Value::Str(s), false) => s.clone(),
                // Python 2's native str is bytes: show it as text when it is text.
                (Value::Bytes(b), false) if std::str::from_utf8(b).is_ok() => {
                    String::from_utf8_lossy(b).into_owned()
                }
                _ => json::to_json(&v),
            };
            // A closed stdout (`| head`, `| true`) is not an error of the call: end quietly.
            let _ = out(&format!("{text}\n"));
            0
        }
        Err(e @ Error::Remote(_)) => {
            say!("econtext: {e}");
            1
        }
        Err(e @ (Error::Timeout { .. } | Error::Disconnected { .. })) => {
            say!("econtext: {e}");
            ctx.kill();
            4
        }
        Err(e) => {
            say!("econtext: {e}");
            3
        }
    };
    if status == 0 || status == 1 {
        let _ = ctx.shutdown();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Command, String> {
        parse(a.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn hops_split_only_before_a_method() {
        // Regression: `/local` inside a path started a new hop.
        assert_eq!(
            hops("local:/usr/local/bin/python3"),
            ["local:/usr/local/bin/python3"]
        );
        assert_eq!(
            hops("ssh:h/nspawn:/srv/local/root/sudo:app"),
            ["ssh:h", "nspawn:/srv/local/root", "sudo:app"]
        );
        assert_eq!(hops("ssh:h/local"), ["ssh:h", "local"]);
        assert_eq!(
            hops("ssh:b/sudo:root/setns:docker:web"),
            ["ssh:b", "sudo:root", "setns:docker:web"]
        );
        assert_eq!(
            hops("custom:systemd-run --pipe /usr/bin/env/docker:x"),
            ["custom:systemd-run --pipe /usr/bin/env", "docker:x"]
        );
    }

    #[test]
    fn parses_a_call() {
        let Ok(Command::Call(c)) = p(&[
            "call",
            "local",
            "os.path.join",
            "/tmp",
            "42",
            "--kw",
            "x=[1]",
            "--timeout",
            "1.5",
            "--json",
        ]) else {
            panic!()
        };
        assert_eq!(c.args, vec![Value::from("/tmp"), Value::Int(42)]);
        assert_eq!(
            c.kwargs,
            vec![("x".into(), Value::List(vec![Value::Int(1)]))]
        );
        assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
        assert!(c.json);
    }

    #[test]
    fn usage_errors_say_what_to_fix() {
        assert!(p(&["call"]).unwrap_err().contains("TARGET"));
        assert!(p(&["call", "local"]).unwrap_err().contains("FUNCTION"));
        assert!(p(&["call", "local", "f", "--timeout", "x"])
            .unwrap_err()
            .contains("seconds"));
        assert!(p(&["frobnicate"]).unwrap_err().contains("unknown command"));
        assert!(method("ftp:x", None, &HopOptions::default(), None).is_err());
        assert_eq!(
            hops("ssh:a/sudo:b/local:/usr/bin/python3"),
            vec!["ssh:a", "sudo:b", "local:/usr/bin/python3"]
        );
        assert_eq!(per_hop("2=PW"), Ok((Some(2), "PW".to_string())));
        assert!(p(&["call", "local", "f", "--password", "x"])
            .unwrap_err()
            .contains("not accepted"));
        assert_eq!(p(&[]), Ok(Command::Help(HELP)));
    }
}
