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
