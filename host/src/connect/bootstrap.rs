//! Stage 0 and stage 1: the command line that starts the remote interpreter.
//!
//! Stage 0 is `python -Suc '<stage 1>'` (`-S`: no site import, the biggest part of start-up;
//! stage 2 imports site lazily). Stage 1 prints the ready marker `EC0<python version>`, reads
//! exactly N compressed bytes from stdin (select before every read: stdin may be
//! non-blocking; EOF exits), then forks. The parent re-execs the interpreter (same pid, so
//! ssh/sudo keep waiting on it) with `argv[0]` `econtext:<user>@<host>:<pid>`, the original
//! stdin moved to fd 100 and its program read from a pipe on fd 0; the child inflates stage 2
//! into that pipe and exits (so a pipe smaller than the program cannot deadlock). Stage 2
//! writes `EC1\n` and then speaks frames. Nothing touches the disk.

/// The marker stage 1 writes before reading stage 2; the Python version follows it.
pub const MARK_STAGE1: &[u8] = b"EC0";
/// The marker stage 2 writes just before its first frame.
pub const MARK_STAGE2: &[u8] = b"EC1\n";

/// The stage-1 program for a context named `title` (shown by `ps`), reading `len` bytes.
///
/// It prints the marker, sets `PYTHONHOME` for the re-exec (Python 3, when not set already:
/// see below) and re-execs the interpreter named `title`, with a loader as its `-c` program
/// and two arguments for stage 2: the real `sys.executable` and the `PYTHONHOME` of the
/// environment as it was (`""`: none). The loader reads the `len` deflated bytes of stage 2
/// (select before every read: stdin may be non-blocking; EOF ends it), moves the protocol
/// stdin to fd 100 and runs stage 2 in the same process; stage 2 sets `sys.executable` and
/// restores `PYTHONHOME` (see `runtime.py`), so no program the context starts inherits it.
///
/// Why `PYTHONHOME`: Python finds its standard library from its own path, which it takes
/// from `argv[0]`; named by the title it falls back to its compiled-in prefix, wrong for
/// relocatable builds (python-build-standalone, uv's) and they fail with "Failed to import
/// encodings". `sys.base_prefix` (not `sys.prefix`: in a venv that is the venv) is where the
/// running interpreter found it. Python 2 keeps its compiled-in prefix (no relocatable 2.x;
/// a 2.x virtualenv's prefix lacks most of the standard library).
///
/// The same text runs on every Python from 2.4 (no `b""`, no conditional expression) and
/// prints the version's first 9 characters (the host reads up to the first space).
pub fn stage1(title: &str, len: usize) -> String {
    // Only double quotes inside: the whole program travels inside shell single quotes.
    let title: String = title
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\' | '\n'))
        .collect();
    format!(
        "import os,sys;e=sys.executable;v=sys.version;h=\"PYTHONHOME\";p=os.getenv(h,\"\");\
print(\"EC0\"+v[:9]);p or\"3\">v or os.putenv(h,sys.base_prefix);\
os.execl(e,\"{title}\",\"-Sc\",\"import os,sys,zlib,select as s;b=os.read(0,0)\\n\
while len(b)<{len}:s.select([0],[],[]);b+=os.read(0,{len}-len(b))or 1/0\\n\
os.dup2(0,100);exec(zlib.decompress(b))\",e,p)"
    )
}

/// Stage 1 for an interpreter the host started with the right `argv[0]` already: no fork, no
/// re-exec; stage 2 runs in this process (it finds the protocol stdin on fd 100 as usual).
/// `module.load(b)` turns the `len` bytes read into stage 2: `zlib.decompress` for the
/// deflated source, `marshal.loads` for a stream the host's own interpreter compiled (see
/// `compiled.rs`: no compile in the context). Python 2.4 syntax like [`stage1`]
/// (`os.read(0,0)`, not `b""`): an old interpreter prints its version and is refused by name.
pub fn stage1_here(len: usize, module: &str, load: &str) -> String {
    format!(
        "import os,sys,{module},select as s\n\
print(\"EC0\"+sys.version.split()[0]);b=os.read(0,0)\n\
while len(b)<{len}:s.select([0],[],[]);c=os.read(0,{len}-len(b));b+=c or sys.exit(1)\n\
os.dup2(0,100);exec({module}.{load}(b),{{\"__name__\":\"__main__\"}})"
    )
}

/// argv for a local interpreter sent stage 2 compiled (see [`stage1_here`]).
pub fn stage0_argv_marshal(python: &str, len: usize) -> Vec<String> {
    with_stage2_args(python, stage1_here(len, "marshal", "loads"))
}

/// argv for a local interpreter the host names itself (see [`stage1_here`]).
pub fn stage0_argv_inprocess(python: &str, len: usize) -> Vec<String> {
    with_stage2_args(python, stage1_here(len, "zlib", "decompress"))
}

/// `python -Suc CODE EXECUTABLE HOME`: the two arguments stage 2 reads, as [`stage1`] passes
/// them after its re-exec. An interpreter the host starts with the process title as
/// `argv[0]` derives `sys.executable` from it and finds nothing (`''`: then
/// `subprocess.run([sys.executable, ...])` and multiprocessing's spawn break), so it is told
/// its path: `python` as run, a path or a name looked up on `PATH` (`""` when not found).
/// HOME is the `PYTHONHOME` this process passes on as it is (`""`: none, so a `PYTHONHOME`
/// the host sets, see [`python_home`], is taken out again).
fn with_stage2_args(python: &str, code: String) -> Vec<String> {
    let exe = resolve(python)
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_default();
    let home = std::env::var("PYTHONHOME").unwrap_or_default();
    vec![python.to_string(), "-Suc".into(), code, exe, home]
}

