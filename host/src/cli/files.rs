//! `econtext put TARGET LOCAL REMOTE` and `econtext get TARGET REMOTE LOCAL`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::progress::BytesBar;
use super::{CallCmd, Mode};
use crate::{Context, Error, GetOptions, Meter, Transfer};

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

/// A put's LOCAL, and its REMOTE with LOCAL's name added when REMOTE ends with `/`.
pub fn put_paths(c: &CallCmd) -> (&str, String) {
    let (a, b) = (c.argv[0].as_str(), c.argv[1].as_str());
    (a, into_dir(b, a, false))
}

/// Move the file of `c` (put or get) on `ctx`; `local_dir` replaces a get's LOCAL with
/// `LOCAL/<dir>/` (many targets). Returns what moved and how it is described.
pub fn transfer(
    ctx: &Context,
    c: &CallCmd,
    local_dir: Option<&str>,
    meter: Option<Arc<Meter>>,
) -> (String, Result<Transfer, Error>) {
    let (a, b) = (c.argv[0].as_str(), c.argv[1].as_str());
    if c.mode == Mode::Put {
        let (_, remote) = put_paths(c);
        let mut o = c.put.clone();
        o.meter = meter;
        let r = if a == "-" {
            ctx.put_reader(std::io::stdin().lock(), &remote, &o)
        } else {
            ctx.put(Path::new(a), &remote, &o)
        };
        (format!("{a} -> {}:{remote}", ctx.name()), r)
    } else {
        let o = GetOptions {
            preserve: c.put.preserve_times,
            follow_symlinks: c.put.follow_symlinks,
            meter,
            verify: c.put.verify,
        };
        if b == "-" && local_dir.is_none() {
            let r = ctx.get_writer(a, std::io::stdout().lock(), &o);
            return (format!("{}:{a} -> -", ctx.name()), r);
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
        let local = PathBuf::from(into_dir(&base, a, Path::new(&base).is_dir()));
        let r = ctx.get(a, &local, &o);
        (format!("{}:{a} -> {}", ctx.name(), local.display()), r)
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
        Ok(t) => {
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
