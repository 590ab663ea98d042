//! The shared wire-format vectors of `testdata/` (`docs/wire-format.md`, section 8), checked
//! against this crate byte for byte: every valid vector encodes to exactly its hex and decodes to
//! its meaning; every malformed vector is refused with its error code.
//!
//! The same files are checked by the Python stub's suite (`tests/python/test_vectors.py`), so a
//! pass on both sides means the two implementations agree on every vector.

use std::fmt::Debug;
use std::path::PathBuf;

use econtext_core::body::{
    Body, ByteBuf, Call, Channel, DeadLetter, Failure, Init, LogRecord, Module, ModuleReply,
    ModuleRequest, Prompt, RemoteError, Reply, RouteAdd, RouteDel, Shutdown, Spawn,
};
use econtext_core::header::{DEFAULT_MAX_BODY, HEADER_LEN};
use econtext_core::{Feed, FrameDecoder, Header, Value};
use serde_json::{Map, Value as J};

// ---------------------------------------------------------------------------------------------
// Loading and small JSON helpers. Malformed vector *files* panic: they are a test-data bug.

fn load(name: &str) -> Vec<J> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // The vectors nest values 64 deep: each level is two JSON levels, past serde_json's default
    // limit of 128. The input is our own test data, so the recursion is bounded by it.
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    match serde::Deserialize::deserialize(&mut de).and_then(|j: J| de.end().map(|()| j)) {
        Ok(J::Array(items)) => items,
        Ok(_) => panic!("{name}: the top level must be an array"),
        Err(e) => panic!("{name}: invalid JSON: {e}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex {s:?}");
    assert!(
        !s.bytes().any(|c| c.is_ascii_uppercase()),
        "hex must be lowercase: {s:?}"
    );
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("bad hex {s:?}")))
        .collect()
}

fn tohex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The object `j`, which must have exactly these keys (catches typos in the vectors).
fn obj<'a>(j: &'a J, keys: &[&str]) -> &'a Map<String, J> {
    let m = j
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {j}"));
    let mut have: Vec<&str> = m.keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    assert_eq!(have, want, "object keys of {j}");
    m
}

fn field<'a>(m: &'a Map<String, J>, k: &str) -> &'a J {
    &m[k]
}

fn string(j: &J) -> String {
    j.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {j}"))
        .to_owned()
}

fn uint(j: &J) -> u32 {
    let n = j
        .as_u64()
        .unwrap_or_else(|| panic!("expected an unsigned number, got {j}"));
    u32::try_from(n).unwrap_or_else(|_| panic!("{n} does not fit u32"))
}

fn boolean(j: &J) -> bool {
    j.as_bool()
        .unwrap_or_else(|| panic!("expected a bool, got {j}"))
}

fn array(j: &J) -> &Vec<J> {
    j.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {j}"))
}

fn bytes(j: &J) -> ByteBuf {
    ByteBuf(unhex(&string(j)))
}

fn seq<T>(j: &J, f: impl Fn(&J) -> T) -> Vec<T> {
    array(j).iter().map(f).collect()
}

/// The single `{"Tag": payload}` of a tagged value or enum.
fn tagged(j: &J) -> (&str, &J) {
    let m = j
        .as_object()
        .unwrap_or_else(|| panic!("expected a tagged object, got {j}"));
    assert_eq!(m.len(), 1, "a tagged object has exactly one key: {j}");
    let (k, v) = m.iter().next().unwrap();
    (k.as_str(), v)
}

// ---------------------------------------------------------------------------------------------
// Integers of any size.

