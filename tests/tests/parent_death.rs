//! kill -9 of the host process: every remote process exits within a second, even while user
//! code is blocked.

use std::process::{Command, Stdio};
use std::time::Duration;

use econtext_tests::*;

#[test]
fn kill_9_of_the_host_leaves_no_remote_process() {
    let bin = env!("CARGO_BIN_EXE_econtext_probe_host");
    for function in ["time.sleep", "signal.pause"] {
        let mut host = Command::new(bin)
            .arg(python())
            .arg(function)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let needle = format!(":{}", host.id());
        // Wait until the context runs (its title names the host's pid).
        assert!(
            eventually(10_000, || processes_matching(&needle).iter().any(|_| true)),
            "context never started"
        );
        let remote = processes_matching(&needle);
        assert!(!remote.is_empty());
        // A grandchild started by the function goes too.
        std::thread::sleep(Duration::from_millis(300));
        host.kill().unwrap();
        host.wait().unwrap();
        let gone = eventually(1000, || processes_matching(&needle).is_empty());
        assert!(
            gone,
            "{function}: left behind: {:?})",
            processes_matching(&needle)
        );
        assert!(eventually(1000, || processes_matching(
            "econtext-grandchild-marker"
        )
        .is_empty()));
    }
}
