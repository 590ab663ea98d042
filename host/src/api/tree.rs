//! Directory trees: [`Context::put_tree`] and [`Context::get_tree`] (docs/files.md,
//! "Directories"). Each file moves as [`Context::put`] / [`Context::get`] move one (atomic,
//! verified); directories are made before their files and given their mode and times after
//! them; symlinks are recreated, not followed, unless asked.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use econtext_core::Value;

use super::files::{local_err, opts, remote_err, SMALL};
use super::{Context, FileErrorKind, GetOptions, PutOptions};
use crate::Error;

/// Small files sent before the first answer is waited for.
const IN_FLIGHT: usize = 32;

/// What a tree transfer moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeTransfer {
    /// Regular files sent or fetched (skipped ones included).
    pub files: u64,
    /// Directories, the top one included.
    pub dirs: u64,
    /// Symlinks recreated.
    pub symlinks: u64,
    /// Bytes of file content moved.
    pub bytes: u64,
    /// Files left alone because the destination had the same content (`skip_unchanged`).
    pub skipped: u64,
}

impl TreeTransfer {
    /// As a value: `{"files", "dirs", "symlinks", "bytes", "skipped"}`.
    pub fn to_value(&self) -> Value {
        let n = |v: u64| Value::Int(v as i64);
        Value::Dict(vec![
            ("files".into(), n(self.files)),
            ("dirs".into(), n(self.dirs)),
            ("symlinks".into(), n(self.symlinks)),
            ("bytes".into(), n(self.bytes)),
            ("skipped".into(), n(self.skipped)),
        ])
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Dir,
    File,
    Link(Vec<u8>),
}

/// One entry under a tree's top, by its path relative to it.
#[derive(Debug)]
struct Entry {
    rel: PathBuf,
    kind: Kind,
    mode: u32,
    size: u64,
    times: (f64, f64),
}

fn file_err(context: &str, path: &Path, kind: FileErrorKind, detail: &str) -> Error {
    Error::File {
        context: context.to_string(),
        path: path.display().to_string(),
        kind,
        detail: detail.to_string(),
    }
}

fn secs(t: std::io::Result<std::time::SystemTime>) -> f64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Every entry under `top`, a directory before what it holds, in name order. Anything but
/// directories, files and symlinks is refused (nothing is skipped silently); with `follow`,
/// symlinks are what they point to and a directory reached twice is a loop.
fn walk_local(top: &Path, follow: bool) -> Result<Vec<Entry>, Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = top.join(&rel);
        if follow {
            let m = std::fs::metadata(&dir).map_err(|e| local_err(&dir, e))?;
            if seen.contains(&(m.dev(), m.ino())) {
                return Err(file_err(
                    "local",
                    &dir,
                    FileErrorKind::Symlink,
                    "a symlink loop (a directory reached twice)",
                ));
            }
            seen.push((m.dev(), m.ino()));
        }
        // Names as text (remote paths travel as text: a name that is not UTF-8 is refused
        // here, before anything is sent), sorted.
        let mut names: Vec<String> = Vec::new();
        for e in std::fs::read_dir(&dir).map_err(|e| local_err(&dir, e))? {
            let n = e.map_err(|e| local_err(&dir, e))?.file_name();
            match n.into_string() {
                Ok(n) => names.push(n),
                Err(n) => {
                    return Err(file_err(
                        "local",
                        &dir.join(n),
                        FileErrorKind::BadPath,
                        "a file name that is not UTF-8 cannot be sent",
                    ))
                }
            }
        }
        names.sort();
        let mut subdirs = Vec::new();
        for n in names {
            let r = rel.join(&n);
            let p = top.join(&r);
            let m = if follow {
                std::fs::metadata(&p)
            } else {
                std::fs::symlink_metadata(&p)
            }
            .map_err(|e| local_err(&p, e))?;
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                let t = std::fs::read_link(&p).map_err(|e| local_err(&p, e))?;
                Kind::Link(t.as_os_str().as_bytes().to_vec())
            } else if ft.is_dir() {
                subdirs.push(r.clone());
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                return Err(file_err(
                    "local",
                    &p,
                    FileErrorKind::NotRegular,
                    "a device, fifo or socket cannot be sent (nothing was sent)",
                ));
            };
            out.push(Entry {
                rel: r,
                mode: m.permissions().mode() & 0o7777,
                size: if kind == Kind::File { m.len() } else { 0 },
                times: (secs(m.accessed()), secs(m.modified())),
                kind,
            });
        }
        // Depth first, in name order: push the last first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(out)
}

