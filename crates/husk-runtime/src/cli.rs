//! Command-line arguments, shaped like runc's so engines can drive us.
//!
//! A small hand-written parser rather than clap: husk-runtime is started
//! for every container operation, and the parser is a large share of a
//! static binary's size, start-up time and memory. Flags are accepted as
//! `--name value`, `--name=value` and, like runc's urfave/cli, `-name`.

use husk_runtime::state::Record;
use std::path::PathBuf;

/// Global options and the command.
#[derive(Debug)]
pub struct Cli {
    /// Directory for container state.
    pub root: PathBuf,
    /// Log file (`--log`).
    pub log: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: String,
    pub debug: bool,
    pub systemd_cgroup: bool,
    pub command: Command,
}

/// The commands.
#[derive(Debug)]
pub enum Command {
    Spec {
        bundle: PathBuf,
        rootless: bool,
    },
    Create(CreateArgs),
    Start {
        id: String,
    },
    Run(RunArgs),
    State {
        id: String,
    },
    Pause {
        id: String,
    },
    Events {
        id: String,
        stats: bool,
        interval: std::time::Duration,
    },
    Update {
        id: String,
        /// The resources object to apply (from -r and the flags).
        resources: serde_json::Value,
    },
    Resume {
        id: String,
    },
    Kill {
        all: bool,
        id: String,
        signal: String,
    },
    Delete {
        force: bool,
        id: String,
    },
    List {
        format: String,
        quiet: bool,
    },
    Features,
    Exec(Box<ExecArgs>),
    Ps {
        format: String,
        id: String,
        ps_args: Vec<String>,
    },
    Help,
    Version,
}

impl Command {
    /// Commands that set up container processes from this binary.
    pub fn spawns_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run(_) | Command::Exec(_)
        )
    }
}

/// Arguments of `create` (and `run`).
#[derive(Debug, Default)]
pub struct CreateArgs {
    pub bundle: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    /// Accepted for compatibility: husk never creates a session keyring.
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub id: String,
}

/// Arguments of `exec`.
#[derive(Debug, Default)]
pub struct ExecArgs {
    pub id: String,
    pub request: husk_runtime::exec::ExecRequest,
}

/// Arguments of `run`.
#[derive(Debug, Default)]
pub struct RunArgs {
    pub create: CreateArgs,
    pub detach: bool,
    /// `--keep`: leave the stopped container (state and cgroup) for a later
    /// `delete`, as runc does.
    pub keep: bool,
}

pub const USAGE: &str = "\
husk-runtime: an OCI runtime with runc's command line

usage: husk-runtime [global options] COMMAND [options] [ID]

global options:
  --root DIR           container state (default /run/husk-runtime;
                       $XDG_RUNTIME_DIR/husk-runtime for a rootless caller)
  --log FILE           write errors to FILE
  --log-format FMT     text (default) or json
  --debug              more messages
  --systemd-cgroup     cgroups as systemd units (systemd as PID 1; cgroupsPath slice:prefix:name)
  --version, --help

commands:
  spec [--bundle DIR] [--rootless]        write a default config.json
  create [options] ID                     set up a container, program not started
      --bundle DIR  --pid-file FILE  --console-socket SOCK
      --no-pivot  --no-new-keyring  --preserve-fds N
  start ID                                start a created container
  run [create options] [--detach] ID      create and start; wait unless --detach
  state ID                                print the OCI state as JSON
  kill [--all] ID [SIGNAL]                default SIGTERM
  delete [--force] ID
  list [--format table|json] [--quiet]
  exec [options] ID [COMMAND [ARG...]]    run a process in a container
      --process FILE  --tty  --console-socket SOCK  --cwd DIR  --env K=V
      --user UID[:GID]  --additional-gids GID  --cap CAP  --no-new-privs
      --detach  --pid-file FILE  --preserve-fds N  --ignore-paused
  ps [--format table|json] ID [PS ARGS]   the container's processes
  pause ID / resume ID                    freeze / thaw every process (cgroup freezer)
  events [--stats] [--interval 5s] ID     runc's JSON events: stats, and oom as it happens
  update [-r FILE|-] [--memory SIZE] [--memory-swap SIZE] [--memory-reservation SIZE]
         [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpu-rt-period N]
         [--cpu-rt-runtime N] [--cpuset-cpus LIST] [--cpuset-mems LIST] [--pids-limit N] ID
  features                                the OCI features document