/// `PYTHONHOME` for `python` started with the process title as `argv[0]`. Python finds its
/// standard library from its own path, which it derives from `argv[0]`: with a title there it
/// falls back to its compiled-in prefix, which is wrong for relocatable interpreters
/// (python-build-standalone, uv's, an unpacked tree reached through a symlink) and they fail
/// with "Failed to import encodings". The prefix is the parent of the directory of the real
/// binary (symlinks resolved), when a standard library (`lib/python*/os.py` or
/// `lib/python*.zip`) is there. `None` when PYTHONHOME is set here already (it is passed on
/// as it is), or nothing was found (the interpreter keeps its own search).
pub fn python_home(python: &str) -> Option<String> {
    if std::env::var_os("PYTHONHOME").is_some() {
        return None;
    }
    let exe = resolve(python)?.canonicalize().ok()?;
    let prefix = exe.parent()?.parent()?;
    let stdlib = std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .flatten()
        .any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("python")
                && (e.path().join("os.py").is_file()
                    || (name.ends_with(".zip") && e.path().is_file()))
        });
    let p = prefix.to_str()?;
    // `:` separates prefix and exec_prefix in PYTHONHOME.
    (stdlib && !p.contains(':')).then(|| p.to_string())
}

/// `python` as run: a path, or a name looked up on `PATH`.
fn resolve(python: &str) -> Option<std::path::PathBuf> {
    if python.starts_with('/') {
        Some(std::path::PathBuf::from(python))
    } else if python.contains('/') {
        std::env::current_dir().ok().map(|d| d.join(python))
    } else {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(python))
                .find(|c| c.is_file())
        })
    }
}

/// argv for a local interpreter behind a wrapper command.
pub fn stage0_argv(python: &str, title: &str, len: usize) -> Vec<String> {
    vec![python.to_string(), "-Suc".into(), stage1(title, len)]
}

/// The stage-0 command as one shell command line (what ssh/sudo run through the remote
/// shell): the given interpreter, or `python3` when it is on `PATH`, else `python`. A missing
/// interpreter makes the shell print "python: not found", which the host maps to a typed error.
pub fn stage0_shell(python: Option<&str>, title: &str, len: usize) -> String {
    let code = stage1(title, len);
    match python {
        Some(p) => format!("exec {} -Suc '{code}'", shell_quote(p)),
        None => format!("exec $(command -v python3||echo python) -Suc '{code}'"),
    }
}

/// Quote a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@%,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The process title of contexts started by this process: `econtext:<user>@<host>:<pid>`.
pub fn title() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "?".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!("econtext:{user}@{host}:{}", std::process::id())
}

/// The account this process runs as (from its uid, else `$USER`) and this machine's name:
/// what sudo and doas will ask the password of.
pub fn user_and_host() -> (String, String) {
    let user = user_from_passwd()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "?".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    (user, host)
}

/// This process's user name from /etc/passwd (when USER and LOGNAME are unset, as under
/// setpriv or cron).
fn user_from_passwd() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid.as_str()))?;
    line.split(':').next().map(String::from)
}

/// True when `program` (a path, or a name looked up on `PATH`) is a native executable rather
/// than a `#!` script such as a pyenv shim: only then does `argv[0]` survive to the interpreter.
pub fn is_native_executable(program: &str) -> bool {
    let path = if program.contains('/') {
        Some(std::path::PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|c| c.is_file())
        })
    };
    let mut magic = [0u8; 2];
    path.and_then(|p| std::fs::File::open(p).ok())
        .is_some_and(|mut f| {
            std::io::Read::read_exact(&mut f, &mut magic).is_ok() && &magic != b"#!"
        })
}

/// Which stage 2 a Python version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage2 {
    /// [`econtext_stub::STAGE2`]: Python 2.7 and 3.5 and later.
    Modern,
    /// [`econtext_stub::STAGE2_OLD`]: Python 2.4, 2.5 and 2.6.
    Old,
}

impl Stage2 {
    /// The bytes sent (both have one length, so one stage 1 reads either).
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Stage2::Modern => econtext_stub::STAGE2,
            Stage2::Old => econtext_stub::STAGE2_OLD,
        }
    }
}

/// The stage 2 Python version `v` runs; `None` for what is too old (2.3 and earlier, 3.0-3.4).
pub fn stage2_for(v: &str) -> Option<Stage2> {
    let mut it = v.split('.').map(|p| {
        p.chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
    });
    let major: u32 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    match (major, minor) {
        (2, 7..) | (3, 5..) | (4.., _) => Some(Stage2::Modern),
        (2, 4..=6) => Some(Stage2::Old),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(stage2_for("2.7.18").is_some());
        assert!(stage2_for("3.6.15").is_some());
        assert!(stage2_for("3.13.0rc1").is_some());
        assert!(stage2_for("2.6.9").is_some());
        assert!(stage2_for("2.4.6").is_some());
        assert_eq!(stage2_for("2.3.7"), None);
        assert_eq!(stage2_for("2.6.9"), Some(Stage2::Old));
        assert_eq!(stage2_for("2.7.18"), Some(Stage2::Modern));
        assert_eq!(stage2_for("3.15.0a2"), Some(Stage2::Modern));
        assert_eq!(econtext_stub::STAGE2.len(), econtext_stub::STAGE2_OLD.len());
        assert!(stage2_for("3.5.10").is_some());
        assert_eq!(stage2_for("3.4.10"), None);
        assert_eq!(stage2_for("3.0.1"), None);
    }

    #[test]
    fn stage1_has_no_single_quote() {
        let s = stage1("econtext:o'neil@h:1", 4000);
        assert!(!s.contains('\''));
    }
}
