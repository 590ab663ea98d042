//! The only module allowed `unsafe`: process spawning (with an optional pty, or into another
//! process's namespaces), poll(2), socket peer credentials and signals. Every unsafe block carries a `// SAFETY:` line.
//!
//! Spawning uses `std::process::Command`, whose Unix implementation is the reviewed model of
//! STYLE.md: every CString built before fork, no allocation or locks in the child, exec
//! failures reported over a CLOEXEC pipe, `_exit` on failure. We add only what it lacks: a
//! controlling pty (via `pre_exec`), done here with async-signal-safe calls.
#![allow(unsafe_code)]

pub mod peer;
pub mod poll;
pub mod process;
pub mod pty;
pub mod rlimit;
pub mod setns;
pub mod signal;
pub mod time;
pub mod tty;
