//! The systemd cgroup driver (`--systemd-cgroup`). This host has no systemd
//! as PID 1, so the real test boots systemd as PID 1 of a husk container
//! (the host's root bound read-only as its root) and runs husk-runtime
//! inside it: the scope systemd makes, its limits (unit properties and
//! cgroup files), what the inner container sees, update, pause, delete, a
//! failed create, and nothing left behind. On the host itself the flag is
//! a clear error.
#![allow(clippy::unwrap_used)]

mod common;
use common::{run_cmd, wait_until, Out, Test};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SYSTEMD: &str = "/lib/systemd/systemd";

fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

#[test]
fn systemd_cgroup_without_systemd_as_pid1_is_a_clear_error() {
    husk_only!();
    if booted() {
        eprintln!("skipped: systemd is PID 1 on this host");
        return;
    }
    let t = Test::new("sdhost");
    let b = t.bundle();
    b.save();
    let id = t.id();
    let out = t.rt(&["--systemd-cgroup", "run", "--bundle", b.path_str(), &id]);
    out.failed().stderr_mentions(&["--systemd-cgroup"]);
    out.stderr_mentions(&["PID 1"]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out}");
    t.assert_no_leftovers(&id, &b.path);
    // The path is checked first, wherever systemd is.
    let mut b = t.bundle();
    b.linux()["cgroupsPath"] = json!("/not/a/unit");
    b.save();
    let id = t.id();
    let out = t.rt(&["--systemd-cgroup", "create", "--bundle", b.path_str(), &id]);
    out.failed()
        .stderr_mentions(&["linux.cgroupsPath: \"/not/a/unit\""]);
    out.stderr_mentions(&["slice:prefix:name"]);
    t.assert_no_leftovers(&id, &b.path);
}

/// The outer container's bundle, outside the test's temp dir: its rootfs
/// is an rbind of the host's root, which nothing may ever delete through.
/// Drop: delete the systemd container, `umount -R`, remove the (then
/// empty) directories one by one.
struct SystemdBox<'a> {
    t: &'a Test,
    id: String,
    bundle: PathBuf,
}

impl SystemdBox<'_> {
    fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    fn mounted(&self) -> bool {
        let r = self.rootfs().to_string_lossy().into_owned();
        common::mount_points()
            .iter()
            .any(|m| m == &r || m.starts_with(&format!("{r}/")))
    }

    /// A command run inside the systemd container.
    fn exec(&self, args: &[&str]) -> Out {
        let mut all = vec!["exec", &self.id];
        all.extend_from_slice(args);
        self.t.rt(&all)
    }

    /// The husk-runtime under test, run inside with its own root.
    fn inner(&self, args: &[&str]) -> Out {
        let mut all = vec!["/run/husk-test/husk-runtime", "--root", "/run/husk-inner"];
        all.extend_from_slice(args);
        self.exec(&all)
    }

    /// `systemctl show UNIT -p ...` as a map.
    fn show(&self, unit: &str, props: &[&str]) -> std::collections::BTreeMap<String, String> {
        let mut args = vec!["systemctl", "show", unit];
        for p in props {
            args.extend_from_slice(&["-p", p]);
        }
        self.exec(&args).ok().kv()
    }
}

impl Drop for SystemdBox<'_> {
    fn drop(&mut self) {
        let t = Duration::from_secs(30);
        let _ = run_cmd(
            self.t.rt_cmd(&["delete", "--force", &self.id]),
            &self.t.dir,
            t,
        );
        for args in [&["-R"][..], &["-R", "-l"][..]] {
            if self.mounted() {
                let mut c = Command::new("umount");
                c.args(args).arg(self.rootfs());
                let _ = run_cmd(c, &self.t.dir, t);
            }
        }
        if self.mounted() {
            // Never remove anything below a live bind of the host's root.
            eprintln!(
                "{} is still mounted: left in place",
                self.rootfs().display()
            );
            return;
        }
        let _ = fs::remove_dir(self.rootfs());
        let _ = fs::remove_file(self.bundle.join("config.json"));
        let _ = fs::remove_dir(&self.bundle);
    }
}

