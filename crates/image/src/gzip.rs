//! gzip layers decoded as raw deflate, member after member (pigz and eStargz write
//! several), without the CRC-32 of each member: the SHA-256 diff_id of the whole stream,
//! checked by the caller, is the integrity check, and skipping the CRC saves a quarter of
//! the CPU time of a pull.

use std::io::{self, BufRead, Read};

use flate2::bufread::DeflateDecoder;

/// A reader of the decompressed bytes of all gzip members in `R`.
pub struct GzipStream<R: BufRead> {
    decoder: Option<DeflateDecoder<R>>,
}

impl<R: BufRead> GzipStream<R> {
    /// Reads the first member's header.
    pub fn new(mut r: R) -> io::Result<Self> {
        read_header(&mut r)?;
        Ok(Self {
            decoder: Some(DeflateDecoder::new(r)),
        })
    }
}

impl<R: BufRead> Read for GzipStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The end of a member: its trailer (CRC-32, size), then another member or EOF.
            let Some(decoder) = self.decoder.take() else {
                return Ok(0);
            };
            let mut r = decoder.into_inner();
            let mut trailer = [0u8; 8];
            r.read_exact(&mut trailer)?;
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            read_header(&mut r)?;
            self.decoder = Some(DeflateDecoder::new(r));
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {msg}"))
}

/// RFC 1952 member header: magic, method 8, flags, and the optional fields they announce.
fn read_header(r: &mut impl BufRead) -> io::Result<()> {
    let mut h = [0u8; 10];
    r.read_exact(&mut h)?;
    if h[0] != 0x1f || h[1] != 0x8b {
        return Err(bad("not a gzip member (bad magic)"));
    }
    if h[2] != 8 {
        return Err(bad("compression method is not deflate"));
    }
    let flags = h[3];
    if flags & 0x04 != 0 {
        let mut len = [0u8; 2];
        r.read_exact(&mut len)?;
        let len = u64::from(u16::from_le_bytes(len));
        if io::copy(&mut r.take(len), &mut io::sink())? != len {
            return Err(bad("truncated extra field"));
        }
    }
    for flag in [0x08, 0x10] {
        // File name, comment: zero-terminated, at most 64 KiB here.
        if flags & flag != 0 {
            let mut skipped = Vec::new();
            r.take(64 << 10).read_until(0, &mut skipped)?;
            if skipped.last() != Some(&0) {
                return Err(bad("unterminated name or comment"));
            }
        }
    }
    if flags & 0x02 != 0 {
        let mut crc16 = [0u8; 2];
        r.read_exact(&mut crc16)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n).comment("c").extra(vec![1, 2, 3]);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        GzipStream::new(io::BufReader::new(bytes))?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn members_and_header_fields() {
        let mut two = gz(&[7u8; 100_000], Some("a"));
        two.extend(gz(b"tail", None));
        let out = decode(&two).unwrap();
        assert_eq!(out.len(), 100_004);
        assert_eq!(&out[100_000..], b"tail");
        assert_eq!(decode(&gz(b"", None)).unwrap(), b"");
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(decode(b"not gzip at all").is_err());
        let g = gz(&[1u8; 10_000], None);
        assert!(decode(&g[..g.len() / 2]).is_err());
        let mut trailing = g.clone();
        trailing.extend(b"junk after the member");
        assert!(decode(&trailing).is_err());
    }
}
