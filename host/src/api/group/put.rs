//! One file to every target of a group, each byte over each link once: where two or more
//! targets sit behind one context (a bastion, a `--relay`, a shared hop), that context copies
//! the stream for them (`econtext_files.tee`), so the link above it carries the file once, as
//! the module cache serves a module once per hop. Memory stays bounded: nothing is stored,
//! every copy is flow-controlled, and the slowest target below a relay sets its pace.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use econtext_core::{Handle, Value};

use super::{Group, Outcome, Prefix, Progress, Results};
use crate::api::channel::{Receiver, Sender};
use crate::api::context::CallHandle;
use crate::api::files::{self, local_err, remote_err, TICK};
use crate::{Context, Error, PutOptions};

/// How long a context may take to announce the receiver of its part (after its call started),
/// and to answer when it announced none (it failed, or had the file already).
const SETUP: Duration = Duration::from_secs(60);

/// A context in the tree of the targets' routes.
struct Node {
    ctx: Context,
    children: Vec<usize>,
    /// The member whose target this context is.
    member: Option<usize>,
}

/// A put under way on one target.
struct Part {
    member: usize,
    call: CallHandle,
    /// Where it announces its receiver.
    ctl: Option<Receiver>,
    /// Where its bytes go (its receiver), once announced.
    to: Option<(Context, Handle)>,
    announced: bool,
}

impl<'r> Group<'r> {
    /// Put the local file `local` at `remote` on every target (connecting those not up yet),
    /// with the options of [`Context::put`]; each target's outcome holds its
    /// [`crate::Transfer`] as a value. The bytes cross each link once: a context with two or
    /// more targets behind it copies the stream for them. `seen` is called as in
    /// [`Group::each`].
    pub fn put(
        &mut self,
        local: &Path,
        remote: &str,
        o: &PutOptions,
        seen: impl FnMut(Option<&Outcome>, &Progress),
    ) -> Results {
        let mut seen = seen;
        self.put_path(local, remote, o, &mut seen)
    }

    fn put_path(
        &mut self,
        local: &Path,
        remote: &str,
        o: &PutOptions,
        seen: &mut dyn FnMut(Option<&Outcome>, &Progress),
    ) -> Results {
        let mut o = o.clone();
        let mut times = None;
        let source = std::fs::metadata(local).and_then(|meta| {
            if meta.is_dir() {
                return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
            }
            if o.mode.is_none() {
                use std::os::unix::fs::PermissionsExt;
                o.mode = Some(meta.permissions().mode() & 0o7777);
            }
            if o.preserve_times {
                times = Some((files::secs(meta.accessed()), files::secs(meta.modified())));
            }
            Ok(meta.len())
        });
        let opened = source.and_then(|n| std::fs::File::open(local).map(|f| (f, n)));
        match opened {
            Ok((f, n)) => {
                if let Some(m) = &o.meter {
                    m.set_total(n);
                }
                let mine = if o.skip_unchanged {
                    Some(files::sha256_file(local))
                } else {
                    None
                };
                let mut f = f;
                self.put_stream(&mut f, mine, times, local, remote, &o, seen)
            }
            Err(e) => {
                let e = local_err(local, e);
                self.fail_all(&e, seen)
            }
        }
    }

    /// [`Group::put`] of the bytes of `source` (read once, whatever the number of targets;
    /// mode default 0666 minus each target's umask).
    pub fn put_reader(
        &mut self,
        source: impl Read,
        remote: &str,
        o: &PutOptions,
        seen: impl FnMut(Option<&Outcome>, &Progress),
    ) -> Results {
        let (mut source, mut seen) = (source, seen);
        self.put_stream(
            &mut source,
            None,
            None,
            Path::new("<reader>"),
            remote,
            o,
            &mut seen,
        )
    }

    /// Every target fails with `e` (the source cannot be read).
    fn fail_all(
        &mut self,
        e: &Error,
        seen: &mut dyn FnMut(Option<&Outcome>, &Progress),
    ) -> Results {
        let mut results = Results::default();
        let total = self.members.len();
        for (index, m) in self.members.iter().enumerate() {
            let o = Outcome {
                target: m.target.name().to_string(),
                index,
                result: Err(e.clone()),
                elapsed: Duration::ZERO,
                connected: m.ctx.is_some(),
            };
            seen(Some(&o), &progress(total, &results, 1));
            results.push(o);
        }
        results
    }

