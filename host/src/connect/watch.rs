//! Reading what ssh/sudo/su/doas print while a context comes up: answer password prompts
//! (matched on partial lines: no newline follows a prompt) and recognise failure messages.
//! Pure logic, fed bytes by the broker.

use std::fmt;
use std::sync::Arc;

/// A password. Its `Debug` and `Display` never show it; it travels only to the pty that asks.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(p: impl Into<String>) -> Password {
        Password(p.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Asks a person for a password. The CLI reads the controlling terminal; a library returns
/// `None` to fail the hop with `PasswordRequired`. Called off the broker thread: every other
/// connection keeps being served while a person types.
pub type AskPassword = Arc<dyn Fn(&PasswordRequest) -> Option<Password> + Send + Sync>;

/// A hop prompts for a password and none was given: what to ask a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    /// The hop's full name, e.g. `ssh:bastion/sudo:app`.
    pub hop: String,
    /// Its method: `ssh`, `sudo`, `su` or `doas`.
    pub kind: String,
    /// Whose password is wanted, e.g. `ectest on bastion` (empty when only the program knows).
    pub account: String,
    /// What to show a person, e.g. `[sudo] password for ectest on bastion, to become app:`;
    /// never the internal prompt the program was given.
    pub prompt: String,
}

/// Whose password a method's prompt asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// The program's own prompt says it (ssh: `user@host's password:`).
    AsPrompted,
    /// The account that runs the program (sudo, doas), to become `target`.
    Invoker {
        /// The account to become.
        target: String,
    },
    /// The target account itself (su).
    Target {
        /// The account to become.
        target: String,
    },
}

impl PasswordRequest {
    /// The request for hop `hop` of method `kind`, run by `user` on `host`, whose program
    /// printed `prompted`.
    pub fn new(
        hop: &str,
        kind: &str,
        whose: &Whose,
        user: &str,
        host: &str,
        prompted: &str,
    ) -> PasswordRequest {
        let (account, prompt) = match whose {
            Whose::AsPrompted => {
                let account = prompted
                    .to_ascii_lowercase()
                    .find("'s password")
                    .map(|i| prompted[..i].to_string())
                    .unwrap_or_default();
                let shown = crate::text::quote(prompted.as_bytes(), crate::text::QUOTE_MAX);
                (account, shown)
            }
            Whose::Invoker { target } => (
                format!("{user} on {host}"),
                format!("[{kind}] password for {user} on {host}, to become {target}:"),
            ),
            Whose::Target { target } => (
                format!("{target} on {host}"),
                format!("[{kind}] password for {target} on {host}:"),
            ),
        };
        PasswordRequest {
            hop: hop.to_string(),
            kind: kind.to_string(),
            account,
            prompt,
        }
    }
}

/// Why a connection failed, recognised from the connecting program's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u32)]
pub enum ConnectFailure {
    /// The host name does not resolve.
    UnknownHost = 0,
    /// Nothing listens on that port.
    ConnectionRefused = 1,
    /// The network did not answer in time.
    NetworkTimeout = 2,
    /// The server refused every key / method offered.
    AuthFailed = 3,
    /// The password was wrong (a second prompt, or the program said so).
    WrongPassword = 4,
    /// A password prompt appeared and no password was given.
    PasswordRequired = 5,
    /// The target account does not exist.
    UnknownUser = 6,
    /// sudoers / doas.conf does not allow it.
    NotAllowed = 7,
    /// The server's host key is not in known_hosts (policy `enforce`).
    HostKeyUnknown = 8,
    /// The server's host key differs from known_hosts: possible attack.
    HostKeyChanged = 9,
    /// No python interpreter on the target.
    NoPython = 10,
    /// sudo needs a terminal it could not get.
    TtyRequired = 11,
    /// There is no route to that network from here.
    Unreachable = 12,
    /// No container (or directory, or process) by that name on the hop.
    NoSuchContainer = 13,
    /// The container exists but is not running.
    ContainerNotRunning = 14,
    /// The image is not on the hop (and could not be pulled).
    ImageNotFound = 15,
    /// The hop's user may not use the runtime (the docker socket, root-only nspawn/chroot).
    PermissionDenied = 16,
    /// The method's program (docker, podman, kubectl...) is not installed on the hop.
    ProgramMissing = 17,
    /// The directory tree is in use by another container.
    Busy = 18,
    /// The server closed the connection before login: sshd's `MaxStartups` dropped it (too
    /// many logins at once), or a firewall or `sshd` limit (fleets retry this with backoff).
    ConnectionClosed = 19,
}

