//! Fetching layers: download (or read from a file), verify and unpack each missing layer
//! in one streaming pass, several layers at a time. Used by pull, load and import.
//!
//! ```text
//! source ─► tee to ingest/<hex>.partial ─► sha256+size          (thread 1)
//!        ─► gunzip/unzstd ─► sha256 (diff_id) + byte limit       (thread 2)
//!        ─► unpack into tmp/ ─► verify all ─► rename to layers/  (caller's thread)
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::digest::{self, Digest, HashingReader};
use crate::error::{Error, Result};
use crate::fsutil::RemoveOnDrop;
use crate::manifest::{Compression, Descriptor};
use crate::pull::{Event, Progress, PullOptions};
use crate::registry::check_size;
use crate::store::{LayerMeta, LayerRecord, Store};
use crate::unpack::{unpack_layer, UnpackOptions};

/// Opens a blob at an offset: the registry for pulls, a file for `load`.
pub type Source<'a> = dyn Fn(&Descriptor, u64) -> Result<Box<dyn Read + Send + 'a>> + Sync + 'a;

/// Makes sure every layer is unpacked, downloading at most `opts.parallel` at a time.
pub fn fetch_layers(
    store: &Store,
    layers: &[LayerRecord],
    opts: &PullOptions,
    progress: &dyn Progress,
    source: &Source<'_>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let workers = opts.parallel.clamp(1, 16).min(layers.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(layer) = layers.get(i) else { return };
                let parent = i.checked_sub(1).map(|p| layers[p].chain_id.clone());
                if let Err(e) = fetch_layer(store, layer, parent, opts, progress, source) {
                    failed.store(true, Ordering::Relaxed);
                    let mut slot = first_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    // Report the lowest layer's error, deterministic across runs.
                    if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                        *slot = Some((i, e));
                    }
                    return;
                }
            });
        }
    });
    match first_error
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

fn fetch_layer(
    store: &Store,
    layer: &LayerRecord,
    parent: Option<Digest>,
    opts: &PullOptions,
    progress: &dyn Progress,
    source: &Source<'_>,
) -> Result<()> {
    let _layer_lock = store.lock(&format!("layer-{}", layer.chain_id.hex()))?;
    if store.has_layer(&layer.chain_id) {
        progress.event(Event::LayerDone {
            digest: &layer.digest,
            cached: true,
        });
        return Ok(());
    }
    let _blob_lock = store.lock(&format!("blob-{}", layer.digest.hex()))?;
    let desc = Descriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        platform: None,
        annotations: None,
    };
    progress.event(Event::LayerStart {
        digest: &layer.digest,
        size: layer.size,
    });
    let blob_path = store.blob_path(&layer.digest);
    let partial_path = store.ingest_path(&layer.digest);
    let have_blob = blob_path.exists();
    let compressed = open_compressed(store, layer, &desc, have_blob, source)?;
    let counted = Counting {
        inner: compressed,
        done: 0,
        next_report: 0,
        digest: &layer.digest,
        progress,
    };
    let tmp = RemoveOnDrop::new(store.tmp_path("layer"));
    let diff_dir = tmp.path().join("diff");
    std::fs::create_dir_all(&diff_dir).map_err(Error::io("create", &diff_dir))?;
    let limit = opts
        .unpack
        .max_bytes
        .min(layer.size.saturating_mul(opts.max_ratio).max(64 << 20));
    let mut unpack_opts = opts.unpack.clone();
    unpack_opts.max_bytes = limit;
    let what = format!("layer {}", layer.digest);
    let compression = Compression::from_media_type(&layer.media_type)?;

    let (blob_result, diff_result, unpacked) =
        stream_unpack(counted, compression, limit, &what, &diff_dir, &unpack_opts);
    let verdict = match blob_result {
        // The stream itself failed (network, 416): what we have may be resumed.
        Err(e) => Err(io_error(&what, e)),
        Ok((blob_digest, blob_size)) => (|| {
            check_size(&what, layer.size, blob_size)?;
            digest::verify(&what, &layer.digest, &blob_digest)?;
            let stats = unpacked?;
            let diff_id = diff_result.map_err(|e| data_error(&what, &e))?;
            digest::verify(
                &format!("{what} (uncompressed, diff_id)"),
                &layer.diff_id,
                &diff_id,
            )?;
            Ok(stats)
        })(),
    };
    let stats = match verdict {
        Ok(s) => s,
        Err(e) => {
            // Corrupt or refused bytes must not be resumed from; a dropped connection may be.
            if !matches!(e, Error::Http { .. } | Error::Status { .. }) {
                let _ = std::fs::remove_file(&partial_path);
            }
            return Err(e);
        }
    };
    if !have_blob {
        let f = File::open(&partial_path).map_err(Error::io("open", &partial_path))?;
        f.sync_all().map_err(Error::io("fsync", &partial_path))?;
        std::fs::rename(&partial_path, &blob_path)
            .map_err(Error::io("move blob into place", &blob_path))?;
    }
    let mut tmp = tmp;
    store.commit_layer(
        tmp.path(),
        &LayerMeta {
            chain_id: layer.chain_id.clone(),
            diff_id: layer.diff_id.clone(),
            parent,
            unpacked_bytes: stats.bytes,
        },
    )?;
    tmp.disarm();
    progress.event(Event::LayerDone {
        digest: &layer.digest,
        cached: false,
    });
    Ok(())
}

