//! The econtext remote runtime ("stage 2"), embedded.
//!
//! The Python sources live in `stub/python/`: `econtext_stub.py` (the wire codec, also imported
//! by the Python conformance tests) and `runtime.py` (framing loop, dispatcher, importer,
//! logging and stdio forwarding, watchdog). `build.rs` concatenates, minifies and deflates them;
//! the host sends [`STAGE2`] to stage 1, which inflates it with `zlib.decompress`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The stage-2 program as written (all sources concatenated).
pub const STAGE2_RAW: &str = include_str!(concat!(env!("OUT_DIR"), "/stage2.raw.py"));
/// The stage-2 program after minification: what the remote interpreter executes.
pub const STAGE2_MIN: &str = include_str!(concat!(env!("OUT_DIR"), "/stage2.min.py"));
/// The minified program as a zlib stream: the bytes sent to stage 1, padded with zeros to the
/// length of [`STAGE2_OLD`] when that is longer (stage 1 reads one length for both).
pub const STAGE2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stage2.z"));
/// Stage 2 for Python 2.4, 2.5 and 2.6 (`python/old/`: the same protocol in 2.4's syntax and
/// library), minified.
pub const STAGE2_OLD_MIN: &str = include_str!(concat!(env!("OUT_DIR"), "/stage2_old.min.py"));
/// [`STAGE2_OLD_MIN`] as a zlib stream, padded like [`STAGE2`] to the same length. The host
/// sends it instead of [`STAGE2`] when stage 1 reports a Python older than 2.7.
pub const STAGE2_OLD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stage2_old.z"));
include!(concat!(env!("OUT_DIR"), "/sizes.rs"));

/// The on-demand modules as the host serves them: name, the deflated source (a zlib stream),
/// and the `econtext_*` modules it imports.
pub mod builtins {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

/// The on-demand spawn routine (`econtext_spawn`): what a context runs to start a child for a
/// `via` hop. Served by the host's module server like any module, so it costs nothing until a
/// context actually spawns.
pub const SPAWN_PY: &str = include_str!("../python/spawn.py");

/// The on-demand channel runtime (`econtext_channel`): Sender methods, Receiver iteration,
/// generator pumping, with flow control. Served from the host binary the first time a call is
/// handed a channel; the core stub only routes frames to handles.
pub const CHANNEL_PY: &str = include_str!("../python/channel.py");

/// The on-demand process runtime (`econtext_process`): programs with streamed stdio, served
/// from the host binary the first time a context runs one.
pub const PROCESS_PY: &str = include_str!("../python/process.py");

/// The on-demand fakessh runtime (`econtext_fakessh`): a tool run with an executable memfd as
/// its ssh program, whose invocations reach another context. Served from the host binary the
/// first time a context runs one.
pub const FAKESSH_PY: &str = include_str!("../python/fakessh.py");

/// `econtext_files`: put and get (docs/files.md), served on demand.
pub const FILES_PY: &str = include_str!("../python/files.py");
