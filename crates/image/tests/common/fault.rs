//! A tiny fault-injecting registry on 127.0.0.1 serving one image from memory: Bearer
//! token flow, 401s, 500s, 404s, redirects to "blob storage", slow or cut blob bodies.
//! Each connection gets a thread; every loop is bounded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use husk_image::manifest;
use husk_image::Reference;

use super::Image;

#[derive(Default)]
pub struct Faults {
    /// Answer this many requests with 500 first.
    pub fail_500: u32,
    /// Require `Authorization: Bearer good-token` (the token endpoint gives it).
    pub require_token: bool,
    /// The token endpoint refuses.
    pub refuse_token: bool,
    /// Close blob responses after this many body bytes, this many times.
    pub drop_blob_after: Option<(usize, u32)>,
    /// Answer blob requests with a 307 to `/storage/...` (like a registry backed by S3).
    pub redirect_blobs: bool,
    /// Send blob bodies in 64 KiB pieces with this pause between them.
    pub slow_blobs: Option<Duration>,
    /// The token endpoint wants this exact `Authorization` header (Basic user:password).
    pub token_needs: Option<String>,
}

#[derive(Default)]
pub struct State {
    pub faults: Faults,
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    pub blobs: HashMap<String, Vec<u8>>,
    /// "METHOD path range" of each request.
    pub log: Vec<String>,
}

pub struct FaultServer {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultServer {
    pub fn start(img: &Image, repo: &str, faults: Faults) -> Self {
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
                        let s3 = s2.clone();
                        std::thread::spawn(move || serve(conn, port, &s3));
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

    pub fn reference(&self, repo: &str) -> Reference {
        Reference::parse(&format!("127.0.0.1:{}/{repo}:1", self.port)).unwrap()
    }

    pub fn log(&self) -> Vec<String> {
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

/// What to send back: status line and headers, body, and how to misbehave.
struct Reply {
    status: String,
    extra: String,
    body: Vec<u8>,
    cut_after: Option<usize>,
    slow: Option<Duration>,
}

fn reply(status: &str, extra: &str, body: &[u8]) -> Reply {
    Reply {
        status: status.to_owned(),
        extra: extra.to_owned(),
        body: body.to_vec(),
        cut_after: None,
        slow: None,
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
    let r = decide(&method, &path, &headers, port, state);
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        r.status,
        r.body.len(),
        r.extra
    )?;
    let end = r.cut_after.unwrap_or(r.body.len());
    match r.slow {
        Some(pause) => {
            for piece in r.body[..end].chunks(64 << 10) {
                out.write_all(piece)?;
                out.flush()?;
                std::thread::sleep(pause);
            }
        }
        None => out.write_all(&r.body[..end])?,
    }
    // A cut reply just ends here: the client sees a short body.
    out.flush()
}

fn decide(
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    port: u16,
    state: &Mutex<State>,
) -> Reply {
    let path = path.to_owned();
    let mut st = state.lock().unwrap();
    let range = headers.get("range").cloned().unwrap_or_default();
    st.log
        .push(format!("{method} {path} {range}").trim().to_owned());
    let respond = |_: &mut (), status: &str, extra: &str, body: &[u8]| reply(status, extra, body);
    let mut out = ();
    if path.starts_with("/token") {
        let wrong_user = st
            .faults
            .token_needs
            .as_ref()
            .is_some_and(|need| headers.get("authorization") != Some(need));
        if st.faults.refuse_token || wrong_user {
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
    let mut r = reply(status, &extra, body);
    r.slow = st.faults.slow_blobs.filter(|_| blob.len() > 10_000);
    if let Some((after, times)) = st.faults.drop_blob_after {
        if times > 0 && body.len() > after && blob.len() > 10_000 {
            st.faults.drop_blob_after = Some((after, times - 1));
            r.cut_after = Some(after);
        }
    }
    r
}
