//! Helpers for the black-box tests of `husk-runtime` (runs in the test process).
//!
//! A [`Test`] owns everything one test makes: a temp dir holding bundles, a
//! private `--root` for the runtime, and the container IDs it handed out. Its
//! `Drop` kills and force-deletes those containers, unmounts whatever is left
//! under the temp dir and removes it — also when the test panics.
//!
//! The runtime under test is `$HUSK_TEST_RUNTIME` (default: the husk-runtime
//! binary Cargo built); the probe is `$HUSK_TEST_PROBE` (default: husk-probe
//! next to it). `HUSK_TEST_RUNTIME=/usr/sbin/runc cargo test -p husk-runtime`
//! runs the suite against runc.
#![allow(dead_code, clippy::unwrap_used)]

pub mod subid_user;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Upper bound for any single runtime command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The runtime binary under test.
pub fn runtime_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(
        || match std::env::var_os("HUSK_TEST_RUNTIME").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_BIN_EXE_husk-runtime")),
        },
    )
    .clone()
}

/// True when the runtime under test is runc: tests of husk-only behaviour skip.
pub fn is_runc() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("runc"))
}

/// Skips the calling test (returns early) when running against runc.
#[macro_export]
macro_rules! husk_only {
    () => {
        if $crate::common::is_runc() {
            eprintln!("skipped: husk-only behaviour, runtime under test is runc");
            return;
        }
    };
}

/// The static probe binary copied into every rootfs.
pub fn probe_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HUSK_TEST_PROBE").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        let mut candidates =
            vec![Path::new(env!("CARGO_BIN_EXE_husk-runtime")).with_file_name("husk-probe")];
        if let Ok(exe) = std::env::current_exe() {
            if let Some(deps) = exe.parent() {
                candidates.push(deps.with_file_name("husk-probe"));
            }
        }
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "husk-probe not found (looked at {candidates:?}); build it first with \
                     `cargo build -p husk-probe` or set HUSK_TEST_PROBE"
                )
            })
    })
    .clone()
}

fn busybox_bin() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox not found: apt-get install busybox-static")
}

fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(busybox_bin()).arg("--list").output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|a| !a.is_empty() && !a.contains('/') && a != "busybox")
            .collect()
    })
}