impl ConnectFailure {
    /// From its wire number (as a remote spawn reports it).
    pub fn from_u32(n: u32) -> Option<ConnectFailure> {
        Some(match n {
            0 => ConnectFailure::UnknownHost,
            1 => ConnectFailure::ConnectionRefused,
            2 => ConnectFailure::NetworkTimeout,
            3 => ConnectFailure::AuthFailed,
            4 => ConnectFailure::WrongPassword,
            5 => ConnectFailure::PasswordRequired,
            6 => ConnectFailure::UnknownUser,
            7 => ConnectFailure::NotAllowed,
            8 => ConnectFailure::HostKeyUnknown,
            9 => ConnectFailure::HostKeyChanged,
            10 => ConnectFailure::NoPython,
            11 => ConnectFailure::TtyRequired,
            12 => ConnectFailure::Unreachable,
            13 => ConnectFailure::NoSuchContainer,
            14 => ConnectFailure::ContainerNotRunning,
            15 => ConnectFailure::ImageNotFound,
            16 => ConnectFailure::PermissionDenied,
            17 => ConnectFailure::ProgramMissing,
            18 => ConnectFailure::Busy,
            19 => ConnectFailure::ConnectionClosed,
            _ => return None,
        })
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectFailure::UnknownHost => "unknown host: the name does not resolve (check the spelling or DNS)",
            ConnectFailure::ConnectionRefused => "connection refused: nothing listens there (check host and port)",
            ConnectFailure::NetworkTimeout => "network timeout: the host did not answer (check the address and firewalls)",
            ConnectFailure::AuthFailed => "authentication failed: the server refused the key (check the user and identity file)",
            ConnectFailure::WrongPassword => "wrong password",
            ConnectFailure::PasswordRequired => "a password is required: give one for this hop",
            ConnectFailure::UnknownUser => "the target user does not exist",
            ConnectFailure::NotAllowed => "not allowed: sudoers or doas.conf does not permit this",
            ConnectFailure::HostKeyUnknown => {
                "host key unknown: add it to known_hosts, or use the accept-new host key policy"
            }
            ConnectFailure::HostKeyChanged => {
                "host key CHANGED: the server's key differs from known_hosts (possible attack; fix known_hosts if expected)"
            }
            ConnectFailure::NoPython => "no python interpreter found on the target (give the interpreter path)",
            ConnectFailure::TtyRequired => "the program requires a terminal",
            ConnectFailure::Unreachable => {
                "unreachable: no route to that network from here (go through a host that can reach it)"
            }
            ConnectFailure::NoSuchContainer => {
                "no such container, directory or process on the hop (check the name: docker ps, podman ps, lxc-ls)"
            }
            ConnectFailure::ContainerNotRunning => "the container is not running (start it first)",
            ConnectFailure::ImageNotFound => "image not found on the hop (pull or build it there first)",
            ConnectFailure::PermissionDenied => {
                "permission denied: this user may not use the runtime (join its group, or put sudo:root before the hop)"
            }
            ConnectFailure::ProgramMissing => {
                "the method's program is not installed on the hop (install it, or give its path)"
            }
            ConnectFailure::Busy => {
                "the directory tree is in use by another container (nspawn: share it with arg=--read-only)"
            }
            ConnectFailure::ConnectionClosed => {
                "the server closed the connection before login (sshd's MaxStartups limit: too many logins at once, or a firewall)"
            }
        })
    }
}

/// A prompt to answer.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Lowercase text that identifies the prompt (matched anywhere, partial lines included).
    pub pattern: String,
}

