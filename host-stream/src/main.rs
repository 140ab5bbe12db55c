//! `host-stream`: traffic records in, 300-second event-time windows, checks against the limits
//! in force, alerts out. This build has the command line only; the pipeline is being built.

use std::process::ExitCode;

use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    arg_required_else_help = true,
    about = "Sum traffic records in event-time windows and alert when a window is outside the limits",
    long_about = "Sum traffic records (from Kafka or from host-capture on stdin) in aligned \
                  300-second event-time windows, compare each window with the minimum and \
                  maximum limits in force, and send a JSON alert to the `alerts` topic when a \
                  window is outside them. Not yet functional in this build."
)]
struct Args {}

fn main() -> ExitCode {
    let _args = Args::parse();
    ExitCode::SUCCESS
}
