//! `custom:`: a method that is only data, an argv prefix whose end is a Python's stdio
//! (`systemd-run --pipe --wait`, `ssh -J gw host`), given inline or by name from a small
//! config file of named methods.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::container::{container_failures, python_argv};
use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};
use crate::Error;

/// A user-defined method: run `prefix` followed by the interpreter's command.
///
/// Exec style (the default) appends the interpreter's argv as separate words, for programs
/// that run their remaining arguments (`systemd-run --pipe --wait`, `firejail`, `ip netns exec
/// NS`). Shell style appends one shell command line, for programs that hand their arguments to
/// a remote shell (`ssh -J gw host`); [`Custom::parse`] picks it for a prefix starting with ssh.
///
/// ```no_run
/// use econtext::{Custom, Router};
/// let router = Router::new()?;
/// let ctx = router.connect(&Custom::new(["systemd-run", "--pipe", "--wait", "--quiet"]))?;
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Custom {
    prefix: Vec<String>,
    shell: bool,
    python: Option<String>,
    name: Option<String>,
    timeout: Duration,
}

/// Where the named methods live: `$ECONTEXT_METHODS`, else
/// `$XDG_CONFIG_HOME/econtext/methods`, else `~/.config/econtext/methods`.
pub fn methods_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ECONTEXT_METHODS") {
        return Some(p.into());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("econtext").join("methods"))
}

/// Split a command line into words as a POSIX shell would (quotes and backslashes; no
/// expansion).
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                any = true;
                loop {
                    match it.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in {s:?}")),
                    }
                }
            }
            '"' => {
                any = true;
                loop {
                    match it.next() {
                        Some('"') => break,
                        Some('\\') => match it.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated \" in {s:?}")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in {s:?}")),
                    }
                }
            }
            '\\' => {
                any = true;
                match it.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("trailing \\ in {s:?}")),
                }
            }
            c if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                any = true;
                cur.push(c);
            }
        }
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

impl Custom {
    /// Exec style: the interpreter's argv is appended to `prefix` as separate words.
    pub fn new<I, S>(prefix: I) -> Custom
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Custom {
            prefix: prefix.into_iter().map(Into::into).collect(),
            shell: false,
            python: None,
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Shell style: the interpreter's command is appended as one shell command line (for a
    /// prefix like `ssh -J gw host`, whose arguments a remote shell reads).
    pub fn shell(mut self, yes: bool) -> Custom {
        self.shell = yes;
        self
    }

    /// From one command line as the CLI takes it (`custom:'systemd-run --pipe --wait'`), or
    /// a name defined in [`methods_file`] (`custom:gw`). A prefix whose program is `ssh`
    /// is shell style; `sh:` before the prefix asks for shell style explicitly.
    pub fn parse(spec: &str) -> Result<Custom, Error> {
        let spec = spec.trim();
        if !spec.is_empty() && !spec.contains(char::is_whitespace) && !spec.contains('/') {
            if let Some(found) = Custom::named(spec)? {
                return Ok(found);
            }
        }
        Custom::from_line(spec, spec)
    }

    fn from_line(line: &str, shown: &str) -> Result<Custom, Error> {
        let (explicit_shell, rest) = match line.trim().strip_prefix("sh:") {
            Some(r) => (true, r),
            None => (false, line),
        };
        let words = split_words(rest).map_err(|e| Error::Usage(format!("custom:{shown}: {e}")))?;
        let Some(first) = words.first() else {
            return Err(Error::Usage(format!(
                "custom:{shown}: give a command prefix, e.g. custom:'systemd-run --pipe --wait', or a name from {}",
                methods_file().map(|p| p.display().to_string()).unwrap_or_else(|| "~/.config/econtext/methods".into())
            )));
        };
        let shell = explicit_shell || Path::new(first).file_name().is_some_and(|n| n == "ssh");
        Ok(Custom::new(words).shell(shell))
    }

    /// The method named `name` in [`methods_file`], if the file defines it. Each line is
    /// `NAME = PREFIX` (or `NAME = sh: PREFIX` for shell style); `#` starts a comment.
    pub fn named(name: &str) -> Result<Option<Custom>, Error> {
        let Some(path) = methods_file() else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Usage(format!(
                    "custom:{name}: cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(Error::Usage(format!(
                    "{}:{}: expected NAME = COMMAND PREFIX",
                    path.display(),
                    n + 1
                )));
            };
            if k.trim() == name {
                let shown = format!("{name} ({}:{})", path.display(), n + 1);
                return Custom::from_line(v, &shown)
                    .map(|c| Some(c.name(format!("custom:{name}"))));
            }
        }
        Ok(None)
    }

    /// The interpreter at the end (default: `python3`, else `python`).
    pub fn python(mut self, p: impl Into<String>) -> Custom {
        self.python = Some(p.into());
        self
    }

    /// Name the context (default `custom:<prefix>`).
    pub fn name(mut self, n: impl Into<String>) -> Custom {
        self.name = Some(n.into());
        self
    }

    /// Connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Custom {
        self.timeout = t;
        self
    }
}

impl Method for Custom {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        let mut argv = self.prefix.clone();
        if self.shell {
            argv.push(bootstrap::stage0_shell(
                self.python.as_deref(),
                title,
                stage2_len,
            ));
        } else {
            argv.extend(python_argv(self.python.as_deref(), None, title, stage2_len));
        }
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("custom:{}", self.prefix.join(" ")));
        Recipe::exec(name, "custom", argv, self.timeout, container_failures())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words(r#"systemd-run --pipe -p 'A=b c' "x\"y" z\ w"#).unwrap(),
            ["systemd-run", "--pipe", "-p", "A=b c", "x\"y", "z w"]
        );
        assert_eq!(split_words("a ''").unwrap(), ["a", ""]);
        assert!(split_words("a 'b").is_err());
    }

    #[test]
    fn ssh_prefixes_get_one_command_line() {
        let c = Custom::parse("ssh -J gw host").unwrap();
        let r = c.recipe("t", 10);
        assert_eq!(r.argv.len(), 5);
        assert!(r.argv[4].starts_with("exec "));
        let c = Custom::parse("systemd-run --pipe --wait").unwrap();
        let r = c.recipe("t", 10);
        assert_eq!(&r.argv[3..5], ["/bin/sh", "-c"]);
        let c = Custom::parse("sh: my-remote-shell host").unwrap();
        assert_eq!(c.recipe("t", 10).argv.len(), 3);
        assert!(Custom::parse("  ").is_err());
    }
}
