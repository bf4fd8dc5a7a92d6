//! Where errors and debug messages go: stderr, and with `--log` a file in
//! runc's text or JSON format (containerd reads the JSON one).

use crate::cli::Cli;
use std::io::Write;

/// The configured log sink.
pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
    debug: bool,
}

impl Logger {
    /// Opens the log file named by `--log`, if any.
    pub fn new(cli: &Cli) -> Self {
        let file = cli.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Logger {
            file,
            json: cli.log_format == "json",
            debug: cli.debug,
        }
    }

    /// Logs an error once: to the log file, and always to stderr.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// Logs a warning: to the log file if there is one, else to stderr.
    pub fn warn(&self, msg: &str) {
        if self.file.is_some() {
            self.write("warning", msg);
        } else {
            eprintln!("husk-runtime: warning: {msg}");
        }
    }

    /// With `--debug`: a debug message, to the log file or stderr.
    pub fn debug(&self, msg: &str) {
        if !self.debug {
            return;
        }
        if self.file.is_some() {
            self.write("debug", msg);
        } else {
            eprintln!("husk-runtime: debug: {msg}");
        }
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let now = husk_runtime::time::now_rfc3339();
            let line = if self.json {
                format!(
                    "{}\n",
                    serde_json::json!({"level": level, "msg": msg, "time": now})
                )
            } else {
                format!("time=\"{now}\" level={level} msg={msg:?}\n")
            };
            let _ = f.write_all(line.as_bytes());
        }
        if level == "error" {
            eprintln!("husk-runtime: {msg}");
        }
    }
}
