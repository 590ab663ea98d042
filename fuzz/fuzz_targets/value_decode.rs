//! `Value::decode` on arbitrary bytes: never panics, and whatever it accepts is stable under
//! decode -> encode -> decode -> encode (same value, same bytes).
#![no_main]

use econtext_core::Value;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = Value::decode(data) else { return };
    let once = v.encode().expect("a decoded value must encode");
    // Re-encoding can only drop redundancy (over-long varints), never add bytes.
    assert!(once.len() <= data.len(), "re-encoding grew the value");
    let v2 = Value::decode(&once).expect("our own encoding must decode");
    assert_eq!(v2, v, "decode(encode(v)) != v");
    let twice = v2.encode().expect("a decoded value must encode");
    assert_eq!(twice, once, "encoding is not stable");
});
