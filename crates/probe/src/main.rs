//! husk-probe: a small static program run inside test containers (test-only).
//!
//! Each subcommand reports one thing the process sees, as `key=value` lines on
//! stdout, so that integration tests can check from the inside what a config
//! field did. Errors are reported as `error=...` and exit status 1; a usage
//! error exits with 2. The probe uses only `std` and safe code, so it links
//! statically and runs in any root filesystem (busybox or empty).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `O_PATH` on Linux (same value on every architecture we build for).
const O_PATH: i32 = 0o10_000_000;

const USAGE: &str = "usage: husk-probe COMMAND [ARGS]
commands:
  ids                 uid, gid, euid, egid, fsuid, groups (from /proc/self/status)
  caps                CapInh, CapPrm, CapEff, CapBnd, CapAmb (hex)
  nnp                 NoNewPrivs
  umask               Umask
  fds                 open fds with their readlink targets
  rlimits [NAME...]   soft/hard limits from /proc/self/limits (e.g. nofile)
  cwd | env | hostname | domainname | oom | pid1
  ns                  readlink of every /proc/self/ns/* entry, as ns.NAME=
  mounts              /proc/self/mountinfo as is
  uptime              seconds since boot as the process's clock sees it
  stat PATH | lstat PATH   type, mode, rdev major:minor, uid, gid, size
  readlink PATH       target of a symlink
  cat PATH            contents of a file
  ls PATH             names in a directory, one per line
  sysctl NAME         value of /proc/sys/NAME (dots become slashes)
  write PATH [DATA]   try to write (create or truncate), report ok or errno
  append PATH DATA    try to append, report ok or errno
  exe-attack PATH GO  CVE-2019-5736: open PATH for writing, directly and by
                      re-opening an O_PATH handle once file GO exists (<=20s)
  exe-scan GO [SECS]   the same against every other process in our pid
                      namespace (e.g. the init of a container created into
                      it), held until GO exists or SECS (<=30) pass
  exit N              exit with status N
  sleep SECS          sleep, then exit 0
  run PROBE-CMD...    several commands in sequence, separated by `--`";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("run") {
        let mut status = ExitCode::SUCCESS;
        for group in args[1..].split(|a| a == "--") {
            if !group.is_empty() {
                status = dispatch(group);
            }
        }
        return status;
    }
    dispatch(&args)
}

fn dispatch(args: &[String]) -> ExitCode {
    let cmd = args.first().map_or("", String::as_str);
    let arg = |i: usize| args.get(i).map(String::as_str);
    let result = match (cmd, arg(1)) {
        ("ids", _) => ids(),
        ("caps", _) => status_fields(&["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]),
        ("nnp", _) => status_fields(&["NoNewPrivs"]),
        ("umask", _) => status_fields(&["Umask"]),
        ("fds", _) => fds(),
        ("rlimits", _) => rlimits(&args[1..]),
        ("cwd", _) => std::env::current_dir().map(|d| kv("cwd", d.display())),
        ("env", _) => {
            std::env::vars_os().for_each(|(k, v)| {
                println!("{}={}", k.to_string_lossy(), v.to_string_lossy());
            });
            Ok(())
        }
        ("hostname", _) => file_value("hostname", "/proc/sys/kernel/hostname"),
        ("domainname", _) => file_value("domainname", "/proc/sys/kernel/domainname"),
        ("oom", _) => file_value("oom_score_adj", "/proc/self/oom_score_adj"),
        ("pid1", _) => pid1(),
        ("ns", _) => ns(),
        ("mounts", _) => cat("/proc/self/mountinfo"),
        ("uptime", _) => uptime(),
        ("stat", Some(p)) => stat(p, true),
        ("lstat", Some(p)) => stat(p, false),
        ("readlink", Some(p)) => fs::read_link(p).map(|t| kv("target", t.display())),
        ("cat", Some(p)) => cat(p),
        ("ls", Some(p)) => ls(p),
        ("sysctl", Some(n)) => file_value(n, &format!("/proc/sys/{}", n.replace('.', "/"))),
        ("write", Some(p)) => try_write(p, arg(2).unwrap_or("probe\n"), false),
        ("append", Some(p)) => try_write(p, arg(2).unwrap_or("probe\n"), true),
        ("exe-attack", Some(p)) => exe_attack(p, arg(2)),
        ("exe-scan", Some(go)) => exe_scan(go, arg(2).and_then(|s| s.parse().ok()).unwrap_or(20)),
        ("exit", Some(n)) => return ExitCode::from(n.parse::<u8>().unwrap_or(255)),
        ("sleep", Some(s)) => {
            std::thread::sleep(Duration::from_secs_f64(s.parse().unwrap_or(1.0)));
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let _ = io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error={e}");
            ExitCode::from(1)
        }
    }
}

fn kv(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

/// `Key:\tvalue` lines of /proc/self/status, as a map.
fn proc_status() -> io::Result<BTreeMap<String, String>> {
    let text = fs::read_to_string("/proc/self/status")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect())
}

fn status_fields(keys: &[&str]) -> io::Result<()> {
    let status = proc_status()?;
    for key in keys {
        kv(key, status.get(*key).map_or("missing", String::as_str));
    }
    Ok(())
}

fn ids() -> io::Result<()> {
    let status = proc_status()?;
    let field = |k: &str, i: usize| -> String {
        status
            .get(k)
            .and_then(|v| v.split_whitespace().nth(i))
            .unwrap_or("?")
            .to_string()
    };
    kv("uid", field("Uid", 0));
    kv("euid", field("Uid", 1));
    kv("suid", field("Uid", 2));
    kv("fsuid", field("Uid", 3));
    kv("gid", field("Gid", 0));
    kv("egid", field("Gid", 1));
    let groups: Vec<&str> = status
        .get("Groups")
        .map(|g| g.split_whitespace().collect())
        .unwrap_or_default();
    kv("groups", groups.join(","));
    Ok(())
}

fn fds() -> io::Result<()> {
    // Collect the names first: the directory handle is closed once collected,
    // so its own fd no longer resolves and is skipped below.
    let mut names: Vec<u32> = fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    names.sort_unstable();
    let mut listed = Vec::new();
    for fd in names {
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            kv(&format!("fd.{fd}"), target.display());
            listed.push(fd.to_string());
        }
    }
    kv("fds", listed.join(","));
    Ok(())
}

/// Rows of /proc/self/limits whose name contains one of `wanted` (all if empty),
/// printed as `nofile=soft:hard` with the kernel's short resource names.
fn rlimits(wanted: &[String]) -> io::Result<()> {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "cpu"),
        ("Max file size", "fsize"),
        ("Max data size", "data"),
        ("Max stack size", "stack"),
        ("Max core file size", "core"),
        ("Max resident set", "rss"),
        ("Max processes", "nproc"),
        ("Max open files", "nofile"),
        ("Max locked memory", "memlock"),
        ("Max address space", "as"),
        ("Max file locks", "locks"),
        ("Max pending signals", "sigpending"),
        ("Max msgqueue size", "msgqueue"),
        ("Max nice priority", "nice"),
        ("Max realtime priority", "rtprio"),
        ("Max realtime timeout", "rttime"),
    ];
    let text = fs::read_to_string("/proc/self/limits")?;
    for line in text.lines().skip(1) {
        let Some((long, short)) = NAMES.iter().find(|(long, _)| line.starts_with(long)) else {
            continue;
        };
        if !wanted.is_empty() && !wanted.iter().any(|w| w.eq_ignore_ascii_case(short)) {
            continue;
        }
        let mut cols = line[long.len()..].split_whitespace();
        let soft = cols.next().unwrap_or("?");
        let hard = cols.next().unwrap_or("?");
        kv(short, format!("{soft}:{hard}"));
    }
    Ok(())
}

fn file_value(key: &str, path: &str) -> io::Result<()> {
    let value = fs::read_to_string(path)?;
    kv(key, value.trim_end());
    Ok(())
}

fn pid1() -> io::Result<()> {
    let status = proc_status()?;
    kv("pid", std::process::id());
    kv("ppid", status.get("PPid").map_or("?", String::as_str));
    kv("nspid", status.get("NSpid").map_or("?", String::as_str));
    Ok(())
}

fn ns() -> io::Result<()> {
    let mut names: Vec<String> = fs::read_dir("/proc/self/ns")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        match fs::read_link(format!("/proc/self/ns/{name}")) {
            Ok(t) => kv(&format!("ns.{name}"), t.display()),
            Err(e) => kv(&format!("ns.{name}"), format!("error:{}", errno(&e))),
        }
    }
    Ok(())
}

fn uptime() -> io::Result<()> {
    let text = fs::read_to_string("/proc/uptime")?;
    kv("uptime", text.split_whitespace().next().unwrap_or("?"));
    Ok(())
}

fn cat(path: &str) -> io::Result<()> {
    let mut data = Vec::new();
    fs::File::open(path)?.read_to_end(&mut data)?;
    io::stdout().write_all(&data)
}

fn ls(path: &str) -> io::Result<()> {
    let mut names: Vec<String> = fs::read_dir(path)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names.iter().for_each(|n| println!("{n}"));
    Ok(())
}

fn stat(path: &str, follow: bool) -> io::Result<()> {
    let meta = if follow {
        fs::metadata(path)?
    } else {
        fs::symlink_metadata(path)?
    };
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    };
    let rdev = meta.rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    kv("type", kind);
    kv("mode", format!("{:04o}", meta.mode() & 0o7777));
    kv("rdev", format!("{major}:{minor}"));
    kv("uid", meta.uid());
    kv("gid", meta.gid());
    kv("size", meta.size());
    Ok(())
}

fn errno(e: &io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), |n| format!("{n} ({e})"))
}

/// Never fails: the outcome is the report (`write=ok` or `write=errno N (...)`).
fn try_write(path: &str, data: &str, append: bool) -> io::Result<()> {
    let result = fs::OpenOptions::new()
        .write(true)
        .create(!append)
        .truncate(!append)
        .append(append)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()));
    match result {
        Ok(()) => kv("write", "ok"),
        Err(e) => kv("write", format!("errno {}", errno(&e))),
    }
    Ok(())
}

/// The CVE-2019-5736 attack, minus the payload: open `path` (a /proc/PID/exe
/// link) for writing; then hold an O_PATH handle on it, wait until the file
/// `go` appears (the test creates it once the runtime has let go of its
/// binary), and re-open the handle for writing through /proc/self/fd. Any
/// successful open appends a marker, so the host can see the damage.
fn exe_attack(path: &str, go: Option<&str>) -> io::Result<()> {
    let open_write = |p: &str| fs::OpenOptions::new().append(true).open(p);
    let report = |key: &str, r: io::Result<fs::File>| match r {
        Ok(mut f) => {
            let w = f.write_all(b"HUSK-PWNED");
            kv(key, "opened");
            kv(
                &format!("{key}.write"),
                w.map_or_else(|e| format!("errno {}", errno(&e)), |()| "ok".into()),
            );
        }
        Err(e) => kv(key, format!("errno {}", errno(&e))),
    };
    report("direct", open_write(path));
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_PATH)
        .open(path);
    let handle = match handle {
        Ok(h) => {
            kv("opath", "opened");
            h
        }
        Err(e) => {
            kv("opath", format!("errno {}", errno(&e)));
            return Ok(());
        }
    };
    if let Some(go) = go {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(go).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = io::stdout().flush();
    let fd_path = fd_path_of(&handle)?;
    report("reopen", open_write(&fd_path));
    Ok(())
}

fn open_for_append(path: &str) -> io::Result<fs::File> {
    fs::OpenOptions::new().append(true).open(path)
}

/// Tries to open `path` for writing and reports `KEY=opened|errno ...`;
/// a successful open also tries to write a marker (`KEY.write=...`).
fn report_write_open(key: &str, path: &str) {
    match open_for_append(path) {
        Ok(mut f) => {
            let w = f.write_all(b"HUSK-PWNED");
            kv(key, "opened");
            kv(
                &format!("{key}.write"),
                w.map_or_else(|e| format!("errno {}", errno(&e)), |()| "ok".into()),
            );
        }
        Err(e) => kv(key, format!("errno {}", errno(&e))),
    }
}

/// CVE-2019-5736 from a neighbour: until `go` exists (at most `secs`), every
/// new process of our pid namespace has its /proc/PID/exe opened for writing
/// and as an O_PATH handle; once `go` exists, the handles are re-opened for
/// writing through /proc/self/fd. Reports `scanning`, then per pid
/// `direct.PID`, `opath.PID` and `reopen.PID` lines.
fn exe_scan(go: &str, secs: u64) -> io::Result<()> {
    let me = std::process::id();
    let mut tried = std::collections::BTreeSet::new();
    let mut held = Vec::new();
    kv("scanning", me);
    let _ = io::stdout().flush();
    let deadline = Instant::now() + Duration::from_secs(secs.min(30));
    while !Path::new(go).exists() && Instant::now() < deadline {
        let pids: Vec<u32> = fs::read_dir("/proc")?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|p| *p != me && !tried.contains(p))
            .collect();
        for pid in pids {
            tried.insert(pid);
            let exe = format!("/proc/{pid}/exe");
            report_write_open(&format!("direct.{pid}"), &exe);
            match fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_PATH)
                .open(&exe)
            {
                Ok(h) => {
                    kv(&format!("opath.{pid}"), "opened");
                    held.push((pid, h));
                }
                Err(e) => kv(&format!("opath.{pid}"), format!("errno {}", errno(&e))),
            }
            let _ = io::stdout().flush();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (pid, handle) in &held {
        report_write_open(&format!("reopen.{pid}"), &fd_path_of(handle)?);
    }
    kv("done", held.len());
    Ok(())
}

/// /proc/self/fd/N for an open file: found by scanning, to stay in safe code.
fn fd_path_of(file: &fs::File) -> io::Result<String> {
    let want = file.metadata()?;
    for entry in fs::read_dir("/proc/self/fd")?.flatten() {
        let p = entry.path();
        if let Ok(m) = fs::metadata(&p) {
            if m.dev() == want.dev() && m.ino() == want.ino() {
                return Ok(p.display().to_string());
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "own O_PATH fd not found",
    ))
}