/// A relative path from the far end, refused unless every component is a plain name (no
/// `..`, no root, nothing empty): a context cannot make a get write outside LOCAL.
fn safe_rel(context: &str, rel: &[u8]) -> Result<PathBuf, Error> {
    let p = Path::new(std::ffi::OsStr::from_bytes(rel));
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(file_err(
            context,
            p,
            FileErrorKind::BadPath,
            "the far end sent a path that is not a plain relative one (refused)",
        ));
    }
    Ok(p.to_path_buf())
}

/// `path` is a directory itself, not a symlink to one.
fn real_dir(path: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(file_err(
            "local",
            path,
            FileErrorKind::NotADirectory,
            "exists and is not a directory (a symlink is not followed)",
        )),
        Err(e) => Err(local_err(path, e)),
    }
}

/// `rel`'s parent is the top or a directory `made` holds.
fn inside(made: &[PathBuf], rel: &Path) -> Result<(), Error> {
    match rel.parent() {
        Some(p) if p.as_os_str().is_empty() || made.iter().any(|m| m == p) => Ok(()),
        _ => Err(file_err(
            "local",
            rel,
            FileErrorKind::BadPath,
            "the far end sent an entry outside the directories it sent (refused)",
        )),
    }
}

/// `remote/rel` as text (remote paths cross as str).
fn remote_join(ctx: &Context, remote: &str, rel: &Path) -> Result<String, Error> {
    let r = rel.to_str().ok_or_else(|| {
        file_err(
            ctx.name(),
            rel,
            FileErrorKind::BadPath,
            "a file name that is not UTF-8 cannot be sent",
        )
    })?;
    Ok(format!("{}/{r}", remote.trim_end_matches('/')))
}

impl Context {
    /// `econtext_files.<f>(*args)` there, its `FileError` typed.
    #[inline(never)]
    fn files_call(&self, f: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.call(&format!("econtext_files.{f}"), args)
            .map_err(|e| remote_err(self, e))
    }

    /// Put the local directory `local` at `remote` (made when missing, an existing directory
    /// kept), with everything under it: files as [`Context::put`] puts them (atomic and
    /// verified, one by one), directories with their source mode, symlinks recreated
    /// (followed with `follow_symlinks`). `mode` applies to the files; `owner`, `group`,
    /// `skip_unchanged`, `overwrite`, `preserve_times` to everything. The meter counts the
    /// whole tree. The tree as a whole is not atomic: a failure leaves what was done so far.
    pub fn put_tree(
        &self,
        local: &Path,
        remote: &str,
        o: &PutOptions,
    ) -> Result<TreeTransfer, Error> {
        use std::os::unix::fs::PermissionsExt;
        let top = std::fs::metadata(local).map_err(|e| local_err(local, e))?;
        if !top.is_dir() {
            return Err(file_err(
                "local",
                local,
                FileErrorKind::NotADirectory,
                "is not a directory (Context::put sends a single file)",
            ));
        }
        // The whole tree is read first: nothing is sent when part of it cannot be.
        let entries = walk_local(local, o.follow_symlinks)?;
        if let Some(m) = &o.meter {
            m.fix_total(entries.iter().map(|e| e.size).sum());
        }
        let mut t = TreeTransfer::default();
        let dir_opts = |mode: u32, times: (f64, f64)| {
            let d = PutOptions {
                mode: Some(mode),
                meter: None,
                ..o.clone()
            };
            opts(&d, o.preserve_times.then_some(times))
        };
        let root = remote.trim_end_matches('/');
        let root = if root.is_empty() { "/" } else { root };
        let top_mode = top.permissions().mode() & 0o7777;
        let top_times = (secs(top.accessed()), secs(top.modified()));
        let mkdir = |path: &str, mode: u32, times: (f64, f64)| {
            self.files_call("mkdir", vec![path.into(), dir_opts(mode, times)])
        };
        mkdir(root, top_mode, top_times)?;
        let mut dirs = vec![(root.to_string(), top_mode, top_times)];
        let mut inflight = std::collections::VecDeque::new();
        for e in &entries {
            let r = remote_join(self, root, &e.rel)?;
            match &e.kind {
                Kind::Dir => {
                    mkdir(&r, e.mode, e.times)?;
                    dirs.push((r, e.mode, e.times));
                }
                Kind::File => {
                    let path = local.join(&e.rel);
                    t.files += 1;
                    // Small files go inline with their calls, several in flight (calls run in
                    // order there): a tree of small files is not a round trip per file.
                    if e.size <= SMALL as u64 && !o.skip_unchanged {
                        let data = std::fs::read(&path).map_err(|err| local_err(&path, err))?;
                        if data.len() <= SMALL {
                            let fo = PutOptions {
                                mode: o.mode.or(Some(e.mode)),
                                ..o.clone()
                            };
                            let times = o.preserve_times.then_some(e.times);
                            inflight.push_back(self.start_small(data, &r, &fo, times)?);
                            if inflight.len() >= IN_FLIGHT {
                                let p = inflight.pop_front().expect("not empty");
                                t.bytes += self.finish_small(p, o)?.bytes;
                            }
                            continue;
                        }
                    }
                    let x = self.put(&path, &r, o)?;
                    t.bytes += x.bytes;
                    t.skipped += u64::from(x.skipped);
                }
                Kind::Link(target) => {
                    let target = String::from_utf8(target.clone()).map_err(|_| {
                        file_err(
                            "local",
                            &local.join(&e.rel),
                            FileErrorKind::BadPath,
                            "a symlink target that is not UTF-8 cannot be sent",
                        )
                    })?;
                    self.files_call("symlink", vec![r.into(), target.into(), opts(o, None)])?;
                    t.symlinks += 1;
                }
            }
        }
        while let Some(p) = inflight.pop_front() {
            t.bytes += self.finish_small(p, o)?.bytes;
        }
        // Modes and times last, deepest first: a read-only directory still took its files,
        // and writing into a directory does not move its time after it was set.
        for (path, mode, times) in dirs.iter().rev() {
            self.files_call(
                "finish",
                vec![path.as_str().into(), dir_opts(*mode, *times)],
            )?;
        }
        t.dirs = dirs.len() as u64;
        Ok(t)
    }

