//! Pulls from Debian's docker-registry on loopback: busybox, many layers with whiteouts,
//! an index with two platforms, zstd and plain layers, corrupt blobs, Basic auth, TLS,
//! concurrent pulls.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::{
    amd64, busybox_layer, layer, many_layers, push_index, Comp, Image, Registry, Tar, TempDir,
};
use husk_image::error::Error;
use husk_image::manifest::Platform;
use husk_image::pull::{pull, PullOptions, Quiet};
use husk_image::store::Store;

fn store(tmp: &TempDir) -> Store {
    Store::open(&tmp.path().join("root")).unwrap()
}

/// The store holds no blob, layer or image, and nothing half-done (used after refusals).
fn assert_store_empty(s: &Store) {
    for sub in ["blobs/sha256", "layers", "images", "tmp"] {
        let n = std::fs::read_dir(s.root().join(sub)).unwrap().count();
        assert_eq!(n, 0, "{sub} should be empty");
    }
}

#[test]
fn pull_busybox_in_one_layer() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/busybox:1.0");
    let img = Image::new(vec![busybox_layer(Comp::Gzip)], &amd64());
    img.push(&client, &r, Some("1.0"));

    let tmp = TempDir::new("pull-busybox");
    let s = store(&tmp);
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(rec.id, img.id());
    assert_eq!(rec.layers.len(), 1);
    assert_eq!(
        rec.repo_digests,
        vec![format!(
            "{}/husk-test/busybox@{}",
            reg.host,
            img.manifest_digest()
        )]
    );
    let diff = s.layer_diff(&rec.layers[0].chain_id);
    assert_eq!(
        std::fs::read(diff.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(diff.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert!(s.has_blob(&img.layers[0].digest));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.root()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the store is private");
    // Found by tag, by short ID and by digest.
    assert_eq!(s.resolve(&r.to_string()).unwrap().id, rec.id);
    assert_eq!(s.resolve(rec.id.short()).unwrap().id, rec.id);
    assert_eq!(
        s.resolve(&format!(
            "{}/husk-test/busybox@{}",
            reg.host,
            img.manifest_digest()
        ))
        .unwrap()
        .id,
        rec.id
    );
    // A second pull downloads nothing and gives the same image.
    let again = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(again.id, rec.id);
    assert_eq!(
        std::fs::read_dir(s.root().join("ingest")).unwrap().count(),
        0
    );
}

#[test]
fn pull_many_layers_with_whiteouts_zstd_and_plain() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/many:latest");
    let img = many_layers();
    img.push(&client, &r, Some("latest"));
    let tmp = TempDir::new("pull-many");
    let s = store(&tmp);
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(rec.layers.len(), 3);
    let l0 = s.layer_diff(&rec.layers[0].chain_id);
    let l1 = s.layer_diff(&rec.layers[1].chain_id);
    let l2 = s.layer_diff(&rec.layers[2].chain_id);
    let su = std::fs::metadata(l0.join("usr/bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(
        su.ino(),
        std::fs::metadata(l0.join("usr/bin/su-link")).unwrap().ino()
    );
    assert_eq!(
        std::fs::read_link(l0.join("usr/bin/sudo"))
            .unwrap()
            .to_str(),
        Some("su")
    );
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(l0.join("usr/bin/ping"), "user.husk", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"yes");
    if rustix::process::geteuid().is_root() {
        let w = std::fs::symlink_metadata(l1.join("etc/shadow")).unwrap();
        assert!(w.file_type().is_char_device() && w.rdev() == 0);
        let n = rustix::fs::getxattr(l1.join("var/cache/apt"), "trusted.overlay.opaque", &mut buf)
            .unwrap();
        assert_eq!(&buf[..n], b"y");
    }
    assert_eq!(std::fs::read(l2.join("opt/old")).unwrap(), b"replaced");
}

#[test]
fn pull_index_picks_the_platform() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/multi:1");
    let arm = Platform::parse("linux/arm64").unwrap();
    let img_amd = Image::new(
        vec![layer(
            Tar::new().file("arch", b"amd64", 0o644).finish(),
            Comp::Gzip,
        )],
        &amd64(),
    );
    let img_arm = Image::new(
        vec![layer(
            Tar::new().file("arch", b"arm64", 0o644).finish(),
            Comp::Gzip,
        )],
        &arm,
    );
    let index_digest = push_index(
        &client,
        &r,
        "1",
        &[(&img_amd, amd64()), (&img_arm, arm.clone())],
    );

    let tmp = TempDir::new("pull-index");
    let s = store(&tmp);
    let opts = PullOptions {
        platform: arm.clone(),
        ..PullOptions::default()
    };
    let rec = pull(&s, &client, &r, &opts, &Quiet).unwrap();
    assert_eq!(rec.id, img_arm.id());
    assert_eq!(rec.architecture, "arm64");
    assert_eq!(
        rec.repo_digests,
        vec![format!("{}/husk-test/multi@{index_digest}", reg.host)]
    );
    assert_eq!(
        std::fs::read(s.layer_diff(&rec.layers[0].chain_id).join("arch")).unwrap(),
        b"arm64"
    );
    let rec = pull(
        &s,
        &client,
        &r,
        &PullOptions {
            platform: amd64(),
            ..PullOptions::default()
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img_amd.id());
    let err = pull(
        &s,
        &client,
        &r,
        &PullOptions {
            platform: Platform::parse("linux/s390x").unwrap(),
            ..PullOptions::default()
        },
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err}");
    assert!(
        err.to_string().contains("linux/amd64, linux/arm64"),
        "{err}"
    );
}

#[test]
fn docker_manifest_list_and_v2_schema2() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/dockerish:1");
    let arm = Platform::parse("linux/arm64").unwrap();
    let a = Image::docker(vec![busybox_layer(Comp::Gzip)], &amd64());
    let b = Image::docker(
        vec![layer(
            Tar::new().file("arm", b"1", 0o644).finish(),
            Comp::Gzip,
        )],
        &arm,
    );
    common::push_list(
        &client,
        &r,
        "1",
        &[(&a, amd64()), (&b, arm)],
        husk_image::manifest::DOCKER_LIST,
    );
    let tmp = TempDir::new("pull-docker");
    let s = store(&tmp);
    let rec = pull(
        &s,
        &client,
        &r,
        &PullOptions {
            platform: amd64(),
            ..PullOptions::default()
        },
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, a.id());
    assert_eq!(
        rec.manifest_media_type,
        husk_image::manifest::DOCKER_MANIFEST
    );
    // A Docker manifest by tag, too.
    let single = reg.reference("husk-test/dockerish:single");
    a.push(&client, &single, Some("single"));
    assert_eq!(
        pull(&s, &client, &single, &PullOptions::default(), &Quiet)
            .unwrap()
            .id,
        a.id()
    );
}

#[test]
fn missing_image_is_not_found() {
    let reg = Registry::start();
    let client = reg.client();
    let tmp = TempDir::new("pull-404");
    let s = store(&tmp);
    let err = pull(
        &s,
        &client,
        &reg.reference("husk-test/nothing:1"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

fn pushed_busybox(reg: &Registry, name: &str) -> (Image, husk_image::Reference) {
    let client = reg.client();
    let r = reg.reference(name);
    let img = Image::new(vec![busybox_layer(Comp::Gzip)], &amd64());
    img.push(&client, &r, r.tag.as_deref());
    (img, r)
}

#[test]
fn corrupt_blob_is_refused_and_nothing_stored() {
    let reg = Registry::start();
    let (img, r) = pushed_busybox(&reg, "husk-test/corrupt:1");
    let file = reg.blob_file(&img.layers[0].digest);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let tmp = TempDir::new("pull-corrupt");
    let s = store(&tmp);
    let err = pull(&s, &reg.client(), &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_store_empty(&s);
    assert_eq!(
        std::fs::read_dir(s.root().join("ingest")).unwrap().count(),
        0,
        "corrupt bytes must not be kept for resume"
    );
}

#[test]
fn truncated_blob_is_refused() {
    let reg = Registry::start();
    let (img, r) = pushed_busybox(&reg, "husk-test/truncated:1");
    let file = reg.blob_file(&img.layers[0].digest);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let tmp = TempDir::new("pull-truncated");
    let s = store(&tmp);
    let err = pull(&s, &reg.client(), &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains(&img.layers[0].digest.to_string()) || text.contains("blobs"),
        "{text}"
    );
    assert_store_empty(&s);
}

#[test]
fn wrong_size_is_refused() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/wrongsize:1");
    let l = busybox_layer(Comp::Gzip);
    let diff_ids = vec![l.diff_id.to_string()];
    for (tag, size) in [
        ("smaller", l.blob.len() as u64 - 100),
        ("larger", l.blob.len() as u64 + 100),
    ] {
        let img = Image::with_diff_ids(
            vec![l.clone()],
            &amd64(),
            diff_ids.clone(),
            Some(vec![size]),
        );
        img.push(&client, &r, Some(tag));
        let tmp = TempDir::new("pull-size");
        let s = store(&tmp);
        let rt = reg.reference(&format!("husk-test/wrongsize:{tag}"));
        let err = pull(&s, &client, &rt, &PullOptions::default(), &Quiet)
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                Error::SizeMismatch { .. } | Error::DigestMismatch { .. } | Error::Http { .. }
            ),
            "{tag}: {err}"
        );
        assert_store_empty(&s);
    }
}

#[test]
fn wrong_diff_id_is_refused() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/wrongdiff:1");
    let l = busybox_layer(Comp::Gzip);
    let img = Image::with_diff_ids(
        vec![l],
        &amd64(),
        vec![husk_image::Digest::of(b"other").to_string()],
        None,
    );
    img.push(&client, &r, Some("1"));
    let tmp = TempDir::new("pull-diffid");
    let s = store(&tmp);
    let err = pull(&s, &client, &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::DigestMismatch { .. }) && err.to_string().contains("diff_id"),
        "{err}"
    );
    assert_store_empty(&s);
}

