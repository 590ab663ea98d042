//! fakessh with the real tools: rsync, scp (SFTP and -O), sftp and git through `econtext
//! rsync|scp|sftp|git` from this host and between two contexts (`run FROM --ssh-to TO`,
//! `Context::fakessh`), over ssh and the bastion -> sudo (requiretty, password) -> internal
//! chain; the way back refusing other users and wrong tokens; repeated and concurrent
//! invocations; Ctrl-C leaving nothing behind; nothing written on FROM.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use econtext::{BecomeUser, Local, Value};
use econtext_tests::*;

const CLI: &str = env!("CARGO_BIN_EXE_econtext_cli_for_tests");

fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "{tool} is not installed: ./ci.sh deps installs it");
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `econtext ARGS` with stdin closed; panics with its stderr unless it exits 0.
fn econtext(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(CLI)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "econtext {args:?}: {:?}\n{}",
        out.status,
        text(&out.stderr)
    );
    out
}

fn sh(line: &str) -> String {
    let out = Command::new("sh").args(["-c", line]).output().unwrap();
    assert!(out.status.success(), "{line}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A tree of `n` small files and one file of `big` pseudo-random bytes under `dir`.
fn tree(dir: &Path, n: usize, big: usize) {
    for i in 0..n {
        let d = dir.join(format!("d{}", i % 20));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("f{i}")), format!("file {i}\n").repeat(i % 7)).unwrap();
    }
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let data: Vec<u8> = (0..big)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("big.bin"), data).unwrap();
}

/// Are two trees the same (names, contents)?
fn same_tree(a: &Path, b: &Path) {
    sh(&format!("diff -r {} {}", a.display(), b.display()));
}

fn sha256(p: &Path) -> String {
    sh(&format!("sha256sum < {}", p.display()))
}

/// The options that reach the private sshd as `user@127.0.0.1:PORT`.
fn ssh_target(env: &TestEnv, user: &str) -> Vec<String> {
    vec![
        format!("ssh:{user}@127.0.0.1:{}", env.ssh_port),
        "-i".into(),
        env.client_key.display().to_string(),
        "--known-hosts".into(),
        env.known_hosts.display().to_string(),
    ]
}

fn args<'a>(head: &'a [&'a str], target: &'a [String], tail: &'a [&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    v.extend(target.iter().map(|s| s.as_str()));
    v.extend_from_slice(tail);
    v
}

#[test]
fn rsync_both_ways_over_ssh_with_delete_many_files_and_a_big_one() {
    need("rsync");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-rsync");
    let (src, dst, back) = (t.join("src"), t.join("dst"), t.join("back"));
    tree(&src, 2000, 8 << 20);
    let target = ssh_target(&env, "ectest");
    let (s, d) = (
        format!("{}/", src.display()),
        format!("x:{}/", dst.display()),
    );
    econtext(&args(&["rsync"], &target, &["--", "-a", &s, &d]), &[]);
    same_tree(&src, &dst);
    // It ran as the target's user.
    assert_eq!(
        sh(&format!("stat -c %U {}/big.bin", dst.display())).trim(),
        "ectest"
    );
    // --delete, and the other direction.
    std::fs::remove_file(src.join("d3/f3")).unwrap();
    std::fs::write(src.join("new"), "new\n").unwrap();
    econtext(
        &args(&["rsync"], &target, &["--", "-a", "--delete", &s, &d]),
        &[],
    );
    same_tree(&src, &dst);
    let b = format!("{}/", back.display());
    econtext(&args(&["rsync"], &target, &["--", "-a", &d, &b]), &[]);
    same_tree(&src, &back);
    assert_eq!(sha256(&back.join("big.bin")), sha256(&src.join("big.bin")));
}

