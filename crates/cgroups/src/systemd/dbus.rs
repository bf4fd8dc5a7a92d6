//! A minimal D-Bus client over a unix socket (runs in: parent): SASL
//! `EXTERNAL` authentication, one method call at a time, replies matched
//! by serial. As root it talks to systemd's private socket (no bus daemon,
//! no Hello, what systemctl does); otherwise to the system bus.

use super::wire::{self, Call, Reply};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// systemd's own socket, served by PID 1 to root.
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
/// Bound on every read and write on the socket.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The connection (path, what went wrong).
    Transport(String),
    /// An error reply: its name and message.
    Remote { name: String, message: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(s) => f.write_str(s),
            CallError::Remote { name, message } => write!(f, "{name}: {message}"),
        }
    }
}

/// A connection to systemd.
pub struct Bus {
    sock: UnixStream,
    path: PathBuf,
    serial: u32,
}

impl Bus {
    /// Connects as the running user: root to systemd's private socket,
    /// others to the system bus (`$DBUS_SYSTEM_BUS_ADDRESS` or the default).
    pub fn connect() -> Result<Bus, CallError> {
        let uid = euid();
        if uid == 0 && Path::new(PRIVATE_SOCKET).exists() {
            return Bus::open(Path::new(PRIVATE_SOCKET), uid, false);
        }
        let path = match std::env::var("DBUS_SYSTEM_BUS_ADDRESS") {
            Ok(a) => address_path(&a).ok_or_else(|| {
                CallError::Transport(format!(
                    "DBUS_SYSTEM_BUS_ADDRESS={a:?}: no unix:path= address in it"
                ))
            })?,
            Err(_) => PathBuf::from(SYSTEM_BUS),
        };
        Bus::open(&path, uid, true)
    }

    fn open(path: &Path, uid: u32, hello: bool) -> Result<Bus, CallError> {
        let io = |what: &str, e: std::io::Error| {
            CallError::Transport(format!("{what} {}: {e}", path.display()))
        };
        let sock = UnixStream::connect(path).map_err(|e| io("connect to", e))?;
        sock.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| sock.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| io("set timeouts on", e))?;
        let mut bus = Bus {
            sock,
            path: path.to_path_buf(),
            serial: 0,
        };
        bus.authenticate(uid)?;
        if hello {
            bus.call(&Call {
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member: "Hello",
                destination: "org.freedesktop.DBus",
                args: &[],
            })?;
        }
        Ok(bus)
    }

    fn transport(&self, what: &str, e: impl std::fmt::Display) -> CallError {
        CallError::Transport(format!("{what} {}: {e}", self.path.display()))
    }

    /// SASL: a NUL byte, `AUTH EXTERNAL <uid in hex>`, expect `OK`, `BEGIN`.
    fn authenticate(&mut self, uid: u32) -> Result<(), CallError> {
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\n");
        self.sock
            .write_all(hello.as_bytes())
            .map_err(|e| self.transport("authenticate to", e))?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(self.transport("authenticate to", format!("refused ({line:?})")));
        }
        self.sock
            .write_all(b"BEGIN\r\n")
            .map_err(|e| self.transport("authenticate to", e))
    }

    /// One line of the SASL exchange, read byte by byte so that nothing
    /// after it is consumed.
    fn read_line(&mut self) -> Result<String, CallError> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") && line.len() < 512 {
            match self.sock.read(&mut b) {
                Ok(0) => return Err(self.transport("authenticate to", "connection closed")),
                Ok(_) => line.push(b[0]),
                Err(e) => return Err(self.transport("authenticate to", e)),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    /// Sends `call` and waits for its reply (skipping signals and other
    /// messages); an error reply becomes [`CallError::Remote`].
    pub fn call(&mut self, call: &Call) -> Result<Reply, CallError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        let msg = wire::method_call(serial, call);
        self.sock
            .write_all(&msg)
            .map_err(|e| self.transport(&format!("send {} to", call.member), e))?;
        // Bounded: the socket's read timeout ends a silent peer, and the
        // number of unrelated messages we skip is capped.
        for _ in 0..1000 {
            let reply = self.read_message()?;
            if reply.reply_serial != serial
                || !matches!(reply.kind, wire::METHOD_RETURN | wire::ERROR)
            {
                continue;
            }
            if reply.kind == wire::ERROR {
                return Err(CallError::Remote {
                    name: reply.error_name.unwrap_or_default(),
                    message: reply.first_string.unwrap_or_default(),
                });
            }
            return Ok(reply);
        }
        Err(self.transport(
            &format!("{}: no reply from", call.member),
            "too many messages",
        ))
    }

    fn read_message(&mut self) -> Result<Reply, CallError> {
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| self.transport("read a reply from", e))?;
        let len = wire::message_len(&head).map_err(|e| self.transport("read from", e))?;
        let mut msg = head.to_vec();
        msg.resize(len, 0);
        self.sock
            .read_exact(&mut msg[16..])
            .map_err(|e| self.transport("read a reply from", e))?;
        wire::parse(&msg).map_err(|e| self.transport("read from", e))
    }
}

/// Our effective uid: the owner of /proc/self.
fn euid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// The socket path of a D-Bus address such as
/// `unix:path=/run/dbus/system_bus_socket,guid=...` (the first `unix:path`
/// of a `;`-separated list).
pub fn address_path(addr: &str) -> Option<PathBuf> {
    addr.split(';').find_map(|a| {
        let rest = a.strip_prefix("unix:")?;
        rest.split(',')
            .find_map(|kv| kv.strip_prefix("path="))
            .map(|p| PathBuf::from(unescape(p)))
    })
}

/// D-Bus addresses escape bytes as `%xx`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            address_path("unix:path=/run/dbus/system_bus_socket"),
            Some(PathBuf::from("/run/dbus/system_bus_socket"))
        );
        assert_eq!(
            address_path("tcp:host=x;unix:guid=1,path=/a%20b"),
            Some(PathBuf::from("/a b"))
        );
        assert_eq!(address_path("unix:abstract=/tmp/x"), None);
    }

    /// The SASL exchange and one call against a fake peer on a socketpair.
    #[test]
    fn authenticates_and_matches_the_reply() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut got = [0u8; 21];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"\0AUTH EXTERNAL 3432\r\n");
            peer.write_all(b"OK 0123\r\n").unwrap();
            let mut begin = [0u8; 7];
            peer.read_exact(&mut begin).unwrap();
            assert_eq!(&begin, b"BEGIN\r\n");
            let mut head = [0u8; 16];
            peer.read_exact(&mut head).unwrap();
            let mut body = vec![0u8; wire::message_len(&head).unwrap() - 16];
            peer.read_exact(&mut body).unwrap();
            // An error reply to serial 1.
            let mut e = vec![b'l', wire::ERROR, 1, 1, 0, 0, 0, 0, 9, 0, 0, 0, 24, 0, 0, 0];
            e.extend_from_slice(&[4, 1, b's', 0, 3, 0, 0, 0, b'x', b'.', b'Y', 0]);
            e.extend_from_slice(&[0, 0, 0, 0, 5, 1, b'u', 0, 1, 0, 0, 0]);
            peer.write_all(&e).unwrap();
        });
        let mut bus = Bus {
            sock: ours,
            path: "/fake".into(),
            serial: 0,
        };
        bus.authenticate(42).unwrap();
        let err = bus
            .call(&Call {
                path: "/",
                interface: "i",
                member: "M",
                destination: "d",
                args: &[],
            })
            .unwrap_err();
        server.join().unwrap();
        assert_eq!(err.to_string(), "x.Y: ");
    }
}
