//! A blocking client for the distribution API (`/v2/`): authentication (anonymous, Bearer
//! token challenge, Basic), TLS with system roots or a per-registry CA, plain http for
//! loopback and insecure registries, retries with backoff, and blob downloads that resume
//! with `Range` after a dropped connection.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{self, Response};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::auth::{Challenge, Credentials};
use crate::digest::{self, Digest, HashingReader};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, MANIFEST_ACCEPT};
use crate::reference::{is_loopback, registry_host, Reference};

mod blob;
mod upload;

pub use blob::BlobReader;

/// How a client reaches registries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Registries reached over plain http (after https fails), like Docker's
    /// `insecure-registries`; loopback registries always are.
    pub insecure: Vec<String>,
    /// Directories holding `<registry>/ca.crt` (Docker's certs.d layout).
    pub certs_dirs: Vec<PathBuf>,
    pub credentials: Credentials,
    /// Retries of a failed request (transport errors, 429, 5xx) and resumes of a blob.
    pub retries: u32,
    /// The first backoff; doubled after each retry.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// A stalled read fails after this long (and is retried or resumed).
    pub read_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            certs_dirs: vec![PathBuf::from("/etc/docker/certs.d")],
            credentials: Credentials::default(),
            retries: 5,
            backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
        }
    }
}

struct Endpoint {
    agent: Agent,
    base: String,
}

/// The registry client; share one per command (it caches endpoints and tokens).
pub struct Client {
    opts: ClientOptions,
    endpoints: Mutex<HashMap<String, std::sync::Arc<Endpoint>>>,
    tokens: Mutex<HashMap<(String, String), String>>,
    basic: Mutex<HashSet<String>>,
}

/// What a request wants from the repository.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    fn scope(self, repo: &str) -> String {
        match self {
            Access::Pull => format!("repository:{repo}:pull"),
            Access::Push => format!("repository:{repo}:pull,push"),
        }
    }
}