#[test]
fn a_1_gib_file_by_rsync_compares_by_sha256() {
    need("rsync");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-gib");
    let (src, dst) = (t.join("src"), t.join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    sh(&format!(
        "head -c 1073741824 /dev/urandom > {}/gib",
        src.display()
    ));
    let target = ssh_target(&env, "ectest");
    let (s, d) = (
        format!("{}/", src.display()),
        format!("x:{}/", dst.display()),
    );
    econtext(&args(&["rsync"], &target, &["--", "-a", &s, &d]), &[]);
    assert_eq!(sha256(&dst.join("gib")), sha256(&src.join("gib")));
}

#[test]
fn scp_in_sftp_mode_and_with_o_and_sftp_batch() {
    need("scp");
    need("sftp");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-scp");
    tree(&t.join("src"), 3, 3 << 20);
    let big = t.join("src/big.bin");
    let target = ssh_target(&env, "ectest");
    let b = big.display().to_string();
    for (mode, name) in [("-s", "up-sftp"), ("-O", "up-scp")] {
        let d = format!("h:{}", t.join(name).display());
        econtext(&args(&["scp"], &target, &["--", mode, &b, &d]), &[]);
        assert_eq!(sha256(&t.join(name)), sha256(&big), "{mode}");
        let down = t.join(format!("{name}-back"));
        let down_s = down.display().to_string();
        econtext(&args(&["scp"], &target, &["--", mode, &d, &down_s]), &[]);
        assert_eq!(sha256(&down), sha256(&big), "{mode}");
    }
    // scp -r of a tree.
    let r = format!("h:{}", t.join("tree").display());
    let s = t.join("src").display().to_string();
    econtext(&args(&["scp"], &target, &["--", "-r", &s, &r]), &[]);
    same_tree(&t.join("src"), &t.join("tree"));
    // sftp batch: put, ls, get; no host given: `econtext` is added.
    let batch = t.join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {b} {dir}/put.bin\nls {dir}\nget {dir}/put.bin {dir}/got.bin\n",
            dir = t.join("").display()
        ),
    )
    .unwrap();
    let bs = batch.display().to_string();
    let out = econtext(&args(&["sftp"], &target, &["--", "-b", &bs]), &[]);
    assert_eq!(sha256(&t.join("got.bin")), sha256(&big));
    assert!(
        text(&out.stdout).contains("put.bin"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn git_clone_and_push() {
    need("git");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-git");
    let repo = t.join("repo.git");
    sh(&format!(
        "git init -q --bare {r} && chown -R ectest {r}",
        r = repo.display()
    ));
    let target = ssh_target(&env, "ectest");
    let url = format!("origin:{}", repo.display());
    let work = t.join("work").display().to_string();
    econtext(
        &args(&["git"], &target, &["--", "clone", "-q", &url, &work]),
        &[],
    );
    sh(&format!(
        "cd {work} && echo one > one && git add one && git -c user.name=t -c user.email=t@e commit -qm one"
    ));
    econtext(
        &args(
            &["git"],
            &target,
            &["--", "-C", &work, "push", "-q", "origin", "HEAD:main"],
        ),
        &[],
    );
    assert!(sh(&format!(
        "git -c safe.directory='*' -C {} log --oneline main",
        repo.display()
    ))
    .contains("one"));
    // Protocol v2 (GIT_PROTOCOL forwarded by SendEnv) for a fresh clone with the commit.
    let again = t.join("again").display().to_string();
    econtext(
        &args(
            &["git"],
            &target,
            &[
                "--",
                "-c",
                "protocol.version=2",
                "clone",
                "-q",
                "-b",
                "main",
                &url,
                &again,
            ],
        ),
        &[],
    );
    assert_eq!(
        std::fs::read_to_string(t.join("again/one")).unwrap(),
        "one\n"
    );
}

/// ssh to the bastion as ecpass, sudo to ectarget, ssh on to the internal host.
fn seed_chain(env: &TestEnv) -> String {
    format!(
        "ssh:ecpass@{}/sudo:ectarget/ssh:ectarget@{}",
        env.bastion, env.internal
    )
}

/// The seed's chain: ssh to the bastion with a password, sudo (requiretty, password) to the
/// account that holds the key, ssh on to the internal host that only the bastion reaches.
#[test]
fn rsync_scp_sftp_and_git_through_bastion_sudo_internal() {
    need("rsync");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-chain");
    tree(&t.join("src"), 50, 1 << 20);
    let chain = seed_chain(&env);
    let kh = env.known_hosts.display().to_string();
    let opts = [
        chain.as_str(),
        "--known-hosts",
        &kh,
        "--password-env",
        "EC_PW",
    ];
    let pw = [("EC_PW", env.pw_ecpass.as_str())];
    let (s, d) = (
        format!("{}/", t.join("src").display()),
        format!("internal:{}/", t.join("dst").display()),
    );
    econtext(
        &args(
            &["rsync"],
            &[],
            &[&opts[..], &["--", "-a", &s, &d]].concat(),
        ),
        &pw,
    );
    same_tree(&t.join("src"), &t.join("dst"));
    assert_eq!(
        sh(&format!("stat -c %U {}", t.join("dst/big.bin").display())).trim(),
        "ectarget"
    );
    let big = t.join("src/big.bin").display().to_string();
    let up = format!("internal:{}", t.join("scp.bin").display());
    econtext(
        &args(&["scp"], &[], &[&opts[..], &["--", &big, &up]].concat()),
        &pw,
    );
    assert_eq!(sha256(&t.join("scp.bin")), sha256(&t.join("src/big.bin")));
    let batch = t.join("batch");
    std::fs::write(
        &batch,
        format!(
            "get {} {}\n",
            t.join("scp.bin").display(),
            t.join("sftp.bin").display()
        ),
    )
    .unwrap();
    let bs = batch.display().to_string();
    econtext(
        &args(&["sftp"], &[], &[&opts[..], &["--", "-b", &bs]].concat()),
        &pw,
    );
    assert_eq!(sha256(&t.join("sftp.bin")), sha256(&t.join("src/big.bin")));
    let repo = t.join("r.git");
    sh(&format!(
        "git init -q --bare {r} && chown -R ectarget {r}",
        r = repo.display()
    ));
    let url = format!("internal:{}", repo.display());
    let work = t.join("w").display().to_string();
    econtext(
        &args(
            &["git"],
            &[],
            &[&opts[..], &["--", "clone", "-q", &url, &work]].concat(),
        ),
        &pw,
    );
    // The password never shows on the tool's command line (we only passed it by variable).
}

/// Runs the fake ssh (this test binary acting as econtext's client) with `env`, as `user`
/// (None: ourselves), with `ssh_args`; returns its output.
fn fake_ssh(
    vars: &[(String, String)],
    user: Option<&str>,
    ssh_args: &[&str],
    stdin: &[u8],
) -> Output {
    let env = testenv();
    let mut argv: Vec<String> = match (user, &env) {
        (Some(u), Some(e)) => e.as_user(u),
        _ => vec![],
    };
    argv.push(CLI.into());
    argv.extend(ssh_args.iter().map(|s| s.to_string()));
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut w = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = w.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

#[test]
fn the_way_back_refuses_other_users_and_wrong_tokens() {
    let Some(_env) = testenv() else { return };
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let gw = econtext::fakessh::Gateway::start(&ctx).unwrap();
    let vars = gw.env();
    // Our own fake ssh: served.
    let out = fake_ssh(&vars, None, &["host", "echo", "ok"], b"");
    assert_eq!(text(&out.stdout), "ok\n", "{}", text(&out.stderr));
    assert!(out.status.success());
    // Another local user with the very same variables (it learned the token): refused.
    let tmp = TempDir::new("fakessh-refuse");
    let marker = tmp.join("ran");
    let line = format!("touch {}", marker.display());
    for user in ["ecnope", "ectest"] {
        let out = fake_ssh(&vars, Some(user), &["host", &line], b"");
        assert_eq!(
            out.status.code(),
            Some(255),
            "{user}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("refused uid"),
            "{}",
            text(&out.stderr)
        );
    }
    // Ourselves without the token, or with a wrong one: refused.
    let mut wrong = vars.clone();
    wrong[1].1 = "0".repeat(64);
    let out = fake_ssh(&wrong, None, &["host", &line], b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stderr).contains("wrong token"),
        "{}",
        text(&out.stderr)
    );
    let out = fake_ssh(&vars[..1], None, &["host", &line], b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(!marker.exists(), "a refused invocation ran its command");
    // A bad ssh command line is refused with the reason.
    let out = fake_ssh(&vars, None, &["-p"], b"");
    assert_eq!(out.status.code(), Some(255));
    assert!(!text(&out.stderr).is_empty());
    drop(gw);
    ctx.shutdown().unwrap();
}

#[test]
fn ten_sequential_and_two_concurrent_invocations_exit_codes_stderr_and_stdin() {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let gw = econtext::fakessh::Gateway::start(&ctx).unwrap();
    let vars = gw.env();
    for i in 0..10 {
        let line = format!("echo out{i}; echo err{i} >&2; exit {i}");
        let out = fake_ssh(
            &vars,
            None,
            &["-x", "-T", "-oForwardAgent=no", "-l", "u", "h", &line],
            b"",
        );
        assert_eq!(text(&out.stdout), format!("out{i}\n"));
        assert_eq!(text(&out.stderr), format!("err{i}\n"));
        assert_eq!(out.status.code(), Some(i));
    }
    // Words joined with spaces and run by the account's shell in its home.
    let out = fake_ssh(
        &vars,
        None,
        &["h", "--", "cd", "&&", "pwd;", "echo", "$0"],
        b"",
    );
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    assert!(
        text(&out.stdout).starts_with(&format!("{home}\n")),
        "{}",
        text(&out.stdout)
    );
    // Two at once, each streaming 4 MiB of stdin through `cat` and back.
    let data: Vec<u8> = (0..4 << 20).map(|i: usize| (i * 31 / 7) as u8).collect();
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let (vars, data) = (vars.clone(), data.clone());
            std::thread::spawn(move || {
                let out = fake_ssh(&vars, None, &["h", "cat"], &data);
                assert!(out.status.success(), "{}", text(&out.stderr));
                assert!(out.stdout == data, "{} bytes back", out.stdout.len());
            })
        })
        .collect();
    for t in ts {
        t.join().unwrap();
    }
    // A killed remote command reports 128 + N, as ssh does.
    let out = fake_ssh(&vars, None, &["h", "kill -TERM $$"], b"");
    assert_eq!(out.status.code(), Some(143));
    // A command that does not exist: 127 with the shell's message.
    let out = fake_ssh(&vars, None, &["h", "no-such-program-ec"], b"");
    assert_eq!(out.status.code(), Some(127));
    drop(gw);
    ctx.shutdown().unwrap();
}

#[test]
fn ctrl_c_mid_transfer_leaves_nothing_running() {
    need("rsync");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-intr");
    tree(&t.join("src"), 1, 64 << 20);
    let target = ssh_target(&env, "ectest");
    let (s, d) = (
        format!("{}/", t.join("src").display()),
        format!("x:{}/", t.join("dst").display()),
    );
    let mut a = vec!["rsync".to_string()];
    a.extend(target.iter().cloned());
    a.extend(["--".into(), "-a".into(), "--bwlimit=2000".into(), s, d]);
    // In a process group of its own, as a terminal's foreground job would be.
    let mut child = Command::new("setsid")
        .arg(CLI)
        .args(&a)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = t.join("dst").display().to_string();
    assert!(
        eventually(15000, || !processes_matching(&marker).is_empty()),
        "the remote rsync never started"
    );
    std::thread::sleep(Duration::from_millis(800));
    sh(&format!("kill -s INT -- -{}", child.id()));
    let st = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!st.success(), "{err}");
    let src_marker = t.join("src").display().to_string();
    assert!(
        eventually(5000, || processes_matching(&marker).is_empty()
            && processes_matching(&src_marker).is_empty()),
        "left running: {:?} {:?}",
        processes_matching(&marker),
        processes_matching(&src_marker)
    );
}

