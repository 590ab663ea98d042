//! The incremental frame decoder: bytes in any chunking in, frames or a typed error out.

use alloc::vec::Vec;

use crate::header::{Header, HEADER_LEN};
use crate::Error;

/// A whole frame: its header and body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The validated header; `header.len == body.len()`.
    pub header: Header,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Frame {
    /// Build a frame, setting `header.len` from the body.
    ///
    /// Returns [`Error::TooLarge`] when the body does not fit in a `u32` length.
    pub fn new(mut header: Header, body: Vec<u8>) -> Result<Frame, Error> {
        header.len = u32::try_from(body.len()).map_err(|_| Error::TooLarge {
            len: u32::MAX,
            max: u32::MAX,
        })?;
        Ok(Frame { header, body })
    }

    /// Header bytes followed by the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(&self.header.emit());
        out.extend_from_slice(&self.body);
        out
    }
}

/// What one call to [`FrameDecoder::feed`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed<'a> {
    /// All input was consumed; no frame is complete yet.
    Consumed,
    /// A frame completed; `rest` is the unconsumed input to feed next.
    Frame {
        /// The completed frame.
        frame: Frame,
        /// Input left after the frame.
        rest: &'a [u8],
    },
    /// The stream is broken. The decoder keeps returning this error.
    Error(Error),
}

/// Accumulates bytes into frames. Never buffers more than `24 + max_body` bytes, validates
/// each header before buffering its body, and never panics.
#[derive(Debug)]
pub struct FrameDecoder {
    max_body: u32,
    head: heapless::Vec<u8, HEADER_LEN>,
    current: Option<Header>,
    body: Vec<u8>,
    failed: Option<Error>,
}

/// Bodies are grown geometrically from this size, so a peer announcing a large body and
/// sending nothing costs nothing.
const INITIAL_BODY_CAPACITY: usize = 64 * 1024;

impl FrameDecoder {
    /// A decoder refusing bodies longer than `max_body`.
    pub fn new(max_body: u32) -> FrameDecoder {
        FrameDecoder {
            max_body,
            head: heapless::Vec::new(),
            current: None,
            body: Vec::new(),
            failed: None,
        }
    }

    /// The maximum body length in force.
    pub fn max_body(&self) -> u32 {
        self.max_body
    }

    /// Change the maximum (after negotiation). Applies to headers not yet parsed.
    pub fn set_max_body(&mut self, max_body: u32) {
        self.max_body = max_body;
    }

    /// True when no partial frame is buffered (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.head.is_empty() && self.current.is_none() && self.failed.is_none()
    }

    /// Feed bytes. Call again with `rest` after each [`Feed::Frame`].
    pub fn feed<'a>(&mut self, mut input: &'a [u8]) -> Feed<'a> {
        if let Some(e) = self.failed {
            return Feed::Error(e);
        }
        {
            let header = match self.current {
                Some(h) => h,
                None => {
                    let want = HEADER_LEN - self.head.len();
                    let take = want.min(input.len());
                    // Cannot fail: `take` never exceeds the free capacity.
                    let _ = self.head.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let Ok(bytes) = <[u8; HEADER_LEN]>::try_from(self.head.as_slice()) else {
                        return Feed::Consumed;
                    };
                    self.head.clear();
                    match Header::parse(&bytes, self.max_body) {
                        Ok(h) => {
                            self.current = Some(h);
                            h
                        }
                        Err(e) => {
                            self.failed = Some(e);
                            return Feed::Error(e);
                        }
                    }
                }
            };
            let len = header.len as usize;
            if self.body.is_empty() && input.len() >= len {
                // Fast path: the whole body is in this chunk.
                self.current = None;
                let frame = Frame {
                    header,
                    body: input[..len].to_vec(),
                };
                return Feed::Frame {
                    frame,
                    rest: &input[len..],
                };
            }
            let take = (len - self.body.len()).min(input.len());
            let needed = self.body.len() + take;
            if needed > self.body.capacity() {
                let grown = needed
                    .max(self.body.capacity() * 2)
                    .max(INITIAL_BODY_CAPACITY.min(len));
                self.body.reserve_exact(grown.min(len) - self.body.len());
            }
            self.body.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.body.len() < len {
                return Feed::Consumed;
            }
            self.current = None;
            let frame = Frame {
                header,
                body: core::mem::take(&mut self.body),
            };
            Feed::Frame { frame, rest: input }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8, len: usize) -> Frame {
        Frame::new(
            Header {
                dst: n as u32,
                handle: 1000,
                ..Header::default()
            },
            alloc::vec![n; len],
        )
        .unwrap()
    }

    fn decode_all(d: &mut FrameDecoder, mut input: &[u8], out: &mut Vec<Frame>) -> Option<Error> {
        loop {
            match d.feed(input) {
                Feed::Consumed => return None,
                Feed::Frame { frame, rest } => {
                    out.push(frame);
                    input = rest;
                }
                Feed::Error(e) => return Some(e),
            }
        }
    }

    #[test]
    fn every_chunking_gives_the_same_frames() {
        let frames = [frame(1, 0), frame(2, 7), frame(3, 100)];
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode()).collect();
        for chunk in [1, 2, 5, 23, 24, 25, 31, 1000] {
            let mut d = FrameDecoder::new(1000);
            let mut out = Vec::new();
            for c in bytes.chunks(chunk) {
                assert_eq!(decode_all(&mut d, c, &mut out), None);
            }
            assert_eq!(out, frames);
            assert!(d.is_idle());
        }
    }

    #[test]
    fn too_large_is_refused_before_buffering() {
        let mut d = FrameDecoder::new(10);
        let big = frame(1, 11).encode();
        let mut out = Vec::new();
        assert_eq!(
            decode_all(&mut d, &big[..24], &mut out),
            Some(Error::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(d.body.capacity(), 0);
        // The error is sticky.
        assert_eq!(
            d.feed(b"x"),
            Feed::Error(Error::TooLarge { len: 11, max: 10 })
        );
    }

    #[test]
    fn announced_length_does_not_preallocate() {
        let mut d = FrameDecoder::new(u32::MAX);
        let mut h = Header {
            len: u32::MAX,
            ..Header::default()
        }
        .emit()
        .to_vec();
        h.push(0);
        assert_eq!(d.feed(&h), Feed::Consumed);
        assert!(d.body.capacity() <= INITIAL_BODY_CAPACITY);
    }
}