";

/// A command-line error, reported as one line.
pub type ArgResult<T> = Result<T, String>;

/// The argument list being consumed.
struct Args {
    items: Vec<String>,
    pos: usize,
}

/// A flag seen on the command line: its name and an inline `=value`.
struct Flag {
    name: String,
    inline: Option<String>,
}

impl Args {
    fn next(&mut self) -> Option<String> {
        let v = self.items.get(self.pos).cloned();
        self.pos += 1;
        v
    }

    fn peek(&self) -> Option<&str> {
        self.items.get(self.pos).map(String::as_str)
    }

    /// The next flag, if the next argument is one (`--` ends flags).
    fn flag(&mut self) -> Option<Flag> {
        let a = self.peek()?;
        if a == "--" {
            self.pos += 1;
            return None;
        }
        if a.len() < 2 || !a.starts_with('-') {
            return None;
        }
        let body = a.trim_start_matches('-').to_string();
        self.pos += 1;
        Some(match body.split_once('=') {
            Some((n, v)) => Flag {
                name: n.to_string(),
                inline: Some(v.to_string()),
            },
            None => Flag {
                name: body,
                inline: None,
            },
        })
    }

    fn value(&mut self, f: &Flag) -> ArgResult<String> {
        if let Some(v) = &f.inline {
            return Ok(v.clone());
        }
        self.next()
            .ok_or_else(|| format!("flag --{} needs a value", f.name))
    }

    /// A boolean flag; `--flag=false` turns it off.
    fn boolean(f: &Flag) -> ArgResult<bool> {
        match f.inline.as_deref() {
            None | Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(format!("flag --{}: {v:?} is not true or false", f.name)),
        }
    }

    fn id(&mut self, cmd: &str) -> ArgResult<String> {
        self.next()
            .ok_or_else(|| format!("{cmd}: missing container ID"))
    }

    fn end(&self, cmd: &str) -> ArgResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(extra) => Err(format!("{cmd}: unexpected argument {extra:?}")),
        }
    }
}

/// runc's rule: a rootless caller (not root, or root only inside a user
/// namespace that is not the real root's) keeps its state under
/// `$XDG_RUNTIME_DIR`, which is its own; everyone else under /run.
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let rootless = husk_runtime::caller::uid() != 0
        || (!husk_runtime::caller::in_initial_user_namespace()
            && std::env::var("USER").map_or(true, |u| u != "root"));
    match xdg {
        Some(dir) if rootless => PathBuf::from(dir).join("husk-runtime"),
        _ => PathBuf::from("/run/husk-runtime"),
    }
}

/// Parses the whole command line (without argv[0]).
pub fn parse(argv: Vec<String>) -> ArgResult<Cli> {
    let mut a = Args {
        items: argv,
        pos: 0,
    };
    let mut root = None;
    let mut cli = Cli {
        root: PathBuf::new(),
        log: None,
        log_format: "text".into(),
        debug: false,
        systemd_cgroup: false,
        command: Command::Help,
    };
    while let Some(f) = a.flag() {
        match f.name.as_str() {
            "root" => root = Some(PathBuf::from(a.value(&f)?)),
            "log" => cli.log = Some(PathBuf::from(a.value(&f)?)),
            "log-format" => {
                cli.log_format = a.value(&f)?;
                if cli.log_format != "text" && cli.log_format != "json" {
                    return Err(format!(
                        "--log-format: {:?} is not text or json",
                        cli.log_format
                    ));
                }
            }
            "debug" => cli.debug = Args::boolean(&f)?,
            "systemd-cgroup" => cli.systemd_cgroup = Args::boolean(&f)?,
            // runc's flags that change nothing here.
            "criu" | "rootless" => {
                if f.inline.is_none()
                    && a.peek()
                        .is_some_and(|v| !v.starts_with('-') && is_flag_value(v))
                {
                    a.next();
                }
            }
            "v" | "version" => {
                cli.command = Command::Version;
                return Ok(cli);
            }
            "h" | "help" => return Ok(cli),
            other => return Err(format!("unknown global flag --{other}")),
        }
    }
    // Who the caller is only matters without --root.
    cli.root = root.unwrap_or_else(default_root);
    let Some(cmd) = a.next() else {
        return Ok(cli);
    };
    cli.command = parse_command(&cmd, &mut a)?;
    Ok(cli)
}

