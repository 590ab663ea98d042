//! Forwarded log records and the sink that receives them.

use std::sync::Arc;

/// One record from a context: a Python log record or a line of its stdout/stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Name of the context that produced it.
    pub context: String,
    /// Logger name (`stdout` / `stderr` for forwarded output).
    pub logger: String,
    /// Python level number (10 DEBUG, 20 INFO, 30 WARNING, 40 ERROR, 50 CRITICAL).
    pub level: u32,
    /// The message.
    pub message: String,
}

/// Where forwarded records go. Called on the broker thread: keep it quick.
pub type LogSink = Arc<dyn Fn(&LogEvent) + Send + Sync>;

/// The level letter of the default format.
pub fn level_letter(level: u32) -> char {
    match level {
        0..=19 => 'D',
        20..=29 => 'I',
        30..=39 => 'W',
        40..=49 => 'E',
        _ => 'C',
    }
}

/// The default sink: `HH:MM:SS L ctx.<name>: <logger>: <message>` on stderr.
pub fn stderr_sink() -> LogSink {
    Arc::new(|e: &LogEvent| {
        let (h, m, s) = crate::sys::time::local_hms();
        use std::io::Write;
        // Never panics: a closed stderr must not take the broker thread down.
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
