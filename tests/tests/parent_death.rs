//! kill -9 of the host process: every remote process exits within a second, even while user
//! code is blocked.

use std::process::{Command, Stdio};
use std::time::Duration;

use econtext_tests::*;

#[test]
fn kill_9_of_the_host_leaves_no_remote_process() {
    let bin = env!("CARGO_BIN_EXE_econtext_probe_host");
    let mut pythons = vec![python()];
    pythons.extend(old_interpreters().iter().map(|p| p.display().to_string()));
    for (py, function) in pythons
        .iter()
        .flat_map(|p| ["time.sleep", "signal.pause"].map(|f| (p.clone(), f)))
    {
        let mut host = Command::new(bin)
            .arg(&py)
            .arg(function)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let needle = format!(":{}", host.id());
        // Wait until the context runs its function (the host says "ready"); a title seen
        // before that may be a start that is replaced (2.4-2.6 get their stub in a second).
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(host.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, "ready\n", "{py}: the context never started");
        let remote = processes_matching(&needle);
        assert!(!remote.is_empty());
        // A grandchild started by the function goes too.
        std::thread::sleep(Duration::from_millis(300));
        host.kill().unwrap();
        host.wait().unwrap();
        let gone = eventually(1000, || processes_matching(&needle).is_empty());
        assert!(
            gone,
            "{py} {function}: left behind: {:?})",
            processes_matching(&needle)
        );
        assert!(
            eventually(1000, || processes_matching("econtext-grandchild-marker")
                .is_empty()),
            "{py} {function}: the grandchild was left: {:?}",
            processes_matching("econtext-grandchild-marker")
        );
    }
}
