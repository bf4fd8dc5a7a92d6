//! Registry faults from a tiny fault-injecting HTTP server on 127.0.0.1: the Bearer token
//! flow, 401, 404, 500s, and connections dropped in the middle of a blob (resumed with
//! Range), including a pull killed half-way and resumed by the next one.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{amd64, busybox_layer, Comp, Image, TempDir};
use husk_image::error::Error;
use husk_image::manifest;
use husk_image::pull::{pull, PullOptions, Quiet};
use husk_image::registry::{Client, ClientOptions};
use husk_image::store::Store;
use husk_image::Reference;

#[derive(Default)]
struct Faults {
    /// Answer this many requests with 500 first.
    fail_500: u32,
    /// Require `Authorization: Bearer good-token` (the token endpoint gives it).
    require_token: bool,
    /// The token endpoint refuses.
    refuse_token: bool,
    /// Close blob responses after this many body bytes, this many times.
    drop_blob_after: Option<(usize, u32)>,
    /// Answer blob requests with a 307 to `/storage/...` (like a registry backed by S3).
    redirect_blobs: bool,
}

#[derive(Default)]
struct State {
    faults: Faults,
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    /// "METHOD path range" of each request.
    log: Vec<String>,
}

struct FaultServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultServer {
    fn start(img: &Image, repo: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut st = State {
            faults,
            ..State::default()
        };
        let m = (manifest::OCI_MANIFEST.to_owned(), img.manifest.clone());
        st.manifests
            .insert(format!("/v2/{repo}/manifests/1"), m.clone());
        st.manifests
            .insert(format!("/v2/{repo}/manifests/{}", img.manifest_digest()), m);
        st.blobs
            .insert(format!("/v2/{repo}/blobs/{}", img.id()), img.config.clone());
        for l in &img.layers {
            st.blobs
                .insert(format!("/v2/{repo}/blobs/{}", l.digest), l.blob.clone());
        }
        let state = Arc::new(Mutex::new(st));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: the test's Drop sets `stop`; 2 minutes at most in any case.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = serve(conn, port, &s2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn reference(&self, repo: &str) -> Reference {
        Reference::parse(&format!("127.0.0.1:{}/{repo}:1", self.port)).unwrap()
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, port: u16, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = HashMap::new();
    for _ in 0..100 {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut out = conn;
    let mut st = state.lock().unwrap();
    let range = headers.get("range").cloned().unwrap_or_default();
    st.log
        .push(format!("{method} {path} {range}").trim().to_owned());
    let respond =
        |out: &mut TcpStream, status: &str, extra: &str, body: &[u8]| -> std::io::Result<()> {
            write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            )?;
            out.write_all(body)
        };
    if path.starts_with("/token") {
        if st.faults.refuse_token {
            return respond(&mut out, "401 Unauthorized", "", b"{}");
        }
        return respond(
            &mut out,
            "200 OK",
            "Content-Type: application/json\r\n",
            br#"{"token":"good-token"}"#,
        );
    }
    // Blob storage behind a redirect has its own (signed-URL) auth: no token there, and
    // the client must not send the registry's token to it.
    if path.starts_with("/storage") && headers.contains_key("authorization") {
        return respond(
            &mut out,
            "400 Bad Request",
            "",
            b"registry token leaked to storage",
        );
    }
    if st.faults.require_token
        && !path.starts_with("/storage")
        && headers.get("authorization").map(String::as_str) != Some("Bearer good-token")
    {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fault\",scope=\"repository:x:pull\"\r\n"
        );
        return respond(
            &mut out,
            "401 Unauthorized",
            &challenge,
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}"#,
        );
    }
    if st.faults.fail_500 > 0 {
        st.faults.fail_500 -= 1;
        return respond(&mut out, "500 Internal Server Error", "", b"boom");
    }
    if path == "/v2/" {
        return respond(&mut out, "200 OK", "", b"{}");
    }
    if let Some((ctype, body)) = st.manifests.get(&path).cloned() {
        return respond(
            &mut out,
            "200 OK",
            &format!("Content-Type: {ctype}\r\n"),
            &body,
        );
    }
    if st.faults.redirect_blobs && path.starts_with("/v2/") && path.contains("/blobs/") {
        return respond(
            &mut out,
            "307 Temporary Redirect",
            &format!("Location: /storage{path}\r\n"),
            b"",
        );
    }
    let blob_key = path.strip_prefix("/storage").unwrap_or(&path).to_owned();
    let Some(blob) = st.blobs.get(&blob_key).cloned() else {
        return respond(
            &mut out,
            "404 Not Found",
            "",
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#,
        );
    };
    let start: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let body = &blob[start.min(blob.len())..];
    let (status, extra) = if start > 0 {
        (
            "206 Partial Content",
            format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                blob.len() - 1,
                blob.len()
            ),
        )
    } else {
        ("200 OK", String::new())
    };
    if let Some((after, times)) = st.faults.drop_blob_after {
        if times > 0 && body.len() > after && blob.len() > 10_000 {
            st.faults.drop_blob_after = Some((after, times - 1));
            write!(
                out,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            )?;
            out.write_all(&body[..after])?;
            out.flush()?;
            // Dropped: the client saw a short body.
            return Ok(());
        }
    }
    respond(&mut out, status, &extra, body)
}

fn client(retries: u32) -> Client {
    Client::new(ClientOptions {
        retries,
        backoff: Duration::from_millis(10),
        certs_dirs: vec![],
        ..ClientOptions::default()
    })
}

fn image() -> Image {
    Image::new(vec![busybox_layer(Comp::Gzip)], &amd64())
}

