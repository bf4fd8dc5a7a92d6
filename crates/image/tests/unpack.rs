//! Malicious and tricky layers: every unpack rule, and nothing written outside the layer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::{Tar, TempDir};
use husk_image::error::Error;
use husk_image::unpack::{unpack_layer, UnpackOptions};

/// A sandbox: `layer/` to unpack into and `outside/` with a sentinel, which must stay as is.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        std::fs::create_dir(dir.path().join("layer")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/sentinel"), b"keep").unwrap();
        Self { dir }
    }
    fn layer(&self) -> std::path::PathBuf {
        self.dir.path().join("layer")
    }
    fn unpack(
        &self,
        tar: &[u8],
        opts: &UnpackOptions,
    ) -> husk_image::Result<husk_image::unpack::UnpackStats> {
        unpack_layer("test", tar, &self.layer(), opts)
    }
    /// Everything under the sandbox but outside layer/ is as it was.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            list(self.dir.path(), false),
            BTreeSet::from([
                "layer".to_owned(),
                "outside".to_owned(),
                "outside/sentinel".to_owned()
            ])
        );
        assert_eq!(
            std::fs::read(self.dir.path().join("outside/sentinel")).unwrap(),
            b"keep"
        );
        assert!(!Path::new("/tmp/husk-escape-marker").exists());
    }
}

fn list(root: &Path, into_layer: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(root: &Path, dir: &Path, into_layer: bool, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let is_dir = e.file_type().unwrap().is_dir();
            out.insert(rel.clone());
            if is_dir && (into_layer || rel != "layer") {
                walk(root, &e.path(), into_layer, out);
            }
        }
    }
    walk(root, root, into_layer, &mut out);
    out
}

fn opts() -> UnpackOptions {
    UnpackOptions::default()
}

#[test]
fn dotdot_and_absolute_paths_stay_inside() {
    let sb = Sandbox::new("dotdot");
    let tar = Tar::new()
        .raw(
            b"../../outside/sentinel",
            tar::EntryType::Regular,
            0o644,
            b"",
            b"evil",
        )
        .raw(b"../escape", tar::EntryType::Regular, 0o644, b"", b"evil")
        .raw(
            b"/tmp/husk-escape-marker",
            tar::EntryType::Regular,
            0o644,
            b"",
            b"evil",
        )
        .raw(b"a/../../../b", tar::EntryType::Regular, 0o644, b"", b"b")
        .finish();
    sb.unpack(&tar, &opts()).unwrap();
    sb.assert_outside_untouched();
    let l = sb.layer();
    assert_eq!(std::fs::read(l.join("outside/sentinel")).unwrap(), b"evil");
    assert_eq!(std::fs::read(l.join("escape")).unwrap(), b"evil");
    assert_eq!(
        std::fs::read(l.join("tmp/husk-escape-marker")).unwrap(),
        b"evil"
    );
    assert_eq!(std::fs::read(l.join("b")).unwrap(), b"b");
}

#[test]
fn paths_through_symlinks_stay_inside() {
    let sb = Sandbox::new("symlink");
    let outside = sb.dir.path().join("outside");
    let tar = Tar::new()
        .symlink("abs", outside.to_str().unwrap())
        .symlink("rel", "../outside")
        .symlink("root", "/")
        .raw(
            b"abs/sentinel",
            tar::EntryType::Regular,
            0o644,
            b"",
            b"evil1",
        )
        .raw(b"rel/new", tar::EntryType::Regular, 0o644, b"", b"evil2")
        .raw(
            b"root/tmp/husk-escape-marker",
            tar::EntryType::Regular,
            0o644,
            b"",
            b"evil3",
        )
        .dir("rel/deeper/", 0o755)
        .finish();
    sb.unpack(&tar, &opts()).unwrap();
    sb.assert_outside_untouched();
    let l = sb.layer();
    // Resolved as if the layer were `/`.
    assert_eq!(
        std::fs::read(l.join(outside.strip_prefix("/").unwrap()).join("sentinel")).unwrap(),
        b"evil1"
    );
    assert_eq!(std::fs::read(l.join("outside/new")).unwrap(), b"evil2");
    assert_eq!(
        std::fs::read(l.join("tmp/husk-escape-marker")).unwrap(),
        b"evil3"
    );
    assert!(l.join("outside/deeper").is_dir());
}

#[test]
fn symlink_replacing_a_file_is_not_followed_when_writing() {
    let sb = Sandbox::new("replace");
    let tar = Tar::new()
        .symlink("f", "../outside/sentinel")
        .file("f", b"replaced", 0o644)
        .finish();
    sb.unpack(&tar, &opts()).unwrap();
    sb.assert_outside_untouched();
    let m = std::fs::symlink_metadata(sb.layer().join("f")).unwrap();
    assert!(m.is_file());
}

