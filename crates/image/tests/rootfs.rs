//! Overlay root filesystems: whiteouts and opaque dirs take effect, writes go to the
//! container's upper dir, many layers mount, and unmount removes everything.
#![allow(clippy::unwrap_used)]

mod common;

use common::{amd64, layer, many_layers, Comp, Image, Registry, Tar, TempDir};
use husk_image::pull::{pull, PullOptions, Quiet};
use husk_image::rootfs::{mount_rootfs, unmount_rootfs};
use husk_image::store::Store;

fn is_mounted(p: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
}

#[test]
fn overlay_rootfs_of_a_layered_image() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/rootfs:1");
    many_layers().push(&client, &r, Some("1"));
    let tmp = TempDir::new("rootfs");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    let id = format!("ctr-{}", std::process::id());
    let fs = mount_rootfs(&s, &id, &rec, None).unwrap();
    let m = &fs.merged;
    assert!(is_mounted(m));
    assert!(m.join("etc/passwd").exists());
    assert!(
        !m.join("etc/shadow").exists(),
        "whiteout hides the lower file"
    );
    let apt: Vec<_> = std::fs::read_dir(m.join("var/cache/apt"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        apt,
        vec![std::ffi::OsString::from("new.bin")],
        "opaque dir hides the lower contents"
    );
    assert_eq!(std::fs::read(m.join("opt/old")).unwrap(), b"replaced");
    std::fs::write(m.join("etc/written"), b"w").unwrap();
    assert_eq!(std::fs::read(fs.upper.join("etc/written")).unwrap(), b"w");
    // The layers are untouched and the image is now in use.
    assert!(!s
        .layer_diff(&rec.layers[0].chain_id)
        .join("etc/written")
        .exists());
    assert_eq!(s.containers_using(&rec.id).unwrap(), vec![id.clone()]);
    unmount_rootfs(&s, &id, None).unwrap();
    assert!(!is_mounted(m));
    assert!(!s.root().join("containers").join(&id).exists());
    assert!(s.containers_using(&rec.id).unwrap().is_empty());
}

#[test]
fn many_layers_mount() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/deep:1");
    let layers: Vec<_> = (0..60)
        .map(|i| {
            layer(
                Tar::new()
                    .file(&format!("layer-{i:02}"), format!("{i}").as_bytes(), 0o644)
                    .file("top", format!("{i}").as_bytes(), 0o644)
                    .finish(),
                Comp::Gzip,
            )
        })
        .collect();
    Image::new(layers, &amd64()).push(&client, &r, Some("1"));
    let tmp = TempDir::new("rootfs-deep");
    let s = Store::open(
        &tmp.path()
            .join("a-long-directory-name-to-make-paths-longer"),
    )
    .unwrap();
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    let id = format!("deep-{}", std::process::id());
    let target = tmp.path().join("mnt");
    let fs = mount_rootfs(&s, &id, &rec, Some(&target)).unwrap();
    assert_eq!(std::fs::read(fs.merged.join("top")).unwrap(), b"59");
    assert!(fs.merged.join("layer-00").exists() && fs.merged.join("layer-59").exists());
    unmount_rootfs(&s, &id, Some(&target)).unwrap();
    assert!(!target.exists());
}

#[test]
fn bad_container_ids_are_refused() {
    let tmp = TempDir::new("rootfs-ids");
    let s = Store::open(tmp.path()).unwrap();
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(unmount_rootfs(&s, bad, None).is_err(), "{bad:?}");
    }
}

/// Every path below `root` with its kind and, for files, contents.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let t = e.file_type().unwrap();
            let what = if t.is_dir() {
                stack.push(e.path());
                "dir".to_owned()
            } else if t.is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if t.is_file() {
                String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned()
            } else {
                "special".to_owned()
            };
            out.insert(rel, what);
        }
    }
    out
}

#[test]
fn copy_mode_matches_the_overlay_view() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/copy:1");
    many_layers().push(&client, &r, Some("1"));
    let tmp = TempDir::new("rootfs-copy");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    let copy_id = format!("copy-{}", std::process::id());
    let copied = husk_image::rootfs::copy_rootfs(&s, &copy_id, &rec, None).unwrap();
    let copy_tree = tree(&copied.merged);
    assert!(!copy_tree.contains_key("etc/shadow"), "whiteout applied");
    assert!(copy_tree.contains_key("etc/passwd"));
    assert!(
        !copy_tree.contains_key("var/cache/apt/pkgcache.bin"),
        "opaque dir applied"
    );
    assert!(copy_tree.contains_key("var/cache/apt/new.bin"));
    assert_eq!(copy_tree["opt/old"], "replaced");
    assert!(
        copy_tree.values().all(|v| v != "special"),
        "no whiteout devices: {copy_tree:?}"
    );
    assert!(copy_tree.keys().all(|k| !k.contains(".wh.")));
    if rustix::process::geteuid().is_root() {
        let id = format!("ovl-{}", std::process::id());
        let fs = mount_rootfs(&s, &id, &rec, None).unwrap();
        assert_eq!(tree(&fs.merged), copy_tree);
        unmount_rootfs(&s, &id, None).unwrap();
    }
    unmount_rootfs(&s, &copy_id, None).unwrap();
    assert!(!copied.merged.exists());
}