/// The minimal little-endian two's-complement bytes of a decimal integer of any size.
fn decimal_to_twos_le(dec: &str) -> Vec<u8> {
    let (negative, digits) = match dec.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, dec),
    };
    assert!(
        !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()),
        "bad integer {dec:?}"
    );
    // Magnitude, little-endian base 256.
    let mut v: Vec<u8> = Vec::new();
    for c in digits.bytes() {
        let mut carry = u32::from(c - b'0');
        for b in v.iter_mut() {
            let x = u32::from(*b) * 10 + carry;
            *b = x as u8;
            carry = x >> 8;
        }
        while carry > 0 {
            v.push(carry as u8);
            carry >>= 8;
        }
    }
    v.push(0); // room for the sign bit
    if negative {
        let mut carry = 1u16;
        for b in v.iter_mut() {
            let x = u16::from(!*b) + carry;
            *b = x as u8;
            carry = x >> 8;
        }
    }
    while v.len() > 1 {
        let (last, prev) = (v[v.len() - 1], v[v.len() - 2]);
        if (last == 0x00 && prev & 0x80 == 0) || (last == 0xff && prev & 0x80 != 0) {
            v.pop();
        } else {
            break;
        }
    }
    v
}

/// `Int` when the decimal fits `i64`, else `BigInt` with its minimal two's complement.
fn int_value(dec: &str) -> Value {
    let le = decimal_to_twos_le(dec);
    let v = match dec.parse::<i64>() {
        Ok(i) => Value::Int(i),
        Err(_) => {
            assert!(
                le.len() >= 9,
                "{dec} does not parse as i64 but has {} bytes",
                le.len()
            );
            Value::BigInt(le.clone())
        }
    };
    // Cross-check the crate's own normaliser.
    assert_eq!(Value::big_int(&le), v, "Value::big_int disagrees for {dec}");
    v
}

#[test]
fn decimal_converter() {
    let cases: &[(&str, &[u8])] = &[
        ("0", &[0]),
        ("-0", &[0]),
        ("127", &[0x7f]),
        ("128", &[0x80, 0]),
        ("255", &[0xff, 0]),
        ("256", &[0, 1]),
        ("-1", &[0xff]),
        ("-128", &[0x80]),
        ("-129", &[0x7f, 0xff]),
        ("9223372036854775808", &[0, 0, 0, 0, 0, 0, 0, 0x80, 0]),
        (
            "-9223372036854775809",
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff],
        ),
    ];
    for (dec, le) in cases {
        assert_eq!(decimal_to_twos_le(dec), *le, "{dec}");
    }
    // Against i128 arithmetic, around every byte boundary.
    for bits in 0..127 {
        let p = 1i128 << bits;
        for n in [p - 1, p, p + 1, -p - 1, -p, -p + 1] {
            let mut le = n.to_le_bytes().to_vec();
            while le.len() > 1
                && ((le[le.len() - 1] == 0 && le[le.len() - 2] & 0x80 == 0)
                    || (le[le.len() - 1] == 0xff && le[le.len() - 2] & 0x80 != 0))
            {
                le.pop();
            }
            assert_eq!(decimal_to_twos_le(&n.to_string()), le, "{n}");
            let v = int_value(&n.to_string());
            match i64::try_from(n) {
                Ok(i) => assert_eq!(v, Value::Int(i)),
                Err(_) => assert_eq!(v, Value::BigInt(le)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tagged value notation and the JSON forms of the bodies.

fn value(j: &J) -> Value {
    let (tag, p) = tagged(j);
    match tag {
        "None" => {
            assert!(p.is_null(), "None takes null: {j}");
            Value::None
        }
        "Bool" => Value::Bool(boolean(p)),
        "Int" => int_value(&string(p)),
        "Float" => {
            let h = string(p);
            assert_eq!(h.len(), 16, "Float takes 16 hex digits: {j}");
            Value::Float(f64::from_bits(
                u64::from_str_radix(&h, 16).expect("float hex"),
            ))
        }
        "Str" => Value::Str(string(p)),
        "Bytes" => Value::Bytes(bytes(p).0),
        "List" => Value::List(seq(p, value)),
        "Tuple" => Value::Tuple(seq(p, value)),
        "Dict" => Value::Dict(seq(p, |kv| {
            let kv = array(kv);
            assert_eq!(kv.len(), 2, "a dict item is [key, value]");
            (value(&kv[0]), value(&kv[1]))
        })),
        "Context" => Value::Context(uint(p)),
        "Sender" => {
            let a = array(p);
            assert_eq!(a.len(), 2, "Sender takes [ctx, handle]: {j}");
            Value::Sender(uint(&a[0]), uint(&a[1]))
        }
        "Error" => {
            let a = array(p);
            assert_eq!(a.len(), 3, "Error takes [type, message, traceback]: {j}");
            Value::Error(RemoteError {
                type_name: string(&a[0]),
                message: string(&a[1]),
                traceback: string(&a[2]),
            })
        }
        _ => panic!("unknown value tag {tag:?}"),
    }
}

/// A body type with a JSON form and an encoding; `dec` returns the error code on failure.
trait Codec: Sized + PartialEq + Debug {
    fn from_json(j: &J) -> Self;
    fn enc(&self) -> Vec<u8>;
    fn dec(b: &[u8]) -> Result<Self, &'static str>;
}

macro_rules! via_body {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn from_json(j: &J) -> Self {
                json_body::<$t>(j)
            }
            fn enc(&self) -> Vec<u8> {
                Body::encode(self).expect("encode")
            }
            fn dec(b: &[u8]) -> Result<Self, &'static str> {
                <$t as Body>::decode(b).map_err(|e| e.code())
            }
        }
    )*};
}

