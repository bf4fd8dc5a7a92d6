//! What survives between commands: one directory per container under the
//! runtime root, holding `state.json` (written atomically) and serving as the
//! container's lock. Status is a type with one transition check.

use crate::{Error, Result};
use husk_sys::fs as sysfs;
use oci_spec::runtime::Hook;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The OCI status of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The spec's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Operations whose validity depends on the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Kill,
    Delete,
    Exec,
    Pause,
    Resume,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Kill => "kill",
            Action::Delete => "delete",
            Action::Exec => "exec",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }

    /// The one transition table: may `self` happen in `status`?
    pub fn allowed_in(self, status: Status) -> bool {
        use Status as S;
        match self {
            Action::Start => status == S::Created,
            Action::Kill => matches!(status, S::Created | S::Running | S::Paused),
            Action::Delete => status == S::Stopped,
            Action::Exec => matches!(status, S::Created | S::Running),
            Action::Pause => status == S::Running,
            Action::Resume => status == S::Paused,
        }
    }
}

/// The state file of one container.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    /// Status as last written; [`Record::status`] corrects it by looking at the process.
    pub status: Status,
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/PID/stat): tells our process
    /// from a later one that reused the number.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: u32,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
    #[serde(default)]
    pub poststart: Vec<Hook>,
    /// The container's cgroup directories (removed on delete).
    #[serde(default)]
    pub cgroup: Vec<PathBuf>,
    /// With the systemd driver: the container's unit (stopped on delete,
    /// its properties set on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// The device rules every container gets, re-applied after the device
    /// rules of an `update`.
    #[serde(default)]
    pub device_rules: Vec<oci_spec::runtime::LinuxDeviceCgroup>,
}

impl Record {
    /// The status, corrected by looking at the process: an exited process
    /// (even an unreaped zombie) or a reused pid means `stopped`.
    pub fn status(&self) -> Status {
        if self.status == Status::Creating || self.status == Status::Stopped {
            return self.status;
        }
        match process_start_time(self.pid) {
            Some((start, state)) if start == self.pid_start && state != 'Z' && state != 'X' => {
                self.status
            }
            _ => Status::Stopped,
        }
    }

    /// Checks the transition table, with an error naming the status.
    pub fn check(&self, action: Action) -> Result<Status> {
        let status = self.status();
        if action.allowed_in(status) {
            Ok(status)
        } else {
            Err(Error::BadState {
                id: self.id.clone(),
                status: status.as_str().to_string(),
                action: action.verb(),
            })
        }
    }

    /// The state a hook reads on stdin: the status of its stage and the
    /// pid, even if the process has already exited.
    pub fn hook_state(&self, status: Status) -> serde_json::Value {
        let mut v = self.oci_state();
        v["status"] = status.as_str().into();
        v["pid"] = self.pid.into();
        v
    }

    /// The OCI state document (what `state` prints).
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
        });
        if status != Status::Stopped {
            v["pid"] = self.pid.into();
        } else {
            v["pid"] = 0.into();
        }
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

/// (start time, state letter) of a process, from /proc/PID/stat.
pub fn process_start_time(pid: i32) -> Option<(u64, char)> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// The directory of one container, held locked while this value lives.
#[derive(Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    pub id: String,
    dir: Option<OwnedFd>,
    /// Remove the directory on drop (a create that did not finish).
    remove_on_drop: bool,
}