/// Output that means a failure.
#[derive(Debug, Clone)]
pub struct FailureRule {
    /// Lowercase text matched within one line; `*` matches anything.
    pub pattern: String,
    /// What it means.
    pub kind: ConnectFailure,
}

impl FailureRule {
    /// A rule.
    pub fn new(pattern: &str, kind: ConnectFailure) -> FailureRule {
        FailureRule {
            pattern: pattern.to_ascii_lowercase(),
            kind,
        }
    }
}

/// Failure messages every method can produce once the remote shell runs.
pub fn shell_failures() -> Vec<FailureRule> {
    vec![
        FailureRule::new("python*not found", ConnectFailure::NoPython),
        FailureRule::new("python*no such file or directory", ConnectFailure::NoPython),
        // A hop could not run the method's program (written by the spawn routine).
        FailureRule::new("econtext: cannot run ", ConnectFailure::ProgramMissing),
    ]
}

/// What to do after feeding output.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing yet.
    Wait,
    /// Type these bytes into the pty.
    Answer(Vec<u8>),
    /// A prompt to answer and no password: ask a person (the prompt line as printed).
    Ask(String),
    /// Give up now.
    Fail(ConnectFailure),
}

/// Watches one connection's output until it is up.
pub struct Watcher {
    prompts: Vec<Prompt>,
    failures: Vec<FailureRule>,
    password: Option<Password>,
    can_ask: bool,
    raw: String,
    line: String,
    answered: bool,
    /// The first failure recognised.
    pub failure: Option<ConnectFailure>,
}

/// What to type for a password.
fn answer(p: &Password) -> Vec<u8> {
    let mut a = p.expose().as_bytes().to_vec();
    a.push(b'\n');
    a
}

