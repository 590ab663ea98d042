//! The values exchanged with Python (`docs/wire-format.md`, section 3) and their encoding.

use alloc::string::String;
use alloc::vec::Vec;

use serde::ser::{SerializeTupleVariant, Serializer};
use serde::{Deserialize, Serialize};

use crate::header::{ContextId, Handle};
use crate::Error;

/// Nesting limit for lists, tuples and dicts.
pub const MAX_DEPTH: u32 = 64;

/// A Python exception, described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RemoteError {
    /// Qualified exception type, e.g. `builtins.ZeroDivisionError`.
    pub type_name: String,
    /// `str(exception)`.
    pub message: String,
    /// The formatted traceback.
    pub traceback: String,
}

/// A value crossing the wire. No pickle: only these shapes exist.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer in the `i64` range.
    Int(i64),
    /// Any other integer: minimal two's complement, little-endian (see [`Value::big_int`]).
    BigInt(Vec<u8>),
    /// A float; compared by its bits so NaN equals itself in tests.
    Float(f64),
    /// Text.
    Str(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A dict, as ordered pairs with any keys.
    Dict(Vec<(Value, Value)>),
    /// A reference to a context.
    Context(ContextId),
    /// A reference to a handle at a context.
    Sender(ContextId, Handle),
    /// An exception description.
    Error(RemoteError),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) | (Bytes(a), Bytes(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            (Context(a), Context(b)) => a == b,
            (Sender(a, x), Sender(b, y)) => a == b && x == y,
            (Error(a), Error(b)) => a == b,
            _ => false,
        }
    }
}

/// True when `b` is the minimal two's-complement form of an integer outside `i64`.
pub fn is_canonical_big_int(b: &[u8]) -> bool {
    match b {
        [.., prev, last] if b.len() >= 9 => {
            !((*last == 0x00 && prev & 0x80 == 0) || (*last == 0xff && prev & 0x80 != 0))
        }
        _ => false,
    }
}

impl Value {
    /// An integer from its little-endian two's-complement bytes, normalised: values that fit
    /// in `i64` become [`Value::Int`], others are trimmed to their minimal form.
    pub fn big_int(le: &[u8]) -> Value {
        let negative = le.last().is_some_and(|b| b & 0x80 != 0);
        let fill = if negative { 0xff } else { 0x00 };
        let mut v: Vec<u8> = le.to_vec();
        while v.len() > 1 && v[v.len() - 1] == fill && (v[v.len() - 2] & 0x80 != 0) == negative {
            v.pop();
        }
        if v.len() <= 8 {
            let mut b = [fill; 8];
            b[..v.len()].copy_from_slice(&v);
            return Value::Int(i64::from_le_bytes(b));
        }
        Value::BigInt(v)
    }

    /// Encode as a standalone body. Values nested deeper than [`MAX_DEPTH`] are refused here,
    /// since every decoder (ours included) would refuse them.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.check_depth(0)?;
        postcard::to_allocvec(self).map_err(Error::from_postcard)
    }

    /// Fail with [`Error::Depth`] when containers nest deeper than [`MAX_DEPTH`] below `depth`
    /// enclosing ones. Recursion stops at the limit.
    pub fn check_depth(&self, depth: u32) -> Result<(), Error> {
        let (items, pairs): (&[Value], &[(Value, Value)]) = match self {
            Value::List(v) | Value::Tuple(v) => (v, &[]),
            Value::Dict(d) => (&[], d),
            _ => return Ok(()),
        };
        let inner = depth + 1;
        if inner > MAX_DEPTH {
            return Err(Error::Depth);
        }
        items.iter().try_for_each(|v| v.check_depth(inner))?;
        pairs
            .iter()
            .try_for_each(|(k, v)| k.check_depth(inner).and_then(|()| v.check_depth(inner)))
    }

    /// Decode a standalone body (the whole input must be one value).
    pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
        crate::value_de::decode_with(bytes, |de, ctx| {
            serde::de::DeserializeSeed::deserialize(crate::value_de::ValueSeed::new(0, ctx), de)
        })
    }
}

/// Serializes `&[u8]` as postcard bytes (varint length, raw bytes).
pub(crate) struct RawBytes<'a>(pub &'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const N: &str = "Value";
        match self {
            Value::None => s.serialize_unit_variant(N, 0, "None"),
            Value::Bool(b) => s.serialize_newtype_variant(N, 1, "Bool", b),
            Value::Int(i) => s.serialize_newtype_variant(N, 2, "Int", i),
            Value::BigInt(b) => s.serialize_newtype_variant(N, 3, "BigInt", &RawBytes(b)),
            Value::Float(f) => s.serialize_newtype_variant(N, 4, "Float", f),
            Value::Str(t) => s.serialize_newtype_variant(N, 5, "Str", t),
            Value::Bytes(b) => s.serialize_newtype_variant(N, 6, "Bytes", &RawBytes(b)),
            Value::List(l) => s.serialize_newtype_variant(N, 7, "List", l),
            Value::Tuple(t) => s.serialize_newtype_variant(N, 8, "Tuple", t),
            Value::Dict(d) => s.serialize_newtype_variant(N, 9, "Dict", d),
            Value::Context(c) => s.serialize_newtype_variant(N, 10, "Context", c),
            Value::Sender(c, h) => {
                let mut t = s.serialize_tuple_variant(N, 11, "Sender", 2)?;
                t.serialize_field(c)?;
                t.serialize_field(h)?;
                t.end()
            }
            Value::Error(e) => s.serialize_newtype_variant(N, 12, "Error", e),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(v: &Value) -> Vec<u8> {
        v.encode().unwrap()
    }

    #[test]
    fn spec_examples() {
        assert_eq!(hex(&Value::None), [0]);
        assert_eq!(hex(&Value::Bool(true)), [1, 1]);
        assert_eq!(hex(&Value::Int(-1)), [2, 1]);
        assert_eq!(hex(&Value::Int(300)), [2, 0xd8, 4]);
        assert_eq!(hex(&Value::Float(-0.0)), [4, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(hex(&Value::from("hé")), [5, 3, 0x68, 0xc3, 0xa9]);
        assert_eq!(
            hex(&Value::Tuple(vec![Value::Int(1), Value::None])),
            [8, 2, 2, 2, 0]
        );
        let big = Value::big_int(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]);
        assert_eq!(hex(&big), [3, 9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0]);
    }

    #[test]
    fn encoding_refuses_what_no_decoder_accepts() {
        let mut v = Value::None;
        for _ in 0..MAX_DEPTH {
            v = Value::List(vec![v]);
        }
        assert!(v.encode().is_ok());
        assert_eq!(Value::List(vec![v]).encode(), Err(Error::Depth));
    }

    #[test]
    fn big_int_normalises() {
        assert_eq!(Value::big_int(&[0xff; 12]), Value::Int(-1));
        assert_eq!(
            Value::big_int(&[5, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Value::Int(5)
        );
        assert!(is_canonical_big_int(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]));
        assert!(!is_canonical_big_int(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0]));
        assert!(!is_canonical_big_int(&[1, 0, 0, 0, 0, 0, 0, 0, 0]));
    }
}