/// FROM runs under a read-only root (bwrap): the fake ssh lives in a memfd, nothing is
/// written there; TO is another account reached by sudo.
#[test]
fn remote_fakessh_between_two_contexts_under_a_read_only_root() {
    need("rsync");
    need("bwrap");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-remote");
    tree(&t.join("src"), 30, 1 << 20);
    let wrapper = env.script(
        "ro-python",
        &format!(
            "#!/bin/sh\nexec bwrap --ro-bind / / --dev /dev --proc /proc --die-with-parent -- {} \"$@\"\n",
            python()
        ),
    );
    let router = quiet_router();
    let from = router
        .connect(&Local::new().python(wrapper.display().to_string()))
        .unwrap();
    let ro = from
        .call("os.access", vec!["/tmp".into(), Value::Int(2)])
        .unwrap();
    assert_eq!(ro, Value::Bool(false), "FROM's root is not read-only");
    let to = router.connect(&BecomeUser::sudo("ectarget")).unwrap();
    let s = format!("{}/", t.join("src").display());
    let d = format!("appserver:{}/", t.join("dst").display());
    let p = from.fakessh(&to, ["rsync", "-a", &s, &d]).unwrap();
    let st = p.wait().unwrap();
    assert!(st.success(), "{st:?}");
    same_tree(&t.join("src"), &t.join("dst"));
    assert_eq!(
        sh(&format!("stat -c %U {}", t.join("dst/big.bin").display())).trim(),
        "ectarget"
    );
    // scp and sftp take the memfd as their program (-S); git its command line.
    let big = t.join("src/big.bin").display().to_string();
    let up = format!("appserver:{}", t.join("scp.bin").display());
    let p = from.fakessh(&to, ["scp", &big, &up]).unwrap();
    assert!(p.wait().unwrap().success());
    assert_eq!(sha256(&t.join("scp.bin")), sha256(&t.join("src/big.bin")));
    // Without a memfd: rsync gets `python -c`; scp fails with the cause.
    let d2 = format!("appserver:{}/", t.join("dst2").display());
    let p = from
        .process(["rsync", "-a", &s, &d2])
        .env("ECONTEXT_FAKESSH_MEMFD", "0")
        .ssh_to(&to)
        .unwrap();
    assert!(p.wait().unwrap().success());
    same_tree(&t.join("src"), &t.join("dst2"));
    let p = from
        .process(["scp", &big, &up])
        .env("ECONTEXT_FAKESSH_MEMFD", "0")
        .ssh_to(&to)
        .unwrap();
    match p.wait() {
        Err(econtext::Error::Remote(r)) => {
            assert!(r.message.contains("without writing to disk"), "{r:?}")
        }
        other => panic!("{other:?}"),
    }
    from.shutdown().unwrap();
    to.shutdown().unwrap();
}

