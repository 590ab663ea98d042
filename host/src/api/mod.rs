//! The blocking API: a [`Router`] owns the broker thread; [`Context`]s make calls.

mod context;
mod router;

pub use context::{CallBuilder, CallHandle, Context};
pub use router::{Router, RouterOptions};
