//! The command line a tool gives its ssh program (`rsync -e`, `scp -S`, `sftp -S`,
//! `GIT_SSH_COMMAND`), parsed the way OpenSSH's `ssh` parses it: getopt flags that may be
//! grouped (`-xT`), option values attached or separate (`-p22`, `-p 22`), `-o Key=value`,
//! `-oKey=value` and `-o 'Key value'`, `user@host`, options again after the host until the
//! first other word or `--`, and the remaining words joined with single spaces into the
//! command (the first word a subsystem name with `-s`).

/// ssh's flags that take no value (OpenSSH 9: `1246afgknqstvxACGKMNTVXYy`).
const FLAGS: &str = "1246afgknqstvxACGKMNTVXYy";
/// ssh's options that take a value.
const VALUED: &str = "bceilmopBDEFIJLOPQRSwW";

/// One invocation of the fake ssh.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshCommand {
    /// The host word as given (ignored for routing: every host reaches the one target).
    pub host: String,
    /// `-l USER` or `USER@host`.
    pub user: Option<String>,
    /// `-p PORT`.
    pub port: Option<String>,
    /// `-s`: `command` is a subsystem name (e.g. `sftp`).
    pub subsystem: bool,
    /// The command words joined with single spaces (empty: a login shell).
    pub command: String,
    /// `-o` options as (lower-cased key, value), in order.
    pub options: Vec<(String, String)>,
    /// Flags given (`-x`, `-T`, ...), in order.
    pub flags: Vec<char>,
}

impl SshCommand {
    /// The value of option `key` (case-insensitive), the first one given (as ssh does).
    pub fn option(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.options
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// `Key=value`, `Key value` or `Key = value` as (lower-cased key, value).
fn option(o: &str) -> Result<(String, String), String> {
    let o = o.trim();
    let cut = o
        .find(|c: char| c == '=' || c.is_whitespace())
        .ok_or_else(|| format!("-o {o:?}: expected Key=value"))?;
    let (k, v) = o.split_at(cut);
    let v = v.trim_start_matches(|c: char| c.is_whitespace());
    let v = v.strip_prefix('=').unwrap_or(v).trim();
    if k.is_empty() {
        return Err(format!("-o {o:?}: the key is empty"));
    }
    Ok((k.to_ascii_lowercase(), v.to_string()))
}

/// Parse the fake ssh's arguments (without its own name).
pub fn parse(args: &[String]) -> Result<SshCommand, String> {
    let mut c = SshCommand::default();
    let mut i = 0;
    let mut terminated = false;
    let mut have_host = false;
    while i < args.len() {
        let a = &args[i];
        if !terminated && a == "--" {
            terminated = true;
            i += 1;
            continue;
        }
        if !terminated && a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let f = chars[j];
                if FLAGS.contains(f) {
                    if f == 's' {
                        c.subsystem = true;
                    }
                    c.flags.push(f);
                    j += 1;
                } else if VALUED.contains(f) {
                    let rest: String = chars[j + 1..].iter().collect();
                    let v = if !rest.is_empty() {
                        rest
                    } else {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("option -{f} needs a value"))?
                    };
                    match f {
                        'o' => c.options.push(option(&v)?),
                        'l' => c.user = Some(v),
                        'p' => c.port = Some(v),
                        _ => {}
                    }
                    break;
                } else {
                    return Err(format!("unknown ssh option -{f}"));
                }
            }
            i += 1;
            continue;
        }
        if have_host {
            break;
        }
        // The host word: `[user@]host`.
        match a.rsplit_once('@') {
            Some((u, h)) => {
                c.user = Some(u.to_string());
                c.host = h.to_string();
            }
            None => c.host = a.clone(),
        }
        have_host = true;
        i += 1;
        // OpenSSH parses options again after the host, unless `--` came before it.
        if terminated {
            break;
        }
    }
    if !have_host {
        return Err("no host given (usage: ssh [options] host [command])".into());
    }
    c.command = args[i..].join(" ");
    if c.subsystem && c.command.is_empty() {
        return Err("-s needs a subsystem name after the host".into());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<SshCommand, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn the_command_lines_of_real_tools() {
        // scp in SFTP mode (OpenSSH 9).
        let c = p(&[
            "-x",
            "-oPermitLocalCommand=no",
            "-oClearAllForwardings=yes",
            "-oRemoteCommand=none",
            "-oRequestTTY=no",
            "-oForwardAgent=no",
            "-l",
            "bob",
            "-s",
            "--",
            "web1",
            "sftp",
        ])
        .unwrap();
        assert!(c.subsystem);
        assert_eq!((c.host.as_str(), c.command.as_str()), ("web1", "sftp"));
        assert_eq!(c.user.as_deref(), Some("bob"));
        assert_eq!(c.option("RequestTTY"), Some("no"));
        // sftp: `-o` values with a space, as one word.
        let c = p(&[
            "-oForwardX11 no",
            "-oForwardAgent no",
            "-s",
            "--",
            "h",
            "sftp",
        ])
        .unwrap();
        assert_eq!(c.option("forwardx11"), Some("no"));
        // rsync: the command as separate words, joined with single spaces.
        let c = p(&[
            "-l",
            "u",
            "h",
            "rsync",
            "--server",
            "-logDtpre.iLsfxCIvu",
            ".",
            "/d/",
        ])
        .unwrap();
        assert_eq!(c.command, "rsync --server -logDtpre.iLsfxCIvu . /d/");
        // git.
        let c = p(&[
            "-o",
            "SendEnv=GIT_PROTOCOL",
            "git@h",
            "git-upload-pack '/r'",
        ])
        .unwrap();
        assert_eq!(c.command, "git-upload-pack '/r'");
        assert_eq!(c.user.as_deref(), Some("git"));
        assert_eq!(c.option("sendenv"), Some("GIT_PROTOCOL"));
        // scp -O, a port attached, grouped flags, options after the host.
        let c = p(&["-p2222", "-xT", "h", "-v", "scp -p -t /d/x"]).unwrap();
        assert_eq!(c.port.as_deref(), Some("2222"));
        assert_eq!(c.flags, vec!['x', 'T', 'v']);
        assert_eq!(c.command, "scp -p -t /d/x");
        // After `--` a word starting with - is the host, the rest is the command.
        let c = p(&["--", "h", "-v"]).unwrap();
        assert_eq!(c.command, "-v");
        // A login shell.
        assert_eq!(p(&["h"]).unwrap().command, "");
        assert_eq!(
            p(&["-o", "Port = 22", "h"]).unwrap().option("port"),
            Some("22")
        );
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        assert!(p(&[]).unwrap_err().contains("no host"));
        assert!(p(&["-p"]).unwrap_err().contains("-p needs a value"));
        assert!(p(&["-Z", "h"])
            .unwrap_err()
            .contains("unknown ssh option -Z"));
        assert!(p(&["-s", "h"]).unwrap_err().contains("subsystem"));
        assert!(p(&["-o", "=x", "h"]).unwrap_err().contains("key is empty"));
    }
}
