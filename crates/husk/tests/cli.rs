//! Black-box tests of the `husk` binary's image commands against a loopback registry.
#![allow(clippy::unwrap_used)]

#[path = "../../image/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::fault::{FaultServer, Faults};
use common::{amd64, busybox_layer, many_layers, Comp, Image, Registry, TempDir};

struct Husk<'a> {
    root: &'a Path,
    docker_config: &'a Path,
}

impl Husk<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_husk"))
            .arg("--root")
            .arg(self.root)
            .args(args)
            .env("DOCKER_CONFIG", self.docker_config)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "husk {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects husk's error status 125 with one line on stderr; returns it.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(125),
            "husk {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        // Progress lines may come first; the error is the last line, and one line.
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("husk: ")).collect();
        assert_eq!(errors.len(), 1, "one error line: {err}");
        assert_eq!(err.trim_end().lines().last(), Some(errors[0]), "{err}");
        errors[0].to_owned()
    }
}

#[test]
fn pull_list_tag_inspect_save_load_push_rmi() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/busybox:1");
    let img = Image::new(vec![busybox_layer(Comp::Gzip)], &amd64());
    img.push(&client, &r, Some("1"));
    let tmp = TempDir::new("cli");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let name = format!("{}/husk-test/busybox:1", reg.host);

    assert_eq!(husk.ok(&["pull", "-q", &name]).trim(), name);
    let out = husk.ok(&["pull", &name]);
    assert_eq!(out.trim(), name);
    let images = husk.ok(&["images"]);
    assert!(images.starts_with("REPOSITORY"), "{images}");
    assert!(
        images.contains(&format!("{}/husk-test/busybox", reg.host))
            && images.contains(img.id().short()),
        "{images}"
    );
    let digests = husk.ok(&["images", "--digests"]);
    assert!(
        digests.contains(&img.manifest_digest().to_string()),
        "{digests}"
    );
    assert_eq!(husk.ok(&["images", "-q"]).trim(), img.id().short());
    assert_eq!(
        husk.ok(&["image", "ls", "--format", "{{.Tag}} {{.ID}}"])
            .trim(),
        format!("1 {}", img.id().short())
    );
    husk.ok(&["tag", &name, "local/copy:v2"]);
    assert_eq!(
        husk.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .count(),
        2
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&husk.ok(&["image", "inspect", "local/copy:v2"])).unwrap();
    assert_eq!(inspect[0]["Id"], img.id().to_string());
    assert_eq!(
        inspect[0]["RootFS"]["Layers"][0],
        img.layers[0].diff_id.to_string()
    );
    assert_eq!(inspect[0]["Config"]["Cmd"][0], "sh");

    // save → load into another root: the same image, with its tag.
    let archive = tmp.path().join("busybox.tar");
    husk.ok(&["save", "-o", archive.to_str().unwrap(), "local/copy:v2"]);
    let other = Husk {
        root: &tmp.path().join("root2"),
        docker_config: husk.docker_config,
    };
    let loaded = other.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(loaded.trim(), "Loaded image: local/copy:v2");
    assert_eq!(
        other.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().to_string()
    );

    // push from the second root under a new name, pull it into a third.
    let pushed = format!("{}/husk-test/pushed:7", reg.host);
    other.ok(&["tag", "local/copy:v2", &pushed]);
    let out = other.ok(&["push", &pushed]);
    assert!(out.contains(&img.manifest_digest().to_string()), "{out}");
    let third = Husk {
        root: &tmp.path().join("root3"),
        docker_config: husk.docker_config,
    };
    third.ok(&["pull", "-q", &pushed]);
    assert_eq!(
        third.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().to_string()
    );

    // rmi: an ID with two tags needs -f; a tag untags; the last tag deletes.
    let err = husk.fails(&["rmi", img.id().short()]);
    assert!(err.contains("referenced in multiple repositories"), "{err}");
    assert!(husk
        .ok(&["rmi", "local/copy:v2"])
        .contains("Untagged: local/copy:v2"));
    let out = husk.ok(&["image", "rm", &name]);
    assert!(out.contains(&format!("Deleted: {}", img.id())), "{out}");
    assert_eq!(husk.ok(&["images", "-q"]).trim(), "");
    let store = husk_image::store::Store::open(husk.root).unwrap();
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn errors_are_one_line_with_status_125() {
    let tmp = TempDir::new("cli-errors");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let err = husk.fails(&["pull", "Bad:ref:x"]);
    assert!(err.contains("invalid reference"), "{err}");
    let err = husk.fails(&["rmi", "nothing:here"]);
    assert!(err.contains("no such image"), "{err}");
    let err = husk.fails(&["pull", "--platform", "linux", "busybox"]);
    assert!(err.contains("invalid platform"), "{err}");
    let err = husk.fails(&["load", "-i", "/nonexistent/archive.tar"]);
    assert!(err.contains("/nonexistent/archive.tar"), "{err}");
    let out = husk.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(husk.run(&["--help"]).status.success());
}

