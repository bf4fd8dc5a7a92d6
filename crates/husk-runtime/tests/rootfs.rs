//! The root filesystem: readonly root, mounts and their options, propagation,
//! default and configured devices, masked and readonly paths, sysctls.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Bundle, Out, Test};
use serde_json::json;
use std::fs;
use std::path::Path;

const EROFS: &str = "errno 30";

/// The mountinfo line (inside the container) whose mount point is `point`.
fn mount_line<'a>(out: &'a Out, point: &str) -> &'a str {
    out.stdout
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point}: {out}"))
}

/// Per-mount options (field 6) and super options (last field) of a mountinfo line.
fn mount_opts(line: &str) -> (Vec<&str>, Vec<&str>) {
    let fields: Vec<&str> = line.split(' ').collect();
    let per_mount = fields[5].split(',').collect();
    let sep = fields.iter().position(|f| *f == "-").unwrap();
    let super_opts = fields[sep + 3].split(',').collect();
    (per_mount, super_opts)
}

fn fstype(line: &str) -> &str {
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-").unwrap();
    fields[sep + 1]
}

#[test]
fn readonly_root_refuses_writes() {
    let t = Test::new("roroot");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["write", "/newfile"]);
    assert!(out.get("write").starts_with(EROFS), "{out}");
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_root_accepts_writes() {
    let t = Test::new("rwroot");
    let mut b = t.bundle();
    b.writable();
    let out = t.probe(&mut b, &["write", "/newfile", "hello"]);
    assert_eq!(out.get("write"), "ok");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("newfile")).unwrap(),
        "hello"
    );
}

#[test]
fn root_path_may_be_absolute() {
    let t = Test::new("absroot");
    let mut b = t.bundle();
    b.config["root"]["path"] = json!(b.rootfs().to_str().unwrap());
    let out = t.probe(&mut b, &["pid1"]);
    assert_eq!(out.get("pid"), "1");
}

fn bind_source(t: &Test, name: &str) -> std::path::PathBuf {
    let src = t.dir.join(name);
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("file"), "from the host\n").unwrap();
    src
}

#[test]
fn readonly_bind_mount() {
    let t = Test::new("bindro");
    let src = bind_source(&t, "shared");
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["rbind", "ro"]
    }));
    let out = t.probe(
        &mut b,
        &[
            "run",
            "cat",
            "/data/file",
            "--",
            "write",
            "/data/new",
            "--",
            "mounts",
        ],
    );
    assert!(out.stdout.contains("from the host"), "{out}");
    assert!(out.get("write").starts_with(EROFS), "{out}");
    let (opts, _) = mount_opts(mount_line(&out, "/data"));
    assert!(opts.contains(&"ro"), "{opts:?}");
    assert!(!src.join("new").exists());
}

#[test]
fn writable_bind_mount_reaches_the_host_dir() {
    let t = Test::new("bindrw");
    let src = bind_source(&t, "shared");
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/data", "type": "none", "source": src.to_str().unwrap(),
        "options": ["bind"]
    }));
    let out = t.probe(&mut b, &["write", "/data/new", "from the container"]);
    assert_eq!(out.get("write"), "ok");
    assert_eq!(
        fs::read_to_string(src.join("new")).unwrap(),
        "from the container"
    );
}

#[test]
fn tmpfs_with_size_mode_and_flags() {
    let t = Test::new("tmpfs");
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "noexec", "nodev", "size=1m", "mode=1770", "noatime"]
    }));
    let out = t.probe(
        &mut b,
        &[
            "run",
            "stat",
            "/scratch",
            "--",
            "write",
            "/scratch/f",
            "--",
            "mounts",
        ],
    );
    assert_eq!(out.get("mode"), "1770");
    assert_eq!(out.get("write"), "ok");
    let line = mount_line(&out, "/scratch");
    assert_eq!(fstype(line), "tmpfs");
    let (opts, super_opts) = mount_opts(line);
    for flag in ["nosuid", "noexec", "nodev", "noatime"] {
        assert!(opts.contains(&flag), "{flag} missing: {line}");
    }
    assert!(super_opts.contains(&"size=1024k"), "{line}");
    assert!(super_opts.contains(&"mode=1770"), "{line}");
}

