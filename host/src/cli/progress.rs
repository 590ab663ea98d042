//! A one-line progress bar on stderr, only when stderr is a terminal: done/total, failed,
//! elapsed and the slowest pending targets. Forwarded log lines clear it before printing (the
//! next tick draws it again), so the two never interleave.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::log::{level_letter, LogEvent, LogSink};
use crate::Progress;

/// Whether a bar is on screen (shared with the log sink).
#[derive(Default)]
pub struct Bar {
    shown: AtomicBool,
}

impl Bar {
    /// A bar when stderr is a terminal (and the terminal is not `dumb`), else `None`.
    pub fn on_terminal() -> Option<Arc<Bar>> {
        use std::os::fd::AsFd;
        let tty = crate::sys::tty::is_terminal(std::io::stderr().as_fd());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        (tty && !dumb).then(|| Arc::new(Bar::default()))
    }

    /// Draw the bar for `p`, `elapsed` into the run.
    pub fn draw(&self, p: &Progress, elapsed: Duration) {
        let cols = {
            use std::os::fd::AsFd;
            crate::sys::tty::window_size(std::io::stderr().as_fd()).map_or(80, |(_, c)| c as usize)
        };
        let line = render(p, elapsed, cols.max(20));
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{line}\x1b[K");
        let _ = e.flush();
        self.shown.store(true, Ordering::SeqCst);
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
            bar.clear();
            let (h, m, s) = crate::sys::time::local_hms();
            let _ = writeln!(
                std::io::stderr().lock(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_names_the_slowest_and_fits_the_terminal() {
        let p = Progress {
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
}
