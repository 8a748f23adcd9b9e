//! The `inframed` command line. See `inframed --help` and README.md.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
