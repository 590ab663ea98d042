//! The fixed 24-byte frame header (`docs/wire-format.md`, section 1).

use crate::Error;

/// Header size in bytes.
pub const HEADER_LEN: usize = 24;
/// `EC`.
pub const MAGIC: [u8; 2] = *b"EC";
/// Protocol version spoken by this crate.
pub const VERSION: u8 = 1;
/// Flag: the body is a [`crate::body::DeadLetter`].
pub const FLAG_DEAD: u8 = 1;
/// Default maximum body length (128 MiB).
pub const DEFAULT_MAX_BODY: u32 = 128 << 20;

/// A context id. `0` is the host.
pub type ContextId = u32;
/// A handle at a context. `0` is "none"; `1..999` are reserved.
pub type Handle = u32;

/// A validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Flag bits ([`FLAG_DEAD`]).
    pub flags: u8,
    /// Destination context.
    pub dst: ContextId,
    /// Source context.
    pub src: ContextId,
    /// Handle at `dst`.
    pub handle: Handle,
    /// Handle at `src` for an answer, or 0.
    pub reply_to: Handle,
    /// Body length.
    pub len: u32,
}

fn be32(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Header {
    /// Parse and validate 24 header bytes against a maximum body length.
    pub fn parse(b: &[u8; HEADER_LEN], max_body: u32) -> Result<Header, Error> {
        if b[0..2] != MAGIC {
            return Err(Error::BadMagic);
        }
        if b[2] != VERSION {
            return Err(Error::BadVersion);
        }
        if b[3] & !FLAG_DEAD != 0 {
            return Err(Error::BadFlags);
        }
        let h = Header {
            flags: b[3],
            dst: be32(b, 4),
            src: be32(b, 8),
            handle: be32(b, 12),
            reply_to: be32(b, 16),
            len: be32(b, 20),
        };
        if h.len > max_body {
            return Err(Error::TooLarge {
                len: h.len,
                max: max_body,
            });
        }
        Ok(h)
    }

    /// The 24 bytes of this header.
    pub fn emit(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&MAGIC);
        b[2] = VERSION;
        b[3] = self.flags;
        for (i, v) in [self.dst, self.src, self.handle, self.reply_to, self.len]
            .iter()
            .enumerate()
        {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    /// True when the body is a dead letter.
    pub fn is_dead(&self) -> bool {
        self.flags & FLAG_DEAD != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let h = Header {
            flags: 1,
            dst: 1,
            src: 2,
            handle: 3,
            reply_to: 1000,
            len: 5,
        };
        let b = h.emit();
        assert_eq!(&b[..4], b"EC\x01\x01");
        assert_eq!(Header::parse(&b, 5), Ok(h));
        assert_eq!(
            Header::parse(&b, 4),
            Err(Error::TooLarge { len: 5, max: 4 })
        );
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(Header::parse(&bad, 5), Err(Error::BadMagic));
        bad = b;
        bad[2] = 2;
        assert_eq!(Header::parse(&bad, 5), Err(Error::BadVersion));
        bad = b;
        bad[3] = 2;
        assert_eq!(Header::parse(&bad, 5), Err(Error::BadFlags));
    }
}
