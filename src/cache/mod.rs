//! The cache: the story of a request ([`story`]) and the rules it follows,
//! as pure functions of header fields and times. Nothing here opens a socket;
//! files are the [`crate::store`]'s, bytes on the wire [`crate::wire`]'s.

pub mod decide;
pub mod encoding;
pub mod freshness;
pub mod labels;
pub mod range;
pub mod story;
pub mod targeted;
pub mod trace;
pub mod vary;
pub mod writes;
