//! No file descriptor, thread or child process outlives a router (as Mitogen's suite checks
//! after every test). Alone in its own test binary: other tests' contexts are children of
//! the same process and would blur the count.

use econtext::{Local, Router};
use econtext_tests::*;

fn quiet() -> Router {
    quiet_router()
}

#[test]
fn no_leaks_after_shutdown() {
    // Warm up lazily created process-wide resources first.
    drop(quiet());
    let fds = fd_count();
    // A thread just joined can still be listed in /proc for a moment: the baseline is taken
    // once the count holds still.
    let mut threads = thread_count();
    eventually(1000, || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = thread_count();
        let settled = now == threads;
        threads = now;
        settled
    });
    {
        let router = quiet();
        for _ in 0..3 {
            let ctx = router.connect(&Local::new().python(python())).unwrap();
            ctx.call("os.system", vec!["true".into()]).unwrap();
            ctx.shutdown().unwrap();
        }
        let _still_running = router.connect(&Local::new().python(python())).unwrap();
    }
    assert!(
        eventually(2000, || fd_count() == fds),
        "fds {} -> {}",
        fds,
        fd_count()
    );
    assert!(
        eventually(2000, || thread_count() == threads),
        "threads {} -> {}",
        threads,
        thread_count()
    );
    assert!(
        eventually(2000, || children().is_empty()),
        "children left: {:?}",
        children()
    );
}
