//! Spec section 2: "Lengths and counts are checked against the bytes remaining". A count larger
//! than what is left is `truncated` as soon as it is read, whatever the items after it hold, so
//! the Rust and Python decoders report the same code. (Found by differential testing against
//! the Python stub: Rust used to decode the items first and report their error instead.)

use econtext_core::body::{Body, Call, Init, ModuleReply, Reply, Spawn};
use econtext_core::{Error, Value};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn value_counts_are_checked_before_items() {
    // List of 63 items, 1 byte left holding an unknown variant.
    assert_eq!(Value::decode(&unhex("073f1a")), Err(Error::Truncated));
    // List of 9, first item a bad bool.
    assert_eq!(Value::decode(&unhex("0709010e")), Err(Error::Truncated));
    // Dict of 10 pairs, first key a Context whose id overflows u32.
    assert_eq!(
        Value::decode(&unhex("090affffffff10")),
        Err(Error::Truncated)
    );
    // Tuple nested in a list: the inner count is checked too.
    assert_eq!(Value::decode(&unhex("0701080501ff")), Err(Error::Truncated));
    // Huge counts.
    assert_eq!(
        Value::decode(&unhex("07ffffffffffffffffff01")),
        Err(Error::Truncated)
    );
    assert_eq!(
        Value::decode(&unhex("07ffffffff0f1a")),
        Err(Error::Truncated)
    );
}

#[test]
fn counts_that_fit_still_report_the_item_error() {
    assert_eq!(Value::decode(&unhex("07011a")), Err(Error::BadVariant));
    assert_eq!(Value::decode(&unhex("07020102")), Err(Error::BadBool));
    // A count may equal the bytes left exactly.
    let nones = [&[7u8, 100][..], &[0u8; 100]].concat();
    assert_eq!(
        Value::decode(&nones),
        Ok(Value::List(vec![Value::None; 100]))
    );
    assert_eq!(
        Value::decode(&unhex("0703000000")),
        Ok(Value::List(vec![Value::None; 3]))
    );
    assert_eq!(Value::decode(&unhex("07040000")), Err(Error::Truncated));
}

#[test]
fn body_counts_are_checked_before_items() {
    // Call: args count 0x6f with 1 byte left (an unknown variant).
    assert_eq!(
        Call::decode(&unhex("026f7301026f73")),
        Err(Error::Truncated)
    );
    // Call: kwargs count 5 with a bad first key.
    assert_eq!(Call::decode(&unhex("0000000501ff")), Err(Error::Truncated));
    // Reply: Ok(List) count 9, then a bad bool.
    assert_eq!(Reply::decode(&unhex("000709010e")), Err(Error::Truncated));
    // Spawn: argv count 0x7f, then a string cut short.
    assert_eq!(
        Spawn::decode(&unhex("06007f000280000000")),
        Err(Error::Truncated)
    );
    // Spawn: prompts count 2 > 1 byte left.
    assert_eq!(
        Spawn::decode(
            &unhex("060000000000" /* id name argv pty stdio_pty wait_stage1 */)
                .iter()
                .chain(&[2, 0x80])
                .copied()
                .collect::<Vec<u8>>()
        ),
        Err(Error::Truncated)
    );
    // Init: served count 0x0d, then bad UTF-8.
    assert_eq!(
        Init::decode(&unhex("0100001480800d804001804080")),
        Err(Error::Truncated)
    );
    // ModuleReply: modules count 0x40 > bytes left.
    assert_eq!(
        ModuleReply::decode(&unhex("04406f7002650001046e6f")),
        Err(Error::Truncated)
    );
    // ModuleReply: missing count 3 with a bad string first.
    assert_eq!(
        ModuleReply::decode(&unhex("00000301ff")),
        Err(Error::Truncated)
    );
}

#[test]
fn body_counts_that_fit_still_report_the_item_error() {
    assert_eq!(
        Init::decode(
            &unhex("010000148080804001" /* served: 1 */)
                .iter()
                .chain(&[1, 0xff])
                .copied()
                .collect::<Vec<u8>>()
        ),
        Err(Error::BadUtf8)
    );
    assert_eq!(
        ModuleReply::decode(&unhex("00000201ff")),
        Err(Error::BadUtf8)
    );
    let s = Spawn {
        argv: vec!["a".into(), "b".into()],
        ..Spawn::default()
    };
    assert_eq!(Spawn::decode(&s.encode().unwrap()), Ok(s));
}

#[test]
fn channel_decode_owned_matches_decode() {
    use econtext_core::body::{Body, Channel};
    use econtext_core::Value;
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for n in [0usize, 1, 127, 128, 300, 65536, 70000] {
        cases.push(Channel::Data(Value::Bytes(vec![7; n])).encode().unwrap());
    }
    cases.push(Channel::Data(Value::Int(5)).encode().unwrap());
    cases.push(Channel::Credit(9).encode().unwrap());
    // Malformed: a length one too long or short, a non-minimal varint, trailing bytes.
    let mut long = Channel::Data(Value::Bytes(vec![1; 10])).encode().unwrap();
    long[2] = 11;
    cases.push(long);
    let mut short = Channel::Data(Value::Bytes(vec![1; 10])).encode().unwrap();
    short[2] = 9;
    cases.push(short);
    cases.push(vec![0, 6, 0x85, 0x00, 1, 2, 3, 4, 5]);
    cases.push(vec![0, 6, 0x80]);
    cases.push(vec![0, 6]);
    for c in cases {
        let a = Channel::decode(&c);
        let b = Channel::decode_owned(c.clone());
        assert_eq!(a, b, "{c:?}");
    }
}