/// Values `--rootless` and `--criu` may take, so a following ID is not eaten.
fn is_flag_value(v: &str) -> bool {
    matches!(v, "true" | "false" | "auto") || v.starts_with('/')
}

fn parse_command(cmd: &str, a: &mut Args) -> ArgResult<Command> {
    let command = match cmd {
        "spec" => {
            let (mut bundle, mut rootless) = (PathBuf::from("."), false);
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "b" | "bundle" => bundle = PathBuf::from(a.value(&f)?),
                    "rootless" => rootless = Args::boolean(&f)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            Command::Spec { bundle, rootless }
        }
        "create" => Command::Create(create_args(cmd, a, &mut |_, _| Ok(false))?),
        "run" => {
            let (mut detach, mut keep) = (false, false);
            let create = create_args(cmd, a, &mut |f, _| match f.name.as_str() {
                "d" | "detach" => {
                    detach = Args::boolean(f)?;
                    Ok(true)
                }
                "keep" => {
                    keep = Args::boolean(f)?;
                    Ok(true)
                }
                // husk's foreground run waits for its init by pidfd and
                // needs no subreaper: nothing to turn off.
                "no-subreaper" => Ok(true),
                _ => Ok(false),
            })?;
            if detach && keep {
                return Err("run: --keep and --detach cannot be used together".into());
            }
            Command::Run(RunArgs {
                create,
                detach,
                keep,
            })
        }
        "update" => return update_args(a),
        "events" => {
            let (mut stats, mut interval) = (false, std::time::Duration::from_secs(5));
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "stats" => stats = Args::boolean(&f)?,
                    "interval" => interval = duration(&a.value(&f)?)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            Command::Events {
                id: a.id(cmd)?,
                stats,
                interval,
            }
        }
        "pause" | "resume" => {
            no_flags(cmd, a)?;
            let id = a.id(cmd)?;
            if cmd == "pause" {
                Command::Pause { id }
            } else {
                Command::Resume { id }
            }
        }
        "start" | "state" => {
            no_flags(cmd, a)?;
            let id = a.id(cmd)?;
            if cmd == "start" {
                Command::Start { id }
            } else {
                Command::State { id }
            }
        }
        "kill" => {
            let mut all = false;
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "a" | "all" => all = Args::boolean(&f)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            let id = a.id(cmd)?;
            let signal = a.next().unwrap_or_else(|| "SIGTERM".into());
            Command::Kill { all, id, signal }
        }
        "delete" => {
            let mut force = false;
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "f" | "force" => force = Args::boolean(&f)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            Command::Delete {
                force,
                id: a.id(cmd)?,
            }
        }
        "list" | "ls" => {
            let (mut format, mut quiet) = ("table".to_string(), false);
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "f" | "format" => format = a.value(&f)?,
                    "q" | "quiet" => quiet = Args::boolean(&f)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            if format != "table" && format != "json" {
                return Err(format!("list: --format {format:?} is not table or json"));
            }
            Command::List { format, quiet }
        }
        "features" => Command::Features,
        "exec" => return exec_args(a).map(|e| Command::Exec(Box::new(e))),
        "ps" => {
            let mut format = "table".to_string();
            while let Some(f) = a.flag() {
                match f.name.as_str() {
                    "f" | "format" => format = a.value(&f)?,
                    other => return Err(unknown(cmd, other)),
                }
            }
            if format != "table" && format != "json" {
                return Err(format!("ps: --format {format:?} is not table or json"));
            }
            let id = a.id(cmd)?;
            let mut ps_args = Vec::new();
            while let Some(arg) = a.next() {
                ps_args.push(arg);
            }
            return Ok(Command::Ps {
                format,
                id,
                ps_args,
            });
        }
        "help" => Command::Help,
        other => {
            return Err(format!(
                "unknown command {other:?} (see husk-runtime --help)"
            ))
        }
    };
    a.end(cmd)?;
    Ok(command)
}

fn unknown(cmd: &str, flag: &str) -> String {
    format!("{cmd}: unknown flag --{flag}")
}

fn no_flags(cmd: &str, a: &mut Args) -> ArgResult<()> {
    match a.flag() {
        Some(f) => Err(unknown(cmd, &f.name)),
        None => Ok(()),
    }
}

