//! Large values cross intact in both directions, and a body over the maximum is refused
//! with an error instead of hanging.

use std::time::Instant;

use econtext::{Error, Local, Value};
use econtext_tests::*;

#[test]
fn a_64_mib_argument_and_result_round_trip() {
    let router = quiet_router();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let blob: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let t = Instant::now();
    let back = ctx
        .call("copy.copy", vec![Value::Bytes(blob.clone())])
        .unwrap();
    eprintln!("64 MiB there and back in {:?}", t.elapsed());
    assert!(back == Value::Bytes(blob), "the blob changed on the way");
    // The context still works afterwards.
    assert!(matches!(ctx.call("os.getpid", vec![]), Ok(Value::Int(_))));
}

#[test]
fn messages_over_the_maximum_are_refused_with_an_error_and_the_context_lives_on() {
    let o = econtext::RouterOptions {
        sink: std::sync::Arc::new(|_: &econtext::LogEvent| {}),
        max_frame: 1 << 20,
        ..Default::default()
    };
    let router = econtext::Router::with_options(o).unwrap();
    let ctx = router.connect(&Local::new().python(python())).unwrap();
    let t = Instant::now();
    // A result too large: the context says so instead of sending it.
    match ctx.call("os.urandom", vec![Value::Int(2 << 20)]) {
        Err(Error::Remote(e)) => assert!(e.message.contains("message limit"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    // Arguments too large: refused before anything is sent.
    match ctx.call("builtins.len", vec![Value::Bytes(vec![0; 2 << 20])]) {
        Err(e @ Error::TooLarge { .. }) => {
            assert!(e.to_string().contains("message limit"), "{e}");
            assert_eq!(e.kind(), econtext::ErrorKind::TooLarge);
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed().as_secs() < 5);
    assert!(
        matches!(ctx.call("os.getpid", vec![]), Ok(Value::Int(_))),
        "the context lives on"
    );
}
