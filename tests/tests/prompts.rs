//! Passwords asked of a person: for any hop of a chain, with a prompt that names the hop and
//! the account (never the internal nonce prompt), off the broker thread so every other
//! connection keeps being served while the person types.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use econtext::{
    BecomeUser, ConnectFailure, Error, Local, Password, PasswordRequest, Router, RouterOptions,
    Value,
};
use econtext_tests::*;

/// The CLI on a terminal (`script`), with us as the person typing.
struct Term {
    child: Child,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Term {
    fn start(cmdline: &str) -> Term {
        let mut child = Command::new("script")
            .args(["-qec", cmdline, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Term { child, seen }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Wait until the terminal shows `what`; returns everything shown so far.
    fn expect(&self, what: &str) -> String {
        assert!(
            eventually(30_000, || self.text().contains(what)),
            "the terminal never showed {what:?}; it shows:\n{}",
            self.text()
        );
        self.text()
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    fn finish(mut self) -> (Option<i32>, String) {
        let st = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (st.code(), self.text())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn two_hops(env: &TestEnv) -> String {
    format!(
        "{} call ssh:ecpass@127.0.0.1:{}/sudo:ectarget -i /dev/null --known-hosts {} os.getuid",
        env!("CARGO_BIN_EXE_econtext_cli_for_tests"),
        env.ssh_port,
        env.known_hosts.display()
    )
}

#[test]
fn the_cli_asks_every_hops_password_naming_the_hop_and_the_account() {
    let Some(env) = testenv() else { return };
    let mut t = Term::start(&two_hops(&env));
    t.expect("econtext: ssh:ecpass@127.0.0.1: ecpass@127.0.0.1's password:");
    t.type_line(&env.pw_ecpass);
    let want = format!(
        "econtext: ssh:ecpass@127.0.0.1/sudo:ectarget: [sudo] password for ecpass on {}, to become ectarget:",
        hostname()
    );
    t.expect(&want);
    t.type_line(&env.pw_ecpass);
    let (code, text) = t.finish();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&uid_number("ectarget").to_string()), "{text}");
    assert!(
        !text.contains("econtext-") || !text.contains("-password:"),
        "nonce prompt shown: {text}"
    );
    assert!(
        !text.contains(&env.pw_ecpass),
        "a typed password was echoed: {text}"
    );
}

#[test]
fn a_wrong_password_at_hop_two_names_hop_two() {
    let Some(env) = testenv() else { return };
    let mut t = Term::start(&two_hops(&env));
    t.expect("ecpass@127.0.0.1's password:");
    t.type_line(&env.pw_ecpass);
    t.expect("to become ectarget:");
    t.type_line("not-the-password");
    let (code, text) = t.finish();
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("econtext: ssh:ecpass@127.0.0.1/sudo:ectarget: wrong password"),
        "{text}"
    );
}

#[test]
fn a_first_hop_sudo_prompt_is_a_human_one() {
    let Some(env) = testenv() else { return };
    // The CLI runs as ecpass (sudo then wants ecpass's password); it must be readable by them.
    let bin = env.dir.join(format!("econtext-cli-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_econtext_cli_for_tests"), &bin).unwrap();
    let cmd = format!(
        "{} {} call sudo:ectarget --python /usr/bin/python3 os.getuid",
        env.as_user("ecpass").join(" "),
        bin.display()
    );
    let mut t = Term::start(&cmd);
    let want = format!(
        "econtext: sudo:ectarget: [sudo] password for ecpass on {}, to become ectarget:",
        hostname()
    );
    let shown = t.expect(&want);
    assert!(
        !shown.contains("-password:"),
        "the nonce prompt was shown: {shown}"
    );
    t.type_line(&env.pw_ecpass);
    let (code, text) = t.finish();
    let _ = std::fs::remove_file(&bin);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&uid_number("ectarget").to_string()), "{text}");
}

#[test]
fn the_broker_keeps_serving_while_a_person_types() {
    let Some(env) = testenv() else { return };
    let (asked_tx, asked_rx) = mpsc::channel::<PasswordRequest>();
    let (answer_tx, answer_rx) = mpsc::channel::<Option<Password>>();
    let answer_rx = Mutex::new(answer_rx);
    let asked_tx = Mutex::new(asked_tx);
    let o = RouterOptions {
        sink: Arc::new(|_: &econtext::LogEvent| {}),
        ask_password: Some(Arc::new(move |r: &PasswordRequest| {
            asked_tx.lock().unwrap().send(r.clone()).unwrap();
            answer_rx.lock().unwrap().recv().unwrap()
        })),
        ..Default::default()
    };
    let router = Arc::new(Router::with_options(o).unwrap());
    let local = router.connect(&Local::new().python(python())).unwrap();
    let r2 = router.clone();
    let m = BecomeUser::sudo("ectarget")
        .prefix(env.as_user("ecpass"))
        .python("/usr/bin/python3");
    let first = std::thread::spawn(move || r2.connect(&m));
    let req = asked_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(req.hop, "sudo:ectarget");
    assert_eq!(req.kind, "sudo");
    // (The setpriv prefix changes the user behind the host's back: only the machine is known.)
    assert!(
        req.account.ends_with(&format!(" on {}", hostname())),
        "{req:?}"
    );
    assert!(!req.prompt.contains("econtext-"), "{req:?}");
    // While the "person" thinks, beyond the connect timeout's worth of calls, others are served.
    let t = Instant::now();
    for _ in 0..50 {
        local.call("os.getpid", vec![]).unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    answer_tx
        .send(Some(Password::new(env.pw_ecpass.clone())))
        .unwrap();
    let ctx = first.join().unwrap().unwrap();
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_number("ectarget"))
    );

    // Behind another context: the hop is named by its full path, the account by the via
    // context's user and machine; declining fails with PasswordRequired naming that hop.
    let bastion = router
        .connect(
            &env.ssh("ecpass")
                .identity("/dev/null")
                .password(Password::new(env.pw_ecpass.clone())),
        )
        .unwrap();
    let r3 = router.clone();
    let b2 = bastion.clone();
    let second = std::thread::spawn(move || r3.connect_via(&BecomeUser::sudo("ectarget"), &b2));
    let req = asked_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(req.hop, "ssh:ecpass@127.0.0.1/sudo:ectarget");
    assert_eq!(
        req.prompt,
        format!(
            "[sudo] password for ecpass on {}, to become ectarget:",
            hostname()
        )
    );
    answer_tx.send(None).unwrap();
    match second.join().unwrap() {
        Err(Error::Connect {
            context,
            failure: ConnectFailure::PasswordRequired,
            ..
        }) => assert_eq!(context, "ssh:ecpass@127.0.0.1/sudo:ectarget"),
        other => panic!("{other:?}"),
    }
    assert!(bastion.call("os.getpid", vec![]).is_ok());
}

#[test]
fn a_person_slower_than_the_connect_timeout_is_waited_for() {
    let Some(env) = testenv() else { return };
    let pw = env.pw_ecpass.clone();
    let o = RouterOptions {
        sink: Arc::new(|_: &econtext::LogEvent| {}),
        ask_password: Some(Arc::new(move |_: &PasswordRequest| {
            // Longer than the 2 s connect timeout: typing time is not the connection's fault.
            std::thread::sleep(Duration::from_millis(3500));
            Some(Password::new(pw.clone()))
        })),
        ..Default::default()
    };
    let router = Router::with_options(o).unwrap();
    let m = BecomeUser::sudo("ectarget")
        .prefix(env.as_user("ecpass"))
        .python("/usr/bin/python3")
        .connect_timeout(Duration::from_secs(2));
    let ctx = router.connect(&m).unwrap();
    assert_eq!(
        ctx.call("os.getuid", vec![]).unwrap(),
        Value::Int(uid_number("ectarget"))
    );
}
