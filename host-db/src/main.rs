//! `host-db`: the traffic limits (minimum and maximum bytes per window) in PostgreSQL or a JSON
//! file. This build has the command line only; the loaders are being built.

use std::process::ExitCode;

use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    version,
    arg_required_else_help = true,
    about = "Manage the traffic limits that host-stream checks windows against",
    long_about = "Manage the traffic limits (the newest row per name in \
                  traffic_limits.limits_per_hour, or a JSON file) that host-stream checks each \
                  window against. Not yet functional in this build."
)]
struct Args {}

fn main() -> ExitCode {
    let _args = Args::parse();
    ExitCode::SUCCESS
}
