//! A put to a group: each byte over each link once (a relay copies the stream for the targets
//! behind it), the relay itself a target, targets failing among the others, a reader read
//! once, unchanged targets skipped; against real sudo and the namespace topology.

use std::path::Path;

use econtext::{BecomeUser, Group, Local, PutOptions, Target, Value};
use econtext_tests::*;

/// A directory everyone may write and replace files in (no sticky bit: the targets, several
/// users on this one machine, all rename their copy to the same name).
fn open_dir(tag: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new(tag);
    std::fs::set_permissions(d.join(""), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// Bytes process `pid` has read so far (`rchar` of /proc/PID/io: every read(2)).
fn read_bytes(pid: i64) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    match v {
        Value::Dict(kv) => kv
            .iter()
            .find(|(k, _)| *k == Value::from(name))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {v:?}")),
        other => panic!("not a transfer: {other:?}"),
    }
}

/// `local/sudo:USER`: a target behind a local context its siblings share.
fn behind_local(name: &str, user: &str) -> Target {
    Target::chain(
        name,
        vec![
            ("local".into(), Box::new(Local::new().python(python()))),
            (format!("sudo:{user}"), Box::new(sudo(user))),
        ],
    )
}

fn sudo(user: &str) -> BecomeUser {
    BecomeUser::sudo(user).python("/usr/bin/python3")
}

/// The namespace topology: the internal host is reachable only from the bastion; three
/// targets there behind one relay on the bastion. The relay reads the file from this host
/// once (a put per target would read it three times), and every target has it.
#[test]
fn behind_a_relay_the_bytes_cross_the_link_once() {
    let Some(env) = testenv() else { return };
    let router = quiet_router();
    let relay = router.connect(&env.bastion("ectest")).unwrap();
    let pid = match relay.call("os.getpid", vec![]).unwrap() {
        Value::Int(p) => p,
        other => panic!("{other:?}"),
    };
    let d = open_dir("gput-relay");
    let size = 8 << 20;
    let data = pseudo_random(size, 1);
    let src = d.join("src");
    std::fs::write(&src, &data).unwrap();
    let dst = d.join("dst").display().to_string();
    let targets = vec![
        Target::new("internal-ectest", env.internal("ectest")),
        Target::new("internal-ectarget", env.internal("ectarget")),
        Target::new("internal-root", env.internal("root")),
        Target::new("internal-ecnope", env.internal("ecnope")),
    ];
    let mut group = Group::new(&router, targets).via(vec![relay.clone()]);
    // Up first, so the count below is the put's alone.
    let up: econtext::Results = group.connect().collect();
    assert_eq!(up.succeeded().count(), 3, "{up:#?}");
    let before = read_bytes(pid);
    let results = group.put(&src, &dst, &PutOptions::default(), |_, _| {});
    let read = read_bytes(pid) - before;
    let want = econtext::sha256_file(&src).unwrap();
    assert_eq!(results.succeeded().count(), 3, "{results:#?}");
    for o in results.succeeded() {
        let v = o.result.as_ref().unwrap();
        assert_eq!(
            field(v, "sha256"),
            &Value::from(want.as_str()),
            "{}",
            o.target
        );
        assert_eq!(field(v, "bytes"), &Value::Int(size as i64));
    }
    let un: Vec<_> = results.unreachable().collect();
    assert_eq!(un.len(), 1, "{results:#?}");
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    assert!(
        read < size as u64 * 3 / 2,
        "the relay read {read} bytes for a {size}-byte file: it was sent more than once"
    );
    group.shutdown();
}

/// The relay is a target too (its own copy goes to a receiver on the same context), the
/// others fail (permission) and are reported, and nothing waits forever (before the fix, a
/// channel with both ends on one context was refused upstream and the put never ended).
#[test]
fn the_relay_as_a_target_and_failures_among_the_targets() {
    let router = quiet_router();
    let d = TempDir::new("gput-self");
    let closed = d.join("root-only");
    std::fs::create_dir(&closed).unwrap();
    let src = d.join("src");
    let data = pseudo_random(3 << 20 | 5, 2);
    std::fs::write(&src, &data).unwrap();
    let dst = closed.join("dst").display().to_string();
    let hop = |n: &str| -> (String, Box<dyn econtext::connect::Method>) {
        if n == "local" {
            (n.into(), Box::new(Local::new().python(python())))
        } else {
            (n.into(), Box::new(sudo(&n[5..])))
        }
    };
    let targets = vec![
        Target::chain("a", vec![hop("local"), hop("sudo:ectarget")]),
        Target::chain("self", vec![hop("local")]),
        Target::chain("b", vec![hop("local"), hop("sudo:ectest")]),
    ];
    let mut group = Group::new(&router, targets);
    let t = std::time::Instant::now();
    let results = group.put(&src, &dst, &PutOptions::default(), |_, _| {});
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    let by = |n: &str| {
        results
            .outcomes
            .iter()
            .find(|o| o.target == n)
            .unwrap_or_else(|| panic!("no outcome for {n}: {results:#?}"))
    };
    assert!(by("self").result.is_ok(), "{results:#?}");
    for n in ["a", "b"] {
        let e = by(n).result.as_ref().unwrap_err();
        assert!(
            matches!(
                e,
                econtext::Error::File {
                    kind: econtext::FileErrorKind::PermissionDenied,
                    ..
                }
            ),
            "{n}: {e}"
        );
    }
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    // No temporary left behind by the failed ones, and nothing by the one that worked.
    let names: Vec<_> = std::fs::read_dir(&closed).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "{names:?}");
    group.shutdown();
}

/// A reader is read once for the whole group; a second put with skip_unchanged sends nothing.
#[test]
fn a_reader_once_for_all_and_unchanged_targets_skipped() {
    let router = quiet_router();
    let d = open_dir("gput-reader");
    let data = pseudo_random(2 << 20 | 77, 3);
    let dst = d.join("dst").display().to_string();
    let targets = vec![behind_local("x", "ectarget"), behind_local("y", "ectest")];
    let mut group = Group::new(&router, targets);
    let results = group.put_reader(&data[..], &dst, &PutOptions::default(), |_, _| {});
    assert_eq!(results.succeeded().count(), 2, "{results:#?}");
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    let src = d.join("src");
    std::fs::write(&src, &data).unwrap();
    let again = PutOptions {
        skip_unchanged: true,
        ..Default::default()
    };
    let results = group.put(Path::new(&src), &dst, &again, |_, _| {});
    assert_eq!(results.succeeded().count(), 2, "{results:#?}");
    for o in results.succeeded() {
        assert_eq!(
            field(o.result.as_ref().unwrap(), "skipped"),
            &Value::Bool(true)
        );
    }
    group.shutdown();
}

/// `econtext put -t A -t B - REMOTE`: stdin is read once and every target gets all of it (each
/// target used to read the one stdin for itself).
#[test]
fn cli_put_from_stdin_to_many_targets() {
    use std::io::Write;
    let d = open_dir("gput-cli");
    let data = pseudo_random(3 << 20 | 11, 4);
    let dst = d.join("dst").display().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_econtext_cli_for_tests"))
        .args([
            "put",
            "-t",
            "local/sudo:ectarget",
            "-t",
            "local/sudo:ectest",
        ])
        .args(["--python", "/usr/bin/python3", "--json", "-", &dst])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches(&data.len().to_string()).count(),
        2,
        "{stdout}"
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);
}
