//! `sudo`, `su` and `doas`: become another user on the same machine.

use std::time::Duration;

use super::watch::{shell_failures, ConnectFailure as F, FailureRule, Password, Prompt};
use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};

/// Which program switches user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Become {
    /// `sudo -u USER`.
    Sudo,
    /// `su USER`.
    Su,
    /// `doas -u USER` (OpenBSD's, as opendoas on Linux).
    Doas,
}

/// A context running as another user on the machine of the context it starts from.
///
/// ```no_run
/// use econtext::{Router, BecomeUser, Password};
/// let router = Router::new()?;
/// let ctx = router.connect(&BecomeUser::sudo("postgres").password(Password::new("hunter2")))?;
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BecomeUser {
    how: Become,
    user: String,
    password: Option<Password>,
    python: Option<String>,
    name: Option<String>,
    timeout: Duration,
    prefix: Vec<String>,
    nonce: String,
}

/// Localised `su` password prompts (as `su` prints them in common locales), lowercase.
pub const SU_PROMPTS: &[&str] = &[
    "password:",
    "passwort:",
    "mot de passe",
    "contraseña:",
    "senha:",
    "wachtwoord:",
    "lösenord:",
    "adgangskode:",
    "passord:",
    "salasana:",
    "hasło:",
    "heslo:",
    "jelszó:",
    "parola:",
    "lozinka:",
    "geslo:",
    "şifre:",
    "пароль:",
    "парола:",
    "密码：",
    "密碼：",
    "パスワード：",
    "암호:",
    "비밀번호:",
    "κωδικός",
    "סיסמה:",
    "كلمة السر:",
    "password：",
];

impl BecomeUser {
    fn new(how: Become, user: &str) -> BecomeUser {
        // A per-connection prompt key, so success and failure are never guessed.
        let nonce = format!(
            "{:08x}",
            std::process::id()
                ^ (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0))
        );
        BecomeUser {
            how,
            user: user.into(),
            password: None,
            python: None,
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            prefix: Vec::new(),
            nonce,
        }
    }

    /// `sudo -u user`.
    pub fn sudo(user: &str) -> BecomeUser {
        BecomeUser::new(Become::Sudo, user)
    }

    /// `su user`.
    pub fn su(user: &str) -> BecomeUser {
        BecomeUser::new(Become::Su, user)
    }

    /// `doas -u user`.
    pub fn doas(user: &str) -> BecomeUser {
        BecomeUser::new(Become::Doas, user)
    }

    /// The password to type when asked (on a pty; never on a command line).
    pub fn password(mut self, p: Password) -> BecomeUser {
        self.password = Some(p);
        self
    }

    /// The interpreter to run as the user (default: python3, else python).
    pub fn python(mut self, p: impl Into<String>) -> BecomeUser {
        self.python = Some(p.into());
        self
    }

    /// Name the context (default `sudo:user` etc.).
    pub fn name(mut self, n: impl Into<String>) -> BecomeUser {
        self.name = Some(n.into());
        self
    }

    /// Connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> BecomeUser {
        self.timeout = t;
        self
    }

    /// Run the switching program through a wrapper, e.g. `["setpriv", "--reuid", "alice", ...]`.
    pub fn prefix(mut self, argv: Vec<String>) -> BecomeUser {
        self.prefix = argv;
        self
    }

    fn prompt(&self) -> String {
        format!("econtext-{}-password:", self.nonce)
    }
}

impl Method for BecomeUser {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        let stage0 = bootstrap::stage0_shell(self.python.as_deref(), title, stage2_len);
        let u = self.user.clone();
        let mut failures = shell_failures();
        let (argv, prompts, stdio_on_pty): (Vec<String>, Vec<String>, bool) = match self.how {
            Become::Sudo => {
                failures.extend([
                    FailureRule::new("sorry, try again", F::WrongPassword),
                    FailureRule::new("incorrect password attempt", F::WrongPassword),
                    FailureRule::new("is not in the sudoers file", F::NotAllowed),
                    FailureRule::new("is not allowed to execute", F::NotAllowed),
                    FailureRule::new("is not allowed to run sudo", F::NotAllowed),
                    FailureRule::new("unknown user", F::UnknownUser),
                    FailureRule::new("a terminal is required", F::TtyRequired),
                    FailureRule::new("no tty present", F::TtyRequired),
                ]);
                let argv = vec![
                    "sudo".into(),
                    "-p".into(),
                    self.prompt(),
                    "-H".into(),
                    "-u".into(),
                    u,
                    "--".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    stage0,
                ];
                (argv, vec![self.prompt().to_ascii_lowercase()], false)
            }
            Become::Doas => {
                failures.extend([
                    FailureRule::new("doas: authentication failed", F::WrongPassword),
                    FailureRule::new("doas: operation not permitted", F::NotAllowed),
                    FailureRule::new("doas: unknown user", F::UnknownUser),
                    FailureRule::new("doas: a tty is required", F::TtyRequired),
                ]);
                let argv = vec![
                    "doas".into(),
                    "-u".into(),
                    u,
                    "/bin/sh".into(),
                    "-c".into(),
                    stage0,
                ];
                (argv, vec!["password:".into()], false)
            }
            Become::Su => {
                failures.extend([
                    FailureRule::new("su: authentication failure", F::WrongPassword),
                    FailureRule::new("su: incorrect password", F::WrongPassword),
                    FailureRule::new("does not exist", F::UnknownUser),
                    FailureRule::new("su: user * not found", F::UnknownUser),
                    FailureRule::new("su: permission denied", F::NotAllowed),
                    FailureRule::new("must be run from a terminal", F::TtyRequired),
                ]);
                let argv = vec![
                    "su".into(),
                    "-s".into(),
                    "/bin/sh".into(),
                    u,
                    "-c".into(),
                    stage0,
                ];
                (
                    argv,
                    SU_PROMPTS.iter().map(|s| s.to_string()).collect(),
                    true,
                )
            }
        };
        let kind = match self.how {
            Become::Sudo => "sudo",
            Become::Su => "su",
            Become::Doas => "doas",
        };
        let whose = match self.how {
            Become::Su => super::watch::Whose::Target {
                target: self.user.clone(),
            },
            _ => super::watch::Whose::Invoker {
                target: self.user.clone(),
            },
        };
        Recipe {
            kind,
            whose,
            name: self
                .name
                .clone()
                .unwrap_or_else(|| format!("{kind}:{}", self.user)),
            argv: self.prefix.iter().cloned().chain(argv).collect(),
            arg0: None,
            env: Vec::new(),
            pty: true,
            stdio_on_pty,
            wait_for_stage1: true,
            connect_timeout: self.timeout,
            prompts: prompts
                .into_iter()
                .map(|pattern| Prompt { pattern })
                .collect(),
            failures,
            password: self.password.clone(),
            program_missing: Some(super::watch::ConnectFailure::ProgramMissing),
            enter: None,
        }
    }
}
