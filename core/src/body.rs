//! Typed bodies of the reserved handles, replies, channels and dead letters
//! (`docs/wire-format.md`, sections 4 and 5).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{EnumAccess, SeqAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use crate::value::RemoteError;
use crate::value::Value;
pub use crate::value_de::ByteBuf;
use crate::value_de::{counted, decode_with, fail, Ctx, KwargSeed, SeqSeed, ValueSeed};
use crate::Error;

/// A message body with a fixed encoding.
pub trait Body: Sized {
    /// The postcard bytes of this body.
    fn encode(&self) -> Result<Vec<u8>, Error>;
    /// Decode a whole body; trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, Error>;
}

macro_rules! plain_bodies {
    ($($t:ty),*) => {$(
        impl Body for $t {
            fn encode(&self) -> Result<Vec<u8>, Error> {
                postcard::to_allocvec(self).map_err(Error::from_postcard)
            }
            fn decode(bytes: &[u8]) -> Result<Self, Error> {
                decode_with(bytes, |de, _| <$t>::deserialize(de))
            }
        }
    )*};
}

plain_bodies!(
    RemoteError,
    Module,
    Prompt,
    Failure,
    Shutdown,
    LogRecord,
    ModuleRequest,
    ModuleReply,
    RouteAdd,
    RouteDel,
    Spawn,
    Init,
    DeadLetter
);

/// `CALL`: run `module.function(*args, **kwargs)`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Call {
    /// Dotted module name, e.g. `os.path`.
    pub module: String,
    /// Function name (may be dotted for class attributes, e.g. `Class.method`).
    pub function: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments, in order.
    pub kwargs: Vec<(String, Value)>,
}

/// The answer to a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Reply {
    /// The function returned this value.
    Ok(Value),
    /// The function raised.
    Err(RemoteError),
}

/// `SHUTDOWN`: exit now. Empty body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Shutdown {}

/// `LOG`: a log record or a line of forwarded stdout/stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LogRecord {
    /// Logger name; `stdout` / `stderr` for forwarded output.
    pub logger: String,
    /// Python level number (10 DEBUG ... 50 CRITICAL).
    pub level: u32,
    /// The formatted message.
    pub message: String,
}

/// `GET_MODULE`: ask for a module's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModuleRequest {
    /// Dotted module name.
    pub fullname: String,
}

/// One module's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Module {
    /// Dotted module name.
    pub name: String,
    /// Where the source came from on the host (becomes `__file__`).
    pub filename: String,
    /// True for a package (`__init__.py`).
    pub is_package: bool,
    /// zlib-compressed source.
    pub source: ByteBuf,
}

/// The answer to [`ModuleRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ModuleReply {
    /// The requested name.
    pub fullname: String,
    /// The requested module first (when found), then related modules preloaded with it.
    #[serde(deserialize_with = "counted")]
    pub modules: Vec<Module>,
    /// Names that could not be served.
    #[serde(deserialize_with = "counted")]
    pub missing: Vec<String>,
}

/// `ROUTE_ADD`: a context appeared in the sender's subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RouteAdd {
    /// The new context.
    pub id: u32,
    /// Its parent.
    pub parent: u32,
    /// Its name.
    pub name: String,
}

/// `ROUTE_DEL`: a context left the sender's subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RouteDel {
    /// The context that is gone.
    pub id: u32,
}

/// A prompt to answer on a spawned child's pty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Prompt {
    /// Bytes that identify the prompt (matched on partial lines, case-insensitive).
    pub pattern: ByteBuf,
    /// What to type (a newline is appended).
    pub answer: ByteBuf,
}

/// Output of a spawned child that means a specific failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Failure {
    /// Bytes that identify the failure (matched at a line start).
    pub pattern: ByteBuf,
    /// Failure kind, interpreted by the host.
    pub kind: u32,
}

/// `SPAWN`: start a child context from the receiving context. The host computes the whole
/// recipe; the receiving stub runs one generic routine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Spawn {
    /// Id the host allocated for the child.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// The command to run (ends with the stage-0 python command).
    #[serde(deserialize_with = "counted")]
    pub argv: Vec<String>,
    /// Give it a controlling pty (for password prompts).
    pub pty: bool,
    /// Also use the pty as its stdin/stdout (su), switched to raw mode after stage 1 starts.
    pub stdio_pty: bool,
    /// Send `boot` only after the stage-1 marker (so nothing is typed into a prompt).
    pub wait_stage1: bool,
    /// Prompts to answer.
    #[serde(deserialize_with = "counted")]
    pub prompts: Vec<Prompt>,
    /// Failure texts to recognise.
    #[serde(deserialize_with = "counted")]
    pub failures: Vec<Failure>,
    /// Give up after this long without the stage-2 marker.
    pub timeout_ms: u32,
    /// What to write to the child once stage 1 runs: the deflated stage 2, then its `Init` frame.
    pub boot: ByteBuf,
}

/// `INIT`: the first frame a new context receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Init {
    /// The context's own id.
    pub id: u32,
    /// Its parent's id.
    pub parent: u32,
    /// Its name.
    pub name: String,
    /// Minimum log level to forward.
    pub log_level: u32,
    /// Maximum body size on this stream.
    pub max_frame: u32,
    /// Top-level module names the parent can serve.
    #[serde(deserialize_with = "counted")]
    pub served: Vec<String>,
    /// The host sends a heartbeat this often (0: never); a context that hears nothing from
    /// upstream for four intervals exits, and the host drops one it hears nothing from.
    pub heartbeat_ms: u32,
}

