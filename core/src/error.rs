//! The one error type of `econtext-core`.

use core::fmt;

/// Everything that can go wrong while decoding or routing. Each variant maps to one of the
/// error codes of `docs/wire-format.md` (see [`Error::code`]), which the Python stub uses too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended inside an item: the sender cut the body short.
    Truncated,
    /// Bytes were left after a complete body: the sender and receiver disagree on its type.
    Trailing,
    /// A varint was longer than its type allows, or its value did not fit.
    Varint,
    /// A bool byte other than 0 or 1.
    BadBool,
    /// A `str` that is not UTF-8.
    BadUtf8,
    /// An enum index with no variant: the peer speaks another protocol revision.
    BadVariant,
    /// Values nested deeper than [`crate::MAX_DEPTH`].
    Depth,
    /// A `BigInt` that is not minimal or fits in `i64`.
    NonCanonicalBigInt,
    /// The frame does not start with `EC`: the stream is not econtext protocol (noise or desync).
    BadMagic,
    /// The peer speaks another protocol version; upgrade the older side.
    BadVersion,
    /// Unknown header flag bits are set.
    BadFlags,
    /// The announced body length exceeds the negotiated maximum.
    TooLarge {
        /// The announced length.
        len: u32,
        /// The maximum in force.
        max: u32,
    },
    /// A value could not be encoded (a serializer refused it).
    Encode,
    /// A channel peer sent more than its window allows, or granted more credit than the
    /// window holds: it breaks the flow-control rules (docs/wire-format.md, Channels).
    OverCredit,
}

impl Error {
    /// The stable error code shared with the Python implementation.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::Trailing => "trailing",
            Error::Varint => "varint",
            Error::BadBool => "bad_bool",
            Error::BadUtf8 => "bad_utf8",
            Error::BadVariant => "bad_variant",
            Error::Depth => "depth",
            Error::NonCanonicalBigInt => "noncanonical_bigint",
            Error::BadMagic => "bad_magic",
            Error::BadVersion => "bad_version",
            Error::BadFlags => "bad_flags",
            Error::TooLarge { .. } => "too_large",
            Error::Encode => "encode",
            Error::OverCredit => "over_credit",
        }
    }

    pub(crate) fn from_postcard(e: postcard::Error) -> Error {
        use postcard::Error as P;
        match e {
            P::DeserializeUnexpectedEnd => Error::Truncated,
            P::DeserializeBadVarint => Error::Varint,
            P::DeserializeBadBool => Error::BadBool,
            P::DeserializeBadUtf8 | P::DeserializeBadChar => Error::BadUtf8,
            P::SerializeBufferFull | P::SerializeSeqLengthUnknown | P::SerdeSerCustom => {
                Error::Encode
            }
            _ => Error::BadVariant,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated message: the input ended inside an item"),
            Error::Trailing => f.write_str("trailing bytes after a complete message body"),
            Error::Varint => f.write_str("malformed varint (too long or out of range)"),
            Error::BadBool => f.write_str("malformed bool (neither 0 nor 1)"),
            Error::BadUtf8 => f.write_str("string is not valid UTF-8"),
            Error::BadVariant => f.write_str("unknown enum variant (protocol mismatch?)"),
            Error::Depth => write!(f, "values nested deeper than {}", crate::MAX_DEPTH),
            Error::NonCanonicalBigInt => f.write_str("non-canonical big integer encoding"),
            Error::BadMagic => f.write_str("bad frame magic: the stream is not econtext protocol"),
            Error::BadVersion => {
                f.write_str("unsupported protocol version: upgrade the older side")
            }
            Error::BadFlags => f.write_str("unknown frame flag bits set"),
            Error::TooLarge { len, max } => {
                write!(
                    f,
                    "frame body of {len} bytes exceeds the maximum of {max} bytes"
                )
            }
            Error::Encode => f.write_str("value could not be encoded"),
            Error::OverCredit => f.write_str(
                "channel flow control broken: more than the window in flight or granted",
            ),
        }
    }
}

impl core::error::Error for Error {}