/// The compressed stream of a layer: the stored blob, or what an earlier pull left in
/// ingest/ followed by the rest from the source, appended to ingest/ as it arrives.
fn open_compressed<'a>(
    store: &Store,
    layer: &LayerRecord,
    desc: &Descriptor,
    have_blob: bool,
    source: &Source<'a>,
) -> Result<Box<dyn Read + Send + 'a>> {
    let blob_path = store.blob_path(&layer.digest);
    let partial_path = store.ingest_path(&layer.digest);
    if have_blob {
        return Ok(Box::new(
            File::open(&blob_path).map_err(Error::io("open blob", &blob_path))?,
        ));
    }
    let partial = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(&partial_path)
        .map_err(Error::io("open partial blob", &partial_path))?;
    let mut have = partial
        .metadata()
        .map_err(Error::io("stat", &partial_path))?
        .len();
    if have > layer.size {
        partial
            .set_len(0)
            .map_err(Error::io("truncate", &partial_path))?;
        have = 0;
    }
    let earlier =
        File::open(&partial_path).map_err(Error::io("open partial blob", &partial_path))?;
    let rest = source(desc, have)?;
    Ok(Box::new(earlier.take(have).chain(Tee {
        inner: rest,
        out: partial,
    })))
}

/// What the three stages found: the blob's digest and size, the diff_id, the unpack stats.
type StreamResults = (
    io::Result<(Digest, u64)>,
    io::Result<Digest>,
    Result<crate::unpack::UnpackStats>,
);

/// Three stages on three threads, joined by small bounded channels, so that network and
/// hashing, decompression, and file creation (mostly kernel time) overlap:
///   1. read the blob, tee it to ingest/, hash and count it — always to the end, so its
///      digest is known even when a later stage gives up;
///   2. decompress, hash the tar stream (diff_id) and enforce the size limit;
///   3. unpack (this thread).
fn stream_unpack(
    counted: impl Read + Send,
    compression: Compression,
    limit: u64,
    what: &str,
    diff_dir: &std::path::Path,
    unpack_opts: &UnpackOptions,
) -> StreamResults {
    std::thread::scope(|s| {
        let (tx1, rx1) = pipe();
        let (tx2, rx2) = pipe();
        let stage1 = s.spawn(move || {
            let mut blob = HashingReader::new(counted);
            let mut consumer_alive = true;
            loop {
                match tx1.read_from(&mut blob) {
                    Ok(None) => break,
                    Ok(Some(chunk)) => {
                        // Stage 2 gave up: keep reading and hashing to the end anyway.
                        consumer_alive = consumer_alive && tx1.send(Ok(chunk));
                    }
                    Err(e) => {
                        if consumer_alive {
                            tx1.send(Err(io::Error::new(e.kind(), e.to_string())));
                        }
                        return Err(e);
                    }
                }
            }
            Ok(blob.finish())
        });
        let stage2 = s.spawn(move || -> io::Result<Digest> {
            let result = decompress(rx1, &tx2, compression, limit);
            if let Err(e) = &result {
                tx2.send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            result
        });
        let mut tar_stream = rx2;
        let unpacked =
            unpack_layer(what, &mut tar_stream, diff_dir, unpack_opts).and_then(|stats| {
                // Trailing zero blocks count towards the diff_id.
                io::copy(&mut tar_stream, &mut io::sink()).map_err(|e| stream_error(what, &e))?;
                Ok(stats)
            });
        drop(tar_stream);
        let blob_result = stage1
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("download thread panicked")));
        let diff_result = stage2
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("decompression thread panicked")));
        (blob_result, diff_result, unpacked)
    })
}

