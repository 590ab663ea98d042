//! `econtext call -t TARGET -t @FILE ... FUNCTION` (and `put`/`get` with `-t`): one function
//! (or file) on many targets, with a progress bar on a terminal, NDJSON with `--json`, a
//! gathered result table, and exit bits.

use std::time::{Duration, Instant};

use super::progress::Bar;
use super::targets::fold;
use super::{connect_chain, files, hops, methods, out, CallCmd, Mode};
use crate::{json, Error, ErrorKind, Group, Outcome, Progress, Router, Target, Value};

/// Exit bit: some function raised (or a file transfer failed).
pub const RAISED: i32 = 1;
/// Exit bit: some target was unreachable (never came up).
pub const UNREACHABLE: i32 = 4;
/// Exit bit: some call timed out, or its context was lost mid-call.
pub const LOST: i32 = 8;

/// What happened on one target, as printed.
struct Row {
    target: String,
    status: &'static str,
    ms: u64,
    text: String,
}

/// The status word of an outcome.
fn status(o: &Outcome) -> &'static str {
    match &o.result {
        Ok(_) => "ok",
        Err(_) if !o.connected => "unreachable",
        Err(e) => match e.kind() {
            ErrorKind::Remote => "raised",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Disconnected => "lost",
            // A file error, arguments too large, a protocol error...: this target failed.
            _ => "failed",
        },
    }
}

/// One line of text for a value: a str as itself, anything else as JSON; a multi-line str as
/// a JSON string.
fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) if !s.contains('\n') => s.clone(),
        Value::Bytes(b) if !b.contains(&b'\n') && std::str::from_utf8(b).is_ok() => {
            String::from_utf8_lossy(b).into_owned()
        }
        Value::Bytes(b) if std::str::from_utf8(b).is_ok() => {
            json::to_json(&Value::Str(String::from_utf8_lossy(b).into_owned()))
        }
        _ => json::to_json(v),
    }
}

/// One line of text for an error: its first line (a remote one as `Type: message`).
fn error_text(e: &Error) -> String {
    let full = match e {
        Error::Remote(r) => format!("{}: {}", r.type_name, r.message),
        e => e.to_string(),
    };
    let first = full.lines().next().unwrap_or("").to_string();
    if first.chars().count() > 240 {
        first.chars().take(240).collect::<String>() + "..."
    } else {
        first
    }
}

/// The NDJSON line of an outcome.
fn ndjson(o: &Outcome) -> String {
    let head = format!(
        "{{\"target\":{},\"ok\":{},\"status\":\"{}\",\"ms\":{}",
        json::to_json(&Value::Str(o.target.clone())),
        o.result.is_ok(),
        status(o),
        u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX)
    );
    match &o.result {
        Ok(v) => format!("{head},\"value\":{}}}", json::to_json(v)),
        Err(e) => format!(
            "{head},\"kind\":\"{}\",\"error\":{}}}",
            e.kind().as_str(),
            json::to_json(&Value::Str(e.to_string()))
        ),
    }
}