/// runc's `spec` defaults, turned into a container that boots systemd:
/// the host's root read-only, a writable cgroupfs, /run and /tmp on tmpfs,
/// /run/systemd/system holding a single target, the test's dir at
/// /run/husk-test.
fn systemd_config(units: &Path, share: &Path) -> Value {
    let mut c = common::baseline_config();
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_ADMIN",
        "CAP_SYS_NICE",
        "CAP_MKNOD",
        "CAP_AUDIT_WRITE",
        "CAP_SETFCAP"
    ]);
    c["process"]["args"] = json!([SYSTEMD, "--unit=husk.target", "--log-target=console"]);
    c["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("container=husk"));
    c["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps, "ambient": []
    });
    c["process"]["noNewPrivileges"] = json!(false);
    c["hostname"] = json!("husk-systemd");
    let tmpfs = |dest: &str| {
        json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "mode=755"]})
    };
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
    mounts.extend([
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]}),
        tmpfs("/run"),
        json!({"destination": "/run/systemd/system", "type": "bind",
               "source": units, "options": ["rbind", "ro"]}),
        json!({"destination": "/run/husk-test", "type": "bind",
               "source": share, "options": ["rbind", "rw"]}),
        tmpfs("/tmp"),
        tmpfs("/var/tmp"),
    ]);
    c["linux"]["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
    c["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
        {"type": "network"}, {"type": "cgroup"}
    ]);
    let linux = c["linux"].as_object_mut().unwrap();
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    c
}

/// Boots systemd in a husk container and waits (bounded) until it runs.
fn boot_systemd(t: &Test) -> SystemdBox<'_> {
    let bundle = std::env::temp_dir().join(format!("husk-systemd-{}", std::process::id()));
    fs::create_dir_all(bundle.join("rootfs")).unwrap();
    let sd = SystemdBox {
        t,
        id: t.id(),
        bundle,
    };
    let rootfs = sd.rootfs();
    let mut c = Command::new("mount");
    c.args(["--rbind", "/"]).arg(&rootfs);
    run_cmd(c, &t.dir, Duration::from_secs(30)).ok();
    let mut c = Command::new("mount");
    c.arg("--make-rslave").arg(&rootfs);
    run_cmd(c, &t.dir, Duration::from_secs(30)).ok();
    let units = t.dir.join("units");
    fs::create_dir_all(&units).unwrap();
    fs::write(units.join("husk.target"), "[Unit]\nDescription=husk test\n").unwrap();
    // The binary under test, where the container can reach it (its /tmp
    // is a tmpfs, and the target dir may be anywhere).
    fs::copy(common::runtime_bin(), t.dir.join("husk-runtime")).unwrap();
    let mut config = systemd_config(&units, &t.dir);
    config["root"] = json!({"path": rootfs, "readonly": true});
    fs::write(
        sd.bundle.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let bundle = sd.bundle.to_str().unwrap();
    t.rt(&["run", "-d", "--bundle", bundle, &sd.id]).ok();
    let mut last = String::new();
    let up = wait_until(Duration::from_secs(60), || {
        let out = sd.exec(&["systemctl", "is-system-running"]);
        last = out.stdout.trim().to_string();
        last == "running" || last == "degraded"
    });
    assert!(up, "systemd did not come up: {last:?}");
    sd
}

/// Inside: cgroup files of the scope, by controller (v1) or in cgroup2.
fn scope_file(sd: &SystemdBox, v1: &str, file: &str, dir: &str) -> String {
    let path = if Path::new("/sys/fs/cgroup").join(v1).is_dir() {
        format!("/sys/fs/cgroup/{v1}/{dir}/{file}")
    } else {
        format!("/sys/fs/cgroup/{dir}/{file}")
    };
    sd.exec(&["cat", &path]).ok().stdout.trim().to_string()
}