#[test]
fn basic_auth_registry() {
    if std::process::Command::new("htpasswd")
        .arg("-h")
        .output()
        .is_err()
    {
        panic!("htpasswd (Debian package apache2-utils) is needed");
    }
    let reg = Registry::start_with(true, false);
    let (img, r) = pushed_busybox(&reg, "husk-test/private:1");
    let tmp = TempDir::new("pull-basic");
    let s = store(&tmp);
    let anonymous = husk_image::registry::Client::new(husk_image::registry::ClientOptions {
        retries: 0,
        certs_dirs: vec![],
        ..Default::default()
    });
    let err = pull(&s, &anonymous, &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("husk login"), "{err}");
    let rec = pull(&s, &reg.client(), &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(rec.id, img.id());
}

#[test]
fn tls_registry_with_its_ca() {
    let reg = Registry::start_with(false, true);
    let (img, r) = pushed_busybox(&reg, "husk-test/tls:1");
    let tmp = TempDir::new("pull-tls");
    let s = store(&tmp);
    let rec = pull(&s, &reg.client(), &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(rec.id, img.id());
    // Without the CA (system roots only) the certificate is refused, and husk does not
    // fall back to plain http.
    let tmp = TempDir::new("pull-tls-noca");
    let s = store(&tmp);
    let no_ca = husk_image::registry::Client::new(husk_image::registry::ClientOptions {
        retries: 0,
        certs_dirs: vec![],
        ..Default::default()
    });
    let err = pull(&s, &no_ca, &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(err.to_string().contains("https://"), "{err}");
}

#[test]
fn concurrent_pulls_share_the_store() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/many:concurrent");
    let img = many_layers();
    img.push(&client, &r, Some("concurrent"));
    let tmp = TempDir::new("pull-concurrent");
    let s = store(&tmp);
    let results: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (s, r, reg) = (&s, &r, &reg);
                sc.spawn(move || pull(s, &reg.client(), r, &PullOptions::default(), &Quiet))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for res in results {
        assert_eq!(res.unwrap().id, img.id());
    }
    assert_eq!(
        std::fs::read_dir(s.root().join("layers")).unwrap().count(),
        3
    );
    assert_eq!(std::fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(s.root().join("ingest")).unwrap().count(),
        0
    );
}

/// Counts layers a pull found already unpacked.
#[derive(Default)]
struct CachedCounter(std::sync::atomic::AtomicUsize);

impl husk_image::pull::Progress for CachedCounter {
    fn event(&self, e: husk_image::pull::Event<'_>) {
        if let husk_image::pull::Event::LayerDone { cached: true, .. } = e {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn layers_are_shared_by_chain_id_and_collected_with_the_last_image() {
    let reg = Registry::start();
    let client = reg.client();
    let base = busybox_layer(Comp::Gzip);
    let extra = layer(Tar::new().file("extra", b"e", 0o644).finish(), Comp::Gzip);
    let a = Image::new(vec![base.clone()], &amd64());
    let b = Image::new(vec![base, extra], &amd64());
    let (ra, rb) = (
        reg.reference("husk-test/a:1"),
        reg.reference("husk-test/b:1"),
    );
    a.push(&client, &ra, Some("1"));
    b.push(&client, &rb, Some("1"));
    let tmp = TempDir::new("pull-shared");
    let s = store(&tmp);
    pull(&s, &client, &ra, &PullOptions::default(), &Quiet).unwrap();
    let cached = CachedCounter::default();
    let rec_b = pull(&s, &client, &rb, &PullOptions::default(), &cached).unwrap();
    assert_eq!(
        cached.0.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the base layer was reused"
    );
    let count = |sub: &str| std::fs::read_dir(s.root().join(sub)).unwrap().count();
    assert_eq!(count("layers"), 2);
    s.remove_image(&a.id()).unwrap();
    assert_eq!(count("layers"), 2, "b still uses both");
    assert!(s.has_blob(&rec_b.layers[0].digest));
    s.remove_image(&b.id()).unwrap();
    assert_eq!(
        (count("layers"), count("blobs/sha256"), count("images")),
        (0, 0, 0)
    );
}

#[test]
fn multi_member_gzip_layer() {
    // eStargz and pigz-style layers are several gzip members back to back.
    use std::io::Write;
    let tar = Tar::new()
        .file("first", &vec![b'a'; 100_000], 0o644)
        .file("second", b"b", 0o644)
        .finish();
    let mut blob = Vec::new();
    for part in [&tar[..50_000], &tar[50_000..]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        blob.extend(e.finish().unwrap());
    }
    let l = common::Layer {
        digest: husk_image::Digest::of(&blob),
        diff_id: husk_image::Digest::of(&tar),
        media_type: husk_image::manifest::OCI_LAYER_GZIP,
        blob,
    };
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/multigz:1");
    Image::new(vec![l], &amd64()).push(&client, &r, Some("1"));
    let tmp = TempDir::new("pull-multigz");
    let s = store(&tmp);
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    let diff = s.layer_diff(&rec.layers[0].chain_id);
    assert_eq!(std::fs::read(diff.join("second")).unwrap(), b"b");
    assert_eq!(
        std::fs::metadata(diff.join("first")).unwrap().len(),
        100_000
    );
}

#[test]
fn layer_that_is_not_what_its_media_type_says_is_refused() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/notgzip:1");
    let mut l = layer(Tar::new().file("f", b"plain", 0o644).finish(), Comp::None);
    l.media_type = husk_image::manifest::OCI_LAYER_GZIP;
    Image::new(vec![l], &amd64()).push(&client, &r, Some("1"));
    let tmp = TempDir::new("pull-notgzip");
    let s = store(&tmp);
    let err = pull(&s, &client, &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Unpack { .. }), "{err}");
    assert!(err.to_string().contains("gzip"), "{err}");
    assert_store_empty(&s);
    assert_eq!(
        std::fs::read_dir(s.root().join("ingest")).unwrap().count(),
        0
    );
}

#[test]
fn the_same_blob_twice_in_one_image() {
    // Docker images often repeat the empty layer; each position has its own chain ID.
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/repeat:1");
    let empty = layer(Tar::new().finish(), Comp::Gzip);
    let middle = layer(Tar::new().file("m", b"m", 0o644).finish(), Comp::Gzip);
    let img = Image::new(vec![empty.clone(), middle, empty.clone()], &amd64());
    img.push(&client, &r, Some("1"));
    let tmp = TempDir::new("pull-repeat");
    let s = store(&tmp);
    let rec = pull(&s, &client, &r, &PullOptions::default(), &Quiet).unwrap();
    assert_eq!(rec.layers[0].digest, rec.layers[2].digest);
    assert_ne!(rec.layers[0].chain_id, rec.layers[2].chain_id);
    assert_eq!(
        std::fs::read_dir(s.root().join("layers")).unwrap().count(),
        3
    );
    assert_eq!(
        std::fs::read_dir(s.root().join("ingest")).unwrap().count(),
        0
    );
    assert!(s.has_blob(&empty.digest));
}