/// `econtext run FROM --ssh-to TO` over the namespace topology: FROM and TO share the
/// bastion connection (one ssh to it), TO is behind sudo with requiretty and a password.
#[test]
fn run_ssh_to_shares_the_bastion_and_reaches_a_sudo_account() {
    need("rsync");
    let Some(env) = testenv() else { return };
    let t = TempDir::new("fakessh-runto");
    tree(&t.join("src"), 20, 256 << 10);
    let from = seed_chain(&env);
    let to = format!("ssh:ecpass@{}/sudo:ectarget", env.bastion);
    let s = format!("{}/", t.join("src").display());
    let d = format!("web:{}/", t.join("dst").display());
    let line = format!("rsync -a {s} {d} && sleep 1.5");
    let kh = env.known_hosts.display().to_string();
    let mut child = Command::new(CLI)
        .args([
            "run",
            &from,
            "--ssh-to",
            &to,
            "--known-hosts",
            &kh,
            "--password-env",
            "EC_PW",
            "--",
            "sh",
            "-c",
            &line,
        ])
        .env("EC_PW", &env.pw_ecpass)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let me = child.id();
    let bastion = env.bastion.clone();
    let sshs = || {
        children_of(me)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .map(|c| text(&c).contains(&bastion))
                    .unwrap_or(false)
            })
            .count()
    };
    assert!(
        eventually(20000, || t.join("dst/big.bin").exists()),
        "rsync did not run"
    );
    assert_eq!(sshs(), 1, "FROM and TO should share one ssh to the bastion");
    let st = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "{err}");
    same_tree(&t.join("src"), &t.join("dst"));
    assert!(!err.contains(&env.pw_ecpass));
}

