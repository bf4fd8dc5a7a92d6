//! Planning `exec`: the process to start inside a running container, built
//! from `--process` JSON or from the command line over the container's own
//! process settings, as runc does.

use super::ProcessPlan;
use crate::{Error, Result};
use oci_spec::runtime::{Capability, Process, Spec};
use std::path::PathBuf;
use std::str::FromStr;

/// What `exec` was asked for.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    /// `-p FILE`: a runtime-spec process object.
    pub process_file: Option<PathBuf>,
    /// The command and its arguments (without `-p`).
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    /// `NAME=VALUE` entries that add to or replace the container's.
    pub env: Vec<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the container's bounding, effective and permitted sets.
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: u32,
    /// `--apparmor`: the AppArmor profile for the process.
    pub apparmor: Option<String>,
    /// `--process-label`: the SELinux label for the process.
    pub process_label: Option<String>,
}

/// The exec'd process, planned.
pub fn plan_exec_process(spec: &Spec, o: &ExecOptions) -> Result<ProcessPlan> {
    let process = match &o.process_file {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
            serde_json::from_slice::<Process>(&text).map_err(|e| {
                let field = crate::json_path::at(&text, e.line(), e.column());
                Error::config(format!("{}: {field}", path.display()), e.to_string())
            })?
        }
        None => from_command_line(spec, o)?,
    };
    ProcessPlan::from_spec(Some(&process), o.preserve_fds)
}

fn from_command_line(spec: &Spec, o: &ExecOptions) -> Result<Process> {
    if o.args.is_empty() {
        return Err(Error::Usage(
            "exec: give a command to run, or --process FILE".into(),
        ));
    }
    let mut p = spec
        .process()
        .clone()
        .ok_or_else(|| Error::config("process", "missing"))?;
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    p.set_console_size(None);
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &o.env {
        let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n);
        env.retain(|old| old.split_once('=').map_or(old.as_str(), |(n, _)| n) != name);
        env.push(e.clone());
    }
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let num = |s: &str, what: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::Usage(format!("exec --user: {what} {s:?} is not a number")))
        };
        user.set_uid(num(uid, "uid")?);
        user.set_gid(match gid {
            Some(g) => num(g, "gid")?,
            None => 0,
        });
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let cap = Capability::from_str(name.trim_start_matches("CAP_"))
                .map_err(|_| Error::Usage(format!("exec --cap: unknown capability {name:?}")))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor.clone());
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label.clone());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        crate::spec::parse(
            br#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"user":{"uid":5,"gid":6},
            "cwd":"/srv","args":["sh"],"env":["PATH=/bin","A=1"],
            "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}}}"#,
        )
        .unwrap()
    }

    #[test]
    fn command_line_overrides_the_containers_process() {
        let o = ExecOptions {
            args: vec!["id".into()],
            env: vec!["A=2".into(), "B=3".into()],
            user: Some("7:8".into()),
            caps: vec!["CAP_CHOWN".into()],
            ..ExecOptions::default()
        };
        let p = plan_exec_process(&spec(), &o).unwrap();
        assert_eq!(p.args[0].to_str().unwrap(), "id");
        let env: Vec<_> = p
            .env
            .iter()
            .map(|e| e.to_str().unwrap().to_string())
            .collect();
        assert_eq!(env, ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((p.uid, p.gid), (7, 8));
        assert_eq!(p.cwd, PathBuf::from("/srv"));
        assert_eq!(p.caps.bounding, (1 << 5) | 1);
        assert_eq!(p.caps.inheritable, 0);
    }

    #[test]
    fn bad_exec_options_are_named() {
        let o = ExecOptions {
            args: vec!["id".into()],
            user: Some("x".into()),
            ..ExecOptions::default()
        };
        assert!(plan_exec_process(&spec(), &o)
            .unwrap_err()
            .to_string()
            .contains("--user"));
        let o = ExecOptions {
            args: vec!["id".into()],
            caps: vec!["CAP_FLY".into()],
            ..ExecOptions::default()
        };
        assert!(plan_exec_process(&spec(), &o)
            .unwrap_err()
            .to_string()
            .contains("CAP_FLY"));
        assert!(plan_exec_process(&spec(), &ExecOptions::default()).is_err());
    }
}