#[test]
fn hardlinks_only_to_earlier_entries() {
    for (name, target) in [
        ("to-host", "/etc/passwd"),
        ("to-outside", "../outside/sentinel"),
        ("to-later", "later"),
        ("to-dir", "d"),
    ] {
        let sb = Sandbox::new("hardlink");
        let tar = Tar::new()
            .dir("d/", 0o755)
            .hardlink(name, target)
            .file("later", b"x", 0o644)
            .finish();
        let err = sb.unpack(&tar, &opts()).err().unwrap();
        assert!(matches!(err, Error::Unpack { .. }), "{name}: {err}");
        assert!(err.to_string().contains("not an earlier entry"), "{err}");
        sb.assert_outside_untouched();
        assert!(!sb.layer().join(name).exists());
    }
    // A hardlink through a symlinked dir to an earlier file is fine and stays inside.
    let sb = Sandbox::new("hardlink-ok");
    let tar = Tar::new()
        .file("a", b"data", 0o600)
        .hardlink("b", "a")
        .hardlink("c", "./x/../a")
        .finish();
    sb.unpack(&tar, &opts()).unwrap();
    let (a, b, c) = (
        sb.layer().join("a"),
        sb.layer().join("b"),
        sb.layer().join("c"),
    );
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(b).unwrap().ino()
    );
    assert_eq!(
        std::fs::metadata(&a).unwrap().ino(),
        std::fs::metadata(c).unwrap().ino()
    );
    sb.assert_outside_untouched();
}