    /// Fetch the remote directory `remote` into the local directory `local` (made when
    /// missing), with everything under it: files as [`Context::get`] fetches them (atomic,
    /// verified), symlinks recreated as they are there (followed with `follow_symlinks`);
    /// with `preserve`, modes and times copied. A path the far end sends that would leave
    /// `local` (`..`, absolute) is refused; so is anything but directories, files and
    /// symlinks. Not atomic as a whole: a failure leaves what was done so far.
    pub fn get_tree(
        &self,
        remote: &str,
        local: &Path,
        o: &GetOptions,
    ) -> Result<TreeTransfer, Error> {
        let walk_opts = Value::Dict(vec![(
            Value::Str("follow".into()),
            Value::Bool(o.follow_symlinks),
        )]);
        let rx = self.stream("econtext_files.walk", vec![remote.into(), walk_opts])?;
        let mut entries = Vec::new();
        for item in &rx {
            let item = item.map_err(|e| remote_err(self, e))?;
            entries.push(self.remote_entry(item)?);
        }
        drop(rx);
        if let Some(m) = &o.meter {
            m.fix_total(entries.iter().map(|e| e.size).sum());
        }
        // LOCAL itself may be a symlink of the caller's own: only what the far end sends is
        // kept from going through one.
        std::fs::create_dir_all(local).map_err(|e| local_err(local, e))?;
        if !local.is_dir() {
            return Err(file_err(
                "local",
                local,
                FileErrorKind::NotADirectory,
                "exists and is not a directory",
            ));
        }
        let mut t = TreeTransfer {
            dirs: 1,
            ..Default::default()
        };
        let mut dirs = Vec::new();
        // Directories this get made or found to be real ones: an entry goes only inside them,
        // never through a symlink (one the far end sent a moment ago, or one already here).
        let mut made: Vec<PathBuf> = Vec::new();
        for e in &entries {
            let l = local.join(&e.rel);
            let r = remote_join(self, remote, &e.rel)?;
            match &e.kind {
                Kind::Dir => {
                    inside(&made, &e.rel)?;
                    if let Err(err) = std::fs::create_dir(&l) {
                        if err.kind() != std::io::ErrorKind::AlreadyExists {
                            return Err(local_err(&l, err));
                        }
                    }
                    real_dir(&l)?;
                    made.push(e.rel.clone());
                    dirs.push((l, e.mode, e.times));
                    t.dirs += 1;
                }
                Kind::File => {
                    inside(&made, &e.rel)?;
                    let x = self.get(&r, &l, o)?;
                    t.files += 1;
                    t.bytes += x.bytes;
                }
                Kind::Link(target) => {
                    inside(&made, &e.rel)?;
                    let tmp = l.with_file_name(format!(
                        ".{}.econtext-{}",
                        l.file_name().unwrap_or_default().to_string_lossy(),
                        std::process::id()
                    ));
                    let _ = std::fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &tmp)
                        .and_then(|()| std::fs::rename(&tmp, &l))
                        .map_err(|err| {
                            let _ = std::fs::remove_file(&tmp);
                            local_err(&l, err)
                        })?;
                    t.symlinks += 1;
                }
            }
        }
        if o.preserve {
            use std::os::unix::fs::PermissionsExt;
            for (path, mode, (_, mtime)) in dirs.iter().rev() {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))
                    .map_err(|e| local_err(path, e))?;
                let when = UNIX_EPOCH + Duration::from_secs_f64(mtime.max(0.0));
                std::fs::File::open(path)
                    .and_then(|f| f.set_modified(when))
                    .map_err(|e| local_err(path, e))?;
            }
        }
        Ok(t)
    }

    /// One `econtext_files.walk` item: (relative path, kind, mode, size, atime, mtime, link
    /// target).
    fn remote_entry(&self, item: Value) -> Result<Entry, Error> {
        let bad = |what: &str| Error::Protocol {
            context: self.name().to_string(),
            reason: format!("a tree entry {what}"),
        };
        let Value::Tuple(f) = item else {
            return Err(bad("is not a tuple"));
        };
        let [rel, kind, mode, size, atime, mtime, target] = &f[..] else {
            return Err(bad("has the wrong length"));
        };
        let bytes = |v: &Value| match v {
            Value::Bytes(b) => Some(b.clone()),
            Value::Str(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        };
        let num = |v: &Value| match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        };
        let rel = safe_rel(self.name(), &bytes(rel).ok_or_else(|| bad("has no path"))?)?;
        let kind = match kind {
            Value::Str(k) if k == "d" => Kind::Dir,
            Value::Str(k) if k == "f" => Kind::File,
            Value::Str(k) if k == "l" => {
                Kind::Link(bytes(target).ok_or_else(|| bad("has no target"))?)
            }
            _ => {
                return Err(file_err(
                    self.name(),
                    &rel,
                    FileErrorKind::NotRegular,
                    "a device, fifo or socket cannot be fetched (refused)",
                ))
            }
        };
        Ok(Entry {
            rel,
            kind,
            mode: num(mode).unwrap_or(0.0) as u32 & 0o7777,
            size: num(size).unwrap_or(0.0) as u64,
            times: (num(atime).unwrap_or(0.0), num(mtime).unwrap_or(0.0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_the_far_end_stay_inside() {
        assert!(safe_rel("c", b"a/b").is_ok());
        for bad in [
            &b"../x"[..],
            b"a/../../x",
            b"/etc/passwd",
            b"",
            b"a/./..",
            b"..",
        ] {
            let e = safe_rel("c", bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::File {
                        kind: FileErrorKind::BadPath,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_local_walk_lists_directories_before_their_files_and_refuses_specials() {
        let d = std::env::temp_dir().join(format!("econtext-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        std::fs::write(d.join("a"), "1").unwrap();
        std::fs::write(d.join("b/c/x"), "22").unwrap();
        std::os::unix::fs::symlink("../a", d.join("b/l")).unwrap();
        let e = walk_local(&d, false).unwrap();
        let names: Vec<String> = e.iter().map(|e| e.rel.display().to_string()).collect();
        assert_eq!(names, ["a", "b", "b/c", "b/l", "b/c/x"]);
        assert_eq!(e[3].kind, Kind::Link(b"../a".to_vec()));
        assert_eq!(e[4].size, 2);
        // Followed, the symlink is the file it names.
        let f = walk_local(&d, true).unwrap();
        assert_eq!(f[3].kind, Kind::File);
        std::os::unix::fs::symlink("..", d.join("b/c/up")).unwrap();
        let err = walk_local(&d, true).unwrap_err();
        assert!(err.to_string().contains("loop"), "{err}");
        std::fs::remove_file(d.join("b/c/up")).unwrap();
        let fifo = d.join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let err = walk_local(&d, false).unwrap_err();
        assert!(err.to_string().contains("fifo"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