#[test]
fn login_pull_logout_with_basic_auth() {
    let reg = Registry::start_with(true, false);
    let client = reg.client();
    let r = reg.reference("husk-test/private:1");
    Image::new(vec![busybox_layer(Comp::Gzip)], &amd64()).push(&client, &r, Some("1"));
    let tmp = TempDir::new("cli-login");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let name = r.to_string();
    let err = husk.fails(&["pull", &name]);
    assert!(err.contains("unauthorized"), "{err}");
    let err = husk.fails(&["login", "-u", "tester", "-p", "wrong", &reg.host]);
    assert!(err.contains("unauthorized"), "{err}");
    assert_eq!(
        husk.ok(&["login", "-u", "tester", "-p", "s3cret", &reg.host])
            .trim(),
        "Login Succeeded"
    );
    let cfg = std::fs::read_to_string(husk.docker_config.join("config.json")).unwrap();
    assert!(cfg.contains(&reg.host) && cfg.contains("\"auth\""), "{cfg}");
    husk.ok(&["pull", "-q", &name]);
    assert!(husk
        .ok(&["logout", &reg.host])
        .contains("Removing login credentials"));
    husk.ok(&["rmi", &name]);
    husk.fails(&["pull", &name]);
}

#[test]
fn import_prune_and_docker_archive() {
    let tmp = TempDir::new("cli-import");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let id = husk.ok(&["import", rootfs.to_str().unwrap(), "imported/rootfs:1"]);
    let id = id.trim();
    assert!(id.starts_with("sha256:"), "{id}");
    let store = husk_image::store::Store::open(husk.root).unwrap();
    let rec = store.resolve("imported/rootfs:1").unwrap();
    let diff = store.layer_diff(&rec.layers[0].chain_id);
    assert_eq!(
        std::fs::read(diff.join("bin/busybox")).unwrap(),
        std::fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(
        std::fs::read_link(diff.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );

    // A `docker save` archive (legacy layout: <id>/layer.tar, <id>.json, manifest.json).
    let img = many_layers();
    let archive = tmp.path().join("docker.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
        let add = |b: &mut tar::Builder<std::fs::File>, name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        let layers: Vec<String> = img
            .layers
            .iter()
            .enumerate()
            .map(|(i, _)| format!("l{i}/layer.tar"))
            .collect();
        for (i, l) in img.layers.iter().enumerate() {
            if i == 0 {
                add(&mut b, &layers[i], &l.blob);
            } else {
                // Deduplicated the way docker save does: a symlink to a shared file.
                add(&mut b, &format!("blob{i}.tar"), &l.blob);
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, &layers[i], format!("../blob{i}.tar"))
                    .unwrap();
            }
        }
        add(&mut b, "config.json", &img.config);
        let manifest = serde_json::json!([{"Config": "config.json", "RepoTags": ["docker/archive:1"], "Layers": layers}]);
        add(&mut b, "manifest.json", manifest.to_string().as_bytes());
        b.finish().unwrap();
    }
    assert_eq!(
        husk.ok(&["load", "-i", archive.to_str().unwrap()]).trim(),
        "Loaded image: docker/archive:1"
    );
    assert_eq!(store.resolve("docker/archive:1").unwrap().id, img.id());

    // Untag the import; prune removes the dangling image but keeps the tagged one.
    store.remove_tag("docker.io/imported/rootfs:1").unwrap();
    let out = husk.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert_eq!(
        husk.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().to_string()
    );
}

#[test]
fn killed_pull_is_resumed_by_the_next_one() {
    let img = Image::new(vec![busybox_layer(Comp::Gzip)], &amd64());
    let faults = Faults {
        slow_blobs: Some(std::time::Duration::from_millis(100)),
        ..Faults::default()
    };
    let srv = FaultServer::start(&img, "kill/app", faults);
    let tmp = TempDir::new("cli-kill");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let name = srv.reference("kill/app").to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_husk"))
        .arg("--root")
        .arg(husk.root)
        .args(["pull", "-q", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store = husk_image::store::Store::open(husk.root).unwrap();
    let partial = store.ingest_path(&img.layers[0].digest);
    // Kill it once some, not all, of the layer is on disk (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) < 200_000 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let have = std::fs::metadata(&partial).unwrap().len();
    assert!(have < img.layers[0].blob.len() as u64);
    assert_eq!(husk.ok(&["images", "-q"]).trim(), "");
    srv.state.lock().unwrap().faults.slow_blobs = None;
    husk.ok(&["pull", "-q", &name]);
    assert_eq!(
        husk.ok(&["images", "-q", "--no-trunc"]).trim(),
        img.id().to_string()
    );
    assert!(!partial.exists());
    let layer = format!("GET /v2/kill/app/blobs/{}", img.layers[0].digest);
    let last = srv
        .log()
        .into_iter()
        .rfind(|l| l.starts_with(&layer))
        .unwrap();
    let from: u64 = last
        .rsplit("bytes=")
        .next()
        .unwrap()
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(
        from >= have.min(200_000),
        "resumed from {from}, had {have}: {last}"
    );
    // Nothing half-done is left behind.
    assert_eq!(
        std::fs::read_dir(store.root().join("tmp")).unwrap().count(),
        0
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let reg = Registry::start();
    let r = reg.reference("husk-test/inuse:1");
    Image::new(vec![busybox_layer(Comp::Gzip)], &amd64()).push(&reg.client(), &r, Some("1"));
    let tmp = TempDir::new("cli-inuse");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    husk.ok(&["pull", "-q", &r.to_string()]);
    let store = husk_image::store::Store::open(husk.root).unwrap();
    let rec = store.resolve(&r.to_string()).unwrap();
    let id = format!("inuse-{}", std::process::id());
    let fs = husk_image::rootfs::mount_rootfs(&store, &id, &rec, None).unwrap();
    assert!(fs.merged.join("bin/busybox").exists());
    let err = husk.fails(&["rmi", &r.to_string()]);
    assert!(
        err.contains("used by container") && err.contains(&id),
        "{err}"
    );
    // -f untags but keeps what a mounted root filesystem needs.
    assert!(husk
        .ok(&["rmi", "-f", &r.to_string()])
        .contains("Untagged:"));
    assert!(fs.merged.join("bin/busybox").exists());
    assert_eq!(
        husk.ok(&["images", "-q", "--no-trunc"]).trim(),
        rec.id.to_string()
    );
    husk_image::rootfs::unmount_rootfs(&store, &id, None).unwrap();
    husk.ok(&["rmi", rec.id.short()]);
    assert_eq!(husk.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn pull_by_digest_and_platform() {
    let reg = Registry::start();
    let client = reg.client();
    let r = reg.reference("husk-test/plat:1");
    let arm = husk_image::manifest::Platform::parse("linux/arm64").unwrap();
    let amd = Image::new(vec![busybox_layer(Comp::Gzip)], &amd64());
    let arm_img = Image::new(vec![busybox_layer(Comp::Zstd)], &arm);
    let index = common::push_index(&client, &r, "1", &[(&amd, amd64()), (&arm_img, arm)]);
    let tmp = TempDir::new("cli-platform");
    let husk = Husk {
        root: &tmp.path().join("root"),
        docker_config: &tmp.path().join("docker"),
    };
    let name = r.to_string();
    husk.ok(&["pull", "-q", "--platform", "linux/arm64", &name]);
    let inspect: serde_json::Value =
        serde_json::from_str(&husk.ok(&["image", "inspect", &name])).unwrap();
    assert_eq!(inspect[0]["Architecture"], "arm64");
    assert_eq!(inspect[0]["Id"], arm_img.id().to_string());
    // By digest: the index digest, no tag.
    let pinned = format!("{}/husk-test/plat@{index}", reg.host);
    assert_eq!(husk.ok(&["pull", "-q", &pinned]).trim(), pinned);
    let digests = husk.ok(&["images", "--digests", "--format", "{{.Digest}} {{.ID}}"]);
    assert!(
        digests.contains(&format!("{index} {}", amd.id().short())),
        "{digests}"
    );
    let err = husk.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64"),
        "{err}"
    );
}

#[test]
fn credential_helper_from_docker_config() {
    use std::os::unix::fs::PermissionsExt;
    let reg = Registry::start_with(true, false);
    let r = reg.reference("husk-test/helper:1");
    Image::new(vec![busybox_layer(Comp::Gzip)], &amd64()).push(&reg.client(), &r, Some("1"));
    let tmp = TempDir::new("cli-helper");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A helper that checks it is asked about this registry and answers with the login.
    let helper = bin.join("docker-credential-husktest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n[ \"$server\" = \"{}\" ] || exit 1\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"tester\",\"Secret\":\"s3cret\"}}'\n",
            reg.host
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"credHelpers": {reg.host.clone(): "husktest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_husk"))
        .arg("--root")
        .arg(tmp.path().join("root"))
        .args(["pull", "-q", &r.to_string()])
        .env("DOCKER_CONFIG", &docker)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