impl ContainerDir {
    /// Creates `<root>/<id>` for a new container; an existing one is an error.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io("create runtime root", root, e))?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()));
            }
            Err(e) => return Err(Error::io("create state directory", &path, e)),
        }
        let mut d = Self::open_path(path, id)?;
        d.remove_on_drop = true;
        Ok(d)
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        crate::plan::validate_id(id)?;
        let path = root.join(id);
        if !path.join("state.json").exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Self::open_path(path, id)
    }

    fn open_path(path: PathBuf, id: &str) -> Result<Self> {
        let dir = sysfs::open(&path, sysfs::O_RDONLY | sysfs::O_DIRECTORY, 0)
            .map_err(|e| Error::sys("open", path.display(), e))?;
        sysfs::lock_exclusive(dir.as_fd()).map_err(|e| Error::sys("lock", path.display(), e))?;
        Ok(ContainerDir {
            path,
            id: id.to_string(),
            dir: Some(dir),
            remove_on_drop: false,
        })
    }

    /// In a forked child: close our copy of the locked fd (the lock belongs
    /// to the open file, which would otherwise stay locked while the child
    /// lives) and never remove the directory from here.
    pub fn forget_in_child(&mut self) {
        self.dir = None;
        self.remove_on_drop = false;
    }

    /// Releases the lock (and the fd) while keeping the value, so other
    /// commands can act on the container while `run` waits in the foreground.
    pub fn unlock(&mut self) {
        self.dir = None;
    }

    /// Takes the lock again after [`ContainerDir::unlock`].
    pub fn relock(&mut self) -> Result<()> {
        let dir = sysfs::open(&self.path, sysfs::O_RDONLY | sysfs::O_DIRECTORY, 0)
            .map_err(|e| Error::sys("open", self.path.display(), e))?;
        sysfs::lock_exclusive(dir.as_fd())
            .map_err(|e| Error::sys("lock", self.path.display(), e))?;
        self.dir = Some(dir);
        Ok(())
    }

    /// Keeps the directory when this value is dropped (create succeeded).
    pub fn keep(&mut self) {
        self.remove_on_drop = false;
    }

    /// Marks the directory for removal when dropped (delete).
    pub fn remove_when_dropped(&mut self) {
        self.remove_on_drop = true;
    }

    /// The directory as a path reachable through our own fd, short enough for
    /// a unix socket address whatever the length of `--root`.
    pub fn fd_path(&self, name: &str) -> PathBuf {
        use std::os::fd::AsRawFd;
        let fd = self.dir.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        PathBuf::from(format!("/proc/self/fd/{fd}/{name}"))
    }

    /// Reads the state file.
    pub fn load(&self) -> Result<Record> {
        let p = self.path.join("state.json");
        let text = std::fs::read(&p).map_err(|e| Error::io("read", &p, e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::config(p.display().to_string(), e.to_string()))
    }

    /// Writes the state file atomically (temp file, rename).
    pub fn save(&self, rec: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(|e| Error::Usage(e.to_string()))?;
        self.write_file("state.json", &bytes)
    }

    /// Keeps the config the container was created from (`exec` reads it
    /// from here, as runc reads its saved config: later edits of the
    /// bundle's file change nothing).
    pub fn save_config(&self, text: &[u8]) -> Result<()> {
        self.write_file("config.json", text)
    }

    /// The saved config's path (see [`ContainerDir::save_config`]).
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let dst = self.path.join(name);
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("write", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| Error::io("rename", &dst, e))
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes `<root>/<id>` when it holds no state file (a create that was
/// killed half-way), under the container's lock so that a create still in
/// progress is not disturbed.
pub fn remove_stale(root: &Path, id: &str) -> Result<()> {
    crate::plan::validate_id(id)?;
    let path = root.join(id);
    let Ok(dir) = sysfs::open(&path, sysfs::O_RDONLY | sysfs::O_DIRECTORY, 0) else {
        return Ok(());
    };
    if sysfs::try_lock_exclusive(dir.as_fd()).map_err(|e| Error::sys("lock", path.display(), e))?
        && !path.join("state.json").exists()
    {
        std::fs::remove_dir_all(&path).map_err(|e| Error::io("remove", &path, e))?;
    }
    Ok(())
}

/// Every container under `root`, sorted by ID.
pub fn list(root: &Path) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read", root, e)),
    };
    for entry in entries.flatten() {
        let p = entry.path().join("state.json");
        if let Ok(text) = std::fs::read(&p) {
            if let Ok(rec) = serde_json::from_slice::<Record>(&text) {
                out.push(rec);
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_table() {
        assert!(Action::Start.allowed_in(Status::Created));
        assert!(!Action::Start.allowed_in(Status::Running));
        assert!(!Action::Delete.allowed_in(Status::Running));
        assert!(Action::Delete.allowed_in(Status::Stopped));
        assert!(!Action::Kill.allowed_in(Status::Stopped));
    }

    #[test]
    fn our_own_process_is_alive_and_a_bogus_one_is_not() {
        let me = std::process::id().cast_signed();
        let (start, state) = process_start_time(me).unwrap();
        assert_ne!(state, 'Z');
        let rec = Record {
            oci_version: "1.2.0".into(),
            id: "x".into(),
            status: Status::Running,
            pid: me,
            pid_start: start,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: 0,
            annotations: BTreeMap::new(),
            poststop: vec![],
            poststart: vec![],
            cgroup: vec![],
            systemd_unit: None,
            device_rules: vec![],
        };
        assert_eq!(rec.status(), Status::Running);
        let reused = Record {
            pid_start: start + 1,
            ..rec
        };
        assert_eq!(reused.status(), Status::Stopped);
    }
}