via_body!(
    Call,
    Reply,
    RemoteError,
    Shutdown,
    LogRecord,
    ModuleRequest,
    ModuleReply,
    RouteAdd,
    RouteDel,
    Spawn,
    Init,
    Channel,
    DeadLetter,
    Value
);

/// `Module`, `Prompt` and `Failure` are parts of bodies without a `Body` impl of their own: they
/// are plain serde structs, decoded here exactly as the crate decodes its plain bodies (postcard,
/// whole input consumed, the crate's error mapping).
macro_rules! via_postcard {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn from_json(j: &J) -> Self {
                json_body::<$t>(j)
            }
            fn enc(&self) -> Vec<u8> {
                postcard::to_allocvec(self).expect("encode")
            }
            fn dec(b: &[u8]) -> Result<Self, &'static str> {
                use postcard::Error as P;
                match postcard::take_from_bytes::<$t>(b) {
                    Ok((v, [])) => Ok(v),
                    Ok(_) => Err("trailing"),
                    Err(P::DeserializeUnexpectedEnd) => Err("truncated"),
                    Err(P::DeserializeBadVarint) => Err("varint"),
                    Err(P::DeserializeBadBool) => Err("bad_bool"),
                    Err(P::DeserializeBadUtf8 | P::DeserializeBadChar) => Err("bad_utf8"),
                    Err(_) => Err("bad_variant"),
                }
            }
        }
    )*};
}

via_postcard!(Module, Prompt, Failure);

/// Builds a typed body from its JSON form (section 8).
trait FromJson {
    fn build(j: &J) -> Self;
}

fn json_body<T: FromJson>(j: &J) -> T {
    T::build(j)
}

fn remote_error(j: &J) -> RemoteError {
    let m = obj(j, &["type_name", "message", "traceback"]);
    RemoteError {
        type_name: string(field(m, "type_name")),
        message: string(field(m, "message")),
        traceback: string(field(m, "traceback")),
    }
}

impl FromJson for Value {
    fn build(j: &J) -> Self {
        value(j)
    }
}

impl FromJson for RemoteError {
    fn build(j: &J) -> Self {
        remote_error(j)
    }
}

impl FromJson for Call {
    fn build(j: &J) -> Self {
        let m = obj(j, &["module", "function", "args", "kwargs"]);
        Call {
            module: string(field(m, "module")),
            function: string(field(m, "function")),
            args: seq(field(m, "args"), value),
            kwargs: seq(field(m, "kwargs"), |kv| {
                let kv = array(kv);
                assert_eq!(kv.len(), 2, "a kwarg is [name, value]");
                (string(&kv[0]), value(&kv[1]))
            }),
        }
    }
}

