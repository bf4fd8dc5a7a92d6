//! The field a JSON error is about, from the error's position.
//!
//! serde_json says where a value failed (line and column) but not which
//! field it was. Instead of deserializing through a path-tracking wrapper
//! (serde_path_to_error: about 150 KB of husk-runtime, because every
//! oci-spec type's code is generated once more for the wrapper), the text
//! is scanned up to that position, keeping the stack of object keys and
//! array indexes: `linux.namespaces[1].type`.

/// The path of the value at (1-based) `line` and `column` of `text`, or
/// `(document)` at the top level.
pub fn at(text: &[u8], line: usize, column: usize) -> String {
    render(&scan(text, offset(text, line, column)))
}

/// One open object or array on the way to the position.
#[derive(Debug)]
enum Frame {
    /// The key whose value we are in, once its `:` was seen.
    Object {
        key: Option<String>,
        after_colon: bool,
    },
    Array {
        index: usize,
    },
}

fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(n) => start += n + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

fn scan(text: &[u8], end: usize) -> Vec<Frame> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match text[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                after_colon: false,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { after_colon, .. }) = stack.last_mut() {
                    *after_colon = true;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key, after_colon }) => {
                    *key = None;
                    *after_colon = false;
                }
                None => {}
            },
            b'"' => {
                let (s, next) = string(text, i + 1);
                if let Some(Frame::Object {
                    key,
                    after_colon: false,
                }) = stack.last_mut()
                {
                    *key = Some(s);
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    stack
}

/// The string starting after the opening quote at `i`, and the index after
/// its closing quote (escapes are kept as written: keys have none).
fn string(text: &[u8], mut i: usize) -> (String, usize) {
    let start = i;
    while i < text.len() && text[i] != b'"' {
        i += if text[i] == b'\\' { 2 } else { 1 };
    }
    let end = i.min(text.len());
    (
        String::from_utf8_lossy(&text[start..end]).into_owned(),
        end + 1,
    )
}

fn render(stack: &[Frame]) -> String {
    let mut out = String::new();
    for f in stack {
        match f {
            Frame::Object { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> String {
        let e = serde_json::from_str::<T>(text).unwrap_err();
        at(text.as_bytes(), e.line(), e.column())
    }

    #[test]
    fn finds_keys_and_indexes() {
        let text = "{\"a\": {\"b\": [1, {\"c\": \"x\"}]}}";
        // Right after "x": a.b[1].c
        let col = text.find("\"x\"").unwrap() + 3;
        assert_eq!(at(text.as_bytes(), 1, col), "a.b[1].c");
        assert_eq!(at(text.as_bytes(), 1, 0), "(document)");
        let multi = "{\n \"a\": [\n  0,\n  \"q\"\n ]\n}";
        assert_eq!(at(multi.as_bytes(), 4, 5), "a[1]");
    }

    #[test]
    fn matches_serde_errors_on_spec_types() {
        use oci_spec::runtime::Spec;
        let bad_variant = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        assert_eq!(
            path_of_error::<Spec>(bad_variant),
            "linux.namespaces[1].type"
        );
        let bad_type = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"user":{"uid":"zero","gid":0},"cwd":"/","args":["sh"]}}"#;
        assert_eq!(path_of_error::<Spec>(bad_type), "process.user.uid");
        let missing = r#"{"ociVersion":"1.0.2",
            "hooks":{"prestart":[{"path":"/bin/true"},{"args":["x"]}]}}"#;
        assert_eq!(path_of_error::<Spec>(missing), "hooks.prestart[1]");
        let escaped = r#"{"ociVersion":"1.0.2","root":{"path":"a\"b"},"hostname":5}"#;
        assert_eq!(path_of_error::<Spec>(escaped), "hostname");
    }
}
