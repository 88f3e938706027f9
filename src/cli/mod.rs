//! The commands besides `proxy`: `ls` and `purge` on a cache directory
//! ([`inspect`]) and the demo origin ([`demo_origin`]).

pub mod demo_origin;
pub mod explain;
pub mod inspect;
