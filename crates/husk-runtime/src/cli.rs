//! Command-line arguments, shaped like runc's so engines can drive us.

use clap::{Args, Parser, Subcommand};
use husk_runtime::state::Record;
use std::path::PathBuf;

/// An OCI runtime: runs containers from bundles, with runc's command line.
#[derive(Debug, Parser)]
#[command(name = "husk-runtime", version = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.3.0"))]
pub struct Cli {
    /// Directory for container state
    #[arg(long, global = true, default_value = "/run/husk-runtime")]
    pub root: PathBuf,
    /// Write log messages to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups (not available yet: an error)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a default config.json
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// A config for an unprivileged user
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container (setup done, program not started)
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container
    Run(RunArgs),
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal to a container's init (or all its processes)
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Print the OCI features document
    Features,
}

impl Command {
    /// Commands that set up container processes from this binary.
    pub fn spawns_container(&self) -> bool {
        matches!(self, Command::Create(_) | Command::Run(_))
    }
}

/// Arguments of `create` (and `run`).
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json)
    #[arg(long, short = 'b')]
    pub bundle: Option<PathBuf>,
    /// Write the init's pid to this file
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility: husk never creates a session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (3, 4, ...) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once started instead of waiting
    #[arg(long, short = 'd')]
    pub detach: bool,
}

/// A signal by name (with or without SIG) or number.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    const NAMES: [(&str, i32); 31] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("IOT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("PWR", 30),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Some(*n);
    }
    if name == "SYS" {
        return Some(31);
    }
    let rt = |rest: &str, base: i32| {
        rest.parse::<i32>()
            .ok()
            .map(|k| base + k)
            .filter(|n| (34..=64).contains(n))
    };
    if let Some(rest) = name.strip_prefix("RTMIN+") {
        return rt(rest, 34);
    }
    if let Some(rest) = name.strip_prefix("RTMAX-") {
        return rest
            .parse::<i32>()
            .ok()
            .map(|k| 64 - k)
            .filter(|n| (34..=64).contains(n));
    }
    None
}

/// `list` output: runc's table, JSON, or IDs only.
pub fn format_list(records: &[Record], format: &str, quiet: bool) -> String {
    if quiet {
        return records.iter().map(|r| format!("{}\n", r.id)).collect();
    }
    if format == "json" {
        let items: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let s = r.oci_state();
                serde_json::json!({
                    "ociVersion": r.oci_version, "id": r.id, "pid": s["pid"], "status": s["status"],
                    "bundle": r.bundle, "rootfs": r.rootfs, "created": r.created, "owner": owner_name(r.owner),
                    "annotations": r.annotations,
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(items));
    }
    let mut out = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
    for r in records {
        let s = r.oci_state();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            r.id,
            s["pid"],
            s["status"].as_str().unwrap_or(""),
            r.bundle.display(),
            r.created,
            owner_name(r.owner)
        ));
    }
    out
}

fn owner_name(uid: u32) -> String {
    if uid == 0 {
        return "root".into();
    }
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("SIGKILL"), Some(9));
        assert_eq!(parse_signal("sigterm"), Some(15));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGRTMIN+2"), Some(36));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
    }
}
