//! `econtext rsync|scp|sftp|git TARGET -- ARGS`: the local tool with the econtext binary as its
//! ssh program, every `HOST:path` in ARGS reaching TARGET over this process's connection
//! (docs/fakessh.md).

use std::process::Command;

use super::CallCmd;
use crate::fakessh::Gateway;
use crate::Context;

/// A tool `econtext` runs with itself as its ssh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `rsync -e ECONTEXT ARGS`.
    Rsync,
    /// `scp -S ECONTEXT ARGS`.
    Scp,
    /// `sftp -S ECONTEXT ARGS` (host `econtext` added when ARGS name none).
    Sftp,
    /// `git ARGS` with `GIT_SSH_COMMAND=ECONTEXT`.
    Git,
}

impl Tool {
    /// The subcommand's (and the program's) name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Rsync => "rsync",
            Tool::Scp => "scp",
            Tool::Sftp => "sftp",
            Tool::Git => "git",
        }
    }

    /// The tool for a subcommand name.
    pub fn from_name(s: &str) -> Option<Tool> {
        [Tool::Rsync, Tool::Scp, Tool::Sftp, Tool::Git]
            .into_iter()
            .find(|t| t.name() == s)
    }
}

/// sftp's options that take a value (OpenSSH 9).
const SFTP_VALUED: &str = "BbcDFiJloPRSsX";

/// Does this sftp command line name a destination?
fn sftp_has_host(args: &[String]) -> bool {
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return i + 1 < args.len();
        }
        if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
            // A valued option takes the rest of the word, or the next word.
            if let Some(p) = flags.find(|c| SFTP_VALUED.contains(c)) {
                if p + 1 == flags.len() {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        return true;
    }
    false
}

/// A word a shell reads back as itself.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The tool's command line, with `exe` as its ssh.
pub fn command(tool: Tool, exe: &str, args: &[String]) -> Command {
    let mut cmd = Command::new(tool.name());
    crate::sys::process::restore_fd_limit(&mut cmd);
    match tool {
        // rsync splits -e on spaces, honouring quotes.
        Tool::Rsync => {
            cmd.arg("-e").arg(shell_quote(exe));
        }
        Tool::Scp => {
            cmd.arg("-S").arg(exe);
        }
        Tool::Sftp => {
            cmd.arg("-S").arg(exe);
        }
        Tool::Git => {
            cmd.env("GIT_SSH_COMMAND", shell_quote(exe))
                .env("GIT_SSH_VARIANT", "ssh");
        }
    }
    cmd.args(args);
    if tool == Tool::Sftp && !sftp_has_host(args) {
        cmd.arg("econtext");
    }
    cmd
}

/// Run `c` (a tool command) against `ctx`; returns the tool's exit status.
pub fn run(ctx: &Context, tool: Tool, c: CallCmd) -> i32 {
    crate::sys::signal::catch_interrupt();
    let exe = match std::env::current_exe() {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(e) => {
            say!(
                "econtext: cannot find the econtext binary to give {} as its ssh: {e}",
                tool.name()
            );
            return 255;
        }
    };
    let gw = match Gateway::start(ctx) {
        Ok(g) => g,
        Err(e) => {
            say!("econtext: {e}");
            return 255;
        }
    };
    let mut cmd = command(tool, &exe, &c.argv);
    cmd.envs(gw.env());
    let mut child = match cmd.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            say!(
                "econtext: cannot run {}: {e} (install it on this machine)",
                tool.name()
            );
            let _ = ctx.shutdown();
            return 127;
        }
    };
    // Ctrl-C reaches the tool through the terminal's process group (we catch it); wait for
    // the tool to end.
    let status = match child.wait() {
        Ok(st) => st,
        Err(e) => {
            say!("econtext: waiting for {}: {e}", tool.name());
            return 255;
        }
    };
    drop(gw);
    let _ = ctx.shutdown();
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn sftp_destinations_are_found() {
        assert!(!sftp_has_host(&s(&["-b", "batch"])));
        assert!(!sftp_has_host(&s(&["-q", "-bbatch"])));
        assert!(sftp_has_host(&s(&["-b", "batch", "host"])));
        assert!(sftp_has_host(&s(&["-q", "user@h:/tmp"])));
        assert!(!sftp_has_host(&s(&[])));
    }

    #[test]
    fn exe_paths_are_quoted_for_the_tools_that_split() {
        assert_eq!(shell_quote("/usr/bin/econtext"), "/usr/bin/econtext");
        assert_eq!(shell_quote("/my dir/e'x"), "'/my dir/e'\\''x'");
        let c = command(Tool::Sftp, "/e", &s(&["-b", "x"]));
        let a: Vec<_> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(a, s(&["-S", "/e", "-b", "x", "econtext"]));
    }
}
