//! put_tree and get_tree: round trips on every interpreter (files,
//! modes, empty and read-only directories, symlinks), owner through sudo, devices refused
//! before anything is sent, a far end that sends `..` or writes through a symlink refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use econtext::{
    BecomeUser, Error, FileErrorKind, GetOptions, Local, Meter, PutOptions, TreeTransfer, Value,
};
use econtext_tests::*;

/// A scratch directory every test user can enter, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("ectx-trees-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        Scratch(d)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Read-only directories inside first, so everything can go.
        let _ = Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// src/: files of several sizes and modes, a nested and an empty directory, a read-only
/// directory with a file in it, a relative symlink and a dangling one.
fn make_tree(top: &Path) -> u64 {
    make_tree_sized(top, 3 << 20)
}

/// [`make_tree`] with a `big.bin` of `big` bytes.
fn make_tree_sized(top: &Path, big: usize) -> u64 {
    let mut total = 0;
    std::fs::create_dir_all(top.join("etc/app/conf.d")).unwrap();
    std::fs::create_dir_all(top.join("empty")).unwrap();
    std::fs::create_dir_all(top.join("ro")).unwrap();
    for (name, size, mode) in [
        ("etc/app/app.conf", 1000, 0o644),
        ("etc/app/conf.d/10-x.conf", 0, 0o600),
        ("run.sh", 300, 0o755),
        ("big.bin", big, 0o640),
        ("ro/inside", 10, 0o444),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(top.join(name), &data).unwrap();
        std::fs::set_permissions(top.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
        total += size as u64;
    }
    std::os::unix::fs::symlink("app/app.conf", top.join("etc/current")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", top.join("dangling")).unwrap();
    std::fs::set_permissions(top.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    total
}

/// Both trees hold the same names, kinds, contents, symlink targets and file modes.
fn same_tree(a: &Path, b: &Path) {
    let list = |d: &Path| {
        let mut v: Vec<String> = walk(d)
            .into_iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(a), list(b));
    for p in walk(a) {
        let rel = p.strip_prefix(a).unwrap();
        let q = b.join(rel);
        let (ma, mb) = (
            std::fs::symlink_metadata(&p).unwrap(),
            std::fs::symlink_metadata(&q).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", rel.display());
        if ma.file_type().is_symlink() {
            assert_eq!(
                std::fs::read_link(&p).unwrap(),
                std::fs::read_link(&q).unwrap()
            );
        } else if ma.is_file() {
            assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&q).unwrap());
            assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{}", rel.display());
        } else {
            assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{}", rel.display());
        }
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn trees_round_trip_on_every_interpreter() {
    let s = Scratch::new("round");
    let src = s.path("src");
    let router = quiet_router();
    for (i, py) in every_python().iter().enumerate() {
        // 2.4 hashes in pure Python (~0.35 MB/s): the same tree with a smaller big file.
        let src = if py.starts_with("/opt/extra-pythons/2.4") {
            s.path("src-small")
        } else {
            src.clone()
        };
        if !src.exists() {
            let big = if src.ends_with("src-small") {
                64 << 10
            } else {
                3 << 20
            };
            make_tree_sized(&src, big);
        }
        let total: u64 = walk(&src)
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).unwrap().is_file())
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        let ctx = router
            .connect(&Local::new().python(py.to_string_lossy()))
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        let meter = Arc::new(Meter::default());
        let dst = s.path(&format!("dst{i}"));
        let o = PutOptions {
            meter: Some(meter.clone()),
            ..Default::default()
        };
        let t = ctx
            .put_tree(&src, &dst.display().to_string(), &o)
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        assert_eq!(
            t,
            TreeTransfer {
                files: 5,
                dirs: 6,
                symlinks: 2,
                bytes: total,
                skipped: 0
            },
            "{}",
            py.display()
        );
        assert_eq!((meter.done(), meter.total()), (total, Some(total)));
        same_tree(&src, &dst);
        // Again with skip_unchanged: nothing is sent.
        let again = PutOptions {
            skip_unchanged: true,
            ..Default::default()
        };
        let t = ctx
            .put_tree(&src, &dst.display().to_string(), &again)
            .unwrap();
        assert_eq!((t.skipped, t.bytes), (5, 0), "{}", py.display());
        // And back.
        let back = s.path(&format!("back{i}"));
        let g = GetOptions {
            preserve: true,
            ..Default::default()
        };
        let t = ctx
            .get_tree(&dst.display().to_string(), &back, &g)
            .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
        assert_eq!((t.files, t.symlinks, t.bytes), (5, 2, total));
        same_tree(&src, &back);
        ctx.shutdown().unwrap();
    }
}

#[test]
fn specials_are_refused_before_anything_is_sent_and_files_are_not_directories() {
    let s = Scratch::new("special");
    let src = s.path("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/f"), "x").unwrap();
    assert!(Command::new("mkfifo")
        .arg(src.join("d/pipe"))
        .status()
        .unwrap()
        .success());
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let dst = s.path("dst");
    match ctx.put_tree(&src, &dst.display().to_string(), &PutOptions::default()) {
        Err(Error::File {
            kind: FileErrorKind::NotRegular,
            path,
            ..
        }) => assert!(path.ends_with("d/pipe"), "{path}"),
        other => panic!("{other:?}"),
    }
    assert!(!dst.exists(), "something was sent");
    // A file where a directory is asked for, on either side.
    std::fs::remove_file(src.join("d/pipe")).unwrap();
    let file = s.path("file");
    std::fs::write(&file, "x").unwrap();
    let r = ctx.put_tree(&file, &dst.display().to_string(), &PutOptions::default());
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::NotADirectory,
                ..
            })
        ),
        "{r:?}"
    );
    let r = ctx.put_tree(&src, &file.display().to_string(), &PutOptions::default());
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::NotADirectory,
                ..
            })
        ),
        "{r:?}"
    );
    let r = ctx.get_tree(&file.display().to_string(), &dst, &GetOptions::default());
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::NotADirectory,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_far_end_that_sends_dotdot_is_refused() {
    // A compromised context answers the walk with a path that climbs out of LOCAL.
    let s = Scratch::new("dotdot");
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let evil = "import econtext_files\n\
        def walk(path, opts):\n    yield (b'../escaped', u'f', 420, 1, 0.0, 0.0, b'')\n\
        econtext_files.walk = walk\n";
    ctx.call("builtins.exec", vec![evil.into(), Value::Dict(vec![])])
        .unwrap();
    let local = s.path("in");
    let r = ctx.get_tree("/tmp", &local, &GetOptions::default());
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::BadPath,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(!s.path("escaped").exists());
}

