//! `econtext put TARGET LOCAL REMOTE` and `econtext get TARGET REMOTE LOCAL`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{CallCmd, Mode};
use crate::{Context, Error, GetOptions};

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

/// Run `put` or `get` on `ctx`; the exit status.
pub fn run(ctx: &Context, c: CallCmd) -> i32 {
    let t0 = Instant::now();
    let (a, b) = (c.argv[0].clone(), c.argv[1].clone());
    let (what, r) = if c.mode == Mode::Put {
        let remote = into_dir(&b, &a, false);
        let r = if a == "-" {
            ctx.put_reader(std::io::stdin().lock(), &remote, &c.put)
        } else {
            ctx.put(Path::new(&a), &remote, &c.put)
        };
        (format!("{a} -> {}:{remote}", ctx.name()), r)
    } else {
        let o = GetOptions {
            preserve: c.put.preserve_times,
            follow_symlinks: c.put.follow_symlinks,
        };
        let r = if b == "-" {
            ctx.get_writer(&a, std::io::stdout().lock(), &o)
        } else {
            let local = PathBuf::from(into_dir(&b, &a, Path::new(&b).is_dir()));
            ctx.get(&a, &local, &o)
        };
        (format!("{}:{a} -> {b}", ctx.name()), r)
    };
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
                        &t.sha256[..16]
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