/// Stage 2: decompress, hash the tar stream and cap its size, passing it on in chunks.
fn decompress(
    input: ChannelReader,
    out: &PipeWriter,
    compression: Compression,
    limit: u64,
) -> io::Result<Digest> {
    let decompressed: Box<dyn Read> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(crate::gzip::GzipStream::new(io::BufReader::with_capacity(
            256 << 10,
            input,
        ))?),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
    };
    let mut diff = HashingReader::with_limit(decompressed, limit);
    while let Some(chunk) = out.read_from(&mut diff)? {
        // Stage 3 gone (unpack failed): no need to go on.
        if !out.send(Ok(chunk)) {
            return Err(io::Error::other("unpack stopped"));
        }
    }
    Ok(diff.finish().0)
}

/// A failure of stage 2 once the blob itself checked out: the layer's content is bad.
fn data_error(what: &str, e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::FileTooLarge {
        return stream_error(what, e);
    }
    Error::Unpack {
        layer: what.to_owned(),
        path: "<stream>".to_owned(),
        reason: format!("decompress: {e}"),
    }
}

/// Turns a read error of the layer stream back into the husk error inside it, if any.
fn io_error(what: &str, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(err) = inner.downcast::<Error>() {
                return *err;
            }
        }
        return Error::Http {
            op: "read",
            url: what.to_owned(),
            detail: "stream failed".to_owned(),
        };
    }
    stream_error(what, &e)
}

fn stream_error(what: &str, e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::FileTooLarge {
        Error::LayerTooLarge {
            layer: what.to_owned(),
            reason: e.to_string(),
        }
    } else {
        Error::Http {
            op: "read",
            url: what.to_owned(),
            detail: e.to_string(),
        }
    }
}

/// Chunks in flight between two pipeline stages (each up to [`CHUNK`] bytes).
const PIPE_DEPTH: usize = 4;
const CHUNK: usize = 1 << 20;

/// A bounded channel of byte chunks between two stages; the reader hands drained buffers
/// back to the writer, so a layer costs a handful of allocations, not one per MiB.
fn pipe() -> (PipeWriter, ChannelReader) {
    let (tx, rx) = std::sync::mpsc::sync_channel(PIPE_DEPTH);
    let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel(PIPE_DEPTH + 2);
    (
        PipeWriter {
            tx,
            spare: spare_rx,
        },
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            spare: spare_tx,
        },
    )
}

struct PipeWriter {
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl PipeWriter {
    /// Reads up to [`CHUNK`] bytes from `r` into a (recycled) buffer; `None` at the end.
    fn read_from(&self, r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
        let mut buf = self.spare.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        buf.truncate(filled);
        Ok(Some(buf))
    }

    /// Sends a chunk (or an error); false when the reader is gone.
    fn send(&self, item: io::Result<Vec<u8>>) -> bool {
        self.tx.send(item).is_ok()
    }
}

/// The receiving end of a pipeline stage, as a reader.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    spare: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    let done = std::mem::replace(&mut self.chunk, c);
                    let _ = self.spare.try_send(done);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The sender finished.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Copies what it reads into `out` (the partial blob file).
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

struct Counting<'a, R> {
    inner: R,
    done: u64,
    next_report: u64,
    digest: &'a Digest,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done >= self.next_report || n == 0 {
            self.next_report = self.done + (256 << 10);
            self.progress.event(Event::LayerBytes {
                digest: self.digest,
                done: self.done,
            });
        }
        Ok(n)
    }
}
