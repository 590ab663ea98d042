//! Files: `Context::put` and `Context::get`, streamed over a channel, atomic and verified at the
//! far end (docs/files.md). The remote half is `econtext_files` (stub/python/files.py).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::channel::Sender;
use crate::{Context, Error, Value};

/// A file this small goes inline with its call (one round trip).
pub(super) const SMALL: usize = 1 << 16;

/// Bytes per channel item of a streamed file: 1 MiB items cost the far end's Python 16x fewer
/// wake-ups than 64 KiB ones (512 MiB put on a local context: 0.43 -> 0.52 GB/s).
pub(super) const CHUNK: usize = 1 << 20;

/// How a file is put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOptions {
    /// Permission bits (default: the source file's, or 0666 minus the remote umask for a
    /// reader).
    pub mode: Option<u32>,
    /// Owner by name or uid (needs the right to chown there).
    pub owner: Option<String>,
    /// Group by name or gid.
    pub group: Option<String>,
    /// Copy the source's access and modification times.
    pub preserve_times: bool,
    /// Create missing parent directories.
    pub mkdirs: bool,
    /// fsync the file and its directory before reporting success (default on).
    pub fsync: bool,
    /// Compare sha256 first and send nothing when the destination already has these bytes.
    pub skip_unchanged: bool,
    /// Replace an existing destination (default on).
    pub overwrite: bool,
    /// Write through a symlink at the destination (default: refuse it).
    pub follow_symlinks: bool,
    /// Compare the sha256 of what arrived with what was sent (default on; the write stays
    /// atomic either way).
    pub verify: bool,
    /// Count the bytes as they go (for a progress display on another thread).
    pub meter: Option<Arc<Meter>>,
}

/// Bytes moved so far and the size when known, updated by a transfer and read by whoever
/// shows progress (another thread).
#[derive(Debug, Default)]
pub struct Meter {
    done: AtomicU64,
    /// The size plus one; 0: not known (yet).
    total: AtomicU64,
    /// The total covers a whole tree: the files' own sizes do not replace it.
    fixed: std::sync::atomic::AtomicBool,
}

impl Meter {
    /// Bytes moved so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// The size of the file, once known.
    pub fn total(&self) -> Option<u64> {
        self.total.load(Ordering::Relaxed).checked_sub(1)
    }

