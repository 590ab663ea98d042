//! JSON for the command line: literals in, results out. Hand-written to keep dependencies few.
//!
//! Results map to JSON as follows (documented in the README): `None`/`bool`/`str`/`list` as
//! themselves, `int` of any size as a JSON number, `float` as a number (`{"$float": "nan"}`,
//! `"inf"`, `"-inf"` for the non-finite), `bytes` as `{"$bytes": "<base64>"}`, `tuple` as
//! `{"$tuple": [...]}`, a `dict` with only `str` keys as an object and any other dict as
//! `{"$dict": [[key, value], ...]}`, references as `{"$context": id}` / `{"$sender": [id, handle]}`,
//! an exception as `{"$error": {"type": ..., "message": ..., "traceback": ...}}`.

use econtext_core::Value;

/// Parse one JSON document into a value (objects become dicts with str keys, integers of any
/// size become ints, numbers with a fraction or exponent become floats).
pub fn parse(s: &str) -> Option<Value> {
    let mut p = Parser {
        b: s.as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.b[self.i..].starts_with(s.as_bytes()) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        let c = *self.b.get(self.i)?;
        match c {
            b'n' if self.eat("null") => Some(Value::None),
            b't' if self.eat("true") => Some(Value::Bool(true)),
            b'f' if self.eat("false") => Some(Value::Bool(false)),
            b'"' => self.string().map(Value::Str),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth > econtext_core::MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let close = if c == b'[' { b']' } else { b'}' };
                let mut items = Vec::new();
                let mut pairs = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&close) {
                    self.i += 1;
                } else {
                    loop {
                        if c == b'[' {
                            items.push(self.value()?);
                        } else {
                            self.ws();
                            let k = self.string()?;
                            self.ws();
                            if !self.eat(":") {
                                return None;
                            }
                            pairs.push((Value::Str(k), self.value()?));
                        }
                        self.ws();
                        if self.eat(",") {
                            continue;
                        }
                        if self.b.get(self.i) == Some(&close) {
                            self.i += 1;
                            break;
                        }
                        return None;
                    }
                }
                self.depth -= 1;
                Some(if c == b'[' {
                    Value::List(items)
                } else {
                    Value::Dict(pairs)
                })
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let digits = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        if self.i == digits || (self.b[digits] == b'0' && self.i - digits > 1) {
            return None;
        }
        let mut float = false;
        if self.eat(".") {
            float = true;
            let d = self.i;
            while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i == d {
                return None;
            }
        }
        if self.i < self.b.len() && matches!(self.b[self.i], b'e' | b'E') {
            float = true;
            self.i += 1;
            if self.i < self.b.len() && matches!(self.b[self.i], b'+' | b'-') {
                self.i += 1;
            }
            let d = self.i;
            while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if self.i == d {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        if float {
            return crate::float::parse(text).map(Value::Float);
        }
        Some(int_from_decimal(text))
    }

    fn string(&mut self) -> Option<String> {
        if !self.eat("\"") {
            return None;
        }
        let mut out = String::new();
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                cp = 0x10000
                                    + ((cp - 0xd800) << 10)
                                    + (lo.checked_sub(0xdc00)? & 0x3ff);
                            }
                            out.push(char::from_u32(cp)?);
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => {
                    // Copy one UTF-8 sequence.
                    let start = self.i - 1;
                    let len = match c {
                        0x00..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    let s = std::str::from_utf8(self.b.get(start..start + len)?).ok()?;
                    out.push_str(s);
                    self.i = start + len;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let s = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(s, 16).ok()
    }
}

/// An integer of any size from decimal digits (with an optional `-`).
pub fn int_from_decimal(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    // Magnitude as little-endian base-2^32 limbs.
    let mut limbs: Vec<u32> = vec![0];
    for d in digits.bytes() {
        let mut carry = u64::from(d - b'0');
        for l in limbs.iter_mut() {
            let x = u64::from(*l) * 10 + carry;
            *l = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0);
    if neg {
        // Two's complement: invert and add one.
        let mut carry = 1u16;
        for b in bytes.iter_mut() {
            let x = u16::from(!*b) + carry;
            *b = x as u8;
            carry = x >> 8;
        }
    }
    Value::big_int(&bytes)
}

/// Decimal digits of a little-endian two's-complement integer.
pub fn big_int_to_decimal(le: &[u8]) -> String {
    let neg = le.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = le.to_vec();
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let x = u16::from(!*b) + carry;
            *b = x as u8;
            carry = x >> 8;
        }
    }
    // Repeated division by 10^9 over big-endian bytes.
    let mut be: Vec<u8> = mag.into_iter().rev().collect();
    let mut chunks = Vec::new();
    while be.iter().any(|b| *b != 0) {
        let mut rem: u64 = 0;
        for b in be.iter_mut() {
            let cur = (rem << 8) | u64::from(*b);
            *b = (cur / 1_000_000_000) as u8;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem);
        while be.first() == Some(&0) {
            be.remove(0);
        }
    }
    let mut s = String::from(if neg { "-" } else { "" });
    match chunks.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&top.to_string());
            for c in rest.iter().rev() {
                s.push_str(&format!("{c:09}"));
            }
        }
    }
    s
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding.
pub(crate) fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The JSON text of a value (see the module docs for the mapping).
pub fn to_json(v: &Value) -> String {
    let mut s = String::new();
    write(v, &mut s);
    s
}

