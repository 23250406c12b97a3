//! Quantities and strings as people read them: durations with units, counts with thousands
//! separators, and the one sanitizer for text that came from the kernel or the trace. Pure
//! functions of numbers and strings, used by the renderers and by the cause chains the JSON
//! carries; nothing here knows the report.

/// `12.3 µs`, `4.56 ms`, `1.20 s`.
pub fn fmt_ns(ns: u64) -> String {
    let n = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", n / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", n / 1e6)
    } else {
        format!("{:.2} s", n / 1e9)
    }
}

/// `1,640,640`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Replaces characters that must not reach a document or a terminal: C0/C1 control characters
/// (shown as their Unicode control picture, e.g. ESC → `␛`) and bidirectional overrides that
/// could make a name read differently from what it is. Markup characters are left to the
/// caller's escaping.
pub fn neutralize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '\u{2421}',
            '\u{80}'..='\u{9f}' => '?',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => '?',
            c => c,
        })
        .collect()
}

/// Escapes text for HTML element content and quoted attribute values (`& < > " '`), after
/// replacing control characters and bidirectional overrides (see [`neutralize`]).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in neutralize(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2025-03-01 12:34:56 UTC` from Unix-epoch nanoseconds.
pub fn fmt_utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // days since 1970-01-01 → civil date (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_640_640), "1,640,640");
    }

    #[test]
    fn neutralize_replaces_controls_and_overrides() {
        assert_eq!(neutralize("a\x1b[31mb\n"), "a\u{241b}[31mb\u{240a}");
        assert_eq!(neutralize("x\u{202e}y\u{7f}\u{85}"), "x?y\u{2421}?");
        assert_eq!(neutralize("<b>&"), "<b>&");
    }
}
