//! husk-runtime: an OCI runtime with runc's command line. Parses arguments,
//! calls the runtime library, prints results, and reports errors once.

#![forbid(unsafe_code)]

mod cli;
mod log;
mod reexec;
mod spec;

use cli::{Cli, Command};
use husk_runtime::create::CreateRequest;
use husk_runtime::plan::CreateOptions;
use husk_runtime::{features, ops, Error};
use std::path::PathBuf;

fn main() {
    let cli = match cli::parse(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("husk-runtime: {e}");
            std::process::exit(1);
        }
    };
    let logger = log::Logger::new(&cli);
    if cli.command.spawns_container() && !husk_runtime::weaken::on("exe-reexec") {
        // Never run container setup from a binary the container could reach.
        if let Err(e) = reexec::ensure_sealed_copy() {
            logger.error(&format!("re-exec from sealed copy: {e}"));
            std::process::exit(1);
        }
    }
    let started = std::time::Instant::now();
    logger.debug(&std::env::args().collect::<Vec<_>>().join(" "));
    let result = dispatch(&cli, &logger);
    logger.debug(&format!("done in {} µs", started.elapsed().as_micros()));
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger.error(&e.to_string());
            std::process::exit(1);
        }
    }
}

fn dispatch(cli: &Cli, logger: &log::Logger) -> Result<i32, Error> {
    let warn = |w: &str| logger.warn(w);
    let root = &cli.root;
    match &cli.command {
        Command::Spec { bundle, rootless } => spec::write_default(bundle, *rootless).map(|()| 0),
        Command::Create(c) => ops::create(&request(cli, c, &c.id), &warn).map(|()| 0),
        Command::Start { id } => ops::start(root, id).map(|()| 0),
        Command::Run(r) => ops::run(
            &request(cli, &r.create, &r.create.id),
            ops::RunMode {
                detach: r.detach,
                keep: r.keep,
            },
            &warn,
        ),
        Command::State { id } => {
            let s = ops::state(root, id)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = cli::parse_signal(signal)
                .ok_or_else(|| Error::Usage(format!("unknown signal {signal:?}")))?;
            ops::kill(root, id, sig, *all).map(|()| 0)
        }
        Command::Delete { force, id } => ops::delete(root, id, *force).map(|()| 0),
        Command::List { format, quiet } => {
            print!("{}", cli::format_list(&ops::list(root)?, format, *quiet));
            Ok(0)
        }
        Command::Exec(e) => {
            let mut request = e.request.clone();
            if let Some(p) = &request.pid_file {
                request.pid_file = Some(std::path::absolute(p).unwrap_or_else(|_| p.clone()));
            }
            husk_runtime::exec::exec(root, &e.id, &request, &warn)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = ops::pids(root, id)?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids).unwrap_or_default());
            } else {
                print!("{}", ps_table(&pids, ps_args)?);
            }
            Ok(0)
        }
        Command::Pause { id } => ops::set_paused(root, id, true).map(|()| 0),
        Command::Events {
            id,
            stats,
            interval,
        } => {
            use std::io::Write;
            let mut out = std::io::stdout();
            ops::events(root, id, *stats, *interval, &mut |ev| {
                let _ = writeln!(out, "{ev}");
                let _ = out.flush();
            })
            .map(|()| 0)
        }
        Command::Update { id, resources } => {
            let text = resources.to_string();
            let r: oci_spec::runtime::LinuxResources = serde_json::from_slice(text.as_bytes())
                .map_err(|e| Error::config("update resources", e.to_string()))?;
            ops::update(root, id, &r).map(|()| 0)
        }
        Command::Resume { id } => ops::set_paused(root, id, false).map(|()| 0),
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(0)
        }
        Command::Version => {
            println!(
                "husk-runtime version {}\nspec: 1.3.0",
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features::features()).unwrap_or_default()
            );
            Ok(0)
        }
    }
}

fn request(cli: &Cli, c: &cli::CreateArgs, id: &str) -> CreateRequest {
    let listen_fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    CreateRequest {
        root: cli.root.clone(),
        id: id.to_string(),
        bundle: c.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
        pid_file: c
            .pid_file
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        console_socket: c.console_socket.clone(),
        options: CreateOptions {
            no_pivot: c.no_pivot,
            preserve_fds: c.preserve_fds,
            listen_fds,
            no_new_keyring: c.no_new_keyring,
            systemd_cgroup: cli.systemd_cgroup,
        },
    }
}

/// runc's `ps` table: the host's `ps` (with `-ef` or the given options),
/// keeping the header and the lines of the container's processes.
fn ps_table(pids: &[i32], ps_args: &[String]) -> Result<String, Error> {
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io("run", "ps", e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let column = header
        .split_whitespace()
        .position(|c| c == "PID")
        .ok_or_else(|| Error::Usage("ps: its output has no PID column".into()))?;
    let mut table = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            table.push_str(line);
            table.push('\n');
        }
    }
    Ok(table)
}
