//! Pushing: blob existence checks, monolithic blob uploads, manifests.

use ureq::http;

use super::{header, query_escape, status_error, Access, Client, Payload, Request};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

impl Client {
    /// Does the repository hold this blob?
    pub fn blob_exists(&self, r: &Reference, digest: &Digest) -> Result<bool> {
        let url = format!("/v2/{}/blobs/{digest}", r.repository);
        let req = Request {
            op: "check blob",
            method: http::Method::HEAD,
            url: url.clone(),
            headers: vec![],
            body: Payload::Empty,
            access: Access::Push,
        };
        let resp = self.send(&r.registry, &r.repository, &req)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(status_error("check blob", &url, resp)),
        }
    }

    /// Uploads a blob in one PUT (POST to start, PUT with the digest to finish).
    pub fn upload_blob(&self, r: &Reference, digest: &Digest, body: Payload<'_>) -> Result<()> {
        let start = format!("/v2/{}/blobs/uploads/", r.repository);
        let req = Request {
            op: "start upload",
            method: http::Method::POST,
            url: start.clone(),
            headers: vec![("Content-Length", "0".to_owned())],
            body: Payload::Empty,
            access: Access::Push,
        };
        let resp = self.send(&r.registry, &r.repository, &req)?;
        if resp.status() != 202 {
            return Err(status_error("start upload", &start, resp));
        }
        let location = header(&resp, "location").ok_or_else(|| Error::Invalid {
            op: "start upload",
            reason: format!("{start}: no Location header"),
        })?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!(
            "{location}{sep}digest={}",
            query_escape(&digest.to_string())
        );
        let req = Request {
            op: "upload blob",
            method: http::Method::PUT,
            url: url.clone(),
            headers: vec![("Content-Type", "application/octet-stream".to_owned())],
            body,
            access: Access::Push,
        };
        let resp = self.send(&r.registry, &r.repository, &req)?;
        if resp.status() != 201 {
            return Err(status_error("upload blob", &url, resp));
        }
        Ok(())
    }

    /// Puts a manifest under `reference` (a tag or its digest).
    pub fn put_manifest(
        &self,
        r: &Reference,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let url = format!("/v2/{}/manifests/{reference}", r.repository);
        let req = Request {
            op: "put manifest",
            method: http::Method::PUT,
            url: url.clone(),
            headers: vec![("Content-Type", media_type.to_owned())],
            body: Payload::Bytes(bytes),
            access: Access::Push,
        };
        let resp = self.send(&r.registry, &r.repository, &req)?;
        if !resp.status().is_success() {
            return Err(status_error("put manifest", &url, resp));
        }
        Ok(())
    }
}
