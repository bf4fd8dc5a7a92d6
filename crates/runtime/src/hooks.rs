//! Running OCI hooks: the state JSON on stdin, the hook's own args and env,
//! and its timeout enforced with a pidfd.

use crate::{Error, Result};
use husk_sys::{fs as sysfs, process};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order; the first failure stops the list.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    let input = serde_json::to_vec(state).unwrap_or_default();
    for hook in hooks {
        run(kind, hook, &input)?;
    }
    Ok(())
}

fn run(kind: &'static str, hook: &Hook, input: &[u8]) -> Result<()> {
    let fail = |reason: String| Error::Hook {
        kind,
        path: hook.path().clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0).args(rest);
        }
    }
    // A hook with `env` gets exactly that environment; one without inherits
    // ours, as with runc (hooks such as GPU setup rely on PATH).
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its input may close stdin early: not an error.
        let _ = stdin.write_all(input);
    }
    let pid = child.id().cast_signed();
    let timeout = hook
        .timeout()
        .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(1)));
    if let Some(limit) = timeout {
        let pidfd = process::pidfd_open(pid).map_err(|e| fail(format!("pidfd_open: {e}")))?;
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("timed out after {}s", limit.as_secs())));
            }
            let mut fds = [sysfs::poll_in(pidfd.as_fd())];
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
            if sysfs::poll(&mut fds, ms).map_err(|e| fail(format!("poll: {e}")))? > 0 {
                break;
            }
        }
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(format!("exited with {status}")))
    }
}
