//! `econtext put TARGET LOCAL REMOTE` and `econtext get TARGET REMOTE LOCAL`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::progress::BytesBar;
use super::{CallCmd, Mode};
use crate::{Context, Error, GetOptions, Meter, Transfer, TreeTransfer, Value};

/// What a put or get moved: one file, or a tree (`-r`).
pub enum Moved {
    /// One file.
    File(Transfer),
    /// A directory with everything under it.
    Tree(TreeTransfer),
}

/// `dir/` + the last component of `from`, when `to` names a directory.
fn into_dir(to: &str, from: &str, is_dir: bool) -> String {
    if to.ends_with('/') || is_dir {
        let base = from
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(from);
        format!("{}/{base}", to.trim_end_matches('/'))
    } else {
        to.to_string()
    }
}

fn status(e: &Error) -> i32 {
    match e {
        Error::File { .. } | Error::Remote(_) => 1,
        Error::Usage(_) => 2,
        Error::Timeout { .. } | Error::Disconnected { .. } => 4,
        _ => 3,
    }
}

/// Move the file of `c` (put or get) on `ctx`; `local_dir` replaces a get's LOCAL with
/// `LOCAL/<dir>/` (many targets). Returns what moved and how it is described.
pub fn transfer(
    ctx: &Context,
    c: &CallCmd,
    local_dir: Option<&str>,
    meter: Option<Arc<Meter>>,
) -> (String, Result<Moved, Error>) {
    let (a, b) = (c.argv[0].as_str(), c.argv[1].as_str());
    if c.mode == Mode::Put {
        let remote = into_dir(b, a, false);
        let mut o = c.put.clone();
        o.meter = meter;
        if c.recursive {
            // The directory itself is REMOTE (made or filled), as `cp -r SRC DEST/` would
            // with a trailing slash: REMOTE/ takes the source's name.
            let remote = if b.ends_with('/') {
                into_dir(b, a, false)
            } else {
                b.to_string()
            };
            let r = ctx.put_tree(Path::new(a), &remote, &o).map(Moved::Tree);
            return (format!("{a}/ -> {}:{remote}/", ctx.name()), r);
        }
        let r = if a == "-" {
            ctx.put_reader(std::io::stdin().lock(), &remote, &o)
        } else {
            ctx.put(Path::new(a), &remote, &o)
        };
        (
            format!("{a} -> {}:{remote}", ctx.name()),
            r.map(Moved::File),
        )
    } else {
        let o = GetOptions {
            preserve: c.put.preserve_times,
            follow_symlinks: c.put.follow_symlinks,
            meter,
        };
        if b == "-" && local_dir.is_none() {
            if c.recursive {
                let e = Error::Usage("get -r writes a directory: give LOCAL, not -".into());
                return (format!("{}:{a}", ctx.name()), Err(e));
            }
            let r = ctx.get_writer(a, std::io::stdout().lock(), &o);
            return (format!("{}:{a} -> -", ctx.name()), r.map(Moved::File));
        }
        let base = match local_dir {
            // LOCAL/<target>/: one directory per target, as Ansible's fetch lays them out.
            Some(d) => {
                let dir = Path::new(b).join(d);
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    let err = Error::File {
                        context: "local".into(),
                        path: dir.display().to_string(),
                        kind: crate::FileErrorKind::of_io(&e),
                        detail: e.to_string(),
                    };
                    return (format!("{}:{a}", ctx.name()), Err(err));
                }
                format!("{}/", dir.display())
            }
            None => b.to_string(),
        };
        if c.recursive {
            let local = if base.ends_with('/') || local_dir.is_some() {
                PathBuf::from(into_dir(&base, a, true))
            } else {
                PathBuf::from(&base)
            };
            let r = ctx.get_tree(a, &local, &o).map(Moved::Tree);
            return (format!("{}:{a}/ -> {}/", ctx.name(), local.display()), r);
        }
        let local = PathBuf::from(into_dir(&base, a, Path::new(&base).is_dir()));
        let r = ctx.get(a, &local, &o);
        (
            format!("{}:{a} -> {}", ctx.name(), local.display()),
            r.map(Moved::File),
        )
    }
}