#[test]
fn a_far_end_cannot_write_through_a_symlink_it_sent() {
    // The tar attack: a symlink to somewhere else, then a file "inside" it.
    let s = Scratch::new("through");
    let outside = s.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let evil = format!(
        "import econtext_files\n\
        def walk(path, opts):\n    yield (b'a', u'l', 511, 0, 0.0, 0.0, b'{}')\n\
        \x20   yield (b'a/planted', u'f', 420, 1, 0.0, 0.0, b'')\n\
        econtext_files.walk = walk\n",
        outside.display()
    );
    ctx.call("builtins.exec", vec![evil.into(), Value::Dict(vec![])])
        .unwrap();
    let r = ctx.get_tree("/tmp", &s.path("in"), &GetOptions::default());
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::BadPath,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        !outside.join("planted").exists(),
        "written through the symlink"
    );
    // A symlink already here is not a directory to fill either (an honest context).
    ctx.shutdown().unwrap();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    std::fs::create_dir(s.path("in2")).unwrap();
    std::os::unix::fs::symlink(&outside, s.path("in2/a")).unwrap();
    let src = s.path("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("a/f"), "x").unwrap();
    let r = ctx.get_tree(
        &src.display().to_string(),
        &s.path("in2"),
        &GetOptions::default(),
    );
    assert!(
        matches!(
            r,
            Err(Error::File {
                kind: FileErrorKind::NotADirectory,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(!outside.join("f").exists());
}

#[test]
fn a_tree_through_sudo_belongs_to_the_account() {
    let Some(_env) = testenv() else { return };
    let s = Scratch::new("sudo");
    let src = s.path("src");
    make_tree(&src);
    // ectarget can read the source only through the host: root's tree, 0700.
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o700)).unwrap();
    let router = quiet_router();
    let ctx = router
        .connect(&BecomeUser::sudo("ectarget").python("/usr/bin/python3"))
        .unwrap();
    let dst = s.path("dst");
    ctx.put_tree(&src, &dst.display().to_string(), &PutOptions::default())
        .unwrap();
    let uid = uid_number("ectarget") as u32;
    for p in walk(&dst) {
        assert_eq!(
            std::fs::symlink_metadata(&p).unwrap().uid(),
            uid,
            "{}",
            p.display()
        );
    }
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
    same_tree(&src, &dst);
}

#[test]
fn many_small_files_in_flight_over_ssh_and_a_failure_among_them() {
    // More small files than are kept in flight: each goes inline with its call, several
    // outstanding; every one lands, and a failing one is reported.
    let Some(env) = testenv() else { return };
    let s = Scratch::new("many");
    let src = s.path("src");
    for d in 0..5 {
        std::fs::create_dir_all(src.join(format!("d{d}"))).unwrap();
        for f in 0..40 {
            let data = format!("file {d}/{f} ").repeat(f + 1);
            std::fs::write(src.join(format!("d{d}/f{f:02}")), data).unwrap();
        }
    }
    let router = quiet_router();
    let ctx = router
        .connect(&env.ssh("ectest").python("/usr/bin/python3"))
        .unwrap();
    let dst = s.path("dst");
    let t = ctx
        .put_tree(&src, &dst.display().to_string(), &PutOptions::default())
        .unwrap();
    assert_eq!((t.files, t.dirs), (200, 6));
    same_tree(&src, &dst);
    let owner = uid_number("ectest") as u32;
    assert_eq!(std::fs::metadata(dst.join("d3/f07")).unwrap().uid(), owner);
    // With overwrite off, the files already there fail the put, by name.
    let o = PutOptions {
        overwrite: false,
        ..Default::default()
    };
    match ctx.put_tree(&src, &dst.display().to_string(), &o) {
        Err(Error::File {
            kind: FileErrorKind::Exists,
            path,
            ..
        }) => assert!(path.contains("/dst/d"), "{path}"),
        other => panic!("{other:?}"),
    }
}
