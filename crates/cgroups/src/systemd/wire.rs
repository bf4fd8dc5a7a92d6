//! The D-Bus wire format, little-endian only (runs in: parent): the method
//! calls husk sends to systemd, marshalled byte for byte, and the few parts
//! of a reply it reads back (kind, reply serial, error name, first string).

/// A property value inside `a(sv)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Variant {
    Bool(bool),
    U64(u64),
    Str(String),
    U32s(Vec<u32>),
    Strs(Vec<String>),
}

impl Variant {
    fn signature(&self) -> &'static str {
        match self {
            Variant::Bool(_) => "b",
            Variant::U64(_) => "t",
            Variant::Str(_) => "s",
            Variant::U32s(_) => "au",
            Variant::Strs(_) => "as",
        }
    }
}

/// A named property, as systemd's unit calls take them.
pub type Property = (String, Variant);

/// One argument of a method call.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Str(&'a str),
    Bool(bool),
    /// `a(sv)`.
    Props(&'a [Property]),
    /// `a(sa(sv))` (StartTransientUnit's auxiliary units): always empty here.
    NoAux,
}

impl Arg<'_> {
    fn signature(&self) -> &'static str {
        match self {
            Arg::Str(_) => "s",
            Arg::Bool(_) => "b",
            Arg::Props(_) => "a(sv)",
            Arg::NoAux => "a(sa(sv))",
        }
    }
}

/// A method call to marshal.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub path: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub destination: &'a str,
    pub args: &'a [Arg<'a>],
}

/// Appends values with D-Bus alignment. Offsets count from the start of the
/// buffer, which is where the message or its (8-aligned) body starts.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A string or object path: length, bytes, NUL.
    fn str(&mut self, s: &str) {
        self.u32(len32(s.len()));
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// A signature: one length byte, bytes, NUL.
    fn sig(&mut self, s: &str) {
        self.u8(u8::try_from(s.len()).unwrap_or(u8::MAX));
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array: its byte length (padding before the first element not
    /// counted), then the elements `f` writes.
    fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Self)) {
        self.pad(4);
        let at = self.buf.len();
        self.u32(0);
        self.pad(elem_align);
        let start = self.buf.len();
        f(self);
        let len = len32(self.buf.len() - start).to_le_bytes();
        self.buf[at..at + 4].copy_from_slice(&len);
    }

    fn variant(&mut self, v: &Variant) {
        self.sig(v.signature());
        match v {
            Variant::Bool(b) => self.u32(u32::from(*b)),
            Variant::U64(n) => self.u64(*n),
            Variant::Str(s) => self.str(s),
            Variant::U32s(ns) => self.array(4, |w| ns.iter().for_each(|n| w.u32(*n))),
            Variant::Strs(ss) => self.array(4, |w| ss.iter().for_each(|s| w.str(s))),
        }
    }

    fn arg(&mut self, a: &Arg) {
        match a {
            Arg::Str(s) => self.str(s),
            Arg::Bool(b) => self.u32(u32::from(*b)),
            Arg::Props(props) => self.array(8, |w| {
                for (name, value) in *props {
                    w.pad(8);
                    w.str(name);
                    w.variant(value);
                }
            }),
            Arg::NoAux => self.array(8, |_| {}),
        }
    }

    /// A header field: struct (code, variant).
    fn field(&mut self, code: u8, sig: &str, value: &str) {
        self.pad(8);
        self.u8(code);
        self.sig(sig);
        if sig == "g" {
            self.sig(value);
        } else {
            self.str(value);
        }
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Message types.
pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;

/// The bytes of a method call with `serial`.
pub fn method_call(serial: u32, call: &Call) -> Vec<u8> {
    let mut body = Writer::default();
    let mut signature = String::new();
    for a in call.args {
        signature.push_str(a.signature());
        body.arg(a);
    }
    let mut m = Writer::default();
    m.u8(b'l');
    m.u8(METHOD_CALL);
    m.u8(0);
    m.u8(1);
    m.u32(len32(body.buf.len()));
    m.u32(serial);
    m.array(8, |w| {
        w.field(1, "o", call.path);
        w.field(2, "s", call.interface);
        w.field(3, "s", call.member);
        w.field(6, "s", call.destination);
        if !signature.is_empty() {
            w.field(8, "g", &signature);
        }
    });
    m.pad(8);
    m.buf.extend_from_slice(&body.buf);
    m.buf
}

/// What husk reads of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub kind: u8,
    pub reply_serial: u32,
    pub error_name: Option<String>,
    /// The body's first string (an object path, an error's message), or
    /// the string inside a variant (Properties.Get).
    pub first_string: Option<String>,
}

/// Reads values with D-Bus alignment from a buffer starting 8-aligned.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn align(&mut self, a: usize) {
        self.pos = self.pos.div_ceil(a) * a;
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or("truncated D-Bus message")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4);
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn text(&mut self, n: usize) -> Result<String, String> {
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }

    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        self.text(n)
    }

    fn sig(&mut self) -> Result<String, String> {
        let n = usize::from(self.u8()?);
        self.text(n)
    }

    /// A value of a basic type (`sig` one character), as text if it is one.
    fn basic(&mut self, sig: &str) -> Result<Option<String>, String> {
        match sig {
            "s" | "o" => self.str().map(Some),
            "g" => self.sig().map(Some),
            "u" | "b" | "i" => self.u32().map(|v| Some(v.to_string())),
            "y" => self.u8().map(|v| Some(v.to_string())),
            _ => Err(format!("unexpected D-Bus type {sig:?}")),
        }
    }
}

/// The total length of a message from its first 16 bytes.
pub fn message_len(head: &[u8; 16]) -> Result<usize, String> {
    if head[0] != b'l' {
        return Err("a big-endian D-Bus message (not supported)".into());
    }
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let fields = word(12) as usize;
    let body = word(4) as usize;
    let total = (16 + fields).div_ceil(8) * 8 + body;
    if total > 128 << 20 {
        return Err(format!("a D-Bus message of {total} bytes"));
    }
    Ok(total)
}

/// Parses a whole message (as long as [`message_len`] said).
pub fn parse(msg: &[u8]) -> Result<Reply, String> {
    let mut head = [0u8; 16];
    head.copy_from_slice(msg.get(..16).ok_or("truncated D-Bus message")?);
    if msg.len() < message_len(&head)? {
        return Err("truncated D-Bus message".into());
    }
    let mut r = Reader { buf: msg, pos: 12 };
    let fields_len = r.u32()? as usize;
    let fields_end = 16 + fields_len;
    let mut reply = Reply {
        kind: msg[1],
        reply_serial: 0,
        error_name: None,
        first_string: None,
    };
    let mut signature = String::new();
    loop {
        r.align(8);
        if r.pos >= fields_end {
            break;
        }
        let code = r.u8()?;
        let sig = r.sig()?;
        let value = r.basic(&sig)?.unwrap_or_default();
        match code {
            4 => reply.error_name = Some(value),
            5 => reply.reply_serial = value.parse().unwrap_or(0),
            8 => signature = value,
            _ => {}
        }
    }
    r.align(8);
    let mut body = Reader {
        buf: &msg[r.pos.min(msg.len())..],
        pos: 0,
    };
    reply.first_string = match signature.chars().next() {
        Some('s' | 'o') => Some(body.str()?),
        Some('v') => {
            let inner = body.sig()?;
            body.basic(&inner).ok().flatten()
        }
        _ => None,
    };
    Ok(reply)
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