#[test]
fn systemd_scope_for_a_container_inside_systemd() {
    husk_only!();
    if !Path::new(SYSTEMD).is_file() {
        eprintln!("skipped: {SYSTEMD} is missing (apt-get install systemd)");
        return;
    }
    let t = Test::new("sdscope");
    let sd = boot_systemd(&t);
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let scope = "/system.slice/husk-inner1.scope";

    let mut b = t.bundle();
    b.args(&["/bin/sleep", "300"]);
    b.linux()["cgroupsPath"] = json!("system.slice:husk:inner1");
    b.linux()["resources"]["memory"] = json!({"limit": 64 << 20});
    b.linux()["resources"]["pids"] = json!({"limit": 32});
    b.save();
    let inner_bundle = format!(
        "/run/husk-test/{}",
        b.path.file_name().unwrap().to_str().unwrap()
    );
    sd.inner(&[
        "--systemd-cgroup",
        "run",
        "-d",
        "--bundle",
        &inner_bundle,
        "inner1",
    ])
    .ok();

    // systemd made the scope with runc's properties (MemoryLimit on a v1
    // memory hierarchy, as runc), and husk wrote the files too.
    let memory_key = if v1 { "MemoryLimit" } else { "MemoryMax" };
    let props = sd.show(
        "husk-inner1.scope",
        &[
            "ActiveState",
            memory_key,
            "TasksMax",
            "ControlGroup",
            "Delegate",
        ],
    );
    assert_eq!(props["ActiveState"], "active", "{props:?}");
    assert_eq!(props[memory_key], (64u64 << 20).to_string(), "{props:?}");
    assert_eq!(props["TasksMax"], "32", "{props:?}");
    assert_eq!(props["ControlGroup"], scope, "{props:?}");
    assert_eq!(props["Delegate"], "yes", "{props:?}");
    let mem_file = if v1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    assert_eq!(
        scope_file(&sd, "memory", mem_file, scope),
        (64u64 << 20).to_string()
    );
    assert_eq!(scope_file(&sd, "pids", "pids.max", scope), "32");
    // The container's processes are in the scope, in every hierarchy.
    let seen = sd.inner(&["exec", "inner1", "cat", "/proc/self/cgroup"]);
    let lines: Vec<&str> = seen.ok().stdout.lines().collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l.ends_with(scope)), "{seen}");
    let state = sd.exec(&["cat", "/run/husk-inner/inner1/state.json"]);
    assert_eq!(state.ok().json()["systemdUnit"], "husk-inner1.scope");

    // update: the unit's properties and the files.
    sd.inner(&["update", "--pids-limit", "40", "inner1"]).ok();
    assert_eq!(
        sd.show("husk-inner1.scope", &["TasksMax"])["TasksMax"],
        "40"
    );
    assert_eq!(scope_file(&sd, "pids", "pids.max", scope), "40");
    // ps, pause and resume work through the recorded directories.
    let ps = sd.inner(&["ps", "--format", "json", "inner1"]);
    assert_eq!(ps.ok().json().as_array().map(Vec::len), Some(1), "{ps}");
    sd.inner(&["pause", "inner1"]).ok();
    assert_eq!(
        sd.inner(&["state", "inner1"]).ok().json()["status"],
        "paused"
    );
    sd.inner(&["resume", "inner1"]).ok();

    // delete: the unit is gone and so are its directories.
    sd.inner(&["delete", "-f", "inner1"]).ok();
    let gone = sd.show("husk-inner1.scope", &["LoadState", "ActiveState"]);
    assert_eq!(gone["ActiveState"], "inactive", "{gone:?}");
    let dirs = sd.exec(&["find", "/sys/fs/cgroup", "-name", "husk-inner*"]);
    assert_eq!(dirs.ok().stdout.trim(), "", "cgroups left behind");

    // A create that fails after systemd made the unit (a value the kernel
    // refuses) stops it and removes the directories again.
    b.linux()["cgroupsPath"] = json!("system.slice:husk:inner2");
    b.linux()["resources"] = json!({"cpu": {"cpus": "4096-4100"}});
    b.save();
    let out = sd.inner(&[
        "--systemd-cgroup",
        "run",
        "-d",
        "--bundle",
        &inner_bundle,
        "inner2",
    ]);
    out.failed().stderr_mentions(&["cpuset.cpus"]);
    let unit = sd.show("husk-inner2.scope", &["ActiveState"]);
    assert_eq!(unit["ActiveState"], "inactive", "{unit:?}");
    let dirs = sd.exec(&["find", "/sys/fs/cgroup", "-name", "husk-inner*"]);
    assert_eq!(dirs.ok().stdout.trim(), "", "cgroups left behind: {out}");

    // A path not in runc's form names the field; nothing is made.
    b.linux()["cgroupsPath"] = json!("/husk/inner3");
    b.linux()["resources"] = json!({});
    b.save();
    let out = sd.inner(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        &inner_bundle,
        "inner3",
    ]);
    out.failed().stderr_mentions(&["linux.cgroupsPath"]);
    let list = sd.inner(&["list", "-q"]);
    assert_eq!(list.ok().stdout.trim(), "", "{list}");

    // The systemd container goes with everything systemd made inside it.
    let id = sd.id.clone();
    let bundle = sd.bundle.clone();
    drop(sd);
    assert!(!bundle.exists(), "{} left behind", bundle.display());
    t.assert_no_leftovers(&id, &bundle);
    let inner = common::cgroups_named("husk-inner1.scope");
    assert!(inner.is_empty(), "{inner:?}");
}
