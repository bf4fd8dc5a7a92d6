//! Registry faults from a tiny fault-injecting HTTP server on 127.0.0.1: the Bearer token
//! flow, 401, 404, 500s, and connections dropped in the middle of a blob (resumed with
//! Range), including a pull killed half-way and resumed by the next one.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::fault::{FaultServer, Faults};
use common::{amd64, busybox_layer, Comp, Image, TempDir};
use husk_image::error::Error;
use husk_image::manifest;
use husk_image::pull::{pull, PullOptions, Quiet};
use husk_image::registry::{Client, ClientOptions};
use husk_image::store::Store;

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

#[test]
fn concurrent_pulls_download_each_blob_once() {
    let img = image();
    let faults = Faults {
        slow_blobs: Some(Duration::from_millis(5)),
        ..Faults::default()
    };
    let srv = FaultServer::start(&img, "f/app", faults);
    let tmp = TempDir::new("fault-concurrent");
    let s = Store::open(tmp.path()).unwrap();
    let r = srv.reference("f/app");
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|_| sc.spawn(|| pull(&s, &client(1), &r, &PullOptions::default(), &Quiet)))
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap().unwrap().id, img.id());
        }
    });
    let layer_path = format!("GET /v2/f/app/blobs/{}", img.layers[0].digest);
    let gets = srv
        .log()
        .iter()
        .filter(|l| l.starts_with(&layer_path))
        .count();
    assert_eq!(gets, 1, "{:?}", srv.log());
}

#[test]
fn prune_drops_interrupted_downloads() {
    let img = image();
    let faults = Faults {
        drop_blob_after: Some((200_000, 1)),
        ..Faults::default()
    };
    let srv = FaultServer::start(&img, "f/app", faults);
    let tmp = TempDir::new("fault-prune");
    let s = Store::open(tmp.path()).unwrap();
    let r = srv.reference("f/app");
    assert!(pull(&s, &client(0), &r, &PullOptions::default(), &Quiet).is_err());
    assert_eq!(s.prune_ingest().unwrap(), 200_000);
    assert!(!s.ingest_path(&img.layers[0].digest).exists());
    pull(&s, &client(0), &r, &PullOptions::default(), &Quiet).unwrap();
    let layer = format!("GET /v2/f/app/blobs/{}", img.layers[0].digest);
    let last = srv
        .log()
        .into_iter()
        .rfind(|l| l.starts_with(&layer))
        .unwrap();
    assert!(!last.contains("bytes="), "started over: {last}");
}

#[test]
fn token_server_gets_the_login() {
    use husk_image::auth::{Credential, Credentials};
    let img = image();
    let cred = Credential {
        username: "me".into(),
        password: "pw".into(),
    };
    let faults = Faults {
        require_token: true,
        token_needs: Some(cred.basic_header()),
        ..Faults::default()
    };
    let srv = FaultServer::start(&img, "priv/app", faults);
    let r = srv.reference("priv/app");
    let tmp = TempDir::new("fault-token-login");
    let s = Store::open(tmp.path()).unwrap();
    let err = pull(&s, &client(0), &r, &PullOptions::default(), &Quiet)
        .err()
        .unwrap();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    let mut creds = Credentials::default();
    creds.insert(&r.registry, cred);
    let logged_in = Client::new(ClientOptions {
        retries: 0,
        certs_dirs: vec![],
        credentials: creds,
        ..ClientOptions::default()
    });
    assert_eq!(
        pull(&s, &logged_in, &r, &PullOptions::default(), &Quiet)
            .unwrap()
            .id,
        img.id()
    );
}