#[test]
fn noexec_mount_refuses_exec() {
    let t = Test::new("noexec");
    let src = t.dir.join("bins");
    fs::create_dir_all(&src).unwrap();
    fs::copy(common::probe_bin(), src.join("probe")).unwrap();
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/bins", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind", "noexec"]
    }));
    b.args(&["/bin/sh", "-c", "/bins/probe pid1; echo status=$?"]);
    let out = t.run(&b);
    out.ok();
    assert_eq!(out.get("status"), "126", "{out}");
}

/// Without a cgroup namespace (the baseline has none, as Docker on v1), the
/// container's /sys/fs/cgroup shows its own cgroup, bound from the host's
/// hierarchy, and not the host's whole tree.
#[test]
fn cgroupfs_without_a_cgroup_namespace_shows_the_containers_own_cgroup() {
    let t = Test::new("cgroupown");
    let mut b = t.bundle();
    b.linux()["resources"]["pids"] = json!({ "limit": 17 });
    let v1 = Path::new("/sys/fs/cgroup/pids").is_dir();
    let file = if v1 {
        "/sys/fs/cgroup/pids/pids.max"
    } else {
        "/sys/fs/cgroup/pids.max"
    };
    let out = t.probe(&mut b, &["cat", file]);
    assert_eq!(out.stdout.trim(), "17", "{out}");
    let out = t.probe(&mut b, &["mounts"]);
    let point = if v1 {
        "/sys/fs/cgroup/pids"
    } else {
        "/sys/fs/cgroup"
    };
    let line = mount_line(&out, point);
    let root = line.split(' ').nth(3).unwrap();
    assert!(root.starts_with('/') && root.len() > 1, "{line}");
    assert!(mount_opts(line).0.contains(&"ro"), "{line}");
}

#[test]
fn proc_sysfs_devpts_mqueue_mounts() {
    let t = Test::new("specialfs");
    let mut b = t.bundle();
    let out = t.probe(&mut b, &["mounts"]);
    for (point, fs_type) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        assert_eq!(fstype(mount_line(&out, point)), fs_type, "{point}");
    }
    assert!(
        out.stdout.lines().any(|l| l
            .split(' ')
            .nth(4)
            .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))),
        "no cgroup mount: {out}"
    );
    let (sys_opts, _) = mount_opts(mount_line(&out, "/sys"));
    assert!(sys_opts.contains(&"ro"), "{sys_opts:?}");
    let (_, pts_super) = mount_opts(mount_line(&out, "/dev/pts"));
    assert!(pts_super.contains(&"ptmxmode=666"), "{pts_super:?}");
    assert!(pts_super.contains(&"mode=620"), "{pts_super:?}");
    assert!(pts_super.contains(&"gid=5"), "{pts_super:?}");
}

#[test]
fn devpts_is_a_new_instance() {
    let t = Test::new("devpts");
    let mut b = t.bundle();
    // No terminal: a fresh devpts instance holds only ptmx.
    let out = t.probe(&mut b, &["ls", "/dev/pts"]);
    assert_eq!(out.stdout.trim(), "ptmx", "{out}");
}

#[test]
fn rootfs_propagation_shared_and_private() {
    let t = Test::new("propagation");
    let mut b = t.bundle();
    b.config["linux"]["rootfsPropagation"] = json!("shared");
    let out = t.probe(&mut b, &["mounts"]);
    if common::is_runc() {
        eprintln!("shared root not checked: runc 1.1.5 leaves the root mount private");
    } else {
        assert!(mount_line(&out, "/").contains(" shared:"), "{out}");
    }

    let mut b = t.bundle();
    b.config["linux"]["rootfsPropagation"] = json!("private");
    let out = t.probe(&mut b, &["mounts"]);
    let line = mount_line(&out, "/");
    assert!(
        !line.contains("shared:") && !line.contains("master:"),
        "{line}"
    );
}

