//! The network: the socket loop and its deadlines ([`server`]), the origin
//! client, the only user of `ureq` ([`origin`]), and the streaming of a
//! body from the origin or the disk to the client ([`relay`]).

pub mod origin;
pub mod relay;
pub mod served;
pub mod server;
