//! Test support: temp dirs and a loopback registry that clean up on drop, layer tarballs
//! built in memory (including malicious ones), and images pushed with husk's own client.
#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation)]

pub mod fault;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use husk_image::auth::{Credential, Credentials};
use husk_image::manifest::{self, Platform};
use husk_image::registry::{Client, ClientOptions, Payload};
use husk_image::{Digest, Reference};

/// A unique temp dir removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p =
            std::env::temp_dir().join(husk_image::fsutil::unique_name(&format!("husk-test-{tag}")));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Unmount anything a failed test left mounted below, then remove.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") {
            for line in mounts.lines() {
                if let Some(mp) = line.split(' ').nth(4) {
                    if Path::new(mp).starts_with(&self.0) {
                        let _ = rustix::mount::unmount(mp, rustix::mount::UnmountFlags::DETACH);
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free port on 127.0.0.1 (the listener is closed just before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's docker-registry on loopback, killed on drop.
pub struct Registry {
    child: Child,
    pub dir: TempDir,
    pub host: String,
    pub tls_ca: Option<PathBuf>,
    pub user: Option<(String, String)>,
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with(false, false)
    }

    pub fn start_with(basic_auth: bool, tls: bool) -> Self {
        let dir = TempDir::new("registry");
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            );
            let mut tls_ca = None;
            if tls {
                let (ca, cert, key) = make_cert(dir.path());
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
                tls_ca = Some(ca);
            }
            let mut user = None;
            if basic_auth {
                let htpasswd = dir.path().join("htpasswd");
                let out = Command::new("htpasswd")
                    .args(["-Bbn", "tester", "s3cret"])
                    .output()
                    .expect("htpasswd (apache2-utils) is needed");
                std::fs::write(&htpasswd, out.stdout).unwrap();
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: husk-test\n    path: {}\n",
                    htpasswd.display()
                ));
                user = Some(("tester".to_owned(), "s3cret".to_owned()));
            }
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&cfg_path)
                .env("OTEL_TRACES_EXPORTER", "none")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("docker-registry (Debian package docker-registry) is needed");
            let host = format!("127.0.0.1:{port}");
            let mut child = child;
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut exited = false;
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Registry {
                        child,
                        dir,
                        host,
                        tls_ca,
                        user,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_err = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
            if !exited {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        panic!("registry did not start: {last_err}");
    }

    /// A client that trusts this registry's CA and knows its user.
    pub fn client(&self) -> Client {
        let mut opts = ClientOptions {
            retries: 2,
            backoff: Duration::from_millis(20),
            certs_dirs: vec![],
            ..ClientOptions::default()
        };
        if let Some(ca) = &self.tls_ca {
            let d = self.dir.path().join("certs.d").join(&self.host);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(ca, d.join("ca.crt")).unwrap();
            opts.certs_dirs = vec![self.dir.path().join("certs.d")];
        }
        if let Some((u, p)) = &self.user {
            let mut c = Credentials::default();
            c.insert(
                &self.host,
                Credential {
                    username: u.clone(),
                    password: p.clone(),
                },
            );
            opts.credentials = c;
        }
        Client::new(opts)
    }

    pub fn reference(&self, name: &str) -> Reference {
        Reference::parse(&format!("{}/{name}", self.host)).unwrap()
    }

    /// The file the registry keeps a blob's bytes in.
    pub fn blob_file(&self, d: &Digest) -> PathBuf {
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&d.hex()[..2])
            .join(d.hex())
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl.
/// Returns (CA cert, server cert chain, server key).
fn make_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let st = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed");
        assert!(st.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=husk test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Builds layer tarballs, including entries no honest tool writes.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Self {
        Self {
            b: tar::Builder::new(Vec::new()),
        }
    }

    /// An entry with raw name and link bytes (no validation: `..`, `/abs`).
    pub fn raw(
        &mut self,
        name: &[u8],
        kind: tar::EntryType,
        mode: u32,
        link: &[u8],
        data: &[u8],
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name);
            g.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.raw(name.as_bytes(), tar::EntryType::Directory, mode, b"", b"")
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.raw(name.as_bytes(), tar::EntryType::Regular, mode, b"", data)
    }

    pub fn file_owned(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Symlink,
            0o777,
            target.as_bytes(),
            b"",
        )
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(
            name.as_bytes(),
            tar::EntryType::Link,
            0o644,
            target.as_bytes(),
            b"",
        )
    }

    pub fn device(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_mode(0o666);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        self.b.append(&h, &b""[..]).unwrap();
        self
    }

    /// A file with PAX xattrs.
    pub fn file_xattrs(&mut self, name: &str, data: &[u8], xattrs: &[(&str, &[u8])]) -> &mut Self {
        let keys: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        self.b
            .append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
        self.file(name, data, 0o644)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

/// A layer blob ready to push.
#[derive(Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub digest: Digest,
    pub diff_id: Digest,
}

pub fn layer(tar: Vec<u8>, c: Comp) -> Layer {
    let diff_id = Digest::of(&tar);
    let (blob, media_type) = match c {
        Comp::None => (tar, manifest::OCI_LAYER),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar).unwrap();
            (e.finish().unwrap(), manifest::OCI_LAYER_GZIP)
        }
        Comp::Zstd => (
            zstd::encode_all(&tar[..], 3).unwrap(),
            manifest::OCI_LAYER_ZSTD,
        ),
    };
    Layer {
        digest: Digest::of(&blob),
        blob,
        media_type,
        diff_id,
    }
}