#[test]
fn mount_destination_symlink_stays_inside_the_root() {
    let t = Test::new("mntsymlink");
    let outside = t.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let mut b = t.bundle();
    b.writable();
    // /escape in the rootfs points at a host directory by absolute path.
    std::os::unix::fs::symlink(&outside, b.rootfs().join("escape")).unwrap();
    b.add_mount(json!({
        "destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    let out = t.probe(&mut b, &["run", "write", "/escape/marker", "--", "mounts"]);
    assert_eq!(out.get("write"), "ok");
    // The symlink was resolved inside the root: the tmpfs sits at the host
    // path *as seen inside the container*, and the host directory is untouched.
    let point = outside.to_str().unwrap();
    assert_eq!(fstype(mount_line(&out, point)), "tmpfs");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!common::mount_points().iter().any(|m| m == point));
}

fn device_report(t: &Test, b: &mut Bundle, paths: &[&str]) -> Vec<Out> {
    paths.iter().map(|p| t.probe(b, &["stat", p])).collect()
}

#[test]
fn default_devices() {
    let t = Test::new("devices");
    let mut b = t.bundle();
    let devices = [
        ("/dev/null", "1:3"),
        ("/dev/zero", "1:5"),
        ("/dev/full", "1:7"),
        ("/dev/random", "1:8"),
        ("/dev/urandom", "1:9"),
        ("/dev/tty", "5:0"),
    ];
    let paths: Vec<&str> = devices.iter().map(|(p, _)| *p).collect();
    let outs = device_report(&t, &mut b, &paths);
    for ((path, rdev), out) in devices.iter().zip(&outs) {
        assert_eq!(out.get("type"), "char", "{path}: {out}");
        assert_eq!(&out.get("rdev"), rdev, "{path}: {out}");
        assert_eq!(out.get("mode"), "0666", "{path}: {out}");
    }
    let links = [
        ("/dev/ptmx", "pts/ptmx"),
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    for (path, target) in links {
        let out = t.probe(&mut b, &["readlink", path]);
        assert_eq!(out.get("target"), target, "{path}");
    }
    // The devices work: /dev/null swallows writes.
    let out = t.probe(&mut b, &["append", "/dev/null", "x"]);
    assert_eq!(out.get("write"), "ok");
}

#[test]
fn configured_devices() {
    let t = Test::new("linuxdevices");
    let mut b = t.bundle();
    b.linux()["devices"] = json!([
        { "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
          "fileMode": 0o620, "uid": 0, "gid": 0 },
        { "path": "/dev/husk/loopish", "type": "b", "major": 7, "minor": 200,
          "fileMode": 0o600, "uid": 1000, "gid": 1000 }
    ]);
    let out = t.probe(&mut b, &["stat", "/dev/fuse"]);
    assert_eq!(out.get("type"), "char");
    assert_eq!(out.get("rdev"), "10:229");
    assert_eq!(out.get("mode"), "0620");
    let out = t.probe(&mut b, &["stat", "/dev/husk/loopish"]);
    assert_eq!(out.get("type"), "block");
    assert_eq!(out.get("rdev"), "7:200");
    assert_eq!(out.get("mode"), "0600");
    assert_eq!(out.get("uid"), "1000");
    assert_eq!(out.get("gid"), "1000");
}

#[test]
fn masked_paths_files_and_dirs() {
    let t = Test::new("masked");
    let mut b = t.bundle();
    fs::create_dir_all(b.rootfs().join("secretdir")).unwrap();
    fs::write(b.rootfs().join("secretdir/inner"), "hidden").unwrap();
    fs::write(b.rootfs().join("secret.txt"), "hidden").unwrap();
    let masked = b.linux()["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/secretdir"));
    masked.push(json!("/secret.txt"));
    masked.push(json!("/does/not/exist"));
    let out = t.probe(
        &mut b,
        &["run", "ls", "/secretdir", "--", "cat", "/secret.txt"],
    );
    assert!(!out.stdout.contains("inner"), "{out}");
    assert!(!out.stdout.contains("hidden"), "{out}");
    let out = t.probe(&mut b, &["cat", "/proc/keys"]);
    assert!(out.stdout.is_empty(), "{out}");
    let out = t.probe(&mut b, &["ls", "/sys/firmware"]);
    assert!(out.stdout.trim().is_empty(), "{out}");
    // Masked, not writable.
    let out = t.probe(&mut b, &["write", "/secretdir/new"]);
    assert!(out.get("write").starts_with("errno"), "{out}");
}

#[test]
fn readonly_paths() {
    let t = Test::new("ropaths");
    let mut b = t.bundle();
    b.writable();
    fs::create_dir_all(b.rootfs().join("rodir")).unwrap();
    let ro = b.linux()["readonlyPaths"].as_array_mut().unwrap();
    ro.push(json!("/rodir"));
    // A path that does not exist is skipped, not an error.
    ro.push(json!("/does/not/exist"));
    let out = t.probe(&mut b, &["write", "/rodir/x"]);
    assert!(out.get("write").starts_with(EROFS), "{out}");
    let out = t.probe(&mut b, &["write", "/proc/sys/kernel/hostname", "evil"]);
    assert!(out.get("write").starts_with(EROFS), "{out}");
    let out = t.probe(&mut b, &["write", "/elsewhere"]);
    assert_eq!(out.get("write"), "ok");
}

#[test]
fn sysctls_in_new_namespaces() {
    let t = Test::new("sysctl");
    let host_fwd = fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let mut b = t.bundle();
    let fwd = if host_fwd.trim() == "1" { "0" } else { "1" };
    let shm = if host_shm.trim() == "1" { "0" } else { "1" };
    b.linux()["sysctl"] = json!({
        "net.ipv4.ip_forward": fwd,
        "kernel.shm_rmid_forced": shm,
    });
    let out = t.probe(
        &mut b,
        &[
            "run",
            "sysctl",
            "net.ipv4.ip_forward",
            "--",
            "sysctl",
            "kernel.shm_rmid_forced",
        ],
    );
    assert_eq!(out.get("net.ipv4.ip_forward"), fwd);
    assert_eq!(out.get("kernel.shm_rmid_forced"), shm);
    // The host's values are untouched.
    assert_eq!(
        fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        host_shm
    );
}

#[test]
fn bind_source_relative_to_the_bundle() {
    let t = Test::new("bindrel");
    let mut b = t.bundle();
    fs::create_dir_all(b.path.join("hostdata")).unwrap();
    fs::write(b.path.join("hostdata/file"), "relative source\n").unwrap();
    b.add_mount(json!({
        "destination": "/data", "type": "bind", "source": "hostdata", "options": ["rbind", "ro"]
    }));
    let out = t.probe(&mut b, &["cat", "/data/file"]);
    assert!(out.stdout.contains("relative source"), "{out}");
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    let t = Test::new("rbind");
    let src = bind_source(&t, "tree");
    let sub = src.join("sub");
    fs::create_dir_all(&sub).unwrap();
    // A host mount under the source (removed by the Test's cleanup).
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "husk-sub"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(sub.join("inner"), "on the submount\n").unwrap();
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/rec", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["rbind"]
    }));
    b.add_mount(json!({
        "destination": "/flat", "type": "bind", "source": src.to_str().unwrap(),
        "options": ["bind"]
    }));
    let out = t.probe(&mut b, &["run", "ls", "/rec/sub", "--", "ls", "/flat/sub"]);
    assert_eq!(out.stdout.matches("inner").count(), 1, "{out}");
    let out = t.probe(&mut b, &["ls", "/rec/sub"]);
    assert!(out.stdout.contains("inner"), "{out}");
}

