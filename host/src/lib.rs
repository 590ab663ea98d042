//! econtext host