impl FromJson for Reply {
    fn build(j: &J) -> Self {
        match tagged(j) {
            ("Ok", v) => Reply::Ok(value(v)),
            ("Err", e) => Reply::Err(remote_error(e)),
            (t, _) => panic!("unknown Reply variant {t:?}"),
        }
    }
}

impl FromJson for Shutdown {
    fn build(j: &J) -> Self {
        obj(j, &[]);
        Shutdown {}
    }
}

impl FromJson for LogRecord {
    fn build(j: &J) -> Self {
        let m = obj(j, &["logger", "level", "message"]);
        LogRecord {
            logger: string(field(m, "logger")),
            level: uint(field(m, "level")),
            message: string(field(m, "message")),
        }
    }
}

impl FromJson for ModuleRequest {
    fn build(j: &J) -> Self {
        let m = obj(j, &["fullname"]);
        ModuleRequest {
            fullname: string(field(m, "fullname")),
        }
    }
}

impl FromJson for Module {
    fn build(j: &J) -> Self {
        let m = obj(j, &["name", "filename", "is_package", "source"]);
        Module {
            name: string(field(m, "name")),
            filename: string(field(m, "filename")),
            is_package: boolean(field(m, "is_package")),
            source: bytes(field(m, "source")),
        }
    }
}

impl FromJson for ModuleReply {
    fn build(j: &J) -> Self {
        let m = obj(j, &["fullname", "modules", "missing"]);
        ModuleReply {
            fullname: string(field(m, "fullname")),
            modules: seq(field(m, "modules"), Module::build),
            missing: seq(field(m, "missing"), string),
        }
    }
}

impl FromJson for RouteAdd {
    fn build(j: &J) -> Self {
        let m = obj(j, &["id", "parent", "name"]);
        RouteAdd {
            id: uint(field(m, "id")),
            parent: uint(field(m, "parent")),
            name: string(field(m, "name")),
        }
    }
}

impl FromJson for RouteDel {
    fn build(j: &J) -> Self {
        let m = obj(j, &["id"]);
        RouteDel {
            id: uint(field(m, "id")),
        }
    }
}

impl FromJson for Prompt {
    fn build(j: &J) -> Self {
        let m = obj(j, &["pattern", "answer"]);
        Prompt {
            pattern: bytes(field(m, "pattern")),
            answer: bytes(field(m, "answer")),
        }
    }
}

impl FromJson for Failure {
    fn build(j: &J) -> Self {
        let m = obj(j, &["pattern", "kind"]);
        Failure {
            pattern: bytes(field(m, "pattern")),
            kind: uint(field(m, "kind")),
        }
    }
}

impl FromJson for Spawn {
    fn build(j: &J) -> Self {
        let m = obj(
            j,
            &[
                "id",
                "name",
                "argv",
                "pty",
                "stdio_pty",
                "wait_stage1",
                "prompts",
                "failures",
                "timeout_ms",
                "boot",
            ],
        );
        Spawn {
            id: uint(field(m, "id")),
            name: string(field(m, "name")),
            argv: seq(field(m, "argv"), string),
            pty: boolean(field(m, "pty")),
            stdio_pty: boolean(field(m, "stdio_pty")),
            wait_stage1: boolean(field(m, "wait_stage1")),
            prompts: seq(field(m, "prompts"), Prompt::build),
            failures: seq(field(m, "failures"), Failure::build),
            timeout_ms: uint(field(m, "timeout_ms")),
            boot: bytes(field(m, "boot")),
        }
    }
}

impl FromJson for Init {
    fn build(j: &J) -> Self {
        let m = obj(
            j,
            &[
                "id",
                "parent",
                "name",
                "log_level",
                "max_frame",
                "served",
                "heartbeat_ms",
            ],
        );
        Init {
            id: uint(field(m, "id")),
            parent: uint(field(m, "parent")),
            name: string(field(m, "name")),
            log_level: uint(field(m, "log_level")),
            max_frame: uint(field(m, "max_frame")),
            served: seq(field(m, "served"), string),
            heartbeat_ms: uint(field(m, "heartbeat_ms")),
        }
    }
}