/// A host dir holding a setuid-root copy of the probe and a /dev/null node.
fn special_files(t: &Test) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = t.dir.join("special");
    fs::create_dir_all(&dir).unwrap();
    let probe = dir.join("probe");
    fs::copy(common::probe_bin(), &probe).unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o4755)).unwrap();
    let status = std::process::Command::new("mknod")
        .arg(dir.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success());
    fs::set_permissions(dir.join("null"), fs::Permissions::from_mode(0o666)).unwrap();
    dir
}

/// The effective uid of the setuid probe run by uid 1000 from a bind mount
/// of `special_files` with `options`.
fn setuid_euid(t: &Test, options: &[&str], no_new_privs: bool) -> String {
    let dir = special_files(t);
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/special", "type": "bind", "source": dir.to_str().unwrap(),
        "options": options
    }));
    b.process()["user"] = json!({ "uid": 1000, "gid": 1000 });
    b.process()["noNewPrivileges"] = json!(no_new_privs);
    b.args(&["/special/probe", "ids"]);
    let out = t.run(&b);
    out.ok();
    out.get("euid")
}

/// Per-mount options of the host mount holding `path` (longest prefix).
fn host_mount_options(path: &std::path::Path) -> String {
    let path = path.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let point = f.get(4)?;
            let inside = path.starts_with(point)
                && (*point == "/"
                    || path[point.len()..].is_empty()
                    || path[point.len()..].starts_with('/'));
            inside.then(|| (point.len(), f.get(5).unwrap_or(&"").to_string()))
        })
        .max()
        .map(|(_, o)| o)
        .unwrap_or_default()
}

