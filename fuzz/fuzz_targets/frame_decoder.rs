//! Feeds a byte stream to `FrameDecoder` in fuzzer-chosen chunks.
//!
//! Input layout: byte 0 picks the maximum body (bits 0-1) and how many chunk-size bytes follow
//! (bits 2-4, plus one); the chunk sizes are used cyclically (0 = everything left); the rest is
//! the stream. Checked: no panic; every frame re-encodes to exactly the bytes it consumed and its
//! header parses from them; the frames and the final error are the same as when the whole stream
//! is fed at once (chunking invariance); errors are sticky and match `Header::parse` at the
//! offset where the failing header starts; at a clean end no complete frame is left unread.
#![no_main]

use econtext_core::header::HEADER_LEN;
use econtext_core::{Error, Feed, Frame, FrameDecoder, Header};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Outcome {
    /// Each frame with the stream offset just after it.
    frames: Vec<(Frame, usize)>,
    error: Option<Error>,
}

fn run(stream: &[u8], max: u32, chunks: &[u8]) -> (Outcome, FrameDecoder) {
    let mut dec = FrameDecoder::new(max);
    let mut out = Outcome {
        frames: Vec::new(),
        error: None,
    };
    let mut at = 0usize;
    let mut i = 0usize;
    while at < stream.len() && out.error.is_none() {
        let size = match chunks.get(i % chunks.len().max(1)) {
            Some(&0) | None => stream.len() - at,
            Some(&n) => (n as usize).min(stream.len() - at),
        };
        i += 1;
        let chunk = &stream[at..at + size];
        let mut input = chunk;
        loop {
            match dec.feed(input) {
                Feed::Consumed => break,
                Feed::Frame { frame, rest } => {
                    assert!(rest.len() <= input.len());
                    let end = at + (chunk.len() - rest.len());
                    out.frames.push((frame, end));
                    input = rest;
                }
                Feed::Error(e) => {
                    out.error = Some(e);
                    // Sticky.
                    assert_eq!(dec.feed(b"x"), Feed::Error(e));
                    assert_eq!(dec.feed(&[]), Feed::Error(e));
                    break;
                }
            }
        }
        at += size;
    }
    (out, dec)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, data)) = data.split_first() else {
        return;
    };
    let max = match cfg & 3 {
        0 | 3 => 1 << 20,
        1 => 0,
        _ => 64,
    };
    let n = (1 + ((cfg >> 2) & 7) as usize).min(data.len());
    let (chunks, stream) = data.split_at(n);

    let (whole, _) = run(stream, max, &[0]);
    let (chunked, dec) = run(stream, max, chunks);
    assert_eq!(whole, chunked, "chunking changed the result");

    let mut start = 0usize;
    for (frame, end) in &chunked.frames {
        let bytes = &stream[start..*end];
        assert_eq!(frame.header.len as usize, frame.body.len());
        assert!(frame.body.len() <= max as usize);
        assert_eq!(
            frame.encode(),
            bytes,
            "frame does not re-encode to its bytes"
        );
        let head: &[u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
        assert_eq!(Header::parse(head, max), Ok(frame.header));
        start = *end;
    }
    let left = &stream[start..];
    match chunked.error {
        Some(e) => {
            // Errors come from the header only, as soon as its 24 bytes are there.
            assert!(left.len() >= HEADER_LEN);
            let head: &[u8; HEADER_LEN] = left[..HEADER_LEN].try_into().unwrap();
            assert_eq!(Header::parse(head, max), Err(e));
        }
        None => {
            assert_eq!(dec.is_idle(), left.is_empty());
            if left.len() >= HEADER_LEN {
                let head: &[u8; HEADER_LEN] = left[..HEADER_LEN].try_into().unwrap();
                let h = Header::parse(head, max).expect("a bad header went unreported");
                assert!(
                    left.len() < HEADER_LEN + h.len as usize,
                    "a complete frame was not returned"
                );
            }
        }
    }
});