/// Flags of `create`; `extra` handles the ones only `run` has.
fn create_args(
    cmd: &str,
    a: &mut Args,
    extra: &mut dyn FnMut(&Flag, &mut Args) -> ArgResult<bool>,
) -> ArgResult<CreateArgs> {
    let mut c = CreateArgs::default();
    while let Some(f) = a.flag() {
        match f.name.as_str() {
            "b" | "bundle" => c.bundle = Some(PathBuf::from(a.value(&f)?)),
            "pid-file" => c.pid_file = Some(PathBuf::from(a.value(&f)?)),
            "console-socket" => c.console_socket = Some(PathBuf::from(a.value(&f)?)),
            "no-pivot" => c.no_pivot = Args::boolean(&f)?,
            "no-new-keyring" => c.no_new_keyring = Args::boolean(&f)?,
            "preserve-fds" => {
                let v = a.value(&f)?;
                c.preserve_fds = v
                    .parse()
                    .map_err(|_| format!("--preserve-fds: {v:?} is not a number"))?;
            }
            other => {
                if !extra(&f, a)? {
                    return Err(unknown(cmd, other));
                }
            }
        }
    }
    c.id = a.id(cmd)?;
    Ok(c)
}

/// Flags of `exec`, then the ID and the command (which keeps its own flags).
fn exec_args(a: &mut Args) -> ArgResult<ExecArgs> {
    let mut e = ExecArgs::default();
    let r = &mut e.request;
    let mut opts = husk_runtime::plan::exec::ExecOptions::default();
    while let Some(f) = a.flag() {
        let path = |a: &mut Args| a.value(&f).map(PathBuf::from);
        match f.name.as_str() {
            "p" | "process" => opts.process_file = Some(path(a)?),
            "t" | "tty" => opts.tty = Args::boolean(&f)?,
            "console-socket" => r.console_socket = Some(path(a)?),
            "cwd" => opts.cwd = Some(path(a)?),
            "e" | "env" => opts.env.push(a.value(&f)?),
            "u" | "user" => opts.user = Some(a.value(&f)?),
            "g" | "additional-gids" => {
                let v = a.value(&f)?;
                opts.additional_gids.push(
                    v.parse()
                        .map_err(|_| format!("exec --additional-gids: {v:?} is not a number"))?,
                );
            }
            "c" | "cap" => opts.caps.push(a.value(&f)?),
            "no-new-privs" => opts.no_new_privs = Args::boolean(&f)?,
            "apparmor" => opts.apparmor = Some(a.value(&f)?),
            "process-label" => opts.process_label = Some(a.value(&f)?),
            "d" | "detach" => r.detach = Args::boolean(&f)?,
            "pid-file" => r.pid_file = Some(path(a)?),
            "preserve-fds" => {
                let v = a.value(&f)?;
                opts.preserve_fds = v
                    .parse()
                    .map_err(|_| format!("--preserve-fds: {v:?} is not a number"))?;
            }
            "ignore-paused" => r.ignore_paused = Args::boolean(&f)?,
            other => return Err(unknown("exec", other)),
        }
    }
    e.id = a.id("exec")?;
    while let Some(arg) = a.next() {
        opts.args.push(arg);
    }
    e.request.options = opts;
    Ok(e)
}

/// `update`'s flags, as runc's: a resources file (`-` for stdin) and/or
/// single values, which override the file's.
fn update_args(a: &mut Args) -> ArgResult<Command> {
    let mut res = serde_json::json!({});
    let mut set = |section: &str, key: &str, v: serde_json::Value| {
        res[section][key] = v;
    };
    let mut file: Option<String> = None;
    while let Some(f) = a.flag() {
        let name = f.name.clone();
        if name == "r" || name == "resources" {
            file = Some(a.value(&f)?);
            continue;
        }
        let v = a.value(&f)?;
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("update --{name}: {v:?} is not a number"))
        };
        match name.as_str() {
            "memory" => set("memory", "limit", size(&v, &name)?.into()),
            "memory-swap" => set("memory", "swap", size(&v, &name)?.into()),
            "memory-reservation" => set("memory", "reservation", size(&v, &name)?.into()),
            "cpu-shares" => set("cpu", "shares", int(&v)?.into()),
            "cpu-quota" => set("cpu", "quota", int(&v)?.into()),
            "cpu-period" => set("cpu", "period", int(&v)?.into()),
            "cpu-rt-period" => set("cpu", "realtimePeriod", int(&v)?.into()),
            "cpu-rt-runtime" => set("cpu", "realtimeRuntime", int(&v)?.into()),
            "cpuset-cpus" => set("cpu", "cpus", v.into()),
            "cpuset-mems" => set("cpu", "mems", v.into()),
            "pids-limit" => set("pids", "limit", int(&v)?.into()),
            other => return Err(unknown("update", other)),
        }
    }
    let id = a.id("update")?;
    a.end("update")?;
    let mut resources = match file {
        None => serde_json::json!({}),
        Some(path) => {
            let text = if path == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| format!("update -r -: {e}"))?;
                s
            } else {
                std::fs::read_to_string(&path).map_err(|e| format!("update -r {path}: {e}"))?
            };
            serde_json::from_str(&text).map_err(|e| format!("update -r {path}: {e}"))?
        }
    };
    if let (Some(base), Some(flags)) = (resources.as_object_mut(), res.as_object()) {
        for (section, values) in flags {
            let entry = base
                .entry(section.clone())
                .or_insert_with(|| serde_json::json!({}));
            for (k, v) in values.as_object().into_iter().flatten() {
                entry[k] = v.clone();
            }
        }
    }
    Ok(Command::Update { id, resources })
}

