//! Every typed body's `Body::decode` on arbitrary bytes (the first byte picks the type): never
//! panics, and whatever it accepts is stable under decode -> encode -> decode -> encode.
//! `Channel::decode_owned` (the in-place path of bulk streams) must agree with `decode`.
#![no_main]

use core::fmt::Debug;

use econtext_core::body::{
    Body, Call, Channel, DeadLetter, Init, LogRecord, ModuleReply, ModuleRequest, RemoteError,
    Reply, RouteAdd, RouteDel, Shutdown, Spawn,
};
use libfuzzer_sys::fuzz_target;

fn check<T: Body + PartialEq + Debug>(data: &[u8]) {
    let Ok(v) = T::decode(data) else { return };
    let once = v.encode().expect("a decoded body must encode");
    assert!(once.len() <= data.len(), "re-encoding grew the body");
    let v2 = T::decode(&once).expect("our own encoding must decode");
    assert_eq!(v2, v, "decode(encode(b)) != b");
    let twice = v2.encode().expect("a decoded body must encode");
    assert_eq!(twice, once, "encoding is not stable");
}

/// The body types, in the order the selector byte indexes them.
pub const TYPES: [&str; 13] = [
    "Call",
    "Reply",
    "LogRecord",
    "ModuleRequest",
    "ModuleReply",
    "RouteAdd",
    "RouteDel",
    "Spawn",
    "Init",
    "Channel",
    "DeadLetter",
    "Shutdown",
    "RemoteError",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    match sel as usize % TYPES.len() {
        0 => check::<Call>(body),
        1 => check::<Reply>(body),
        2 => check::<LogRecord>(body),
        3 => check::<ModuleRequest>(body),
        4 => check::<ModuleReply>(body),
        5 => check::<RouteAdd>(body),
        6 => check::<RouteDel>(body),
        7 => check::<Spawn>(body),
        8 => check::<Init>(body),
        9 => {
            check::<Channel>(body);
            // The in-place fast path agrees with the general decoder on every input.
            assert_eq!(
                Channel::decode_owned(body.to_vec()),
                Channel::decode(body),
                "decode_owned != decode"
            );
        }
        10 => check::<DeadLetter>(body),
        11 => check::<Shutdown>(body),
        _ => check::<RemoteError>(body),
    }
});
