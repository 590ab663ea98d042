//! Depth-bounded, allocation-bounded decoding of [`Value`] through serde seeds.
//!
//! postcard's custom errors carry no payload, so the precise reason (depth, non-canonical
//! big int, unknown variant) is recorded in a [`Cell`] shared by every seed of one decode.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserializer;

use crate::value::{is_canonical_big_int, RemoteError, Value, MAX_DEPTH};
use crate::Error;

/// The reason of the first semantic failure of one decode.
pub(crate) type Ctx = Cell<Option<Error>>;

/// Preallocation is capped so a lying count cannot reserve memory the body does not back.
const MAX_PREALLOC: usize = 1024;

pub(crate) fn fail<E: de::Error>(ctx: &Ctx, e: Error) -> E {
    if ctx.get().is_none() {
        ctx.set(Some(e));
    }
    E::custom("econtext")
}

/// Decode a whole body with `f`, mapping errors to the crate's codes and refusing trailing bytes.
pub(crate) fn decode_with<'de, T>(
    bytes: &'de [u8],
    f: impl FnOnce(
        &mut postcard::Deserializer<'de, postcard::de_flavors::Slice<'de>>,
        &Ctx,
    ) -> Result<T, postcard::Error>,
) -> Result<T, Error> {
    let ctx: Ctx = Cell::new(None);
    let mut de = postcard::Deserializer::from_bytes(bytes);
    match f(&mut de, &ctx) {
        Ok(v) => match de.finalize() {
            Ok([]) => Ok(v),
            _ => Err(Error::Trailing),
        },
        // A custom error without a recorded reason comes from [`counted`], whose derived
        // callers have no context to record it in: a count larger than the bytes left.
        Err(postcard::Error::SerdeDeCustom) if ctx.get().is_none() => Err(Error::Truncated),
        Err(e) => Err(ctx.get().unwrap_or(Error::from_postcard(e))),
    }
}

/// postcard's `SeqAccess::size_hint` is `None` exactly when the count just read exceeds the
/// bytes left in the input. Spec section 2: "Lengths and counts are checked against the bytes
/// remaining", before any item is read, so a lying count is `truncated` whatever the items
/// after it hold (and never sizes an allocation).
fn count_fits<'de, A: SeqAccess<'de>>(seq: &A) -> Option<usize> {
    seq.size_hint()
}

/// `#[serde(deserialize_with)]` for the `Vec` fields of the derived bodies: a count larger than
/// the bytes left is refused before any item is read (mapped to [`Error::Truncated`] by
/// [`decode_with`]).
pub(crate) fn counted<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: de::Deserialize<'de>,
{
    struct V<T>(core::marker::PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let n = count_fits(&seq).ok_or_else(|| de::Error::custom("count exceeds the input"))?;
            let mut out = Vec::with_capacity(n.min(MAX_PREALLOC));
            while let Some(x) = seq.next_element()? {
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V(core::marker::PhantomData))
}

/// Decodes one value whose enclosing containers number `depth`.
#[derive(Clone, Copy)]
pub(crate) struct ValueSeed<'c> {
    depth: u32,
    ctx: &'c Ctx,
}

