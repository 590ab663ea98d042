//! Channel flow control, sans-IO: the sender's [`Window`] and the receiver's [`Grants`].
//!
//! A channel's receiver lets its sender have at most [`CHANNEL_WINDOW`] bytes of `Data` bodies
//! in flight that the consumer has not taken yet. Both sides count the same [`cost`] per item:
//! its body length, capped at half the window, so an item of any size goes once half the
//! window is free. Credit is granted back when the consumer *takes* an item (not when it
//! arrives): a slow consumer holds the producer, end to end, through every hop.
//!
//! The receiver grants in batches of a quarter window, and when its queue runs empty while the
//! sender holds less than half the window, so a producer waiting for credit is never stranded
//! (it waits only below half the window), yet a ping-pong of small items sends no credit at
//! all. Both halves are pure state machines, shared in behaviour with the Python side through
//! `testdata/channels.json`.

/// The window of every channel, in bytes of `Data` body.
pub const CHANNEL_WINDOW: u32 = 1 << 22;

/// What an item of `len` body bytes costs in credit: its length, at most half the window.
pub fn cost(len: usize, window: u32) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX).min(window / 2)
}

/// The sender's side: the credit it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    credit: u32,
    window: u32,
}

impl Window {
    /// A sender that holds the whole window (it was handed a `Sender` value: the receiver
    /// exists and waits).
    pub fn full(window: u32) -> Window {
        Window {
            credit: window,
            window,
        }
    }

    /// A sender that holds nothing yet (it waits for the receiver's first `Credit`).
    pub fn empty(window: u32) -> Window {
        Window { credit: 0, window }
    }

    /// The credit held now.
    pub fn credit(&self) -> u32 {
        self.credit
    }

    /// Take the credit for an item of `len` body bytes: `Ok(cost)` when it may go now, else
    /// `Err(missing)`, the credit still lacking (nothing is taken).
    pub fn take(&mut self, len: usize) -> Result<u32, u32> {
        let c = cost(len, self.window);
        if self.credit >= c {
            self.credit -= c;
            Ok(c)
        } else {
            Err(c - self.credit)
        }
    }

    /// A `Credit(n)` arrived. Credit never exceeds the window: a peer granting more is broken,
    /// and nothing is added.
    pub fn grant(&mut self, n: u32) -> Result<(), crate::Error> {
        match self.credit.checked_add(n) {
            Some(c) if c <= self.window => {
                self.credit = c;
                Ok(())
            }
            _ => Err(crate::Error::OverCredit),
        }
    }
}

/// The receiver's side: what the sender may still send, and what the consumer took that was
/// not granted back yet. `available + owed + queued costs == window`, always.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    available: u32,
    owed: u32,
    window: u32,
}

impl Grants {
    /// A receiver whose sender holds the whole window (it handed out a `Sender` value, or
    /// just sent its first `Credit(window)`).
    pub fn new(window: u32) -> Grants {
        Grants {
            available: window,
            owed: 0,
            window,
        }
    }

    /// Credit the sender still holds, as far as this side knows.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// An item of `len` body bytes arrived. A sender that had no credit for it is broken.
    pub fn arrived(&mut self, len: usize) -> Result<(), crate::Error> {
        let c = cost(len, self.window);
        if c > self.available {
            return Err(crate::Error::OverCredit);
        }
        self.available -= c;
        Ok(())
    }

    /// The consumer took an item of `len` body bytes; `queued` items still wait. Returns the
    /// credit to grant now, if any: a quarter window's worth at once, or everything owed when
    /// the queue ran empty and the sender may be waiting (it holds less than half the window).
    pub fn taken(&mut self, len: usize, queued: usize) -> Option<u32> {
        self.owed = self
            .owed
            .saturating_add(cost(len, self.window))
            .min(self.window - self.available);
        let starving = queued == 0 && self.available < self.window / 2;
        if self.owed > 0 && (self.owed >= self.window / 4 || starving) {
            let n = core::mem::take(&mut self.owed);
            self.available += n;
            Some(n)
        } else {
            None
        }
    }
}