    pub(super) fn add(&self, n: usize) {
        self.done.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn set_total(&self, n: u64) {
        if !self.fixed.load(Ordering::Relaxed) {
            self.total.store(n.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// The total of a tree transfer, kept while its files move one by one.
    pub(crate) fn fix_total(&self, n: u64) {
        self.total.store(n.saturating_add(1), Ordering::Relaxed);
        self.fixed.store(true, Ordering::Relaxed);
    }
}

/// Meters are equal only to themselves.
impl PartialEq for Meter {
    fn eq(&self, o: &Meter) -> bool {
        std::ptr::eq(self, o)
    }
}

impl Eq for Meter {}

impl Default for PutOptions {
    fn default() -> Self {
        PutOptions {
            mode: None,
            owner: None,
            group: None,
            preserve_times: false,
            mkdirs: false,
            fsync: true,
            skip_unchanged: false,
            overwrite: true,
            follow_symlinks: false,
            verify: true,
            meter: None,
        }
    }
}

/// How a file is fetched.
#[derive(Debug, Clone)]
pub struct GetOptions {
    /// Copy the remote file's permission bits and times to the local file.
    pub preserve: bool,
    /// Read through a symlink at the remote path (default: refuse it).
    pub follow_symlinks: bool,
    /// Count the bytes as they arrive (for a progress display on another thread).
    pub meter: Option<Arc<Meter>>,
    /// Compare the sha256 of what was written with the far end's (default). Off, neither end
    /// hashes: faster, and [`Transfer::sha256`] is empty.
    pub verify: bool,
}

impl Default for GetOptions {
    fn default() -> Self {
        GetOptions {
            preserve: false,
            follow_symlinks: false,
            meter: None,
            verify: true,
        }
    }
}

/// What moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes sent (0 when skipped).
    pub bytes: u64,
    /// sha256 of the content, hex.
    pub sha256: String,
    /// Nothing was sent: the destination had the same content already.
    pub skipped: bool,
}

impl Transfer {
    /// As a value: `{"bytes", "sha256", "skipped"}` (NDJSON, the many-target table, Python).
    pub fn to_value(&self) -> Value {
        Value::Dict(vec![
            ("bytes".into(), Value::Int(self.bytes as i64)),
            ("sha256".into(), Value::Str(self.sha256.clone())),
            ("skipped".into(), Value::Bool(self.skipped)),
        ])
    }
}

/// Why a file operation failed (the kinds of docs/files.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// No such file or directory.
    NotFound,
    /// The account may not read or write there.
    PermissionDenied,
    /// The path is (or names) a directory.
    IsADirectory,
    /// A component of the path is not a directory.
    NotADirectory,
    /// The disk (or quota) is full.
    NoSpace,
    /// It exists and overwriting was off.
    Exists,
    /// A symlink where following was not asked for.
    Symlink,
    /// A `..` component (refused, never resolved).
    BadPath,
    /// A read-only file system.
    ReadOnly,
    /// A device, fifo or socket: never replaced or read as a file.
    NotRegular,
    /// The owner or group does not exist there.
    UnknownUser,
    /// What arrived is not what was sent (sha256 differs).
    Checksum,
    /// The stream ended early (the sender failed or went).
    Incomplete,
    /// Any other I/O error.
    Io,
}

impl FileErrorKind {
    /// Its name in docs/files.md (`not_found`, `is_a_directory`...): what `from_name` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            FileErrorKind::NotFound => "not_found",
            FileErrorKind::PermissionDenied => "permission_denied",
            FileErrorKind::IsADirectory => "is_a_directory",
            FileErrorKind::NotADirectory => "not_a_directory",
            FileErrorKind::NoSpace => "no_space",
            FileErrorKind::Exists => "exists",
            FileErrorKind::Symlink => "symlink",
            FileErrorKind::BadPath => "bad_path",
            FileErrorKind::ReadOnly => "read_only",
            FileErrorKind::NotRegular => "not_regular",
            FileErrorKind::UnknownUser => "unknown_user",
            FileErrorKind::Checksum => "checksum",
            FileErrorKind::Incomplete => "incomplete",
            FileErrorKind::Io => "io",
        }
    }

    /// From the remote module's name for it.
    pub fn from_name(s: &str) -> FileErrorKind {
        match s {
            "not_found" => FileErrorKind::NotFound,
            "permission_denied" => FileErrorKind::PermissionDenied,
            "is_a_directory" => FileErrorKind::IsADirectory,
            "not_a_directory" => FileErrorKind::NotADirectory,
            "no_space" => FileErrorKind::NoSpace,
            "exists" => FileErrorKind::Exists,
            "symlink" => FileErrorKind::Symlink,
            "bad_path" => FileErrorKind::BadPath,
            "read_only" => FileErrorKind::ReadOnly,
            "not_regular" => FileErrorKind::NotRegular,
            "unknown_user" => FileErrorKind::UnknownUser,
            "checksum" => FileErrorKind::Checksum,
            "incomplete" => FileErrorKind::Incomplete,
            _ => FileErrorKind::Io,
        }
    }

    /// From a local I/O error.
    pub fn of_io(e: &std::io::Error) -> FileErrorKind {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NotFound => FileErrorKind::NotFound,
            K::PermissionDenied => FileErrorKind::PermissionDenied,
            K::IsADirectory => FileErrorKind::IsADirectory,
            K::NotADirectory => FileErrorKind::NotADirectory,
            K::StorageFull | K::QuotaExceeded => FileErrorKind::NoSpace,
            K::AlreadyExists => FileErrorKind::Exists,
            K::ReadOnlyFilesystem => FileErrorKind::ReadOnly,
            _ => FileErrorKind::Io,
        }
    }
}

