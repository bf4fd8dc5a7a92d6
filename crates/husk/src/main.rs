//! `husk`: Docker's command line without a daemon. Parses arguments, calls the libraries,
//! prints. Errors are printed once, here, as one line; husk's own errors exit with 125.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod context;
mod format;
mod progress;

use clap::Parser;

/// Docker's exit status for errors of the engine itself (not of the container).
const EXIT_HUSK_ERROR: i32 = 125;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_HUSK_ERROR } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(e) = commands::run(cli) {
        eprintln!("husk: {}", one_line(&e));
        std::process::exit(EXIT_HUSK_ERROR);
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