/// An image: config and manifest bytes plus its layers.
#[derive(Clone)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Image {
    pub fn new(layers: Vec<Layer>, platform: &Platform) -> Self {
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        Self::with_diff_ids(layers, platform, diff_ids, None)
    }

    /// With chosen diff_ids and declared layer sizes (for corruption tests).
    pub fn with_diff_ids(
        layers: Vec<Layer>,
        platform: &Platform,
        diff_ids: Vec<String>,
        sizes: Option<Vec<u64>>,
    ) -> Self {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let descs: Vec<serde_json::Value> = layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let size = sizes.as_ref().map_or(l.blob.len() as u64, |s| s[i]);
                serde_json::json!({"mediaType": l.media_type, "digest": l.digest.to_string(), "size": size})
            })
            .collect();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest::OCI_MANIFEST,
            "config": {"mediaType": manifest::OCI_CONFIG, "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": descs,
        }))
        .unwrap();
        Self {
            layers,
            config,
            manifest,
        }
    }

    /// The same image with Docker's media types (v2 schema 2 manifest, Docker layers).
    pub fn docker(layers: Vec<Layer>, platform: &Platform) -> Self {
        let layers: Vec<Layer> = layers
            .into_iter()
            .map(|mut l| {
                assert_eq!(
                    l.media_type,
                    manifest::OCI_LAYER_GZIP,
                    "Docker layers are gzip"
                );
                l.media_type = manifest::DOCKER_LAYER_GZIP;
                l
            })
            .collect();
        let oci = Self::new(layers, platform);
        let mut m: serde_json::Value = serde_json::from_slice(&oci.manifest).unwrap();
        m["mediaType"] = manifest::DOCKER_MANIFEST.into();
        m["config"]["mediaType"] = manifest::DOCKER_CONFIG.into();
        Self {
            manifest: serde_json::to_vec(&m).unwrap(),
            ..oci
        }
    }

    pub fn media_type(&self) -> String {
        let m: serde_json::Value = serde_json::from_slice(&self.manifest).unwrap();
        m["mediaType"].as_str().unwrap().to_owned()
    }

    pub fn id(&self) -> Digest {
        Digest::of(&self.config)
    }

    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// Pushes blobs and the manifest under `tag` (or only by digest with `None`).
    pub fn push(&self, client: &Client, r: &Reference, tag: Option<&str>) {
        for l in &self.layers {
            if !client.blob_exists(r, &l.digest).unwrap() {
                client
                    .upload_blob(r, &l.digest, Payload::Bytes(&l.blob))
                    .unwrap();
            }
        }
        client
            .upload_blob(r, &self.id(), Payload::Bytes(&self.config))
            .unwrap();
        let reference = tag.map_or_else(|| self.manifest_digest().to_string(), str::to_owned);
        client
            .put_manifest(r, &reference, &self.media_type(), &self.manifest)
            .unwrap();
    }
}

/// Pushes an OCI index over `images` (each pushed by digest) under `tag`.
pub fn push_index(
    client: &Client,
    r: &Reference,
    tag: &str,
    images: &[(&Image, Platform)],
) -> Digest {
    push_list(client, r, tag, images, manifest::OCI_INDEX)
}

/// Pushes an index or a Docker manifest list (`list_type`) over `images` under `tag`.
pub fn push_list(
    client: &Client,
    r: &Reference,
    tag: &str,
    images: &[(&Image, Platform)],
    list_type: &str,
) -> Digest {
    let mut manifests = Vec::new();
    for (img, p) in images {
        img.push(client, r, None);
        manifests.push(serde_json::json!({
            "mediaType": img.media_type(),
            "digest": img.manifest_digest().to_string(),
            "size": img.manifest.len(),
            "platform": {"os": p.os, "architecture": p.architecture},
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": list_type, "manifests": manifests,
    }))
    .unwrap();
    client.put_manifest(r, tag, list_type, &index).unwrap();
    Digest::of(&index)
}

/// busybox in one layer: /bin/busybox and a few applet links.
pub fn busybox_layer(c: Comp) -> Layer {
    let bin = std::fs::read("/bin/busybox").expect("busybox-static is needed");
    let mut t = Tar::new();
    t.dir("bin/", 0o755).file("bin/busybox", &bin, 0o755);
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.dir("etc/", 0o755)
        .file("etc/hostname", b"busybox\n", 0o644)
        .dir("tmp/", 0o1777);
    layer(t.finish(), c)
}

pub fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

/// A base layer with hardlinks, symlinks, xattrs and setuid; a second with whiteouts and
/// an opaque dir; a third replacing a file.
pub fn many_layers() -> Image {
    let base = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
        .file("etc/shadow", b"secret", 0o600)
        .dir("usr/bin/", 0o755)
        .file_owned("usr/bin/su", b"su", 0o4755, 0, 0, 1_500_000_000)
        .hardlink("usr/bin/su-link", "usr/bin/su")
        .symlink("usr/bin/sudo", "su")
        .file_xattrs("usr/bin/ping", b"ping", &[("user.husk", b"yes")])
        .dir("var/cache/apt/", 0o755)
        .file("var/cache/apt/pkgcache.bin", b"cache", 0o644)
        .dir("opt/", 0o755)
        .file("opt/old", b"old", 0o644)
        .finish();
    let second = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.shadow", b"", 0o644)
        .dir("var/cache/apt/", 0o755)
        .file("var/cache/apt/.wh..wh..opq", b"", 0o644)
        .file("var/cache/apt/new.bin", b"new", 0o644)
        .finish();
    let third = Tar::new().file("opt/old", b"replaced", 0o644).finish();
    Image::new(
        vec![
            layer(base, Comp::Gzip),
            layer(second, Comp::Zstd),
            layer(third, Comp::None),
        ],
        &amd64(),
    )
}
