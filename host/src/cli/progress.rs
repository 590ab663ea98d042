//! A one-line progress bar on stderr, only when stderr is a terminal: done/total, failed,
//! elapsed and the slowest pending targets. Forwarded log lines clear it before printing (the
//! next tick draws it again), so the two never interleave.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::log::{level_letter, LogEvent, LogSink};
use crate::Progress;

/// Whether a bar is on screen (shared with the log sink), and how many password prompts
/// want it off the screen.
#[derive(Default)]
pub struct Bar {
    shown: AtomicBool,
    paused: std::sync::atomic::AtomicUsize,
}

/// Keeps the bar off the screen while it lives (a password prompt).
pub struct Paused<'a>(&'a Bar);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.paused.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Bar {
    /// A bar when stderr is a terminal (and the terminal is not `dumb`), else `None`.
    pub fn on_terminal() -> Option<Arc<Bar>> {
        use std::os::fd::AsFd;
        let tty = crate::sys::tty::is_terminal(std::io::stderr().as_fd());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        (tty && !dumb).then(|| Arc::new(Bar::default()))
    }

    /// Take the bar off the screen until the guard is dropped.
    pub fn pause(&self) -> Paused<'_> {
        self.paused.fetch_add(1, Ordering::SeqCst);
        self.clear();
        Paused(self)
    }

    /// Draw the bar for `p`, `elapsed` into the run.
    pub fn draw(&self, p: &Progress, elapsed: Duration) {
        if self.paused.load(Ordering::SeqCst) > 0 {
            return;
        }
        let cols = {
            use std::os::fd::AsFd;
            crate::sys::tty::window_size(std::io::stderr().as_fd()).map_or(80, |(_, c)| c as usize)
        };
        let line = render(p, elapsed, cols.max(20));
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{line}\x1b[K");
        let _ = e.flush();
        // Marked shown while stderr is still held: a log line clears it under the same lock.
        self.shown.store(true, Ordering::SeqCst);
        drop(e);
    }

    /// Remove the bar from the screen.
    pub fn clear(&self) {
        if self.shown.swap(false, Ordering::SeqCst) {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
        }
    }

    /// The default log format, clearing the bar first.
    pub fn sink(self: &Arc<Bar>) -> LogSink {
        let bar = self.clone();
        Arc::new(move |e: &LogEvent| {
            let (h, m, s) = crate::sys::time::local_hms();
            // Clear and write under one lock of stderr: a redraw cannot come in between.
            let mut err = std::io::stderr().lock();
            if bar.shown.swap(false, Ordering::SeqCst) {
                let _ = write!(err, "\r\x1b[K");
            }
            let _ = writeln!(
                err,
                "{h:02}:{m:02}:{s:02} {} ctx.{}: {}: {}",
                level_letter(e.level),
                e.context,
                e.logger,
                e.message
            );
        })
    }
}

/// `[#########.......] 37/100  3 failed  4.2s  waiting: ssh:web17 3.1s, ssh:web22 2.9s`, cut
/// to `cols` characters.
pub fn render(p: &Progress, elapsed: Duration, cols: usize) -> String {
    const WIDTH: usize = 20;
    let filled = (p.done * WIDTH).checked_div(p.total).unwrap_or(WIDTH);
    let mut line = format!(
        "[{}{}] {}/{}",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        p.done,
        p.total
    );
    if p.failed > 0 {
        line.push_str(&format!("  {} failed", p.failed));
    }
    line.push_str(&format!("  {:.1}s", elapsed.as_secs_f64()));
    if !p.pending.is_empty() {
        let slow: Vec<String> = p
            .pending
            .iter()
            .take(3)
            .map(|(n, d)| format!("{n} {:.1}s", d.as_secs_f64()))
            .collect();
        line.push_str("  waiting: ");
        line.push_str(&slow.join(", "));
    }
    line.chars().take(cols.saturating_sub(1)).collect()
}

/// `512.0 MiB`: bytes in binary units, one decimal.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `[#####...............] 512.0 MiB / 2.0 GiB  312.4 MiB/s  ETA 5s  app.tar`, cut to `cols`.
pub fn render_bytes(
    done: u64,
    total: Option<u64>,
    elapsed: Duration,
    what: &str,
    cols: usize,
) -> String {
    const WIDTH: usize = 20;
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = done as f64 / secs;
    let mut line = match total {
        Some(t) => {
            let filled = (done.min(t) as usize * WIDTH)
                .checked_div(t as usize)
                .unwrap_or(WIDTH);
            format!(
                "[{}{}] {} / {}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled),
                human(done),
                human(t)
            )
        }
        None => human(done),
    };
    line.push_str(&format!("  {}/s", human(rate as u64)));
    if let Some(t) = total {
        if rate > 0.0 && t >= done {
            line.push_str(&format!("  ETA {:.0}s", (t - done) as f64 / rate));
        }
    }
    line.push_str("  ");
    line.push_str(what);
    line.chars().take(cols.saturating_sub(1)).collect()
}

/// A thread that draws a transfer's progress every 200 ms until dropped (then the line is
/// cleared).
pub struct BytesBar {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BytesBar {
    /// Draw `meter`'s progress for `what`, when stderr is a terminal.
    pub fn start(meter: Arc<crate::Meter>, what: String) -> Option<BytesBar> {
        Bar::on_terminal()?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let t0 = std::time::Instant::now();
        let thread = std::thread::Builder::new()
            .name("econtext-progress".into())
            .spawn(move || {
                let bar = Bar::default();
                while !st.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    let cols = {
                        use std::os::fd::AsFd;
                        crate::sys::tty::window_size(std::io::stderr().as_fd())
                            .map_or(80, |(_, c)| c as usize)
                    };
                    let line = render_bytes(
                        meter.done(),
                        meter.total(),
                        t0.elapsed(),
                        &what,
                        cols.max(20),
                    );
                    let mut e = std::io::stderr().lock();
                    let _ = write!(e, "\r{line}\x1b[K");
                    let _ = e.flush();
                    bar.shown.store(true, Ordering::SeqCst);
                }
                bar.clear();
            })
            .ok()?;
        Some(BytesBar {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for BytesBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_names_the_slowest_and_fits_the_terminal() {
        let p = Progress {
            connecting: 2,
            total: 100,
            done: 50,
            failed: 2,
            pending: vec![
                ("ssh:web17".into(), Duration::from_millis(3100)),
                ("ssh:web22".into(), Duration::from_millis(2900)),
            ],
        };
        let s = render(&p, Duration::from_millis(4200), 200);
        assert_eq!(
            s,
            "[##########..........] 50/100  2 failed  4.2s  waiting: ssh:web17 3.1s, ssh:web22 2.9s"
        );
        assert_eq!(render(&p, Duration::ZERO, 30).chars().count(), 29);
    }

    #[test]
    fn byte_progress_shows_size_rate_and_eta() {
        let s = render_bytes(
            512 << 20,
            Some(2 << 30),
            Duration::from_secs(2),
            "app.tar",
            200,
        );
        assert_eq!(
            s,
            "[#####...............] 512.0 MiB / 2.0 GiB  256.0 MiB/s  ETA 6s  app.tar"
        );
        let s = render_bytes(100, None, Duration::from_secs(1), "-", 200);
        assert_eq!(s, "100 B  100 B/s  -");
        assert_eq!(human(1536), "1.5 KiB");
    }
}
