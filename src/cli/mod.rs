//! The commands: the command line ([`args`], with [`suggest`] for a slip),
//! starting the proxy and the demo origin ([`serve`], [`demo_origin`]), and
//! `ls`, `explain` and `purge` ([`inspect`]).

pub mod args;
pub mod demo_origin;
pub mod inspect;
pub mod serve;
pub mod suggest;

use crate::error::StartError;
use args::{Cli, Command};

/// Runs the command `cli` names. The servers run until the process is
/// stopped; an error is one the user can fix, with the words to fix it.
pub fn run(cli: Cli) -> Result<(), StartError> {
    match cli.command {
        _ if cli.version => {
            // Whether this build has the `tls` feature, which a learner
            // cannot see from outside until an https:// origin fails.
            let https = if cfg!(feature = "tls") { "yes" } else { "no" };
            let version = env!("CARGO_PKG_VERSION");
            println!("cacheproxy {version} (https origins: {https})");
            Ok(())
        }
        Some(Command::Proxy(args)) => serve::run_proxy(&args),
        Some(Command::Origin(args)) => serve::run_origin(&args),
        Some(Command::Ls(args)) => inspect::run_ls(&args),
        Some(Command::Purge(args)) => inspect::run_purge(&args),
        Some(Command::Explain(args)) => inspect::run_explain(&args),
        None => Err(StartError::NoCommand),
    }
}