/// A message on a channel handle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Channel {
    /// One item of the stream.
    Data(Value),
    /// The end of the stream, with an error when the producer failed.
    Close(Option<RemoteError>),
    /// The receiver grants this many more body bytes.
    Credit(u32),
}

/// Why a frame could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum DeadReason {
    /// No context with that id is reachable.
    NoRoute = 0,
    /// The body exceeds the next stream's maximum.
    TooLarge = 1,
    /// The sender has no authority for that handle.
    Refused = 2,
    /// The destination disconnected before answering.
    Disconnected = 3,
    /// The destination has no such handle.
    NoHandle = 4,
}

impl DeadReason {
    /// From the wire number; unknown numbers read as `Refused`.
    pub fn from_u32(n: u32) -> DeadReason {
        match n {
            0 => DeadReason::NoRoute,
            1 => DeadReason::TooLarge,
            3 => DeadReason::Disconnected,
            4 => DeadReason::NoHandle,
            _ => DeadReason::Refused,
        }
    }
}

/// The body of a frame with the `DEAD` flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeadLetter {
    /// A [`DeadReason`] number.
    pub reason: u32,
    /// Human-readable detail.
    pub detail: String,
}

impl Body for Call {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        self.args
            .iter()
            .chain(self.kwargs.iter().map(|(_, v)| v))
            .try_for_each(|v| v.check_depth(0))?;
        postcard::to_allocvec(self).map_err(Error::from_postcard)
    }
    fn decode(bytes: &[u8]) -> Result<Call, Error> {
        decode_with(bytes, |de, ctx| de.deserialize_tuple(4, CallVisitor(ctx)))
    }
}

struct CallVisitor<'c>(&'c Ctx);

impl<'de> Visitor<'de> for CallVisitor<'_> {
    type Value = Call;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a call")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Call, A::Error> {
        let top = ValueSeed::new(0, self.0);
        let short = || fail(self.0, Error::Truncated);
        Ok(Call {
            module: seq.next_element()?.ok_or_else(short)?,
            function: seq.next_element()?.ok_or_else(short)?,
            args: seq
                .next_element_seed(SeqSeed {
                    elem: top,
                    ctx: self.0,
                })?
                .ok_or_else(short)?,
            kwargs: seq
                .next_element_seed(SeqSeed {
                    elem: KwargSeed(top),
                    ctx: self.0,
                })?
                .ok_or_else(short)?,
        })
    }
}

impl Body for Reply {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        if let Reply::Ok(v) = self {
            v.check_depth(0)?;
        }
        postcard::to_allocvec(self).map_err(Error::from_postcard)
    }
    fn decode(bytes: &[u8]) -> Result<Reply, Error> {
        decode_with(bytes, |de, ctx| {
            de.deserialize_enum("Reply", &["Ok", "Err"], ReplyVisitor(ctx))
        })
    }
}

struct ReplyVisitor<'c>(&'c Ctx);

impl<'de> Visitor<'de> for ReplyVisitor<'_> {
    type Value = Reply;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reply")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Reply, A::Error> {
        let (idx, v): (u32, _) = data.variant()?;
        match idx {
            0 => Ok(Reply::Ok(
                v.newtype_variant_seed(ValueSeed::new(0, self.0))?,
            )),
            1 => Ok(Reply::Err(v.newtype_variant()?)),
            _ => Err(fail(self.0, Error::BadVariant)),
        }
    }
}

impl Body for Channel {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        if let Channel::Data(v) = self {
            v.check_depth(0)?;
        }
        postcard::to_allocvec(self).map_err(Error::from_postcard)
    }
    fn decode(bytes: &[u8]) -> Result<Channel, Error> {
        decode_with(bytes, |de, ctx| {
            de.deserialize_enum("Channel", &["Data", "Close", "Credit"], ChannelVisitor(ctx))
        })
    }
}

impl Channel {
    /// Decode a body this process owns. A `Data(Bytes)` item, the shape of every bulk stream,
    /// keeps the body's own buffer (its 2-4 byte prefix moved out): no second copy of the
    /// payload. Anything else decodes as [`Body::decode`] does; the results are identical.
    pub fn decode_owned(mut body: Vec<u8>) -> Result<Channel, Error> {
        if let [0, 6, rest @ ..] = body.as_slice() {
            // varint length, at most 10 bytes, as the general decoder reads it.
            let mut len: u64 = 0;
            for (i, b) in rest.iter().take(10).enumerate() {
                len |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    let start = 2 + i + 1;
                    let canonical = i == 0 || *b != 0;
                    if canonical && (i < 9 || *b <= 1) && len == (body.len() - start) as u64 {
                        body.drain(..start);
                        return Ok(Channel::Data(Value::Bytes(body)));
                    }
                    break;
                }
            }
        }
        Channel::decode(&body)
    }
}

struct ChannelVisitor<'c>(&'c Ctx);

impl<'de> Visitor<'de> for ChannelVisitor<'_> {
    type Value = Channel;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a channel message")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Channel, A::Error> {
        let (idx, v): (u32, _) = data.variant()?;
        match idx {
            0 => Ok(Channel::Data(
                v.newtype_variant_seed(ValueSeed::new(0, self.0))?,
            )),
            1 => Ok(Channel::Close(v.newtype_variant()?)),
            2 => Ok(Channel::Credit(v.newtype_variant()?)),
            _ => Err(fail(self.0, Error::BadVariant)),
        }
    }
}

impl Body for Value {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        Value::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Value, Error> {
        Value::decode(bytes)
    }
}
