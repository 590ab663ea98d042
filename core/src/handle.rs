//! Reserved handles (`docs/wire-format.md`, section 4) and who may use them.

use crate::header::Handle;

/// "No handle": `reply_to = 0` means no answer is wanted.
pub const NONE: Handle = 0;
/// Run a function: body [`crate::body::Call`]; answer [`crate::body::Reply`].
pub const CALL: Handle = 1;
/// Exit now: body [`crate::body::Shutdown`].
pub const SHUTDOWN: Handle = 2;
/// A log record or stdio line for the host: body [`crate::body::LogRecord`].
pub const LOG: Handle = 3;
/// Ask the parent for a module: body [`crate::body::ModuleRequest`].
pub const GET_MODULE: Handle = 4;
/// A context appeared in the sender's subtree: body [`crate::body::RouteAdd`].
pub const ROUTE_ADD: Handle = 5;
/// A context left the sender's subtree: body [`crate::body::RouteDel`].
pub const ROUTE_DEL: Handle = 6;
/// Start a child context from the receiver: body [`crate::body::Spawn`].
pub const SPAWN: Handle = 7;
/// First frame to a new context: body [`crate::body::Init`].
pub const INIT: Handle = 8;
/// Dynamic handles start here.
pub const FIRST_DYNAMIC: Handle = 1000;

/// Handles only the receiver's ancestors may target, arriving from upstream.
pub fn is_parent_only(h: Handle) -> bool {
    matches!(h, CALL | SHUTDOWN | SPAWN | INIT)
}

/// Reserved handles that travel upwards, from a context towards the host.
pub fn is_upward(h: Handle) -> bool {
    matches!(h, LOG | GET_MODULE | ROUTE_ADD | ROUTE_DEL)
}