/// A duration like Go's: `5s`, `100ms`, `1m`, `1h`.
fn duration(v: &str) -> ArgResult<std::time::Duration> {
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("--interval: {v:?} is not a duration"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("--interval: {v:?} is not a duration")),
    };
    if !(0.001..=86_400.0).contains(&secs) {
        return Err(format!("--interval: {v:?} is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A size like runc's: bytes, or with a k/m/g/t suffix (powers of 1024); -1 for none.
fn size(v: &str, flag: &str) -> ArgResult<i64> {
    let lower = v.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches('b');
    let (num, mult) = match digits.chars().last() {
        Some('k') => (&digits[..digits.len() - 1], 1i64 << 10),
        Some('m') => (&digits[..digits.len() - 1], 1 << 20),
        Some('g') => (&digits[..digits.len() - 1], 1 << 30),
        Some('t') => (&digits[..digits.len() - 1], 1 << 40),
        _ => (digits, 1),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("update --{flag}: {v:?} is not a size"))?;
    if n < 0 {
        return Ok(-1);
    }
    n.checked_mul(mult)
        .ok_or_else(|| format!("update --{flag}: {v:?} is too large"))
}

/// A signal by name (with or without SIG) or number.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    const NAMES: [(&str, i32); 32] = [
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
        ("SYS", 31),
    ];
    if let Some((_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Some(*n);
    }
    if let Some(rest) = name.strip_prefix("RTMIN+") {
        return rest
            .parse::<i32>()
            .ok()
            .map(|k| 34 + k)
            .filter(|n| (34..=64).contains(n));
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

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

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

    #[test]
    fn containerd_style_command_lines() {
        let c = parse(args("--root /run/x --log /l --log-format json create --bundle /b --pid-file /p --console-socket /s c1")).unwrap();
        assert_eq!(c.root, PathBuf::from("/run/x"));
        assert_eq!(c.log_format, "json");
        let Command::Create(a) = c.command else {
            panic!()
        };
        assert_eq!(
            (a.bundle.unwrap(), a.id),
            (PathBuf::from("/b"), "c1".to_string())
        );
        let c = parse(args("-root=/r run -d -bundle=/b --preserve-fds=2 c2")).unwrap();
        let Command::Run(r) = c.command else { panic!() };
        assert!(r.detach);
        assert_eq!(r.create.preserve_fds, 2);
        let c = parse(args("kill --all c3 9")).unwrap();
        assert!(matches!(c.command, Command::Kill { all: true, ref signal, .. } if signal == "9"));
        let c = parse(args("delete -f c4")).unwrap();
        assert!(matches!(c.command, Command::Delete { force: true, .. }));
    }

    #[test]
    fn bad_command_lines_are_one_line_errors() {
        assert!(parse(args("create"))
            .unwrap_err()
            .contains("missing container ID"));
        assert!(parse(args("create --bogus c1"))
            .unwrap_err()
            .contains("--bogus"));
        assert!(parse(args("state a b"))
            .unwrap_err()
            .contains("unexpected argument"));
        assert!(parse(args("frobnicate"))
            .unwrap_err()
            .contains("unknown command"));
        assert!(parse(args("--log-format xml list")).is_err());
    }
}