/// The result of one runtime (or other) command.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole story unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panics unless the command exited non-zero.
    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "command should have failed: {self}"
        );
        self
    }

    /// `key=value` lines of stdout, the probe's report format.
    pub fn kv(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The value of `key` in the probe's report.
    #[track_caller]
    pub fn get(&self, key: &str) -> String {
        self.kv()
            .remove(key)
            .unwrap_or_else(|| panic!("no `{key}=` in output of {self}"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    /// Asserts that stderr (lower-cased) contains at least one of `words`.
    #[track_caller]
    pub fn stderr_mentions(&self, words: &[&str]) -> &Self {
        let err = format!("{}{}", self.stderr, self.stdout).to_lowercase();
        assert!(
            words.iter().any(|w| err.contains(&w.to_lowercase())),
            "error output should mention one of {words:?}: {self}"
        );
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exit={:?} signal={:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.what, self.code, self.signal, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion within `timeout`, stdout and stderr captured to
/// files in `dir` (files, not pipes: a container keeps a pipe open after
/// `create` returns, which would hang a reader).
pub fn run_cmd(mut cmd: Command, dir: &Path, timeout: Duration) -> Out {
    let what = format!("{cmd:?}");
    let name = unique("out");
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let status = wait_timeout(&mut child, timeout)
        .unwrap_or_else(|| panic!("{what} did not finish within {timeout:?}"));
    let read = |p: &Path| {
        let s = String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        let _ = fs::remove_file(p);
        s
    };
    use std::os::unix::process::ExitStatusExt;
    Out {
        code: status.code(),
        signal: status.signal(),
        stdout: read(&out_path),
        stderr: read(&err_path),
        what,
    }
}

/// Waits for `child` at most `timeout`; on timeout kills it and returns None.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Mount points (unescaped) of the calling process's mount namespace.
pub fn mount_points() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .collect()
}

fn unescape_mountinfo(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = (0..3).filter_map(|_| chars.next()).collect();
            if let Ok(n) = u8::from_str_radix(&code, 8) {
                out.push(char::from(n));
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

/// Unmounts (lazily) every mount point at or under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    for _ in 0..10 {
        let mut points: Vec<String> = mount_points()
            .into_iter()
            .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// The host's namespace link for `kind`, e.g. `net:[4026531840]`.
pub fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// One test's world: temp dir, runtime root, containers; cleaned up on drop.
pub struct Test {
    pub name: String,
    pub dir: PathBuf,
    pub root: PathBuf,
    ids: std::sync::Mutex<Vec<String>>,
    bundles: AtomicUsize,
}

impl Test {
    pub fn new(name: &str) -> Test {
        let dir = std::env::temp_dir().join("husk-tests").join(unique(name));
        let root = dir.join("runtime-root");
        fs::create_dir_all(&root).unwrap();
        Test {
            name: name.to_string(),
            dir,
            root,
            ids: std::sync::Mutex::new(Vec::new()),
            bundles: AtomicUsize::new(0),
        }
    }

    /// A fresh container ID, registered for cleanup.
    pub fn id(&self) -> String {
        let id = unique(&format!("husk-{}", self.name.replace('_', "-")));
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// A new bundle (busybox + probe rootfs, baseline config) in this test's dir.
    pub fn bundle(&self) -> Bundle {
        let n = self.bundles.fetch_add(1, Ordering::SeqCst);
        Bundle::create(&self.dir.join(format!("bundle{n}")))
    }

    /// A runtime command with this test's `--root`; not yet run.
    pub fn rt_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(runtime_bin());
        cmd.arg("--root").arg(&self.root).args(args);
        cmd
    }

    /// Runs the runtime with `args` (after `--root`), bounded in time.
    pub fn rt(&self, args: &[&str]) -> Out {
        run_cmd(self.rt_cmd(args), &self.dir, COMMAND_TIMEOUT)
    }

    /// Writes the bundle's config and runs it in the foreground (`run`).
    pub fn run(&self, bundle: &Bundle) -> Out {
        bundle.save();
        let id = self.id();
        self.rt(&["run", "--bundle", bundle.path_str(), &id])
    }

    /// Sets the bundle's args to `/probe ARGS...`, runs it, and expects success.
    #[track_caller]
    pub fn probe(&self, bundle: &mut Bundle, args: &[&str]) -> Out {
        bundle.probe_args(args);
        let out = self.run(bundle);
        out.ok();
        out
    }

    /// `create` of the bundle under a new ID; returns the ID and the output.
    pub fn create(&self, bundle: &Bundle, extra: &[&str]) -> (String, Out) {
        bundle.save();
        let id = self.id();
        let mut args = vec!["create", "--bundle", bundle.path_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let out = self.rt(&args);
        (id, out)
    }

    /// The `state` JSON of a container.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        self.rt(&["state", id]).ok().json()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("?").to_string()
    }

    /// Waits (bounded) until the container's status is `want`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let ok = wait_until(Duration::from_secs(15), || {
            let out = self.rt(&["state", id]);
            out.success() && out.json()["status"] == want
        });
        assert!(
            ok,
            "container {id} never became {want}: {:?}",
            self.rt(&["state", id])
        );
    }

    /// Asserts that a failed command left nothing behind for `id`: no state
    /// dir under the root, no mount under the bundle, no process of the bundle.
    #[track_caller]
    pub fn assert_no_leftovers(&self, id: &str, bundle: &Path) {
        let state_dir = self.root.join(id);
        assert!(!state_dir.exists(), "state dir {state_dir:?} left behind");
        let bundle_s = bundle.to_string_lossy().into_owned();
        let mounts: Vec<String> = mount_points()
            .into_iter()
            .filter(|m| m.starts_with(&bundle_s))
            .collect();
        assert!(
            mounts.is_empty(),
            "mounts left under the bundle: {mounts:?}"
        );
        let root = Some(self.root.as_path());
        let gone = wait_until(Duration::from_secs(3), || {
            processes_of_in(id, bundle, root).is_empty()
        });
        assert!(
            gone,
            "processes left behind: {:?}",
            processes_of_in(id, bundle, root)
        );
        let cgroups = cgroups_named(id);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        let listed = self.rt(&["list", "-q"]);
        assert!(
            !listed.stdout.lines().any(|l| l.trim() == id),
            "`list` still shows {id}: {listed}"
        );
    }
}

/// Removes `rel` (e.g. an engine's cgroup parent) below the root of every
/// cgroup hierarchy, where it is empty; engines leave these behind.
pub fn remove_cgroup_dirs(rel: &str) {
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = fs::remove_dir(h.path().join(rel));
    }
}

/// A tarball of a fresh test root filesystem (busybox + probe), for
/// engines to import as a one-layer image.
pub fn rootfs_tarball(t: &Test) -> PathBuf {
    let b = t.bundle();
    let tar = t.dir.join("busybox.tar");
    let mut c = Command::new("tar");
    c.arg("-C").arg(b.rootfs()).arg("-cf").arg(&tar).arg(".");
    run_cmd(c, &t.dir, Duration::from_secs(30)).ok();
    tar
}

/// Directories named `id` or `husk-<id>` (husk's default cgroupsPath) in
/// the cgroup hierarchies (at most 4 levels deep).
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            // `husk-<id>` is husk's default cgroupsPath.
            let name = entry.file_name();
            if name == id || name.to_str() == Some(&format!("husk-{id}")) {
                found.push(path);
            } else if depth > 0 {
                walk(&path, id, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 4, &mut found);
    found
}

/// Processes (other than us) that belong to container `id` of `bundle`: their
/// root or cwd is the bundle's rootfs (compared by inode: a pivoted process
/// sees its root as "/"), a link of theirs (cwd, root, exe, an fd) points
/// into the bundle or the runtime `root`, their command line names `id`, or
/// they sit in a cgroup named `id`.
pub fn processes_of(id: &str, bundle: &Path) -> Vec<String> {
    processes_of_in(id, bundle, None)
}

pub fn processes_of_in(id: &str, bundle: &Path, root: Option<&Path>) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let me = std::process::id().to_string();
    let mut prefixes = vec![bundle.to_string_lossy().into_owned()];
    if let Some(r) = root {
        prefixes.push(r.join(id).to_string_lossy().into_owned());
    }
    let under = |p: &Path| {
        let p = p.to_string_lossy();
        prefixes.iter().any(|pre| p.starts_with(pre.as_str()))
    };
    let rootfs = fs::metadata(bundle.join("rootfs"))
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let base = entry.path();
        // A zombie has no root or fds left and will be reaped by its parent.
        let zombie = fs::read_to_string(base.join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        if zombie {
            continue;
        }
        let same_dir = |link: &str| {
            fs::metadata(base.join(link))
                .ok()
                .is_some_and(|m| Some((m.dev(), m.ino())) == rootfs)
        };
        let links = ["cwd", "root", "exe"]
            .iter()
            .filter_map(|l| fs::read_link(base.join(l)).ok())
            .chain(
                fs::read_dir(base.join("fd"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .take(1000)
                    .filter_map(|e| fs::read_link(e.path()).ok()),
            )
            .any(|t| under(&t));
        let cmdline = fs::read(base.join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let names_id = cmdline.split(' ').any(|w| w == id);
        let cgroup = fs::read_to_string(base.join("cgroup")).unwrap_or_default();
        let in_cgroup = cgroup.lines().any(|l| {
            [id.to_string(), format!("husk-{id}")]
                .iter()
                .any(|n| l.ends_with(&format!("/{n}")) || l.contains(&format!("/{n}/")))
        });
        if same_dir("root") || same_dir("cwd") || links || names_id || in_cgroup {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

impl Drop for Test {
    fn drop(&mut self) {
        let ids = self.ids.lock().map(|i| i.clone()).unwrap_or_default();
        let timeout = Duration::from_secs(10);
        for id in &ids {
            if self.root.join(id).exists() {
                let _ = run_cmd(self.rt_cmd(&["kill", id, "KILL"]), &self.dir, timeout);
            }
            // Unconditional: cheap for unknown IDs, and independent of how
            // the runtime lays out its state.
            let _ = run_cmd(self.rt_cmd(&["delete", "--force", id]), &self.dir, timeout);
        }
        unmount_under(&self.dir);
        if std::env::var_os("HUSK_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// An OCI bundle: `rootfs/` (busybox applets in /bin, the probe at /probe)
/// and a config kept as JSON, edited by the test and saved before use.
pub struct Bundle {
    pub path: PathBuf,
    pub config: Value,
}

impl Bundle {
    fn create(path: &Path) -> Bundle {
        let rootfs = path.join("rootfs");
        for d in [
            "bin", "proc", "sys", "dev", "tmp", "etc", "root", "var", "mnt",
        ] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy(busybox_bin(), rootfs.join("bin/busybox")).unwrap();
        for applet in busybox_applets() {
            let _ = symlink("busybox", rootfs.join("bin").join(applet));
        }
        fs::copy(probe_bin(), rootfs.join("probe")).unwrap();
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\n").unwrap();
        Bundle {
            path: path.to_path_buf(),
            config: baseline_config(),
        }
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Writes `config.json`.
    pub fn save(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.path.join("config.json"), text).unwrap();
    }

    /// `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// `process.args` = `/probe ARGS...`.
    pub fn probe_args(&mut self, args: &[&str]) -> &mut Self {
        let mut all = vec!["/probe"];
        all.extend_from_slice(args);
        self.args(&all)
    }

    pub fn process(&mut self) -> &mut Value {
        &mut self.config["process"]
    }

    pub fn linux(&mut self) -> &mut Value {
        &mut self.config["linux"]
    }

    pub fn writable(&mut self) -> &mut Self {
        self.config["root"]["readonly"] = json!(false);
        self
    }

    /// Appends a namespace entry (`path` may be None for a new namespace).
    pub fn add_namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let mut ns = json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        let list = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != kind);
        list.push(ns);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        let list = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != kind);
        self
    }

    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(mount);
        self
    }
}

/// The baseline config: what `runc spec` writes, without a terminal and with
/// the probe as the process.
pub fn baseline_config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/probe", "pid1"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "husk-test",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A process holding new namespaces (`unshare --FLAGS sleep`), killed on drop.
pub struct NsHolder {
    child: Child,
}

impl NsHolder {
    /// `flags` are unshare(1) options such as `--uts`, `--net`.
    pub fn new(flags: &[&str]) -> NsHolder {
        let child = Command::new("unshare")
            .args(flags)
            .args(["sleep", "120"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let holder = NsHolder { child };
        // unshare(1) execs sleep once the namespaces exist.
        let exe = format!("/proc/{}/exe", holder.pid());
        let ready = wait_until(Duration::from_secs(5), || {
            fs::read_link(&exe).is_ok_and(|t| t.to_string_lossy().contains("sleep"))
        });
        assert!(ready, "unshare {flags:?} did not start");
        holder
    }

    /// `unshare --kill-child FLAGS sleep` (forks; the child dies with the
    /// holder): for a pid namespace, whose first
    /// process (sleep) must exist before anyone can join it.
    pub fn new_forked(flags: &[&str]) -> NsHolder {
        let child = Command::new("unshare")
            .arg("--kill-child")
            .args(flags)
            .args(["sleep", "120"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let holder = NsHolder { child };
        let link = holder.ns_path("pid_for_children");
        let ready = wait_until(Duration::from_secs(5), || fs::read_link(&link).is_ok());
        assert!(ready, "unshare --fork {flags:?} did not start");
        holder
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ns_path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.pid())
    }

    pub fn ns(&self, kind: &str) -> String {
        fs::read_link(self.ns_path(kind))
            .unwrap()
            .display()
            .to_string()
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The receiving end of `--console-socket`: gets the pty master by SCM_RIGHTS.
pub struct ConsoleSocket {
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join(format!("{}.sock", unique("console")));
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket { path, listener }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Accepts one connection (bounded wait) and returns the fd it carries.
    pub fn receive_master(&self, timeout: Duration) -> OwnedFd {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "nobody connected to the console socket"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept on console socket: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let mut name = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut name)];
        rustix::net::recvmsg(
            &stream,
            &mut iov,
            &mut control,
            rustix::net::RecvFlags::empty(),
        )
        .expect("recvmsg on console socket");
        for msg in control.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(mut fds) = msg {
                if let Some(fd) = fds.next() {
                    return fd;
                }
            }
        }
        panic!("no fd received on the console socket");
    }
}

/// Reads a pty master until the slave side closes (EIO) or `timeout` passes.
pub fn read_pty(master: OwnedFd, timeout: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut file = fs::File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // Bounded: ends on EOF/EIO; the receiver stops waiting at the timeout.
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    if tx.send(all.clone()).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(all);
    });
    let deadline = Instant::now() + timeout;
    let mut latest = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(data) => latest = data,
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&latest).into_owned()
}