#[test]
fn sftp_subsystem_is_found_from_sshd_config() {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let t = TempDir::new("fakessh-sub");
    let conf = t.join("sshd_config");
    std::fs::write(&conf, "# c\nSubsystem\tsftp\t/bin/cat -x\n").unwrap();
    let found = ctx
        .call(
            "econtext_process.subsystem",
            vec!["sftp".into(), conf.display().to_string().into()],
        )
        .unwrap();
    assert_eq!(found, Value::from("/bin/cat -x"));
    std::fs::write(&conf, "Subsystem sftp internal-sftp\n").unwrap();
    let found = ctx
        .call(
            "econtext_process.subsystem",
            vec!["sftp".into(), conf.display().to_string().into()],
        )
        .unwrap();
    assert!(
        matches!(&found, Value::Str(s) if s.ends_with("sftp-server")),
        "{found:?}"
    );
    let missing = ctx.call(
        "econtext_process.subsystem",
        vec!["nosuch".into(), conf.display().to_string().into()],
    );
    assert!(
        matches!(&missing, Err(econtext::Error::Remote(r)) if r.message.contains("no nosuch subsystem")),
        "{missing:?}"
    );
    ctx.shutdown().unwrap();
}

/// fakessh with Python 2.4-2.6 on both sides (econtext_fakessh, its client and
/// econtext_process in 2.4's syntax): rsync between two old contexts (FROM runs the tool, TO
/// serves its ssh), and the host's way back (`Gateway`) to an old context with stdin, stdout,
/// stderr and exit codes. Without `memfd_create` and `ctypes` (2.4) the fake ssh is a
/// `python -c` line: rsync works, scp fails with the cause; 2.5 and 2.6 make the memfd with
/// ctypes and scp works.
#[test]
fn fakessh_on_old_pythons() {
    need("rsync");
    need("scp");
    let Some(_env) = testenv() else { return };
    let router = quiet_router();
    for py in old_interpreters() {
        let p = py.display().to_string();
        let t = TempDir::new("fakessh-old");
        tree(&t.join("src"), 30, 256 << 10);
        let from = router.connect(&Local::new().python(&p)).unwrap();
        let to = router
            .connect(&BecomeUser::sudo("ectarget").python(&p))
            .unwrap();
        let s = format!("{}/", t.join("src").display());
        let d = format!("appserver:{}/", t.join("dst").display());
        let st = from
            .fakessh(&to, ["rsync", "-a", &s, &d])
            .unwrap()
            .wait()
            .unwrap();
        assert!(st.success(), "{p}: {st:?}");
        same_tree(&t.join("src"), &t.join("dst"));
        assert_eq!(
            sh(&format!("stat -c %U {}", t.join("dst/big.bin").display())).trim(),
            "ectarget",
            "{p}"
        );
        let big = t.join("src/big.bin").display().to_string();
        let up = format!("appserver:{}", t.join("scp.bin").display());
        let r = from.fakessh(&to, ["scp", &big, &up]).unwrap().wait();
        if p.contains("/2.4/") {
            match r {
                Err(econtext::Error::Remote(e)) => {
                    assert!(e.message.contains("without writing to disk"), "{p}: {e:?}")
                }
                other => panic!("{p}: {other:?}"),
            }
        } else {
            assert!(r.unwrap().success(), "{p}");
            assert_eq!(sha256(&t.join("scp.bin")), sha256(&t.join("src/big.bin")));
        }
        // The host's way back, served on an old context.
        let gw = econtext::fakessh::Gateway::start(&to).unwrap();
        let vars = gw.env();
        let out = fake_ssh(&vars, None, &["h", "echo out; echo err >&2; exit 3"], b"");
        assert_eq!(text(&out.stdout), "out\n", "{p}");
        assert_eq!(text(&out.stderr), "err\n", "{p}");
        assert_eq!(out.status.code(), Some(3), "{p}");
        let data: Vec<u8> = (0..1 << 20).map(|i: usize| (i * 31 / 7) as u8).collect();
        let out = fake_ssh(&vars, None, &["h", "cat"], &data);
        assert!(out.stdout == data, "{p}: {} bytes back", out.stdout.len());
        drop(gw);
        from.shutdown().unwrap();
        to.shutdown().unwrap();
    }
}