fn write(v: &Value, out: &mut String) {
    let seq = |items: &[Value], out: &mut String| {
        out.push('[');
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write(x, out);
        }
        out.push(']');
    };
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::BigInt(b) => out.push_str(&big_int_to_decimal(b)),
        Value::Float(f) if f.is_nan() => out.push_str("{\"$float\": \"nan\"}"),
        Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 {
            "{\"$float\": \"inf\"}"
        } else {
            "{\"$float\": \"-inf\"}"
        }),
        Value::Float(f) => {
            let t = format!("{f:?}");
            out.push_str(&t);
        }
        Value::Str(t) => quote(t, out),
        Value::Bytes(b) => {
            out.push_str("{\"$bytes\": ");
            quote(&base64(b), out);
            out.push('}');
        }
        Value::List(l) => seq(l, out),
        Value::Tuple(t) => {
            out.push_str("{\"$tuple\": ");
            seq(t, out);
            out.push('}');
        }
        Value::Dict(d) if d.iter().all(|(k, _)| matches!(k, Value::Str(_))) => {
            out.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(k, out);
                out.push_str(": ");
                write(x, out);
            }
            out.push('}');
        }
        Value::Dict(d) => {
            out.push_str("{\"$dict\": [");
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push('[');
                write(k, out);
                out.push_str(", ");
                write(x, out);
                out.push(']');
            }
            out.push_str("]}");
        }
        Value::Context(c) => out.push_str(&format!("{{\"$context\": {c}}}")),
        Value::Sender(c, h) => out.push_str(&format!("{{\"$sender\": [{c}, {h}]}}")),
        Value::Error(e) => {
            out.push_str("{\"$error\": {\"type\": ");
            quote(&e.type_name, out);
            out.push_str(", \"message\": ");
            quote(&e.message, out);
            out.push_str(", \"traceback\": ");
            quote(&e.traceback, out);
            out.push_str("}}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(parse("42"), Some(Value::Int(42)));
        assert_eq!(
            parse(" [1, \"a\", null] "),
            Some(Value::List(vec![Value::Int(1), "a".into(), Value::None]))
        );
        assert_eq!(parse("1.5"), Some(Value::Float(1.5)));
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("\"\\ud83d\\ude00\""), Some(Value::from("\u{1f600}")));
        assert_eq!(parse("01"), None);
    }

    #[test]
    fn big_ints_round_trip() {
        for t in [
            "9223372036854775808",
            "-9223372036854775809",
            "1000000000000000000000000000000",
            "-340282366920938463463374607431768211456",
        ] {
            let v = int_from_decimal(t);
            assert!(matches!(v, Value::BigInt(_)), "{t}");
            assert_eq!(to_json(&v), t);
        }
        assert_eq!(
            int_from_decimal("-9223372036854775808"),
            Value::Int(i64::MIN)
        );
    }

    #[test]
    fn output_forms() {
        assert_eq!(
            to_json(&Value::Bytes(b"hi!".to_vec())),
            "{\"$bytes\": \"aGkh\"}"
        );
        assert_eq!(
            to_json(&Value::Tuple(vec![Value::Int(1)])),
            "{\"$tuple\": [1]}"
        );
        assert_eq!(
            to_json(&Value::Dict(vec![(Value::Int(1), Value::None)])),
            "{\"$dict\": [[1, null]]}"
        );
    }
}
