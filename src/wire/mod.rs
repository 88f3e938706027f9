//! The wire format: HTTP messages as bytes. Parsing a request head within
//! limits, writing a response head, dates, numbers, request targets, and
//! which header fields cross a proxy. No caching rule lives here.

pub mod dates;
pub mod decimal;
pub mod headers;
pub mod http;
pub mod target;