/// Rows with the same status and text, gathered under one folded name, in target order.
fn table(rows: &[Row]) -> String {
    let mut groups: Vec<(&'static str, &str, Vec<&Row>)> = Vec::new();
    for r in rows {
        match groups
            .iter_mut()
            .find(|(s, t, _)| *s == r.status && *t == r.text)
        {
            Some(g) => g.2.push(r),
            None => groups.push((r.status, &r.text, vec![r])),
        }
    }
    let lines: Vec<[String; 4]> = groups
        .iter()
        .map(|(st, text, rs)| {
            let names: Vec<&str> = rs.iter().map(|r| r.target.as_str()).collect();
            let lo = rs.iter().map(|r| r.ms).min().unwrap_or(0);
            let hi = rs.iter().map(|r| r.ms).max().unwrap_or(0);
            let secs = |ms: u64| format!("{:.2}", ms as f64 / 1000.0);
            let time = if lo == hi {
                format!("{}s", secs(lo))
            } else {
                format!("{}-{}s", secs(lo), secs(hi))
            };
            let who = if rs.len() > 1 {
                format!("{} ({})", fold(&names), rs.len())
            } else {
                fold(&names)
            };
            [who, st.to_string(), time, text.to_string()]
        })
        .collect();
    let head = [
        "TARGETS".to_string(),
        "STATUS".into(),
        "TIME".into(),
        "RESULT".into(),
    ];
    let mut w = [0usize; 3];
    for l in std::iter::once(&head).chain(lines.iter()) {
        for i in 0..3 {
            w[i] = w[i].max(l[i].chars().count());
        }
    }
    let mut s = String::new();
    for l in std::iter::once(&head).chain(lines.iter()) {
        s.push_str(&format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            l[0],
            l[1],
            l[2],
            l[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        ));
    }
    s
}

/// Connect the relays (sharing prefixes), each a TARGET chain. A relay that fails is reported
/// and left out; none left is an error.
fn relays(router: &Router, c: &CallCmd) -> Result<Vec<crate::Context>, String> {
    let mut up = Vec::new();
    let mut out = Vec::new();
    for r in &c.relays {
        let chain = methods(r, c.connect_timeout, &c.hop).map_err(|e| format!("--relay: {e}"))?;
        match connect_chain(router, &hops(r), chain, &mut up) {
            Ok(ctx) => out.push(ctx),
            Err(e) => say!("econtext: relay {r} left out: {e}"),
        }
    }
    if out.is_empty() {
        return Err("no relay came up (see above): fix them or drop --relay".into());
    }
    Ok(out)
}

/// Run `c.function` on every target of `c.targets`; returns the exit status.
pub fn run(router: Router, c: CallCmd, bar: Option<std::sync::Arc<Bar>>) -> i32 {
    let mut targets = Vec::with_capacity(c.targets.len());
    for t in &c.targets {
        match methods(t, c.connect_timeout, &c.hop) {
            Ok(ms) => targets.push(Target::chain(
                t.clone(),
                hops(t).into_iter().zip(ms).collect(),
            )),
            Err(e) => {
                say!("econtext: {e}");
                return 2;
            }
        }
    }
    let relays = if c.relays.is_empty() {
        Vec::new()
    } else {
        match relays(&router, &c) {
            Ok(r) => r,
            Err(e) => {
                say!("econtext: {e}");
                return 3;
            }
        }
    };
    crate::sys::signal::catch_interrupt();
    let t0 = Instant::now();
    let mut group = Group::new(&router, targets).via(relays);
    if let Some(f) = c.forks {
        group = group.forks(f);
    }
    if let Some(t) = c.timeout {
        group = group.timeout(t);
    }
    let mut report = Report {
        rows: (0..c.targets.len()).map(|_| None).collect(),
        bits: 0,
        stdout_open: true,
        json: c.json,
        bar: bar.clone(),
    };
    let interrupted = |p: &Progress, bar: &Option<std::sync::Arc<Bar>>| {
        if let Some(b) = bar {
            b.clear();
        }
        say!(
            "econtext: interrupted: {} of {} targets not finished; every context is being stopped",
            p.total - p.done,
            p.total
        );
    };
    if matches!(c.mode, Mode::Put | Mode::Get) {
        let seen = |o: Option<&crate::Outcome>, p: &Progress| {
            if crate::sys::signal::interrupted() {
                interrupted(p, &bar);
                // Transfers cannot be stopped from here: exiting closes every connection,
                // and every context (and the programs it runs) exits with it.
                std::process::exit(130);
            }
            if let Some(o) = o {
                report.outcome(o);
            }
            if let Some(b) = &bar {
                b.draw(p, t0.elapsed());
            }
        };
        let results = if c.mode == Mode::Put {
            // One stream for all: a context with several targets behind it copies it for
            // them (each byte over each link once); stdin is read once.
            let (a, remote) = files::put_paths(&c);
            if a == "-" {
                group.put_reader(std::io::stdin().lock(), &remote, &c.put, seen)
            } else {
                group.put(std::path::Path::new(a), &remote, &c.put, seen)
            }
        } else {
            // Each target's transfer on a thread of its own (at most --forks at once).
            let cmd = &c;
            group.each(
                |target, ctx| {
                    let dir = files::target_dir(target);
                    let (_, r) = files::transfer(ctx, cmd, Some(&dir), None);
                    r.map(|t| t.to_value())
                },
                seen,
            )
        };
        drop(results);
    } else {
        let mut run = match group.call_kw(&c.function, c.args.clone(), c.kwargs.clone()) {
            Ok(r) => r,
            Err(e) => {
                say!("econtext: {e}");
                return 2;
            }
        };
        loop {
            if crate::sys::signal::interrupted() {
                interrupted(&run.progress(), &bar);
                drop(run);
                drop(group);
                // Dropping the router shuts every context down (killing what does not exit
                // in a second): nothing is left running on any target.
                drop(router);
                return 130;
            }
            match run.wait(Some(Duration::from_millis(100))) {
                Ok(Some(o)) => report.outcome(&o),
                Ok(None) => break,
                Err(()) => {}
            }
            if let Some(b) = &bar {
                b.draw(&run.progress(), t0.elapsed());
            }
        }
    }
    if let Some(b) = &bar {
        b.clear();
    }
    let Report {
        rows,
        bits,
        stdout_open,
        ..
    } = report;
    let rows: Vec<Row> = rows.into_iter().flatten().collect();
    if !c.json && stdout_open {
        let _ = out(&table(&rows));
    }
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    say!(
        "econtext: {} targets in {:.2}s: {} ok, {} raised or failed, {} unreachable, {} timed out or lost",
        rows.len(),
        t0.elapsed().as_secs_f64(),
        count("ok"),
        count("raised") + count("failed"),
        count("unreachable"),
        count("timeout") + count("lost")
    );
    group.shutdown();
    bits
}

/// The outcomes so far: table rows (by target index: the table follows the order the targets
/// were given in), exit bits, NDJSON as they come.
struct Report {
    rows: Vec<Option<Row>>,
    bits: i32,
    stdout_open: bool,
    json: bool,
    bar: Option<std::sync::Arc<Bar>>,
}

impl Report {
    fn outcome(&mut self, o: &Outcome) {
        let st = status(o);
        self.bits |= match st {
            "raised" | "failed" => RAISED,
            "unreachable" => UNREACHABLE,
            "timeout" | "lost" => LOST,
            _ => 0,
        };
        if self.json && self.stdout_open {
            if let Some(b) = &self.bar {
                b.clear();
            }
            self.stdout_open = out(&format!("{}\n", ndjson(o))).is_ok();
        }
        if let Some(slot) = self.rows.get_mut(o.index) {
            *slot = Some(Row {
                target: o.target.clone(),
                status: st,
                ms: u64::try_from(o.elapsed.as_millis()).unwrap_or(u64::MAX),
                text: match &o.result {
                    Ok(v) => value_text(v),
                    Err(e) => error_text(e),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: &str, s: &'static str, ms: u64, text: &str) -> Row {
        Row {
            target: t.into(),
            status: s,
            ms,
            text: text.into(),
        }
    }

    #[test]
    fn identical_results_are_gathered_under_folded_names() {
        let rows = vec![
            row("ssh:web01", "ok", 310, "0"),
            row("ssh:web02", "ok", 450, "0"),
            row("ssh:web03", "raised", 400, "ValueError: boom"),
            row("ssh:web04", "ok", 320, "0"),
            row("ssh:db1", "unreachable", 10, "refused"),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("TARGETS"));
        assert!(lines[1].starts_with("ssh:web[01-02,04] (3)  ok"), "{t}");
        assert!(lines[1].contains("0.31-0.45s"), "{t}");
        assert!(lines[1].ends_with("  0"), "{t}");
        assert!(lines[2].contains("raised") && lines[2].ends_with("ValueError: boom"));
        assert!(lines[3].starts_with("ssh:db1"));
    }

    #[test]
    fn values_print_on_one_line() {
        assert_eq!(value_text(&Value::Str("a\nb".into())), "\"a\\nb\"");
        assert_eq!(value_text(&Value::Str("ab".into())), "ab");
        assert_eq!(value_text(&Value::Int(3)), "3");
    }
}
