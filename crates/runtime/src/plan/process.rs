//! The container's process: arguments, environment, identity, limits.

use super::caps::{self, CapSets};
use crate::{Error, Result};
use oci_spec::runtime::{PosixRlimitType, Process};
use std::ffi::CString;
use std::path::PathBuf;

/// Everything about the process that init execs.
#[derive(Clone, Debug)]
pub struct ProcessPlan {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    /// The PATH used to look up `args[0]` (from `env`, or a default).
    pub path_var: String,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    /// (resource number, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The spec's names of `rlimits`, for messages.
    pub rlimit_names: Vec<String>,
    pub caps: CapSets,
    /// Capabilities asked for that our own bounding set lacks: dropped, and
    /// named in a warning.
    pub caps_not_held: Vec<String>,
    pub no_new_privs: bool,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    /// (rows, cols) for the pty.
    pub console_size: Option<(u16, u16)>,
    /// Fds 3 .. 3+N that survive into the container.
    pub preserve_fds: u32,
    /// `process.apparmorProfile`, applied at exec.
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`, applied at exec.
    pub selinux_label: Option<String>,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn c_string(field: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::config(field, "contains a NUL byte"))
}

impl ProcessPlan {
    /// Plans `process`; `preserve_fds` comes from the command line.
    pub fn from_spec(p: Option<&Process>, preserve_fds: u32) -> Result<Self> {
        let p = p.ok_or_else(|| Error::config("process", "missing"))?;
        let args: Vec<String> = p.args().clone().unwrap_or_default();
        if args.is_empty() || args[0].is_empty() {
            return Err(Error::config("process.args", "must name a program to run"));
        }
        let args = args
            .iter()
            .enumerate()
            .map(|(i, a)| c_string(&format!("process.args[{i}]"), a))
            .collect::<Result<Vec<_>>>()?;
        let env_list = p.env().clone().unwrap_or_default();
        let mut env = Vec::with_capacity(env_list.len());
        let mut path_var = DEFAULT_PATH.to_string();
        for (i, e) in env_list.iter().enumerate() {
            let field = format!("process.env[{i}]");
            let Some((name, value)) = e.split_once('=') else {
                return Err(Error::config(field, format!("{e:?} is not NAME=VALUE")));
            };
            if name.is_empty() {
                return Err(Error::config(field, "empty variable name"));
            }
            if name == "PATH" {
                path_var = value.to_string();
            }
            env.push(c_string(&field, e)?);
        }
        if !p.cwd().is_absolute() {
            return Err(Error::config(
                "process.cwd",
                format!("{} must be an absolute path", p.cwd().display()),
            ));
        }
        let user = p.user();
        let mut rlimits: Vec<(u32, u64, u64)> = Vec::new();
        let mut rlimit_names = Vec::new();
        for (i, r) in p.rlimits().iter().flatten().enumerate() {
            let res = rlimit_number(r.typ());
            if rlimits.iter().any(|(n, _, _)| *n == res) {
                return Err(Error::config(
                    format!("process.rlimits[{i}].type"),
                    format!("{} listed twice", r.typ()),
                ));
            }
            if r.soft() > r.hard() {
                return Err(Error::config(
                    format!("process.rlimits[{i}]"),
                    format!(
                        "{}: soft limit {} is above hard limit {}",
                        r.typ(),
                        r.soft(),
                        r.hard()
                    ),
                ));
            }
            rlimits.push((res, r.soft(), r.hard()));
            rlimit_names.push(r.typ().to_string());
        }
        if let Some(adj) = p.oom_score_adj() {
            if !(-1000..=1000).contains(&adj) {
                return Err(Error::config(
                    "process.oomScoreAdj",
                    "must be between -1000 and 1000",
                ));
            }
        }
        let mut caps = CapSets::from_spec(p.capabilities().as_ref(), caps::last_cap())?;
        let caps_not_held = caps.limit_to(caps::own_bounding());
        Ok(ProcessPlan {
            args,
            env,
            path_var,
            cwd: p.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
            rlimits,
            rlimit_names,
            caps,
            caps_not_held,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            oom_score_adj: p.oom_score_adj(),
            terminal: p.terminal().unwrap_or(false),
            console_size: p.console_size().as_ref().map(|b| {
                (
                    u16::try_from(b.height()).unwrap_or(u16::MAX),
                    u16::try_from(b.width()).unwrap_or(u16::MAX),
                )
            }),
            preserve_fds,
            apparmor_profile: p.apparmor_profile().clone().filter(|s| !s.is_empty()),
            selinux_label: p.selinux_label().clone().filter(|s| !s.is_empty()),
        })
    }
}

/// The `RLIMIT_*` number of a spec rlimit type.
pub fn rlimit_number(t: PosixRlimitType) -> u32 {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Result<ProcessPlan> {
        let p: Process = serde_json::from_str(json).unwrap();
        ProcessPlan::from_spec(Some(&p), 0)
    }

    #[test]
    fn path_comes_from_env() {
        let p = process(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["PATH=/opt/bin","A=b"]}"#,
        )
        .unwrap();
        assert_eq!(p.path_var, "/opt/bin");
        assert_eq!(p.env.len(), 2);
    }

    #[test]
    fn bad_processes_are_refused() {
        for (json, field) in [
            (
                r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}"#,
                "process.args",
            ),
            (
                r#"{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}"#,
                "process.cwd",
            ),
            (
                r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"env":["NOEQUALS"]}"#,
                "process.env[0]",
            ),
            (
                r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}]}"#,
                "process.rlimits[0]",
            ),
            (
                r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"oomScoreAdj":5000}"#,
                "process.oomScoreAdj",
            ),
        ] {
            let e = process(json).unwrap_err().to_string();
            assert!(e.contains(field), "{json}: {e}");
        }
    }
}