#[test]
fn setuid_works_without_nosuid_and_no_new_privileges() {
    let t = Test::new("setuid");
    if host_mount_options(&t.dir).split(',').any(|o| o == "nosuid") {
        eprintln!("skipped: the temp dir's filesystem is mounted nosuid");
        return;
    }
    assert_eq!(setuid_euid(&t, &["bind"], false), "0");
}

#[test]
fn nosuid_mount_ignores_setuid() {
    let t = Test::new("nosuid");
    assert_eq!(setuid_euid(&t, &["bind", "nosuid"], false), "1000");
}

#[test]
fn no_new_privileges_ignores_setuid() {
    let t = Test::new("nnpsetuid");
    assert_eq!(setuid_euid(&t, &["bind"], true), "1000");
}

#[test]
fn nodev_mount_refuses_device_nodes() {
    let t = Test::new("nodev");
    let dir = special_files(&t);
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/dev-ok", "type": "bind", "source": dir.to_str().unwrap(),
        "options": ["bind"]
    }));
    b.add_mount(json!({
        "destination": "/dev-no", "type": "bind", "source": dir.to_str().unwrap(),
        "options": ["bind", "nodev"]
    }));
    let out = t.probe(&mut b, &["append", "/dev-ok/null", "x"]);
    assert_eq!(out.get("write"), "ok");
    let out = t.probe(&mut b, &["append", "/dev-no/null", "x"]);
    assert!(out.get("write").starts_with("errno 13"), "{out}");
}

#[test]
fn mount_destination_with_dot_dot_stays_inside_the_root() {
    let t = Test::new("mntdotdot");
    let mut b = t.bundle();
    b.add_mount(json!({
        "destination": "/../../../mnt/dotdot", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m"]
    }));
    let out = t.probe(&mut b, &["mounts"]);
    assert_eq!(fstype(mount_line(&out, "/mnt/dotdot")), "tmpfs");
    assert!(!Path::new("/mnt/dotdot").exists(), "created on the host");
}
