//! The network: the socket loop and its deadlines ([`server`]), the origin
//! client, the only user of `ureq` ([`origin`]), the streaming of a body
//! from the origin or the disk to the client ([`relay`]), and what a handler
//! reports of a reply ([`served`]).

pub mod origin;
pub mod relay;
pub mod served;
pub mod server;
