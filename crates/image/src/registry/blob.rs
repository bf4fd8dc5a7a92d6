//! Blob downloads that survive dropped connections: Range requests from the last byte
//! received, never past the descriptor's size.

use std::io::{self, Read};

use ureq::http;

use super::{status_error, Access, Client, Payload, Request};
use crate::error::{Error, Result};
use crate::manifest::Descriptor;
use crate::reference::Reference;

impl Client {
    /// A reader over a blob starting at `offset`, which resumes with Range requests when the
    /// connection drops, and refuses to yield more than the descriptor's size.
    pub fn blob_reader<'c>(
        &'c self,
        r: &Reference,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<BlobReader<'c>> {
        let mut b = BlobReader {
            client: self,
            registry: r.registry.clone(),
            repo: r.repository.clone(),
            url: format!("/v2/{}/blobs/{}", r.repository, desc.digest),
            size: desc.size,
            offset,
            body: None,
            resumes_left: self.opts.retries,
            resumes: 0,
        };
        if offset < desc.size {
            b.open()?;
        }
        Ok(b)
    }
}

/// A blob download that survives dropped connections (see [`Client::blob_reader`]).
pub struct BlobReader<'c> {
    client: &'c Client,
    registry: String,
    repo: String,
    url: String,
    size: u64,
    offset: u64,
    body: Option<ureq::BodyReader<'static>>,
    resumes_left: u32,
    resumes: u32,
}

impl BlobReader<'_> {
    /// How many times the download was resumed.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    fn open(&mut self) -> Result<()> {
        let mut headers = vec![];
        if self.offset > 0 {
            headers.push(("Range", format!("bytes={}-", self.offset)));
        }
        let req = Request {
            op: "get blob",
            method: http::Method::GET,
            url: self.url.clone(),
            headers,
            body: Payload::Empty,
            access: Access::Pull,
        };
        let resp = self.client.send(&self.registry, &self.repo, &req)?;
        let status = resp.status().as_u16();
        match status {
            200 | 206 => {}
            416 => {
                return Err(Error::SizeMismatch {
                    what: format!("blob {}", self.url),
                    expected: self.size,
                    actual: self.offset,
                })
            }
            404 => {
                return Err(Error::NotFound {
                    what: "blob",
                    reference: format!("{}/{}", self.registry, self.url),
                })
            }
            _ => return Err(status_error("get blob", &self.url, resp)),
        }
        let mut body = resp.into_body().into_reader();
        if status == 200 && self.offset > 0 {
            // The server ignored Range: skip what we already have.
            let skipped =
                io::copy(&mut (&mut body).take(self.offset), &mut io::sink()).map_err(|e| {
                    Error::Http {
                        op: "get blob",
                        url: self.url.clone(),
                        detail: e.to_string(),
                    }
                })?;
            if skipped < self.offset {
                return Err(Error::SizeMismatch {
                    what: format!("blob {}", self.url),
                    expected: self.size,
                    actual: skipped,
                });
            }
        }
        self.body = Some(body);
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                // Never read past the declared size: a longer blob then fails its digest.
                return Ok(0);
            }
            let Some(body) = self.body.as_mut() else {
                self.open().map_err(io::Error::other)?;
                continue;
            };
            let want = buf
                .len()
                .min(usize::try_from(self.size - self.offset).unwrap_or(usize::MAX));
            let err = match body.read(&mut buf[..want]) {
                Ok(0) => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before the end of the blob",
                ),
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            if self.resumes_left == 0 {
                return Err(io::Error::new(
                    err.kind(),
                    format!(
                        "get blob {} at byte {}: {err} (gave up after {} resumes)",
                        self.url, self.offset, self.resumes
                    ),
                ));
            }
            self.resumes_left -= 1;
            self.resumes += 1;
            self.body = None;
            std::thread::sleep(self.client.backoff(self.resumes - 1));
        }
    }
}