impl FromJson for Channel {
    fn build(j: &J) -> Self {
        match tagged(j) {
            ("Data", v) => Channel::Data(value(v)),
            ("Close", e) if e.is_null() => Channel::Close(None),
            ("Close", e) => Channel::Close(Some(remote_error(e))),
            ("Credit", n) => Channel::Credit(uint(n)),
            (t, _) => panic!("unknown Channel variant {t:?}"),
        }
    }
}

impl FromJson for DeadLetter {
    fn build(j: &J) -> Self {
        let m = obj(j, &["reason", "detail"]);
        DeadLetter {
            reason: uint(field(m, "reason")),
            detail: string(field(m, "detail")),
        }
    }
}

/// Calls `$f::<T>(args)` for the body type named `$ty`; `None` for an unknown name.
macro_rules! by_type {
    ($ty:expr, $f:ident($($a:expr),*)) => {
        match $ty {
            "Call" => Some($f::<Call>($($a),*)),
            "Reply" => Some($f::<Reply>($($a),*)),
            "RemoteError" => Some($f::<RemoteError>($($a),*)),
            "Shutdown" => Some($f::<Shutdown>($($a),*)),
            "LogRecord" => Some($f::<LogRecord>($($a),*)),
            "ModuleRequest" => Some($f::<ModuleRequest>($($a),*)),
            "ModuleReply" => Some($f::<ModuleReply>($($a),*)),
            "Module" => Some($f::<Module>($($a),*)),
            "RouteAdd" => Some($f::<RouteAdd>($($a),*)),
            "RouteDel" => Some($f::<RouteDel>($($a),*)),
            "Spawn" => Some($f::<Spawn>($($a),*)),
            "Prompt" => Some($f::<Prompt>($($a),*)),
            "Failure" => Some($f::<Failure>($($a),*)),
            "Init" => Some($f::<Init>($($a),*)),
            "Channel" => Some($f::<Channel>($($a),*)),
            "DeadLetter" => Some($f::<DeadLetter>($($a),*)),
            "Value" => Some($f::<Value>($($a),*)),
            _ => None,
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Checks. Each returns a description of the disagreement, if any, so one run lists them all.

/// Encode the meaning and compare with the hex; decode the hex and compare with the meaning.
fn check_valid<T: Codec>(bytes: &[u8], meaning: &J) -> Result<(), String> {
    let want = T::from_json(meaning);
    let mut why = Vec::new();
    let got = want.enc();
    if got != bytes {
        why.push(format!(
            "encodes to {} instead of {}",
            tohex(&got),
            tohex(bytes)
        ));
    }
    match T::dec(bytes) {
        Ok(v) if v == want => {}
        Ok(v) => why.push(format!("decodes to {v:?} instead of {want:?}")),
        Err(e) => why.push(format!("decoding fails with {e}")),
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

fn check_refused<T: Codec>(bytes: &[u8], code: &str) -> Result<(), String> {
    match T::dec(bytes) {
        Err(e) if e == code => Ok(()),
        Err(e) => Err(format!("fails with {e} instead of {code}")),
        Ok(v) => Err(format!("decodes to {v:?} instead of failing with {code}")),
    }
}

/// Feed a stream in chunks of `chunk` bytes and say how it ended: `Ok(true)` when it ended on a
/// frame boundary, `Ok(false)` inside a frame, or the error code; plus the frames decoded.
fn feed_stream(bytes: &[u8], chunk: usize) -> (Result<bool, &'static str>, usize) {
    let mut dec = FrameDecoder::new(DEFAULT_MAX_BODY);
    let mut frames = 0;
    for c in bytes.chunks(chunk.max(1)) {
        let mut input = c;
        loop {
            match dec.feed(input) {
                Feed::Consumed => break,
                Feed::Frame { frame, rest } => {
                    assert_eq!(frame.header.len as usize, frame.body.len());
                    frames += 1;
                    input = rest;
                }
                Feed::Error(e) => return (Err(e.code()), frames),
            }
        }
    }
    (Ok(dec.is_idle()), frames)
}

/// A stream decoder must report `code`; `truncated` means the stream stops inside a frame (a
/// stream decoder waits for more rather than failing). Any chunking gives the same answer.
fn check_stream_refused(bytes: &[u8], code: &str) -> Result<(), String> {
    let whole = feed_stream(bytes, bytes.len());
    for chunk in [1, 7, 24, 25] {
        let r = feed_stream(bytes, chunk);
        if r != whole {
            return Err(format!(
                "fed in {chunk}-byte chunks: {r:?}, all at once: {whole:?}"
            ));
        }
    }
    match whole.0 {
        Err(e) if e == code => Ok(()),
        Err(e) => Err(format!("stream fails with {e} instead of {code}")),
        Ok(false) if code == "truncated" => Ok(()),
        Ok(false) => Err(format!(
            "stream waits for more input instead of failing with {code}"
        )),
        Ok(true) => Err(format!(
            "stream decodes cleanly ({} frames) instead of {code}",
            whole.1
        )),
    }
}

/// Runs `check` over every item, prints the count, and fails listing every disagreement.
fn run(file: &str, check: impl Fn(&J) -> Result<(), String>) {
    let items = load(file);
    let mut failures = Vec::new();
    for item in &items {
        let name = item["name"].as_str().unwrap_or("<unnamed>");
        if let Err(why) = check(item) {
            failures.push(format!(
                "  {file} {name} ({}): {why}",
                item["hex"].as_str().unwrap_or("")
            ));
        }
    }
    println!(
        "{file}: {} vectors checked, {} disagreements",
        items.len(),
        failures.len()
    );
    assert!(!items.is_empty(), "{file} holds no vector");
    assert!(
        failures.is_empty(),
        "{} of {} vectors disagree:\n{}",
        failures.len(),
        items.len(),
        failures.join("\n")
    );
}

#[test]
fn values() {
    run("values.json", |v| {
        obj(v, &["name", "hex", "value"]);
        check_valid::<Value>(&unhex(&string(&v["hex"])), &v["value"])
    });
}

#[test]
fn headers() {
    run("headers.json", |v| {
        obj(v, &["name", "hex", "header"]);
        let bytes = unhex(&string(&v["hex"]));
        let m = obj(
            &v["header"],
            &["flags", "dst", "src", "handle", "reply_to", "len"],
        );
        let flags = uint(field(m, "flags"));
        let want = Header {
            flags: u8::try_from(flags).map_err(|_| format!("flags {flags} is not a byte"))?,
            dst: uint(field(m, "dst")),
            src: uint(field(m, "src")),
            handle: uint(field(m, "handle")),
            reply_to: uint(field(m, "reply_to")),
            len: uint(field(m, "len")),
        };
        let arr: [u8; HEADER_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("{} bytes instead of 24", bytes.len()))?;
        if want.emit() != arr {
            return Err(format!("encodes to {}", tohex(&want.emit())));
        }
        match Header::parse(&arr, DEFAULT_MAX_BODY) {
            Ok(h) if h == want => {}
            other => return Err(format!("parses to {other:?} instead of {want:?}")),
        }
        // Through the stream decoder too, with a body when it is small.
        if want.len <= 4096 {
            let mut stream = bytes.clone();
            stream.resize(HEADER_LEN + want.len as usize, 0xa5);
            let mut dec = FrameDecoder::new(DEFAULT_MAX_BODY);
            match dec.feed(&stream) {
                Feed::Frame { frame, rest } if frame.header == want && rest.is_empty() => {
                    if frame.encode() != stream {
                        return Err("the decoded frame does not re-encode to its bytes".into());
                    }
                }
                other => return Err(format!("stream decoder gives {other:?}")),
            }
        }
        Ok(())
    });
}

#[test]
fn bodies() {
    run("bodies.json", |v| {
        obj(v, &["name", "type", "hex", "body"]);
        let ty = string(&v["type"]);
        let bytes = unhex(&string(&v["hex"]));
        by_type!(ty.as_str(), check_valid(&bytes, &v["body"]))
            .unwrap_or_else(|| Err(format!("unknown body type {ty:?}")))
    });
}

const CODES: &[&str] = &[
    "truncated",
    "trailing",
    "varint",
    "bad_bool",
    "bad_utf8",
    "bad_variant",
    "depth",
    "noncanonical_bigint",
    "bad_magic",
    "bad_version",
    "bad_flags",
    "too_large",
];

#[test]
fn malformed() {
    run("malformed.json", |v| {
        obj(v, &["name", "kind", "hex", "error"]);
        let kind = string(&v["kind"]);
        let code = string(&v["error"]);
        let bytes = unhex(&string(&v["hex"]));
        if !CODES.contains(&code.as_str()) {
            return Err(format!("{code:?} is not an error code of the spec"));
        }
        match kind.as_str() {
            "value" => check_refused::<Value>(&bytes, &code),
            "header" => {
                let Ok(arr) = <[u8; HEADER_LEN]>::try_from(&bytes[..bytes.len().min(HEADER_LEN)])
                else {
                    // Fewer than 24 bytes: `Header::parse` takes exactly 24, so the only Rust
                    // equivalent is a stream decoder, which waits for more (no frame, no error).
                    if code != "truncated" {
                        return Err(format!(
                            "{} bytes can only be truncated, not {code}",
                            bytes.len()
                        ));
                    }
                    return match feed_stream(&bytes, bytes.len()) {
                        (Ok(idle), 0) if idle == bytes.is_empty() => Ok(()),
                        other => Err(format!("stream decoder gives {other:?}")),
                    };
                };
                match Header::parse(&arr, DEFAULT_MAX_BODY) {
                    Err(e) if e.code() == code => check_stream_refused(&bytes, &code),
                    Err(e) => Err(format!("fails with {} instead of {code}", e.code())),
                    Ok(h) => Err(format!("parses to {h:?} instead of failing with {code}")),
                }
            }
            "frame" => check_stream_refused(&bytes, &code),
            k => match k.strip_prefix("body:") {
                Some(ty) => by_type!(ty, check_refused(&bytes, &code))
                    .unwrap_or_else(|| Err(format!("unknown body type {ty:?}"))),
                None => Err(format!("unknown kind {k:?}")),
            },
        }
    });
}

/// The checks above do fail on a wrong vector (guards against a check that always passes).
#[test]
fn checks_catch_wrong_vectors() {
    let int = serde_json::json!({"Int": "300"});
    assert!(check_valid::<Value>(&[2, 0xd8, 4], &int).is_ok());
    assert!(check_valid::<Value>(&[2, 0xd8, 5], &int).is_err());
    assert!(check_valid::<Value>(&[2, 0xd8, 4], &serde_json::json!({"Int": "301"})).is_err());
    let big = serde_json::json!({"Int": "9223372036854775808"});
    assert!(check_valid::<Value>(&unhex("0309000000000000008000"), &big).is_ok());
    let credit = serde_json::json!({"Credit": 7});
    assert!(check_valid::<Channel>(&[2, 7], &credit).is_ok());
    assert!(check_valid::<Channel>(&[2, 8], &credit).is_err());
    assert!(check_refused::<Value>(&[0, 0], "trailing").is_ok());
    assert!(check_refused::<Value>(&[0, 0], "truncated").is_err());
    assert!(check_refused::<Value>(&[0], "truncated").is_err());
    assert!(check_refused::<Module>(&unhex("0161016202"), "truncated").is_err());
    assert!(check_refused::<Module>(&unhex("016101620200"), "bad_bool").is_ok());
    let hdr = Header {
        len: 2,
        ..Header::default()
    }
    .emit();
    assert!(check_stream_refused(&hdr, "truncated").is_ok());
    assert!(check_stream_refused(&[hdr.as_slice(), &[0, 0]].concat(), "truncated").is_err());
    assert!(check_stream_refused(&hdr, "bad_magic").is_err());
}
