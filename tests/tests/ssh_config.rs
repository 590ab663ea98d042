//! Your ssh config rules: with no host-key option given, econtext passes none, so `User`,
//! `Port`, `IdentityFile`, `ProxyJump`, `StrictHostKeyChecking`, `UserKnownHostsFile` and
//! `Host` aliases of a config file decide, against the private sshd of tests/env/up.sh.

use std::process::Command;

use econtext::{ConnectFailure, Error, Value};
use econtext_tests::*;

/// A config file in the test environment's directory with these `Host` blocks.
fn config(env: &TestEnv, tag: &str) -> std::path::PathBuf {
    let key = env.client_key.display();
    let kh = env.known_hosts.display();
    let port = env.ssh_port;
    let text = format!(
        "\
Host lab
    HostName 127.0.0.1
    Port {port}
    User ectest
    IdentityFile {key}
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
Host lab-known
    HostName 127.0.0.1
    Port {port}
    User ectest
    IdentityFile {key}
    StrictHostKeyChecking yes
    UserKnownHostsFile {kh}
Host lab-unknown
    HostName 127.0.0.1
    Port {port}
    User ectest
    IdentityFile {key}
    UserKnownHostsFile /dev/null
Host bastion-jump
    HostName {bastion}
    User ectest
    IdentityFile {key}
    UserKnownHostsFile {kh}
Host internal-behind
    HostName {internal}
    User ectest
    IdentityFile {key}
    UserKnownHostsFile {kh}
    ProxyJump bastion-jump
",
        bastion = env.bastion,
        internal = env.internal,
    );
    let p = env
        .dir
        .join(format!("ssh_config-{tag}-{}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_cli_follows_a_config_file_for_every_setting() {
    let Some(env) = testenv() else { return };
    let cfg = config(&env, "cli");
    let cfg = cfg.to_string_lossy();
    let ectest = uid_number("ectest").to_string();
    // Alias, HostName, Port, User, IdentityFile from the file; StrictHostKeyChecking=no with
    // UserKnownHostsFile=/dev/null accepts the unknown key, as the file says.
    for host in ["ssh:lab", "ssh:lab-known"] {
        let out = cli(&["call", host, "-F", &cfg, "os.getuid"]);
        assert!(
            out.status.success(),
            "{host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            ectest,
            "{host}"
        );
    }
    // Where the file says nothing about StrictHostKeyChecking, ssh's own default refuses an
    // unknown key in BatchMode: the default got no weaker.
    let out = cli(&["call", "ssh:lab-unknown", "--ssh-config", &cfg, "os.getuid"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("host key unknown"), "{err}");
    // An explicit policy still overrides the file.
    let out = cli(&[
        "call",
        "ssh:lab-unknown",
        "-F",
        &cfg,
        "--host-key",
        "ignore",
        "os.getuid",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "call",
        "ssh:lab",
        "-F",
        &cfg,
        "--host-key",
        "enforce",
        "os.getuid",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "enforce must override the file's 'no'"
    );
    // ProxyJump: the internal host is reachable only through the bastion.
    let out = cli(&[
        "call",
        "ssh:internal-behind",
        "-F",
        &cfg,
        "socket.gethostname",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let direct = cli(&[
        "call",
        &format!("ssh:ectest@{}", env.internal),
        "-i",
        &env.client_key.to_string_lossy(),
        "--known-hosts",
        &env.known_hosts.to_string_lossy(),
        "--connect-timeout",
        "3",
        "os.getuid",
    ]);
    assert_eq!(
        direct.status.code(),
        Some(3),
        "the internal host must not be reachable without the jump"
    );
    let _ = std::fs::remove_file(&*cfg);
}

#[test]
fn the_library_follows_a_config_file_too() {
    let Some(env) = testenv() else { return };
    let cfg = config(&env, "lib");
    let router = quiet_router();
    let ctx = router
        .connect(&econtext::Ssh::new("lab").config_file(&cfg))
        .unwrap();
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_number("ectest"))
    );
    assert_eq!(ctx.name(), "ssh:lab");
    match router.connect(&econtext::Ssh::new("lab-unknown").config_file(&cfg)) {
        Err(Error::Connect {
            failure: ConnectFailure::HostKeyUnknown,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    ctx.shutdown().unwrap();
    let _ = std::fs::remove_file(&cfg);
}
