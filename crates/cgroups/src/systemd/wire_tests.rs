//! Byte-exact tests of the D-Bus marshalling.

use super::*;

/// org.freedesktop.DBus.Hello, serial 1, no body: the first message
/// every bus client sends, byte for byte.
#[test]
fn hello_is_marshalled_byte_for_byte() {
    let m = method_call(
        1,
        &Call {
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "Hello",
            destination: "org.freedesktop.DBus",
            args: &[],
        },
    );
    let mut want: Vec<u8> = vec![b'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0];
    // Header fields array: 4 fields; its length is patched below.
    want.extend_from_slice(&[0; 4]);
    let field = |w: &mut Vec<u8>, code: u8, sig: u8, s: &str| {
        while !w.len().is_multiple_of(8) {
            w.push(0);
        }
        w.extend_from_slice(&[code, 1, sig, 0]);
        w.extend_from_slice(&u32::try_from(s.len()).unwrap().to_le_bytes());
        w.extend_from_slice(s.as_bytes());
        w.push(0);
    };
    field(&mut want, 1, b'o', "/org/freedesktop/DBus");
    field(&mut want, 2, b's', "org.freedesktop.DBus");
    field(&mut want, 3, b's', "Hello");
    field(&mut want, 6, b's', "org.freedesktop.DBus");
    let len = u32::try_from(want.len() - 16).unwrap().to_le_bytes();
    want[12..16].copy_from_slice(&len);
    while !want.len().is_multiple_of(8) {
        want.push(0);
    }
    assert_eq!(m, want);
    assert_eq!(message_len(m[..16].try_into().unwrap()).unwrap(), m.len());
    // The path field: code 1, signature "o", length 21.
    assert_eq!(&m[16..24], &[1, 1, b'o', 0, 21, 0, 0, 0]);
}

/// The body of StopUnit("a.scope", "replace"): two strings, and the
/// signature header field.
#[test]
fn two_strings_and_their_signature() {
    let m = method_call(
        7,
        &Call {
            path: "/p",
            interface: "i.f",
            member: "M",
            destination: "d",
            args: &[Arg::Str("a.scope"), Arg::Str("replace")],
        },
    );
    let body: &[u8] = &[
        7, 0, 0, 0, b'a', b'.', b's', b'c', b'o', b'p', b'e', 0, //
        7, 0, 0, 0, b'r', b'e', b'p', b'l', b'a', b'c', b'e', 0,
    ];
    assert!(m.ends_with(body));
    assert_eq!(&m[4..8], &24u32.to_le_bytes());
    assert_eq!(&m[8..12], &7u32.to_le_bytes());
    let sig_field: &[u8] = &[8, 1, b'g', 0, 2, b's', b's', 0];
    assert!(m.windows(8).any(|w| w == sig_field));
}

/// `a(sv)` with a bool, a u64 and an `au`: padding to 8 before each
/// struct and before the u64, the array's length excluding its own
/// leading padding.
#[test]
fn properties_are_aligned() {
    let props = vec![
        ("D".to_string(), Variant::Bool(true)),
        ("T".to_string(), Variant::U64(u64::MAX)),
        ("P".to_string(), Variant::U32s(vec![5])),
    ];
    let mut w = Writer::default();
    w.u8(9); // start unaligned, as after another argument
    w.arg(&Arg::Props(&props));
    #[rustfmt::skip]
    let want: Vec<u8> = vec![
        9, 0, 0, 0,             // pad to 4
        60, 0, 0, 0,            // array byte length
        1, 0, 0, 0, b'D', 0,    // "D" at offset 8
        1, b'b', 0, 0, 0, 0,    // variant signature "b", pad to 4
        1, 0, 0, 0,             // true
        1, 0, 0, 0, b'T', 0,    // "T" at offset 24
        1, b't', 0,             // signature "t"
        0, 0, 0, 0, 0, 0, 0,    // pad to 8 (offset 40)
        255, 255, 255, 255, 255, 255, 255, 255,
        1, 0, 0, 0, b'P', 0,    // "P" at offset 48
        2, b'a', b'u', 0,       // signature "au"
        0, 0,                   // pad to 4 (offset 60)
        4, 0, 0, 0, 5, 0, 0, 0, // [5]
    ];
    assert_eq!(w.buf, want);
}

#[test]
fn replies_and_errors_are_read() {
    // A method return to serial 3 whose body is the object path "/j/1".
    let mut m = vec![
        b'l',
        METHOD_RETURN,
        1,
        1,
        9,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    m.extend_from_slice(&[5, 1, b'u', 0, 3, 0, 0, 0]);
    m.extend_from_slice(&[8, 1, b'g', 0, 1, b'o', 0, 0]);
    m[12] = 15;
    m.extend_from_slice(&[4, 0, 0, 0, b'/', b'j', b'/', b'1', 0]);
    assert_eq!(message_len(m[..16].try_into().unwrap()).unwrap(), m.len());
    let r = parse(&m).unwrap();
    assert_eq!(r.kind, METHOD_RETURN);
    assert_eq!(r.reply_serial, 3);
    assert_eq!(r.first_string.as_deref(), Some("/j/1"));
    // An error with its name and message.
    let mut e = vec![b'l', ERROR, 1, 1, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0];
    e.extend_from_slice(&[4, 1, b's', 0, 3, 0, 0, 0, b'a', b'.', b'B', 0]);
    e.extend_from_slice(&[0, 0, 0, 0, 8, 1, b'g', 0, 1, b's', 0, 0]);
    e[12] = 23;
    e.extend_from_slice(&[3, 0, 0, 0, b'b', b'a', b'd', 0]);
    let r = parse(&e).unwrap();
    assert_eq!(r.error_name.as_deref(), Some("a.B"));
    assert_eq!(r.first_string.as_deref(), Some("bad"));
    // A variant holding a string (Properties.Get).
    let mut v = vec![
        b'l',
        METHOD_RETURN,
        1,
        1,
        11,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
        7,
        0,
        0,
        0,
    ];
    v.extend_from_slice(&[8, 1, b'g', 0, 1, b'v', 0, 0]);
    v.extend_from_slice(&[1, b's', 0, 0, 2, 0, 0, 0, b'o', b'k', 0]);
    assert_eq!(parse(&v).unwrap().first_string.as_deref(), Some("ok"));
    assert!(parse(&v[..20]).is_err());
}

/// StartTransientUnit's `ssa(sv)a(sa(sv))` with empty arrays: each empty
/// array still pads to its 8-byte element alignment.
#[test]
fn start_transient_unit_signature_and_empty_arrays() {
    let m = method_call(
        2,
        &Call {
            path: "/",
            interface: "i",
            member: "M",
            destination: "d",
            args: &[Arg::Str("u"), Arg::Str("r"), Arg::Props(&[]), Arg::NoAux],
        },
    );
    #[rustfmt::skip]
    let body: &[u8] = &[
        1, 0, 0, 0, b'u', 0, 0, 0,  // "u", pad to 4
        1, 0, 0, 0, b'r', 0, 0, 0,  // "r", pad to 4
        0, 0, 0, 0, 0, 0, 0, 0,     // a(sv): length 0, pad to 8
        0, 0, 0, 0, 0, 0, 0, 0,     // a(sa(sv)): length 0, pad to 8
    ];
    assert!(m.ends_with(body));
    assert_eq!(&m[4..8], &32u32.to_le_bytes());
    let sig = b"\x08\x01g\x00\x10ssa(sv)a(sa(sv))\x00";
    assert!(m.windows(sig.len()).any(|w| w == sig));
}