impl<'c> ValueSeed<'c> {
    pub(crate) fn new(depth: u32, ctx: &'c Ctx) -> Self {
        ValueSeed { depth, ctx }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        const VARIANTS: &[&str] = &[
            "None", "Bool", "Int", "BigInt", "Float", "Str", "Bytes", "List", "Tuple", "Dict",
            "Context", "Sender", "Error",
        ];
        d.deserialize_enum("Value", VARIANTS, self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an econtext value")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (idx, v): (u32, _) = data.variant()?;
        let inner = self.depth + 1;
        if (7..=9).contains(&idx) && inner > MAX_DEPTH {
            return Err(fail(self.ctx, Error::Depth));
        }
        let items = SeqSeed {
            elem: ValueSeed {
                depth: inner,
                ctx: self.ctx,
            },
            ctx: self.ctx,
        };
        Ok(match idx {
            0 => {
                v.unit_variant()?;
                Value::None
            }
            1 => Value::Bool(v.newtype_variant()?),
            2 => Value::Int(v.newtype_variant()?),
            3 => {
                let b = v.newtype_variant::<ByteBuf>()?.0;
                if !is_canonical_big_int(&b) {
                    return Err(fail(self.ctx, Error::NonCanonicalBigInt));
                }
                Value::BigInt(b)
            }
            4 => Value::Float(v.newtype_variant()?),
            5 => Value::Str(v.newtype_variant::<String>()?),
            6 => Value::Bytes(v.newtype_variant::<ByteBuf>()?.0),
            7 => Value::List(v.newtype_variant_seed(items)?),
            8 => Value::Tuple(v.newtype_variant_seed(items)?),
            9 => Value::Dict(v.newtype_variant_seed(SeqSeed {
                elem: PairSeed(items.elem),
                ctx: self.ctx,
            })?),
            10 => Value::Context(v.newtype_variant()?),
            11 => {
                let (c, h) = v.tuple_variant(2, PairVisitor::<u32>::default())?;
                Value::Sender(c, h)
            }
            12 => Value::Error(v.newtype_variant::<RemoteError>()?),
            _ => return Err(fail(self.ctx, Error::BadVariant)),
        })
    }
}

/// A sequence of items decoded with a seed.
#[derive(Clone, Copy)]
pub(crate) struct SeqSeed<'c, S> {
    pub(crate) elem: S,
    pub(crate) ctx: &'c Ctx,
}

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for SeqSeed<'_, S> {
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for SeqSeed<'_, S> {
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let n = count_fits(&seq).ok_or_else(|| fail(self.ctx, Error::Truncated))?;
        let mut out = Vec::with_capacity(n.min(MAX_PREALLOC));
        while let Some(x) = seq.next_element_seed(self.elem)? {
            out.push(x);
        }
        Ok(out)
    }
}

/// A `(Value, Value)` pair of a dict.
#[derive(Clone, Copy)]
pub(crate) struct PairSeed<'c>(pub(crate) ValueSeed<'c>);

impl<'de> DeserializeSeed<'de> for PairSeed<'_> {
    type Value = (Value, Value);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for PairSeed<'_> {
    type Value = (Value, Value);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key and a value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let k = seq
            .next_element_seed(self.0)?
            .ok_or_else(|| fail(self.0.ctx, Error::Truncated))?;
        let v = seq
            .next_element_seed(self.0)?
            .ok_or_else(|| fail(self.0.ctx, Error::Truncated))?;
        Ok((k, v))
    }
}

/// A `(str, Value)` keyword argument.
#[derive(Clone, Copy)]
pub(crate) struct KwargSeed<'c>(pub(crate) ValueSeed<'c>);

impl<'de> DeserializeSeed<'de> for KwargSeed<'_> {
    type Value = (String, Value);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for KwargSeed<'_> {
    type Value = (String, Value);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a keyword and a value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let k = seq
            .next_element()?
            .ok_or_else(|| fail(self.0.ctx, Error::Truncated))?;
        let v = seq
            .next_element_seed(self.0)?
            .ok_or_else(|| fail(self.0.ctx, Error::Truncated))?;
        Ok((k, v))
    }
}

/// Two plain fields of a tuple variant.
pub(crate) struct PairVisitor<T>(core::marker::PhantomData<T>);

impl<T> Default for PairVisitor<T> {
    fn default() -> Self {
        PairVisitor(core::marker::PhantomData)
    }
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for PairVisitor<T> {
    type Value = (T, T);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("two fields")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let a = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let b = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok((a, b))
    }
}

/// Owned bytes decoded from postcard `bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ByteBuf(pub Vec<u8>);

impl<'de> de::Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteBuf, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(b.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(b))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

impl serde::Serialize for ByteBuf {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}