#[test]
fn bearer_token_challenge() {
    let img = image();
    let srv = FaultServer::start(
        &img,
        "tok/app",
        Faults {
            require_token: true,
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-token");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(
        &s,
        &client(1),
        &srv.reference("tok/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img.id());
    assert!(
        srv.log()
            .iter()
            .any(|l| l.starts_with("GET /token?service=fault&scope=repository%3Ax%3Apull")),
        "{:?}",
        srv.log()
    );
}

#[test]
fn refused_token_is_unauthorized() {
    let img = image();
    let srv = FaultServer::start(
        &img,
        "tok/app",
        Faults {
            require_token: true,
            refuse_token: true,
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-401");
    let s = Store::open(tmp.path()).unwrap();
    let err = pull(
        &s,
        &client(1),
        &srv.reference("tok/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn server_errors_are_retried_then_reported() {
    let img = image();
    let srv = FaultServer::start(
        &img,
        "f/app",
        Faults {
            fail_500: 3,
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-500");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(
        &s,
        &client(5),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img.id());

    let srv = FaultServer::start(
        &img,
        "f/app",
        Faults {
            fail_500: 100,
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-500b");
    let s = Store::open(tmp.path()).unwrap();
    let err = pull(
        &s,
        &client(2),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Status { status: 500, .. }), "{err}");
}

#[test]
fn missing_blob_is_404() {
    let mut img = image();
    // The manifest names a layer the server does not have.
    img.layers[0].digest = husk_image::Digest::of(b"absent");
    let img = Image::new(img.layers.clone(), &amd64());
    let srv = FaultServer::start(&img, "f/app", Faults::default());
    srv.state
        .lock()
        .unwrap()
        .blobs
        .retain(|k, _| !k.ends_with(&img.layers[0].digest.to_string()));
    let tmp = TempDir::new("fault-404");
    let s = Store::open(tmp.path()).unwrap();
    let err = pull(
        &s,
        &client(1),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::NotFound { what: "blob", .. }), "{err}");
}

#[test]
fn dropped_connection_is_resumed_with_range() {
    let img = image();
    let srv = FaultServer::start(
        &img,
        "f/app",
        Faults {
            drop_blob_after: Some((100_000, 3)),
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-drop");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(
        &s,
        &client(5),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img.id());
    let layer_path = format!("/v2/f/app/blobs/{}", img.layers[0].digest);
    let gets: Vec<String> = srv
        .log()
        .into_iter()
        .filter(|l| l.contains(&layer_path))
        .collect();
    assert_eq!(gets.len(), 4, "{gets:?}");
    assert!(gets[1].ends_with("bytes=100000-"), "{gets:?}");
    assert!(gets[3].ends_with("bytes=300000-"), "{gets:?}");
}

#[test]
fn redirects_to_blob_storage_and_resumes_there() {
    let img = image();
    let faults = Faults {
        redirect_blobs: true,
        drop_blob_after: Some((150_000, 2)),
        require_token: true,
        ..Faults::default()
    };
    let srv = FaultServer::start(&img, "f/app", faults);
    let tmp = TempDir::new("fault-redirect");
    let s = Store::open(tmp.path()).unwrap();
    let rec = pull(
        &s,
        &client(5),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img.id());
    let storage: Vec<String> = srv
        .log()
        .into_iter()
        .filter(|l| {
            l.starts_with(&format!(
                "GET /storage/v2/f/app/blobs/{}",
                img.layers[0].digest
            ))
        })
        .collect();
    assert_eq!(storage.len(), 3, "{storage:?}");
    assert!(
        storage[1].ends_with("bytes=150000-") && storage[2].ends_with("bytes=300000-"),
        "{storage:?}"
    );
}

#[test]
fn interrupted_pull_resumes_on_the_next_pull() {
    let img = image();
    let srv = FaultServer::start(
        &img,
        "f/app",
        Faults {
            drop_blob_after: Some((200_000, 1)),
            ..Faults::default()
        },
    );
    let tmp = TempDir::new("fault-resume");
    let s = Store::open(tmp.path()).unwrap();
    // No retries: the first pull fails half-way, as if killed, and keeps what it got.
    let err = pull(
        &s,
        &client(0),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Http { .. }), "{err}");
    let partial = s.ingest_path(&img.layers[0].digest);
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 200_000);
    assert!(s.resolve(&srv.reference("f/app").to_string()).is_err());
    let rec = pull(
        &s,
        &client(0),
        &srv.reference("f/app"),
        &PullOptions::default(),
        &Quiet,
    )
    .unwrap();
    assert_eq!(rec.id, img.id());
    assert!(!partial.exists());
    let layer_path = format!("/v2/f/app/blobs/{}", img.layers[0].digest);
    let last = srv
        .log()
        .into_iter()
        .rfind(|l| l.contains(&layer_path))
        .unwrap();
    assert!(last.ends_with("bytes=200000-"), "{last}");
}

#[test]
fn schema1_is_refused() {
    let img = image();
    let srv = FaultServer::start(&img, "f/old", Faults::default());
    srv.state.lock().unwrap().manifests.insert(
        "/v2/f/old/manifests/1".to_owned(),
        (
            manifest::DOCKER_SCHEMA1_SIGNED.to_owned(),
            br#"{"schemaVersion":1,"name":"f/old","tag":"1","fsLayers":[]}"#.to_vec(),
        ),
    );
    let tmp = TempDir::new("fault-schema1");
    let s = Store::open(tmp.path()).unwrap();
    let err = pull(
        &s,
        &client(0),
        &srv.reference("f/old"),
        &PullOptions::default(),
        &Quiet,
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::Schema1 { .. }), "{err}");
}

#[allow(dead_code)]
fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}