/// True when `line` contains `pattern`, where `*` in the pattern matches any text.
pub fn glob_in(line: &str, pattern: &str) -> bool {
    let mut rest = line;
    for part in pattern.split('*') {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

impl Watcher {
    /// A watcher for these rules. With `can_ask`, a prompt without a password becomes
    /// [`Action::Ask`] instead of a failure.
    pub fn new(
        prompts: Vec<Prompt>,
        failures: Vec<FailureRule>,
        password: Option<Password>,
        can_ask: bool,
    ) -> Watcher {
        Watcher {
            prompts,
            failures,
            password,
            can_ask,
            raw: String::new(),
            line: String::new(),
            answered: false,
            failure: None,
        }
    }

    /// Feed output (pty, stderr, or stdout before the ready marker).
    pub fn feed(&mut self, bytes: &[u8]) -> Action {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        for c in text.chars() {
            if c == '\n' || c == '\r' {
                let line = std::mem::take(&mut self.line);
                if self.failure.is_none() {
                    self.failure = self
                        .failures
                        .iter()
                        .find(|r| glob_in(&line, &r.pattern))
                        .map(|r| r.kind);
                }
            } else {
                self.line.push(c);
            }
        }
        // Text since the last answered prompt: a prompt has no newline after it.
        self.raw.push_str(&String::from_utf8_lossy(bytes));
        if self.raw.len() > 4096 {
            let cut = self.raw.len() - 2048;
            let cut = (cut..self.raw.len())
                .find(|i| self.raw.is_char_boundary(*i))
                .unwrap_or(0);
            self.raw.drain(..cut);
        }
        let pending = self.raw.to_ascii_lowercase();
        if !self.prompts.iter().any(|p| pending.contains(&p.pattern)) {
            return Action::Wait;
        }
        let raw = std::mem::take(&mut self.raw);
        // What a person should see: the prompt's own line.
        let prompt = raw
            .trim_end()
            .rsplit(['\n', '\r'])
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if self.answered {
            return Action::Fail(ConnectFailure::WrongPassword);
        }
        self.answered = true;
        match &self.password {
            Some(p) => Action::Answer(answer(p)),
            None if self.can_ask => Action::Ask(prompt),
            None => Action::Fail(ConnectFailure::PasswordRequired),
        }
    }

    /// A person answered [`Action::Ask`]: the bytes to type, or the failure.
    pub fn answered(&mut self, p: Option<Password>) -> Action {
        match p {
            Some(p) => {
                let a = answer(&p);
                self.password = Some(p);
                Action::Answer(a)
            }
            None => Action::Fail(ConnectFailure::PasswordRequired),
        }
    }

    /// Remove the password from bytes shown to people.
    pub fn redact_bytes(&self, b: &[u8]) -> Vec<u8> {
        match &self.password {
            Some(p) => crate::text::replace(b, p.expose().as_bytes(), b"<redacted>"),
            None => b.to_vec(),
        }
    }

    /// Remove the password from text shown to people.
    pub fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.expose().is_empty() => text.replace(p.expose(), "<redacted>"),
            _ => text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pw: Option<&str>) -> Watcher {
        Watcher::new(
            vec![Prompt {
                pattern: "password:".into(),
            }],
            vec![FailureRule::new(
                "permission denied (",
                ConnectFailure::AuthFailed,
            )],
            pw.map(Password::new),
            false,
        )
    }

    #[test]
    fn answers_partial_line_prompts_once() {
        let mut x = w(Some("s3cret"));
        assert_eq!(
            x.feed(b"Authorized use only. Your password is logged.\r\n"),
            Action::Wait
        );
        assert_eq!(x.feed(b"u@h's Pass"), Action::Wait);
        assert_eq!(x.feed(b"word: "), Action::Answer(b"s3cret\n".to_vec()));
        assert_eq!(
            x.feed(b"\r\nu@h's password: "),
            Action::Fail(ConnectFailure::WrongPassword)
        );
        assert_eq!(x.redact("x s3cret y"), "x <redacted> y");
        assert!(!format!("{:?}", Password::new("s3cret")).contains("s3cret"));
    }

    #[test]
    fn failures_and_missing_password() {
        let mut x = w(None);
        x.feed(b"u@h: Permission denied (publickey).\n");
        assert_eq!(x.failure, Some(ConnectFailure::AuthFailed));
        assert_eq!(
            x.feed(b"password: "),
            Action::Fail(ConnectFailure::PasswordRequired)
        );
        assert!(glob_in(
            "sh: 1: exec: python: not found",
            "python*not found"
        ));
    }

    #[test]
    fn the_account_of_a_prompt_is_cut_at_the_same_byte_in_any_script() {
        // Unicode lowercasing changes lengths ("İ" is 2 bytes, its lowercase 3): an offset
        // found in the lowercased text cut the account one byte late (or panicked).
        let r = PasswordRequest::new(
            "ssh:h",
            "ssh",
            &Whose::AsPrompted,
            "me",
            "h",
            "İvan@h's password:",
        );
        assert_eq!(r.account, "İvan@h");
        let r = PasswordRequest::new(
            "ssh:h",
            "ssh",
            &Whose::AsPrompted,
            "me",
            "h",
            "ÉVE'S PASSWORD:",
        );
        assert_eq!(r.account, "ÉVE");
    }

    #[test]
    fn asks_a_person_with_a_prompt_naming_the_hop_and_account() {
        let mut x = w(None);
        x.can_ask = true;
        assert_eq!(
            x.feed(b"econtext-1234abcd-password: "),
            Action::Ask("econtext-1234abcd-password:".into())
        );
        assert_eq!(
            x.answered(Some(Password::new("pw"))),
            Action::Answer(b"pw\n".to_vec())
        );
        assert_eq!(
            x.feed(b"\npassword: "),
            Action::Fail(ConnectFailure::WrongPassword)
        );
        let sudo = Whose::Invoker {
            target: "app".into(),
        };
        let r = PasswordRequest::new("ssh:h/sudo:app", "sudo", &sudo, "ectest", "h", "x");
        assert_eq!(r.prompt, "[sudo] password for ectest on h, to become app:");
        assert_eq!(r.account, "ectest on h");
        let r = PasswordRequest::new(
            "ssh:u@h",
            "ssh",
            &Whose::AsPrompted,
            "me",
            "here",
            "u@h's password:",
        );
        assert_eq!(
            (r.account.as_str(), r.prompt.as_str()),
            ("u@h", "u@h's password:")
        );
    }
}
