//! Which cgroup hierarchies the host has, read from /proc/self/mountinfo.

use std::path::{Path, PathBuf};

/// One mounted cgroup v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Controllers bound to it (`cpu`, `memory`, or `name=systemd`).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// Our own cgroup in it (from /proc/self/cgroup).
    pub own: PathBuf,
}

/// The cgroup layout of the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount, if any, and our own cgroup in it.
    pub unified: Option<(PathBuf, PathBuf)>,
}

impl Host {
    /// Reads the layout of the running host.
    pub fn detect() -> Host {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Host::parse(&mountinfo, &own)
    }

    /// Builds the layout from the text of mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, own: &str) -> Host {
        let mut host = Host::default();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let rfields: Vec<&str> = right.split(' ').collect();
            let (Some(mountpoint), Some(fstype)) = (fields.get(4), rfields.first()) else {
                continue;
            };
            let mountpoint = PathBuf::from(unescape(mountpoint));
            // The part of the hierarchy this mount shows: not `/` where a
            // container (Docker-in-Docker) sees only its own cgroup.
            let root = PathBuf::from(unescape(fields.get(3).copied().unwrap_or("/")));
            match *fstype {
                "cgroup2" => {
                    let own_path = below_root(&root, own_cgroup(own, |c| c.is_empty()));
                    if host.unified.is_none() {
                        host.unified = Some((mountpoint, own_path));
                    }
                }
                "cgroup" => {
                    let opts = rfields.get(2).copied().unwrap_or("");
                    let controllers: Vec<String> = opts
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro")
                                && !o.starts_with("release_agent")
                                && *o != "clone_children"
                                && *o != "noprefix"
                                && *o != "xattr"
                                && *o != "cpuset_v2_mode"
                        })
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty()
                        || host.v1.iter().any(|h| h.controllers == controllers)
                    {
                        continue;
                    }
                    let own_path = below_root(
                        &root,
                        own_cgroup(own, |c| {
                            let mut a: Vec<&str> = c.split(',').collect();
                            let mut b: Vec<&str> = controllers.iter().map(String::as_str).collect();
                            a.sort_unstable();
                            b.sort_unstable();
                            a == b
                        }),
                    );
                    host.v1.push(V1Hierarchy {
                        controllers,
                        mountpoint,
                        own: own_path,
                    });
                }
                _ => {}
            }
        }
        host
    }

    /// True for a pure cgroup v2 host (no v1 hierarchy).
    pub fn is_unified(&self) -> bool {
        self.v1.is_empty() && self.unified.is_some()
    }

    /// The v1 hierarchy of a controller.
    pub fn v1_of(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// Controllers enabled in the unified hierarchy's root.
    pub fn v2_controllers(&self) -> Vec<String> {
        self.unified
            .as_ref()
            .and_then(|(m, _)| std::fs::read_to_string(m.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// `path` (from /proc/self/cgroup, from the hierarchy's root) as seen below
/// a mount of the hierarchy's `root`, as runc does: `/docker/abc/x` under a
/// mount of `/docker/abc` is `/x`.
pub fn below_root(root: &Path, path: PathBuf) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(rest) if root != Path::new("/") => Path::new("/").join(rest),
        _ => path,
    }
}

/// The root (within its filesystem) of the mount at `mountpoint`, from
/// mountinfo's fourth field; `/` if it is not a mount point.
pub fn mount_root(mountinfo: &str, mountpoint: &Path) -> PathBuf {
    // The last mount there is the one in effect.
    mountinfo
        .lines()
        .rev()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (Path::new(&unescape(f.get(4)?)) == mountpoint).then(|| PathBuf::from(unescape(f[3])))
        })
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Our cgroup path for the /proc/self/cgroup line whose controller list matches.
fn own_cgroup(own: &str, matches: impl Fn(&str) -> bool) -> PathBuf {
    own.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            matches(ctrls).then(|| PathBuf::from(path))
        })
        .next()
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `rel` joined below `base` without letting `..` climb out.
pub fn join_inside(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        if let std::path::Component::Normal(n) = c {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
";
    const OWN: &str = "4:memory:/a/b\n3:cpu,cpuacct:/\n1:name=systemd:/x\n0::/u\n";

    #[test]
    fn reads_a_hybrid_host() {
        let h = Host::parse(HYBRID, OWN);
        assert!(!h.is_unified());
        assert_eq!(
            h.unified,
            Some((PathBuf::from("/sys/fs/cgroup/unified"), PathBuf::from("/u")))
        );
        let mem = h.v1_of("memory").unwrap();
        assert_eq!(mem.own, PathBuf::from("/a/b"));
        assert_eq!(
            h.v1_of("cpuacct").unwrap().mountpoint,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(h.v1_of("name=systemd").unwrap().own, PathBuf::from("/x"));
    }

    /// Docker-in-Docker on a v1 host: each hierarchy is mounted from the
    /// outer container's cgroup, which /proc/self/cgroup names in full.
    #[test]
    fn mount_roots_are_taken_off_our_paths() {
        let h = Host::parse(
            "40 30 0:35 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 30 0:26 /docker/abc /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            "9:memory:/docker/abc/inner\n0::/docker/abc\n",
        );
        assert_eq!(h.v1_of("memory").unwrap().own, PathBuf::from("/inner"));
        assert_eq!(h.unified.unwrap().1, PathBuf::from("/"));
    }

    #[test]
    fn finds_a_mounts_root() {
        let mi = "40 30 0:35 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            mount_root(mi, Path::new("/sys/fs/cgroup/memory")),
            PathBuf::from("/docker/abc")
        );
        assert_eq!(
            mount_root(mi, Path::new("/sys/fs/cgroup/pids")),
            PathBuf::from("/")
        );
    }

    #[test]
    fn reads_a_unified_host() {
        let h = Host::parse(
            "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n",
            "0::/user.slice\n",
        );
        assert!(h.is_unified());
    }

    #[test]
    fn joins_stay_inside() {
        assert_eq!(
            join_inside(Path::new("/sys/fs/cgroup/pids"), Path::new("/../../etc/x")),
            PathBuf::from("/sys/fs/cgroup/pids/etc/x")
        );
    }
}
