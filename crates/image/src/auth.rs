//! Registry credentials in Docker's config.json format, and the `WWW-Authenticate` challenge.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: `husk login`
//! writes there and Docker's own logins are read from there. Other keys in the file are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::reference::DEFAULT_REGISTRY;

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, ***)", self.username)
    }
}

impl Credential {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The default location of the credentials file.
pub fn default_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".docker/config.json")
}

/// Docker keys Docker Hub's credentials by this legacy URL.
fn config_key(registry: &str) -> String {
    if registry == DEFAULT_REGISTRY {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

/// Reduces a config.json key (`https://host/v1/`, `host`) to a registry name.
fn key_registry(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY,
        other => other,
    }
}

/// Credentials read from a config.json: `auths` entries, and the credential helpers named
/// by `credHelpers` (per registry) and `credsStore` (for all), asked first.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_registry: BTreeMap<String, Credential>,
    helpers: BTreeMap<String, String>,
    store: Option<String>,
    /// What helpers answered, so each is run once per registry.
    asked: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Option<Credential>>>>,
}

impl Credentials {
    /// Loads `path`; a missing file means no credentials.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io("read credentials", path)(e)),
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                what: path.display().to_string(),
                source,
            })?;
        let mut by_registry = BTreeMap::new();
        if let Some(auths) = value.get("auths").and_then(|a| a.as_object()) {
            for (key, entry) in auths {
                if let Some(c) = decode_entry(entry) {
                    by_registry.insert(key_registry(key).to_owned(), c);
                }
            }
        }
        let name =
            |v: &serde_json::Value| v.as_str().filter(|n| valid_helper(n)).map(str::to_owned);
        let helpers = value
            .get("credHelpers")
            .and_then(|h| h.as_object())
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((key_registry(k).to_owned(), name(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let store = value.get("credsStore").and_then(name);
        Ok(Self {
            by_registry,
            helpers,
            store,
            asked: std::sync::Arc::default(),
        })
    }

    /// The credential for `registry`: from its helper if one is configured and knows it,
    /// else from `auths`.
    pub fn get(&self, registry: &str) -> Option<Credential> {
        let helper = self.helpers.get(registry).or(self.store.as_ref());
        if let Some(helper) = helper {
            let mut asked = self
                .asked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let answer = asked
                .entry(registry.to_owned())
                .or_insert_with(|| run_helper(helper, &config_key(registry)))
                .clone();
            if answer.is_some() {
                return answer;
            }
        }
        self.by_registry.get(registry).cloned()
    }

    pub fn insert(&mut self, registry: &str, cred: Credential) {
        self.by_registry.insert(registry.to_owned(), cred);
    }
}

/// Helper names become part of a program name (`docker-credential-<name>`): plain only.
fn valid_helper(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin (Docker's credential
/// helper protocol). A helper that fails or knows nothing yields `None`.
fn run_helper(helper: &str, server: &str) -> Option<Credential> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let username = v.get("Username")?.as_str()?.to_owned();
    let password = v.get("Secret")?.as_str()?.to_owned();
    Some(Credential { username, password })
}

fn decode_entry(entry: &serde_json::Value) -> Option<Credential> {
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (u, p) = raw.split_once(':')?;
        return Some(Credential {
            username: u.to_owned(),
            password: p.to_owned(),
        });
    }
    let token = entry.get("identitytoken").and_then(|a| a.as_str())?;
    Some(Credential {
        username: "<token>".to_owned(),
        password: token.to_owned(),
    })
}

/// Stores (or with `None`, removes) the credential of `registry` in the config file at
/// `path`, keeping every other key; written to a temp file and renamed, mode 0600.
pub fn save_credential(path: &Path, registry: &str, cred: Option<&Credential>) -> Result<bool> {
    let mut value: serde_json::Value = match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(Error::io("read credentials", path)(e)),
    };
    let obj = value.as_object_mut().ok_or_else(|| Error::Invalid {
        op: "update credentials",
        reason: format!("{} is not a JSON object", path.display()),
    })?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| Error::Invalid {
            op: "update credentials",
            reason: format!("\"auths\" in {} is not an object", path.display()),
        })?;
    let changed = match cred {
        Some(c) => {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", c.username, c.password));
            auths.insert(config_key(registry), serde_json::json!({ "auth": auth }));
            true
        }
        None => {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| key_registry(k) == registry)
                .cloned()
                .collect();
            for k in &keys {
                auths.remove(k);
            }
            !keys.is_empty()
        }
    };
    if !changed {
        return Ok(false);
    }
    let bytes = serde_json::to_vec_pretty(&value).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    }
    crate::fsutil::write_atomic(path, &bytes, 0o600)?;
    Ok(changed)
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        Some(Self::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    }
}

/// `k="v", k2=v2` with quoted values that may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn config_round_trip() {
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(crate::fsutil::unique_name("husk-auth-test"));
        let _cleanup = Cleanup(dir.clone());
        let path = dir.join("config.json");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &path,
            br#"{"credsStore":"x","auths":{"other.io":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let cred = Credential {
            username: "me".into(),
            password: "s:cret".into(),
        };
        save_credential(&path, "docker.io", Some(&cred)).unwrap();
        let creds = Credentials::load(&path).unwrap();
        assert_eq!(creds.get("docker.io"), Some(cred.clone()));
        assert_eq!(creds.get("other.io").unwrap().username, "u");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("credsStore") && text.contains("https://index.docker.io/v1/"));
        assert!(save_credential(&path, "docker.io", None).unwrap());
        assert!(Credentials::load(&path).unwrap().get("docker.io").is_none());
        let missing = dir.join("none/config.json");
        assert!(!save_credential(&missing, "docker.io", None).unwrap());
        assert!(!missing.exists(), "logout without a login writes nothing");
    }
}
