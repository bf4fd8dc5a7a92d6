//! Human output: sizes, "2 hours ago", and the `--format` templates of `husk images`.

use anyhow::{bail, Result};

/// Sizes as Docker prints them (decimal units): 4.26MB.
pub fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    for (unit, div) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if b >= div {
            return format!("{:.3}", b / div)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
                + unit;
        }
    }
    format!("{bytes}B")
}

/// Seconds since the epoch of an RFC 3339 time (`2026-01-01T00:00:00.123Z`, `+02:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = days * 86400 + h * 3600 + mi * 60 + se;
    let rest = &s[19..];
    let tz = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(off) = tz.strip_prefix('+').or_else(|| tz.strip_prefix('-')) {
        let oh: i64 = off.get(0..2)?.parse().ok()?;
        let om: i64 = off.get(3..5)?.parse().ok()?;
        let sign = if tz.starts_with('+') { 1 } else { -1 };
        t -= sign * (oh * 3600 + om * 60);
    }
    Some(t)
}

/// "3 days ago".
pub fn since(created: Option<&str>) -> String {
    let Some(t) = created.and_then(parse_rfc3339) else {
        return "N/A".to_owned();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let secs = (now - t).max(0);
    let (n, unit) = match secs {
        s if s < 60 => return "Less than a minute ago".to_owned(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if n == 1 && unit == "hour" {
        return "About an hour ago".to_owned();
    }
    format!("{n} {unit}{plural} ago")
}

/// Renders a Go-template-like `--format` for one row of fields. Only `{{.Field}}` and
/// `{{json .}}` are understood; anything else is an error naming it.
pub fn template(tpl: &str, fields: &[(&str, String)]) -> Result<String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            bail!("--format {tpl:?}: unclosed {{{{");
        };
        let expr = rest[start + 2..start + end].trim();
        if expr == "json ." {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                .collect();
            out.push_str(&serde_json::Value::Object(map).to_string());
        } else if let Some(name) = expr.strip_prefix('.') {
            match fields.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => bail!(
                    "--format: unknown field .{name} (known: {})",
                    fields
                        .iter()
                        .map(|(k, _)| format!(".{k}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            }
        } else {
            bail!("--format: unsupported expression {{{{{expr}}}}}");
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out.replace("\\t", "\t"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_260_000), "4.26MB");
        assert_eq!(size(1_000_000_000), "1GB");
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00.5Z"), Some(1_767_225_600));
        assert_eq!(
            parse_rfc3339("2026-01-01T02:00:00+02:00"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn templates() {
        let f = [
            ("Repository", "busybox".to_owned()),
            ("Tag", "1".to_owned()),
        ];
        assert_eq!(
            template("{{.Repository}}:{{.Tag}}", &f).unwrap(),
            "busybox:1"
        );
        assert_eq!(
            template("{{json .}}", &f).unwrap(),
            r#"{"Repository":"busybox","Tag":"1"}"#
        );
        assert!(template("{{.Nope}}", &f)
            .unwrap_err()
            .to_string()
            .contains(".Nope"));
    }
}
