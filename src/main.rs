//! The `cacheproxy` command: reads the command line and runs what it names.
//! Everything else lives in the library: start reading at `src/lib.rs`, the
//! map, which sends you on to the story in `src/cache/story.rs`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use argh::{EarlyExit, FromArgs};

use cacheproxy::cli::{self, args::Cli};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|argument| argument.to_string_lossy().into_owned())
        .collect();
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let result = match Cli::from_args(&["cacheproxy"], &arguments) {
        Ok(command_line) => cli::run(command_line),
        // `--help`: argh's text is the whole answer. (argh's own `from_env`
        // would exit 1 for a mistake too; reading the arguments here lets a
        // mistake exit 2, and be worded with the fix.)
        Err(EarlyExit { output, status }) if status.is_ok() => {
            print!("{output}");
            Ok(())
        }
        Err(EarlyExit { output, .. }) => Err(cli::args::mistake(&output, &arguments)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // 2 for a command line wrong as written, 1 for a failure.
        Err(error) => {
            eprintln!("cacheproxy: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