/// A request body.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// A request to one repository of one registry.
pub struct Request<'a> {
    pub op: &'static str,
    pub method: http::Method,
    /// A path below the registry base (`/v2/...`) or an absolute URL.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload<'a>,
    pub access: Access,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Self {
        Self {
            opts,
            endpoints: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            basic: Mutex::new(HashSet::new()),
        }
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// An agent for one registry; loopback registries are never reached through a proxy
    /// from the environment.
    fn agent(&self, tls: TlsConfig, loopback: bool) -> Agent {
        let builder = Agent::config_builder();
        let builder = if loopback {
            builder.proxy(None)
        } else {
            builder
        };
        builder
            .http_status_as_error(false)
            .max_redirects(10)
            .timeout_connect(Some(self.opts.connect_timeout))
            .timeout_per_read(Some(self.opts.read_timeout))
            .user_agent(concat!("husk/", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .tls_config(tls)
            .build()
            .new_agent()
    }

    fn tls_for(&self, registry: &str) -> Result<TlsConfig> {
        for dir in &self.opts.certs_dirs {
            let ca = dir.join(registry).join("ca.crt");
            match std::fs::read(&ca) {
                Ok(pem) => {
                    let certs = ureq::tls::parse_pem(&pem)
                        .filter_map(|item| match item {
                            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                            _ => None,
                        })
                        .collect::<Vec<Certificate<'static>>>();
                    if certs.is_empty() {
                        return Err(Error::Invalid {
                            op: "load registry CA",
                            reason: format!("{}: no PEM certificate", ca.display()),
                        });
                    }
                    return Ok(TlsConfig::builder()
                        .root_certs(RootCerts::new_with_certs(&certs))
                        .build());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("read registry CA", &ca)(e)),
            }
        }
        Ok(TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build())
    }

    /// Decides https or http for `registry`, once.
    fn endpoint(&self, registry: &str) -> Result<std::sync::Arc<Endpoint>> {
        if let Some(e) = lock(&self.endpoints).get(registry) {
            return Ok(e.clone());
        }
        let agent = self.agent(self.tls_for(registry)?, is_loopback(registry));
        let host = registry_host(registry);
        let https = format!("https://{host}");
        let may_use_http =
            is_loopback(registry) || self.opts.insecure.iter().any(|r| r == registry);
        let base = if may_use_http && agent.get(format!("{https}/v2/")).call().is_err() {
            // No TLS there: use http if an HTTP server answers on it. A TLS server answers
            // plain http with 400 (its certificate was the problem): stay on https so that
            // requests report the TLS error.
            let http = format!("http://{host}");
            match agent.get(format!("{http}/v2/")).call() {
                Ok(resp) if resp.status() != 400 => http,
                _ => https,
            }
        } else {
            https
        };
        let e = std::sync::Arc::new(Endpoint { agent, base });
        lock(&self.endpoints).insert(registry.to_owned(), e.clone());
        Ok(e)
    }

    /// Sends `req` to `registry` for `repo`: answers auth challenges, retries transport
    /// errors, 429 and 5xx with backoff. Other statuses are returned to the caller.
    pub fn send(&self, registry: &str, repo: &str, req: &Request<'_>) -> Result<Response<Body>> {
        let ep = self.endpoint(registry)?;
        let url = if req.url.starts_with("http://") || req.url.starts_with("https://") {
            req.url.clone()
        } else {
            format!("{}{}", ep.base, req.url)
        };
        let scope = req.access.scope(repo);
        let mut challenged = false;
        let mut attempt = 0;
        loop {
            let auth = self.auth_header(registry, &scope);
            let result = self.send_once(&ep.agent, &url, req, auth.as_deref());
            match result {
                Ok(resp) if resp.status() == 401 && !challenged => {
                    challenged = true;
                    self.answer_challenge(&ep.agent, registry, &scope, &resp)?;
                    continue;
                }
                Ok(resp) if resp.status() == 401 || (resp.status() == 403 && auth.is_none()) => {
                    let detail = error_detail(resp);
                    return Err(Error::Unauthorized {
                        registry: registry.to_owned(),
                        detail: format!("{} {url}: {detail}", req.op),
                    });
                }
                Ok(resp) if resp.status() == 429 || resp.status().is_server_error() => {
                    let status = resp.status().as_u16();
                    let detail = error_detail(resp);
                    if attempt >= self.opts.retries {
                        return Err(Error::Status {
                            op: req.op,
                            url,
                            status,
                            detail,
                        });
                    }
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    if attempt >= self.opts.retries {
                        return Err(Error::Http {
                            op: req.op,
                            url,
                            detail: e.to_string(),
                        });
                    }
                }
            }
            std::thread::sleep(self.backoff(attempt));
            attempt += 1;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.opts
            .backoff
            .saturating_mul(1 << attempt.min(6))
            .min(Duration::from_secs(10))
    }

    fn send_once(
        &self,
        agent: &Agent,
        url: &str,
        req: &Request<'_>,
        auth: Option<&str>,
    ) -> Result<Response<Body>, ureq::Error> {
        let mut b = http::Request::builder().method(req.method.clone()).uri(url);
        for (k, v) in &req.headers {
            b = b.header(*k, v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        match &req.body {
            Payload::Empty => agent.run(b.body(())?),
            Payload::Bytes(bytes) => agent.run(b.body(*bytes)?),
            Payload::File(path) => {
                let f = std::fs::File::open(path)?;
                agent.run(b.body(f)?)
            }
        }
    }

    fn auth_header(&self, registry: &str, scope: &str) -> Option<String> {
        if let Some(t) = lock(&self.tokens).get(&(registry.to_owned(), scope.to_owned())) {
            return Some(format!("Bearer {t}"));
        }
        if lock(&self.basic).contains(registry) {
            return self
                .opts
                .credentials
                .get(registry)
                .as_ref()
                .map(crate::auth::Credential::basic_header);
        }
        None
    }

    fn answer_challenge(
        &self,
        agent: &Agent,
        registry: &str,
        scope: &str,
        resp: &Response<Body>,
    ) -> Result<()> {
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let cred = self.opts.credentials.get(registry);
        match Challenge::parse(header) {
            Some(Challenge::Basic) => {
                if cred.is_none() {
                    return Err(Error::Unauthorized {
                        registry: registry.to_owned(),
                        detail: "the registry asks for Basic credentials".to_owned(),
                    });
                }
                lock(&self.basic).insert(registry.to_owned());
                Ok(())
            }
            Some(Challenge::Bearer {
                realm,
                service,
                scope: challenge_scope,
            }) => {
                let mut url = format!("{realm}?");
                if let Some(s) = &service {
                    url.push_str(&format!("service={}&", query_escape(s)));
                }
                let wanted = challenge_scope.as_deref().unwrap_or(scope);
                // A ping (`/v2/`) names no repository: ask for a token without a scope.
                if !wanted.starts_with("repository::") {
                    url.push_str(&format!("scope={}", query_escape(wanted)));
                }
                let mut b = agent.get(&url);
                // A password goes to the token server only over TLS, or where plain http
                // is allowed for the registry itself.
                let may_send = realm.starts_with("https://")
                    || is_loopback(registry)
                    || self.opts.insecure.iter().any(|r| r == registry);
                if let Some(c) = cred.filter(|_| may_send) {
                    b = b.header("Authorization", c.basic_header());
                }
                let mut resp = b.call().map_err(|e| Error::Http {
                    op: "fetch token",
                    url: realm.clone(),
                    detail: e.to_string(),
                })?;
                if !resp.status().is_success() {
                    return Err(Error::Unauthorized {
                        registry: registry.to_owned(),
                        detail: format!("token server {realm} answered {}", resp.status().as_u16()),
                    });
                }
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(1 << 20)
                    .read_to_string()
                    .map_err(|e| Error::Http {
                        op: "read token",
                        url: realm.clone(),
                        detail: e.to_string(),
                    })?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|source| Error::Json {
                        what: format!("token from {realm}"),
                        source,
                    })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| Error::Unauthorized {
                        registry: registry.to_owned(),
                        detail: format!("token server {realm} sent no token"),
                    })?;
                lock(&self.tokens)
                    .insert((registry.to_owned(), scope.to_owned()), token.to_owned());
                Ok(())
            }
            None => Err(Error::Unauthorized {
                registry: registry.to_owned(),
                detail: format!("unsupported challenge {header:?}"),
            }),
        }
    }

    /// Checks that the registry speaks the v2 API and that our credentials work.
    pub fn ping(&self, registry: &str) -> Result<()> {
        let req = Request {
            op: "ping",
            method: http::Method::GET,
            url: "/v2/".to_owned(),
            headers: vec![],
            body: Payload::Empty,
            access: Access::Pull,
        };
        let resp = self.send(registry, "", &req)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error("ping", &format!("{registry}/v2/"), resp))
        }
    }

    /// Fetches a manifest (by tag or digest) with every Accept type husk understands.
    /// Returns the bytes, the Content-Type, and the digest of the bytes; a digest
    /// reference and the Docker-Content-Digest header are verified.
    pub fn get_manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Digest)> {
        let url = format!("/v2/{}/manifests/{reference}", r.repository);
        let req = Request {
            op: "get manifest",
            method: http::Method::GET,
            url: url.clone(),
            headers: vec![("Accept", MANIFEST_ACCEPT.to_owned())],
            body: Payload::Empty,
            access: Access::Pull,
        };
        let mut resp = self.send(&r.registry, &r.repository, &req)?;
        if resp.status() == 404 {
            return Err(Error::NotFound {
                what: "manifest",
                reference: format!("{}@{reference}", r.name()),
            });
        }
        if !resp.status().is_success() {
            return Err(status_error("get manifest", &url, resp));
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_vec()
            .map_err(|e| Error::Http {
                op: "read manifest",
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let actual = Digest::of(&bytes);
        let what = format!("manifest {}@{reference}", r.name());
        if let Ok(expected) = Digest::parse(reference) {
            digest::verify(&what, &expected, &actual)?;
        }
        if let Some(h) = header_digest.and_then(|h| Digest::parse(&h).ok()) {
            digest::verify(&what, &h, &actual)?;
        }
        Ok((bytes, content_type, actual))
    }

    /// Fetches a small blob (an image config) whole, verifying size and digest.
    pub fn get_blob_bytes(&self, r: &Reference, desc: &Descriptor, max: u64) -> Result<Vec<u8>> {
        if desc.size > max {
            return Err(Error::Invalid {
                op: "fetch blob",
                reason: format!(
                    "{} declares {} bytes, more than {max}",
                    desc.digest, desc.size
                ),
            });
        }
        let mut reader = HashingReader::new(self.blob_reader(r, desc, 0)?);
        let mut bytes = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
        reader.read_to_end(&mut bytes).map_err(|e| Error::Http {
            op: "read blob",
            url: format!("{}@{}", r.name(), desc.digest),
            detail: e.to_string(),
        })?;
        let (actual, n) = reader.finish();
        let what = format!("blob {}", desc.digest);
        check_size(&what, desc.size, n)?;
        digest::verify(&what, &desc.digest, &actual)?;
        Ok(bytes)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The registry's error message: the first `errors[].message`, else the body's start.
fn error_detail(mut resp: Response<Body>) -> String {
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if let Some(e) = v.get("errors").and_then(|e| e.get(0)) {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
            return format!("{code}: {msg}");
        }
    }
    let t = text.trim();
    if t.is_empty() {
        resp.status().canonical_reason().unwrap_or("").to_owned()
    } else {
        t.chars().take(200).collect()
    }
}

fn status_error(op: &'static str, url: &str, resp: Response<Body>) -> Error {
    let status = resp.status().as_u16();
    Error::Status {
        op,
        url: url.to_owned(),
        status,
        detail: error_detail(resp),
    }
}

/// Checks a blob's length against its descriptor.
pub fn check_size(what: &str, expected: u64, actual: u64) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::SizeMismatch {
            what: what.to_owned(),
            expected,
            actual,
        })
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
