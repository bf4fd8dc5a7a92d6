//! `push`: an image from the store to a registry, layer by layer, then its manifest.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::pull::{Event, Progress};
use crate::reference::Reference;
use crate::registry::{Client, Payload};
use crate::store::{ImageRecord, Store};

/// Pushes an image from the store to `target`; returns the manifest digest.
pub fn push(
    store: &Store,
    client: &Client,
    rec: &ImageRecord,
    target: &Reference,
    progress: &dyn Progress,
) -> Result<Digest> {
    for l in &rec.layers {
        let path = store.blob_path(&l.digest);
        if !path.exists() {
            return Err(Error::Invalid {
                op: "push",
                reason: format!(
                    "layer blob {} is missing from the store; pull the image again",
                    l.digest
                ),
            });
        }
        progress.event(Event::LayerStart {
            digest: &l.digest,
            size: l.size,
        });
        let exists = client.blob_exists(target, &l.digest)?;
        if !exists {
            client.upload_blob(target, &l.digest, Payload::File(&path))?;
        }
        progress.event(Event::LayerDone {
            digest: &l.digest,
            cached: exists,
        });
    }
    if !client.blob_exists(target, &rec.id)? {
        client.upload_blob(target, &rec.id, Payload::File(&store.blob_path(&rec.id)))?;
    }
    let bytes = store.read_blob(&rec.manifest_digest)?;
    client.put_manifest(
        target,
        &target.manifest_ref(),
        &rec.manifest_media_type,
        &bytes,
    )?;
    let mut updated = rec.clone();
    let pinned = target.with_digest(&rec.manifest_digest);
    if !updated.repo_digests.contains(&pinned) {
        updated.repo_digests.push(pinned);
    }
    store.add_image(updated, None)?;
    Ok(rec.manifest_digest.clone())
}