    #[allow(clippy::too_many_arguments)]
    fn put_stream(
        &mut self,
        source: &mut dyn Read,
        mine: Option<Result<String, Error>>,
        times: Option<(f64, f64)>,
        shown: &Path,
        remote: &str,
        o: &PutOptions,
        seen: &mut dyn FnMut(Option<&Outcome>, &Progress),
    ) -> Results {
        let total = self.members.len();
        let mut results = Results::default();
        // 1. Everything up (unreachable targets are reported as they fail).
        let mut up = Vec::new();
        {
            let mut run = self.connect();
            loop {
                match run.wait(Some(TICK)) {
                    Ok(Some(out)) if out.connected => up.push(out.index),
                    Ok(Some(out)) => {
                        let p = run.progress();
                        seen(Some(&out), &p);
                        results.push(out);
                    }
                    Ok(None) => break,
                    Err(()) => seen(None, &run.progress()),
                }
            }
        }
        // From here every wait is cut in TICK slices, `seen` called between them (a caller
        // shows progress and may stop on Ctrl-C).
        let mut t = Ticker { seen, total };
        let t0 = Instant::now();
        let outcome = |g: &Group, member: usize, result: Result<Value, Error>| Outcome {
            target: g.members[member].target.name().to_string(),
            index: member,
            result,
            elapsed: t0.elapsed(),
            connected: true,
        };
        let ctx_of = |g: &Group, i: usize| g.members[i].ctx.clone().expect("up");
        // 2. Unchanged targets leave themselves out (`unless`: each compares the sha256
        // before any byte is sent).
        let mine = match mine.transpose() {
            Ok(m) => m,
            Err(e) => {
                for &i in &up {
                    t.report(&mut results, outcome(self, i, Err(e.clone())));
                }
                return results;
            }
        };
        let mut args = files::opts(o, times);
        if let (Value::Dict(kv), Some(m)) = (&mut args, &mine) {
            kv.push(("unless".into(), m.as_str().into()));
        }
        // 3. Every put started, each announcing its receiver; then a tee on each context
        // with two or more branches below it (bottom up).
        let mut parts: Vec<Part> = Vec::new();
        for &i in &up {
            let ctx = ctx_of(self, i);
            match start(
                &ctx,
                "econtext_files.put_from",
                vec![remote.into(), args.clone()],
            ) {
                Ok((call, ctl)) => parts.push(Part {
                    member: i,
                    call,
                    ctl: Some(ctl),
                    to: None,
                    announced: false,
                }),
                Err(e) => {
                    let e = remote_err(&ctx, e);
                    t.report(&mut results, outcome(self, i, Err(e)));
                }
            }
        }
        for p in &mut parts {
            let ctx = ctx_of(self, p.member);
            let ctl = p.ctl.take().expect("started");
            p.to = announced(&ctx, &ctl, &mut t, &mut results).map(|h| (ctx, h));
            p.announced = p.to.is_some();
        }
        let (nodes, roots) = self.route_tree(&parts.iter().map(|p| p.member).collect::<Vec<_>>());
        let mut tees: Vec<CallHandle> = Vec::new();
        let mut tops: Vec<Sender> = Vec::new();
        for &r in &roots {
            if let Some((ctx, h)) = feed(&nodes, r, &mut parts, &mut tees, &mut t, &mut results) {
                tops.push(Sender::to(&ctx, h));
            }
        }
        // 4. The bytes, once per top branch.
        let max_frame = parts.first().map_or(2 * files::CHUNK as u32, |p| {
            ctx_of(self, p.member).max_frame()
        });
        let out = files::stream_out(source, shown, tops, max_frame, o, &mut || t.idle(&results));
        // 5. Each target's answer.
        for p in parts {
            let ctx = ctx_of(self, p.member);
            // One that announced no receiver got nothing: it answers at once, or never (it
            // announced too late and waits for bytes that will not come).
            let silent = (!p.announced).then_some(SETUP);
            let r = self.wait(p.call, silent, &mut t, &mut results);
            let r = match (&out.failed, r) {
                // Unchanged: it says so itself.
                (_, Ok(v)) if is_skipped(&v) => Ok(v),
                (Some(e), _) => Err(e.clone()),
                (None, r) => r
                    .map_err(|e| remote_err(&ctx, e))
                    .and_then(|v| ctx.checked(v, remote, o, out.digest.clone(), out.sent))
                    .map(|t| t.to_value()),
            };
            t.report(&mut results, outcome(self, p.member, r));
        }
        for call in tees {
            let _ = self.wait(call, None, &mut t, &mut results);
        }
        results
    }

    /// A call's result, within the group's per-target timeout (or `limit`, when shorter),
    /// `seen` called between slices.
    fn wait(
        &self,
        call: CallHandle,
        limit: Option<Duration>,
        t: &mut Ticker,
        results: &mut Results,
    ) -> Result<Value, Error> {
        let end = match (self.timeout, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| Instant::now() + t);
        loop {
            if let Some(r) = call.poll(TICK) {
                return r;
            }
            if end.is_some_and(|e| Instant::now() >= e) {
                return Err(call.expire());
            }
            t.idle(results);
        }
    }