/// A transfer as a value (NDJSON and the many-target table).
pub fn transfer_value(m: &Moved) -> Value {
    let s = |k: &str| Value::Str(k.into());
    let n = |v: u64| Value::Int(v as i64);
    match m {
        Moved::File(t) => Value::Dict(vec![
            (s("bytes"), n(t.bytes)),
            (s("sha256"), Value::Str(t.sha256.clone())),
            (s("skipped"), Value::Bool(t.skipped)),
        ]),
        Moved::Tree(t) => Value::Dict(vec![
            (s("files"), n(t.files)),
            (s("dirs"), n(t.dirs)),
            (s("symlinks"), n(t.symlinks)),
            (s("bytes"), n(t.bytes)),
            (s("skipped"), n(t.skipped)),
        ]),
    }
}

/// A target name as a directory name: `/` (a chain) becomes `_`.
pub fn target_dir(target: &str) -> String {
    target.replace('/', "_")
}

/// Run `put` or `get` on `ctx`; the exit status.
pub fn run(ctx: &Context, c: CallCmd) -> i32 {
    let t0 = Instant::now();
    // Bytes, rate and ETA on a terminal (not for stdout as the destination, nor with --json).
    let to_stdout = c.mode == Mode::Get && c.argv[1] == "-";
    let meter = Arc::new(Meter::default());
    let bar = (!c.json && c.verbosity >= 0 && !to_stdout)
        .then(|| BytesBar::start(meter.clone(), c.argv[0].clone()))
        .flatten();
    let (what, r) = transfer(ctx, &c, None, bar.as_ref().map(|_| meter.clone()));
    drop(bar);
    let _ = ctx.shutdown();
    match r {
        Ok(Moved::Tree(t)) => {
            let secs = t0.elapsed().as_secs_f64();
            if c.json {
                let _ = super::out(&format!(
                    "{{\"files\":{},\"dirs\":{},\"symlinks\":{},\"bytes\":{},\"skipped\":{},\"seconds\":{secs:.3}}}\n",
                    t.files, t.dirs, t.symlinks, t.bytes, t.skipped
                ));
            } else if c.verbosity >= 0 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                let mib = t.bytes as f64 / (1 << 20) as f64;
                say!(
                    "econtext: {what}: {} files ({} unchanged), {} directories, {} symlinks, {mib:.1} MiB in {secs:.2} s",
                    t.files, t.skipped, t.dirs, t.symlinks
                );
            }
            0
        }
        Ok(Moved::File(t)) => {
            let secs = t0.elapsed().as_secs_f64();
            if c.json {
                let _ = super::out(&format!(
                    "{{\"bytes\":{},\"sha256\":\"{}\",\"skipped\":{},\"seconds\":{secs:.3}}}\n",
                    t.bytes, t.sha256, t.skipped
                ));
            } else if c.verbosity >= 0 && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                let mib = t.bytes as f64 / (1 << 20) as f64;
                if t.skipped {
                    say!(
                        "econtext: {what}: unchanged (sha256 {}), nothing sent",
                        &t.sha256[..16]
                    );
                } else {
                    say!(
                        "econtext: {what}: {mib:.1} MiB in {secs:.2} s ({:.0} MiB/s), sha256 {}",
                        mib / secs.max(1e-6),
                        &t.sha256[..16.min(t.sha256.len())]
                    );
                }
            }
            0
        }
        Err(e) => {
            say!("econtext: {what}: {e}");
            status(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::into_dir;

    #[test]
    fn a_trailing_slash_or_a_directory_takes_the_source_name() {
        assert_eq!(into_dir("/etc/", "app.conf", false), "/etc/app.conf");
        assert_eq!(into_dir("/etc/x.conf", "app.conf", false), "/etc/x.conf");
        assert_eq!(into_dir("out", "/var/log/syslog", true), "out/syslog");
    }
}