pub(super) fn local_err(path: &Path, e: std::io::Error) -> Error {
    Error::File {
        context: "local".into(),
        path: path.display().to_string(),
        kind: FileErrorKind::of_io(&e),
        detail: e.to_string(),
    }
}

/// A remote `econtext_files.FileError` as `Error::File`; anything else unchanged.
pub(super) fn remote_err(ctx: &Context, e: Error) -> Error {
    match e {
        Error::Remote(r) if r.type_name == "econtext_files.FileError" => {
            let mut parts = r.message.splitn(3, ": ");
            let kind = FileErrorKind::from_name(parts.next().unwrap_or(""));
            let path = parts.next().unwrap_or("").to_string();
            let detail = parts.next().unwrap_or("").to_string();
            Error::File {
                context: ctx.name().to_string(),
                path,
                kind,
                detail,
            }
        }
        other => other,
    }
}

pub(super) fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a local file, hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut f = File::open(path).map_err(|e| local_err(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| local_err(path, e))?;
        if n == 0 {
            return Ok(hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

fn opt_str(v: &Option<String>) -> Value {
    v.clone().map(Value::Str).unwrap_or(Value::None)
}

pub(super) fn secs(t: std::io::Result<std::time::SystemTime>) -> f64 {
    t.ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Context {
    /// Put the local file `local` at `remote` on this context (atomic: a temporary in the
    /// destination directory renamed over it once every byte is in and its sha256 matches).
    pub fn put(&self, local: &Path, remote: &str, o: &PutOptions) -> Result<Transfer, Error> {
        let meta = std::fs::metadata(local).map_err(|e| local_err(local, e))?;
        if meta.is_dir() {
            return Err(Error::File {
                context: "local".into(),
                path: local.display().to_string(),
                kind: FileErrorKind::IsADirectory,
                detail: "is a directory: send it with Context::put_tree (Python: put(..., recursive=True))".into(),
            });
        }
        let mut o = o.clone();
        if o.mode.is_none() {
            use std::os::unix::fs::PermissionsExt;
            o.mode = Some(meta.permissions().mode() & 0o7777);
        }
        let times = o
            .preserve_times
            .then(|| (secs(meta.accessed()), secs(meta.modified())));
        if o.skip_unchanged {
            let mine = sha256_file(local)?;
            let theirs = self
                .call(
                    "econtext_files.digest",
                    vec![remote.into(), self::opts(&o, None)],
                )
                .map_err(|e| remote_err(self, e))?;
            if theirs == Value::Str(mine.clone()) {
                return Ok(Transfer {
                    bytes: 0,
                    sha256: mine,
                    skipped: true,
                });
            }
        }
        let mut f = File::open(local).map_err(|e| local_err(local, e))?;
        if let Some(m) = &o.meter {
            m.set_total(meta.len());
        }
        if meta.len() <= SMALL as u64 {
            // A file that fits one item goes inline with the call: one round trip.
            let mut data = Vec::with_capacity(meta.len() as usize);
            f.read_to_end(&mut data).map_err(|e| local_err(local, e))?;
            if data.len() <= SMALL {
                return self.put_small(data, remote, &o, times);
            }
            return self.put_inner(&mut std::io::Cursor::new(data), local, remote, &o, times);
        }
        self.put_inner(&mut f, local, remote, &o, times)
    }

    /// The bytes of a small file with the call itself (`econtext_files.put_small`).
    fn put_small(
        &self,
        data: Vec<u8>,
        remote: &str,
        o: &PutOptions,
        times: Option<(f64, f64)>,
    ) -> Result<Transfer, Error> {
        let p = self.start_small(data, remote, o, times)?;
        self.finish_small(p, o)
    }

    /// Send a small file inline with its call, without waiting for the answer (trees keep
    /// several in flight: calls run in order there).
    pub(super) fn start_small(
        &self,
        data: Vec<u8>,
        remote: &str,
        o: &PutOptions,
        times: Option<(f64, f64)>,
    ) -> Result<Pending, Error> {
        let digest = if o.verify {
            let mut h = Sha256::new();
            h.update(&data);
            hex(&h.finalize())
        } else {
            String::new()
        };
        let n = data.len() as u64;
        let call = self.call_async(
            "econtext_files.put_small",
            vec![
                remote.into(),
                opts(o, times),
                Value::Bytes(data),
                end_item(o, &digest).into(),
            ],
        )?;
        Ok(Pending {
            call,
            remote: remote.to_string(),
            digest,
            n,
        })
    }

    /// Wait for a small file's answer and check it.
    pub(super) fn finish_small(&self, p: Pending, o: &PutOptions) -> Result<Transfer, Error> {
        let r = p.call.wait().map_err(|e| remote_err(self, e))?;
        if let Some(m) = &o.meter {
            m.add(p.n as usize);
        }
        self.checked(r, &p.remote, o, p.digest, p.n)
    }

    /// The far end's answer to a put, its sha256 compared with what was sent.
    pub(super) fn checked(
        &self,
        r: Value,
        remote: &str,
        o: &PutOptions,
        digest: String,
        sent: u64,
    ) -> Result<Transfer, Error> {
        let got = match &r {
            Value::Dict(kv) => kv.iter().find_map(|(k, v)| match (k, v) {
                (Value::Str(k), Value::Str(v)) if k == "sha256" => Some(v.clone()),
                _ => None,
            }),
            _ => None,
        };
        if o.verify && got.as_deref() != Some(digest.as_str()) {
            return Err(Error::File {
                context: self.name().to_string(),
                path: remote.to_string(),
                kind: FileErrorKind::Checksum,
                detail: format!("sent {digest}, the far end reports {got:?}"),
            });
        }
        Ok(Transfer {
            bytes: sent,
            sha256: digest,
            skipped: false,
        })
    }

    /// Put the bytes of `source` at `remote` (as [`Context::put`]; mode default 0666 minus the
    /// remote umask).
    pub fn put_reader(
        &self,
        source: impl Read,
        remote: &str,
        o: &PutOptions,
    ) -> Result<Transfer, Error> {
        let mut source = source;
        self.put_inner(&mut source, Path::new("<reader>"), remote, o, None)
    }

    fn put_inner(
        &self,
        source: &mut dyn Read,
        shown: &Path,
        remote: &str,
        o: &PutOptions,
        times: Option<(f64, f64)>,
    ) -> Result<Transfer, Error> {
        let (tx, call) =
            self.stream_to("econtext_files.put", vec![remote.into(), opts(o, times)])?;
        let out = stream_out(source, shown, vec![tx], self.max_frame(), o, &mut || {});
        // Without the checksum item the far end discards what it got.
        let r = call.wait().map_err(|e| remote_err(self, e));
        if let Some(e) = out.failed {
            return Err(e);
        }
        self.checked(r?, remote, o, out.digest, out.sent)
    }

    /// Fetch `remote` from this context into the local file `local` (atomic: a temporary
    /// beside it, renamed over it once complete and verified).
    pub fn get(&self, remote: &str, local: &Path, o: &GetOptions) -> Result<Transfer, Error> {
        let dir = match local.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if local.is_dir() {
            return Err(local_err(
                local,
                std::io::Error::from(std::io::ErrorKind::IsADirectory),
            ));
        }
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let tmp = dir.join(format!(".{name}.econtext-{}", std::process::id()));
        let result = (|| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| local_err(&tmp, e))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let (t, meta) = self.get_inner(remote, &mut w, local, o)?;
            let f = w
                .into_inner()
                .map_err(|e| local_err(local, e.into_error()))?;
            if o.preserve {
                use std::os::unix::fs::PermissionsExt;
                if let Some(m) = meta.mode {
                    f.set_permissions(std::fs::Permissions::from_mode(m))
                        .map_err(|e| local_err(local, e))?;
                }
                if let Some(mt) = meta.mtime {
                    let t = UNIX_EPOCH + Duration::from_secs_f64(mt.max(0.0));
                    f.set_modified(t).map_err(|e| local_err(local, e))?;
                }
            }
            f.sync_all().map_err(|e| local_err(local, e))?;
            std::fs::rename(&tmp, local).map_err(|e| local_err(local, e))?;
            Ok(t)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Fetch `remote` into any writer (verified: the sha256 of what was written must match the
    /// far end's).
    pub fn get_writer(
        &self,
        remote: &str,
        mut dest: impl Write,
        o: &GetOptions,
    ) -> Result<Transfer, Error> {
        self.get_inner(remote, &mut dest, Path::new("<writer>"), o)
            .map(|(t, _)| t)
    }

    fn get_inner(
        &self,
        remote: &str,
        dest: &mut dyn Write,
        shown: &Path,
        o: &GetOptions,
    ) -> Result<(Transfer, Meta), Error> {
        let opts = Value::Dict(vec![
            (Value::Str("follow".into()), Value::Bool(o.follow_symlinks)),
            (Value::Str("verify".into()), Value::Bool(o.verify)),
        ]);
        let rx = self.stream("econtext_files.read", vec![remote.into(), opts])?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut meta = Meta::default();
        let mut sent = None;
        for item in &rx {
            match item.map_err(|e| remote_err(self, e))? {
                Value::Bytes(b) => {
                    if o.verify {
                        h.update(&b);
                    }
                    n += b.len() as u64;
                    if let Some(m) = &o.meter {
                        m.add(b.len());
                    }
                    dest.write_all(&b).map_err(|e| local_err(shown, e))?;
                }
                Value::Dict(kv) => {
                    meta = Meta::from(&kv);
                    if let (Some(m), Some(size)) = (&o.meter, meta.size) {
                        m.set_total(size);
                    }
                }
                Value::Str(s) => sent = Some(s),
                other => {
                    return Err(Error::Protocol {
                        context: self.name().to_string(),
                        reason: format!("unexpected item in a file stream: {other:?}"),
                    })
                }
            }
        }
        dest.flush().map_err(|e| local_err(shown, e))?;
        let got = if o.verify {
            hex(&h.finalize())
        } else {
            String::new()
        };
        let kind = match &sent {
            None => Some(FileErrorKind::Incomplete),
            Some(s) if o.verify && s.strip_prefix("sha256:") != Some(got.as_str()) => {
                Some(FileErrorKind::Checksum)
            }
            _ => None,
        };
        if let Some(kind) = kind {
            return Err(Error::File {
                context: self.name().to_string(),
                path: remote.to_string(),
                kind,
                detail: format!("received {got}, the far end sent {sent:?}"),
            });
        }
        Ok((
            Transfer {
                bytes: n,
                sha256: got,
                skipped: false,
            },
            meta,
        ))
    }
}

/// What [`stream_out`] sent.
pub(super) struct Streamed {
    /// The sha256 of the bytes (empty without verification).
    pub digest: String,
    pub sent: u64,
    /// Reading the source failed (the far ends got no checksum item: they discard it all).
    pub failed: Option<Error>,
}

/// The bytes of `source` to every sender of `to` (a put's stream; one per branch of a group
/// put), in 1 MiB items (half of `max_frame` when that is lower), then the checksum item; the
/// senders are dropped (the stream ends). A sender that fails is dropped (its far end stopped:
/// its error comes with its call). `idle` runs while a send waits for credit.
pub(super) fn stream_out(
    source: &mut dyn Read,
    shown: &Path,
    mut to: Vec<Sender>,
    max_frame: u32,
    o: &PutOptions,
    idle: &mut dyn FnMut(),
) -> Streamed {
    let chunk = CHUNK.min(max_frame as usize / 2).max(1);
    let mut h = Sha256::new();
    let mut sent = 0u64;
    let mut failed = None;
    while !to.is_empty() {
        let mut buf = vec![0u8; chunk];
        let n = match read_full(source, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                failed = Some(local_err(shown, e));
                break;
            }
        };
        if n == 0 {
            break;
        }
        buf.truncate(n);
        if o.verify {
            h.update(&buf);
        }
        sent += n as u64;
        if let Some(m) = &o.meter {
            m.add(n);
        }
        send_all(&mut to, Value::Bytes(buf), idle);
    }
    let digest = if o.verify {
        hex(&h.finalize())
    } else {
        String::new()
    };
    if failed.is_none() {
        send_all(&mut to, Value::Str(end_item(o, &digest)), idle);
    }
    Streamed {
        digest,
        sent,
        failed,
    }
}

/// `v` to every sender of `to` (the last one gets it without a copy); those that fail are
/// dropped.
fn send_all(to: &mut Vec<Sender>, v: Value, idle: &mut dyn FnMut()) {
    let mut v = Some(v);
    let last = to.len().saturating_sub(1);
    let mut i = 0;
    to.retain(|t| {
        let item = if i == last { v.take() } else { v.clone() };
        i += 1;
        item.is_some_and(|item| t.send_idling(item, None, idle).is_ok())
    });
}

/// The longest wait between two calls of a caller's `idle`.
pub(super) const TICK: Duration = Duration::from_millis(100);

/// A put's last item: the sha256 of what was sent, or that nothing is to be compared.
pub(super) fn end_item(o: &PutOptions, digest: &str) -> String {
    if o.verify {
        format!("sha256:{digest}")
    } else {
        "unverified".into()
    }
}

/// A small file sent, its answer not yet in.
pub(super) struct Pending {
    call: super::CallHandle,
    remote: String,
    digest: String,
    n: u64,
}

#[derive(Debug, Default)]
struct Meta {
    mode: Option<u32>,
    mtime: Option<f64>,
    size: Option<u64>,
}

impl Meta {
    fn from(kv: &[(Value, Value)]) -> Meta {
        let mut m = Meta::default();
        for (k, v) in kv {
            match (k, v) {
                (Value::Str(k), Value::Int(i)) if k == "mode" => m.mode = u32::try_from(*i).ok(),
                (Value::Str(k), Value::Int(i)) if k == "size" => m.size = u64::try_from(*i).ok(),
                (Value::Str(k), Value::Float(f)) if k == "mtime" => m.mtime = Some(*f),
                (Value::Str(k), Value::Int(i)) if k == "mtime" => m.mtime = Some(*i as f64),
                _ => {}
            }
        }
        m
    }
}

/// Read until `buf` is full or the source ends.
pub(super) fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) fn opts(o: &PutOptions, times: Option<(f64, f64)>) -> Value {
    let s = |k: &str| Value::Str(k.into());
    Value::Dict(vec![
        (
            s("mode"),
            o.mode.map(|m| Value::Int(m.into())).unwrap_or(Value::None),
        ),
        (s("owner"), opt_str(&o.owner)),
        (s("group"), opt_str(&o.group)),
        (
            s("times"),
            times
                .map(|(a, m)| Value::List(vec![Value::Float(a), Value::Float(m)]))
                .unwrap_or(Value::None),
        ),
        (s("mkdirs"), Value::Bool(o.mkdirs)),
        (s("fsync"), Value::Bool(o.fsync)),
        (s("overwrite"), Value::Bool(o.overwrite)),
        (s("follow"), Value::Bool(o.follow_symlinks)),
        (s("verify"), Value::Bool(o.verify)),
    ])
}

#[cfg(test)]
mod tests {
    use super::FileErrorKind;

    #[test]
    fn file_error_kinds_read_back_their_names() {
        use FileErrorKind as K;
        for k in [
            K::NotFound,
            K::PermissionDenied,
            K::IsADirectory,
            K::NotADirectory,
            K::NoSpace,
            K::Exists,
            K::Symlink,
            K::BadPath,
            K::ReadOnly,
            K::NotRegular,
            K::UnknownUser,
            K::Checksum,
            K::Incomplete,
            K::Io,
        ] {
            assert_eq!(FileErrorKind::from_name(k.as_str()), k, "{}", k.as_str());
        }
    }
}