    /// The contexts on the way to each target of `members` (relay, shared hops, the target's
    /// own), as a forest: node indices and the roots.
    fn route_tree(&self, members: &[usize]) -> (Vec<Node>, Vec<usize>) {
        let mut nodes: Vec<Node> = Vec::new();
        let mut roots = Vec::new();
        for &i in members {
            let m = &self.members[i];
            let mut chain: Vec<Context> = m
                .relay
                .map(|r| self.relays[r].clone())
                .into_iter()
                .collect();
            for key in &m.keys[..m.keys.len().saturating_sub(1)] {
                if let Some(Prefix::Up(c)) = self.prefixes.get(key) {
                    chain.push(c.clone());
                }
            }
            chain.extend(m.ctx.clone());
            let mut parent: Option<usize> = None;
            for c in chain {
                let level = match parent {
                    Some(p) => nodes[p].children.clone(),
                    None => roots.clone(),
                };
                let at = match level.into_iter().find(|&n| nodes[n].ctx.id() == c.id()) {
                    Some(n) => n,
                    None => {
                        nodes.push(Node {
                            ctx: c,
                            children: Vec::new(),
                            member: None,
                        });
                        let n = nodes.len() - 1;
                        match parent {
                            Some(p) => nodes[p].children.push(n),
                            None => roots.push(n),
                        }
                        n
                    }
                };
                parent = Some(at);
            }
            if let Some(p) = parent {
                nodes[p].member = Some(i);
            }
        }
        (nodes, roots)
    }
}

/// Start `function(ctl, *args)` on `ctx`; `ctl` will carry the receiver it makes.
fn start(ctx: &Context, function: &str, args: Vec<Value>) -> Result<(CallHandle, Receiver), Error> {
    let ctl = ctx.receiver()?;
    let mut a = vec![ctl.sender()];
    a.extend(args);
    let call = ctx.call_async(function, a)?;
    Ok((call, ctl))
}

/// The receiver a started function announced on `ctl` (`None`: it failed before announcing
/// one, and its call says why; or it took over [`SETUP`]).
fn announced(
    ctx: &Context,
    ctl: &Receiver,
    t: &mut Ticker,
    results: &mut Results,
) -> Option<Handle> {
    let end = Instant::now() + SETUP;
    while Instant::now() < end {
        match ctl.recv_timeout(TICK) {
            Ok(Some(Value::Sender(id, h))) if id == ctx.id() => return Some(h),
            Ok(None) => t.idle(results),
            _ => return None,
        }
    }
    None
}

/// Where the stream for everything below node `n` goes: its one branch as it is, or a tee
/// started on its context for two or more.
fn feed(
    nodes: &[Node],
    n: usize,
    parts: &mut [Part],
    tees: &mut Vec<CallHandle>,
    t: &mut Ticker,
    results: &mut Results,
) -> Option<(Context, Handle)> {
    let mut branches: Vec<(Context, Handle)> = Vec::new();
    for &c in &nodes[n].children {
        branches.extend(feed(nodes, c, parts, tees, t, results));
    }
    if let Some(m) = nodes[n].member {
        if let Some(p) = parts.iter_mut().find(|p| p.member == m) {
            branches.extend(p.to.take());
        }
    }
    if branches.len() < 2 {
        return branches.pop();
    }
    let ctx = &nodes[n].ctx;
    let outs: Vec<Value> = branches
        .iter()
        .map(|(c, h)| Value::Sender(c.id(), *h))
        .collect();
    // A relay that fails gives its branches nothing: their puts say so.
    let (call, ctl) = start(ctx, "econtext_files.tee", vec![Value::List(outs)]).ok()?;
    tees.push(call);
    let h = announced(ctx, &ctl, t, results)?;
    Some((ctx.clone(), h))
}

/// `{"skipped": true, ...}`: a target that had the file already.
fn is_skipped(v: &Value) -> bool {
    matches!(v, Value::Dict(kv) if kv.iter().any(|(k, v)| *k == Value::from("skipped") && *v == Value::Bool(true)))
}

/// A caller's `seen`, called between slices of every wait and with every outcome.
struct Ticker<'a> {
    seen: &'a mut dyn FnMut(Option<&Outcome>, &Progress),
    total: usize,
}

impl Ticker<'_> {
    fn idle(&mut self, results: &Results) {
        (self.seen)(None, &progress(self.total, results, 0));
    }

    fn report(&mut self, results: &mut Results, out: Outcome) {
        (self.seen)(Some(&out), &progress(self.total, results, 1));
        results.push(out);
    }
}

/// Progress while outcomes are reported (`extra`: the one being reported).
fn progress(total: usize, results: &Results, extra: usize) -> Progress {
    Progress {
        total,
        done: results.outcomes.len() + extra,
        failed: results
            .outcomes
            .iter()
            .filter(|o| o.result.is_err())
            .count(),
        connecting: 0,
        pending: Vec::new(),
    }
}