#[test]
fn device_nodes_only_when_allowed() {
    let sb = Sandbox::new("dev-refused");
    let tar = Tar::new()
        .device("dev/sda", tar::EntryType::Block, 8, 0)
        .finish();
    let o = UnpackOptions {
        allow_devices: false,
        ..opts()
    };
    let err = sb.unpack(&tar, &o).err().unwrap();
    assert!(
        err.to_string()
            .contains("only root may create device nodes"),
        "{err}"
    );
    assert!(!sb.layer().join("dev/sda").exists());
    sb.assert_outside_untouched();

    if rustix::process::geteuid().is_root() {
        let sb = Sandbox::new("dev-root");
        let tar = Tar::new()
            .device("dev/null", tar::EntryType::Char, 1, 3)
            .device("fifo", tar::EntryType::Fifo, 0, 0)
            .finish();
        sb.unpack(
            &tar,
            &UnpackOptions {
                allow_devices: true,
                ..opts()
            },
        )
        .unwrap();
        let m = std::fs::symlink_metadata(sb.layer().join("dev/null")).unwrap();
        assert!(m.file_type().is_char_device());
        assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
        assert!(std::fs::symlink_metadata(sb.layer().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !rustix::process::geteuid().is_root() {
        return; // 0/0 char devices and trusted.* xattrs need root.
    }
    let sb = Sandbox::new("whiteout");
    let tar = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.passwd", b"", 0o644)
        .dir("var/cache/", 0o755)
        .file("var/cache/.wh..wh..opq", b"", 0o644)
        .file("var/cache/kept", b"k", 0o644)
        .file(".wh.gone-dir", b"", 0o644)
        .raw(b"../.wh.outside", tar::EntryType::Regular, 0o644, b"", b"")
        .finish();
    sb.unpack(&tar, &opts()).unwrap();
    sb.assert_outside_untouched();
    let l = sb.layer();
    for w in ["etc/passwd", "gone-dir", "outside"] {
        let m = std::fs::symlink_metadata(l.join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0, "{w}");
    }
    assert!(!l.join("etc/.wh.passwd").exists());
    let v = xattr(&l.join("var/cache"), "trusted.overlay.opaque");
    assert_eq!(v.as_deref(), Some(&b"y"[..]));
    assert!(!l.join("var/cache/.wh..wh..opq").exists());
    assert!(l.join("var/cache/kept").exists());
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(p, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn metadata_is_preserved() {
    let root = rustix::process::geteuid().is_root();
    let sb = Sandbox::new("meta");
    let tar = Tar::new()
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .file_owned("usr/bin/su", b"#!", 0o4755, 0, 0, 1_500_000_000)
        .file_owned("usr/bin/wall", b"#!", 0o2755, 1000, 5, 1_400_000_000)
        .file_xattrs(
            "usr/bin/ping",
            b"#!",
            &[
                ("user.test", b"hello"),
                (
                    "security.capability",
                    &[
                        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                    ],
                ),
            ],
        )
        .dir("ro/", 0o555)
        .file("ro/inside", b"x", 0o444)
        .finish();
    let o = UnpackOptions {
        preserve_owner: root,
        ..opts()
    };
    sb.unpack(&tar, &o).unwrap();
    let l = sb.layer();
    let su = std::fs::metadata(l.join("usr/bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(su.mtime(), 1_500_000_000);
    let wall = std::fs::metadata(l.join("usr/bin/wall")).unwrap();
    assert_eq!(wall.permissions().mode() & 0o7777, 0o2755);
    if root {
        assert_eq!((wall.uid(), wall.gid()), (1000, 5));
    }
    assert_eq!(
        xattr(&l.join("usr/bin/ping"), "user.test").as_deref(),
        Some(&b"hello"[..])
    );
    if root {
        assert!(xattr(&l.join("usr/bin/ping"), "security.capability").is_some());
    }
    let ro = std::fs::metadata(l.join("ro")).unwrap();
    assert_eq!(ro.permissions().mode() & 0o777, 0o555);
    assert_eq!(ro.mtime(), 1_600_000_000);
    assert!(l.join("ro/inside").exists());
}

#[test]
fn overlay_xattrs_from_the_layer_are_refused() {
    let sb = Sandbox::new("trusted");
    let tar = Tar::new()
        .file_xattrs("x", b"", &[("trusted.overlay.redirect", b"/etc")])
        .finish();
    let err = sb.unpack(&tar, &opts()).err().unwrap();
    assert!(
        err.to_string().contains("trusted.overlay.redirect"),
        "{err}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn decompression_bomb_is_stopped() {
    let sb = Sandbox::new("bomb");
    let big = vec![0u8; 4 << 20];
    let tar = Tar::new().file("zeros", &big, 0o644).finish();
    let o = UnpackOptions {
        max_bytes: 1 << 20,
        ..opts()
    };
    let err = sb.unpack(&tar, &o).err().unwrap();
    assert!(matches!(err, Error::LayerTooLarge { .. }), "{err}");
    let o = UnpackOptions {
        max_entries: 3,
        ..opts()
    };
    let tar = Tar::new()
        .file("1", b"", 0o644)
        .file("2", b"", 0o644)
        .file("3", b"", 0o644)
        .file("4", b"", 0o644)
        .finish();
    let sb = Sandbox::new("bomb-entries");
    let err = sb.unpack(&tar, &o).err().unwrap();
    assert!(matches!(err, Error::LayerTooLarge { .. }), "{err}");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let sb = Sandbox::new("replace-dir");
    let tar = Tar::new()
        .dir("d/", 0o755)
        .file("d/f", b"1", 0o644)
        .file("d", b"now a file", 0o644)
        .hardlink("h", "d/f")
        .finish();
    // d/f went away with d, so the hardlink to it is refused.
    let err = sb.unpack(&tar, &opts()).err().unwrap();
    assert!(err.to_string().contains("not an earlier entry"), "{err}");
    assert_eq!(std::fs::read(sb.layer().join("d")).unwrap(), b"now a file");
    sb.assert_outside_untouched();
}

#[test]
fn missing_parents_are_created() {
    let sb = Sandbox::new("parents");
    let tar = Tar::new().file("a/b/c/file", b"x", 0o644).finish();
    sb.unpack(&tar, &opts()).unwrap();
    assert!(sb.layer().join("a/b/c/file").is_file());
    assert!(list(&sb.layer(), true).contains("a/b"));
}

#[test]
fn copy_mode_applies_whiteouts_to_earlier_layers() {
    use husk_image::unpack::Whiteouts;
    let sb = Sandbox::new("apply");
    let o = UnpackOptions {
        whiteouts: Whiteouts::Apply,
        ..opts()
    };
    let lower = Tar::new()
        .dir("d/", 0o755)
        .file("d/old", b"1", 0o644)
        .dir("d/sub/", 0o755)
        .file("d/sub/x", b"x", 0o644)
        .file("gone", b"g", 0o644)
        .symlink("run", "/var/run-target")
        .finish();
    sb.unpack(&lower, &o).unwrap();
    let upper = Tar::new()
        .file("d/new", b"2", 0o644)
        .file("d/.wh..wh..opq", b"", 0o644)
        .file(".wh.gone", b"", 0o644)
        .file(".wh.../../outside", b"", 0o644)
        .file("run/pid", b"7", 0o644)
        .finish();
    sb.unpack(&upper, &o).unwrap();
    sb.assert_outside_untouched();
    let l = sb.layer();
    assert!(l.join("d/new").exists(), "same-layer entry kept");
    assert!(
        !l.join("d/old").exists() && !l.join("d/sub").exists(),
        "lower entries hidden"
    );
    assert!(!l.join("gone").exists());
    // Through the lower layer's symlink, inside the root.
    assert_eq!(std::fs::read(l.join("var/run-target/pid")).unwrap(), b"7");
}
