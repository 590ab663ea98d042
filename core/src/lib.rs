//! # econtext-core: the protocol, with no IO
//!
//! econtext drives Python interpreters on remote machines over pipes and ptys. This crate holds
//! everything about that conversation that is pure computation, so it can be tested
//! deterministically, fuzzed, and reused by any IO layer. It never touches a file descriptor,
//! never reads a clock, and contains no `unsafe`. Read it top to bottom:
//!
//! 1. **wire**: [`header`] is the fixed 24-byte big-endian frame header (one `struct.unpack`
//!    in Python); [`decoder`] turns bytes in any chunking into [`Frame`]s, checking the body
//!    length against the maximum before buffering anything.
//! 2. **values and bodies**: [`value`] is the closed set of shapes that cross the wire (no
//!    pickle), encoded with postcard through serde with bounded depth and allocation;
//!    [`body`] holds the typed bodies of the reserved [`handle`]s.
//! 3. **flow**: [`window`] is channel flow control (credit) as pure state machines.
//! 4. **route**: [`router`] decides, for a frame and the stream it came from, whether to
//!    deliver, forward, refuse with a dead letter, or drop, enforcing who may make whom run code.
//!
//! The normative description is `docs/wire-format.md`; `testdata/` vectors keep this crate and
//! the Python stub byte-identical.
//!
//! ```
//! use econtext_core::{body::{Body, Call}, Frame, FrameDecoder, Feed, Header, Value, handle};
//!
//! let call = Call { module: "os".into(), function: "getpid".into(), ..Call::default() };
//! let hdr = Header { dst: 1, handle: handle::CALL, reply_to: 1000, ..Header::default() };
//! let bytes = Frame::new(hdr, call.encode()?)?.encode();
//!
//! let mut dec = FrameDecoder::new(econtext_core::header::DEFAULT_MAX_BODY);
//! let Feed::Frame { frame, rest } = dec.feed(&bytes) else { panic!() };
//! assert!(rest.is_empty());
//! assert_eq!(Call::decode(&frame.body)?, call);
//! # Ok::<(), econtext_core::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod body;
pub mod decoder;
mod error;
pub mod handle;
pub mod header;
pub mod router;
pub mod value;
mod value_de;
pub mod window;

pub use decoder::{Feed, Frame, FrameDecoder};
pub use error::Error;
pub use header::{ContextId, Handle, Header};
pub use value::{RemoteError, Value, MAX_DEPTH};
