//! Local wall-clock time for log lines.

/// Hours, minutes and seconds of the local time now.
pub fn local_hms() -> (u32, u32, u32) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes into the zeroed `tm` we own; `now` outlives the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return (0, 0, 0);
        }
        tm
    };
    (tm.tm_hour as u32, tm.tm_min as u32, tm.tm_sec as u32)
}
