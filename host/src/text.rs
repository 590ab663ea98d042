//! Remote bytes shown to people: bounded and printable. Everything a remote process printed
//! that ends up in an error message goes through here, so a hostile or broken peer can neither
//! flood an error with megabytes nor put terminal escapes or binary on the user's screen.

/// At most this many bytes of a remote fragment (a version, a marker) are quoted.
pub const QUOTE_MAX: usize = 200;
/// At most this many lines of a remote output tail are shown.
pub const TAIL_LINES: usize = 20;
/// Each line of a tail is cut to this many bytes.
pub const LINE_MAX: usize = 240;

/// `bytes` as printable text of at most about `max` bytes: valid UTF-8 printable characters as
/// themselves, anything else (control bytes, invalid UTF-8) as `\xNN`, tabs kept; when cut, the
/// number of bytes left out is said.
pub fn quote(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    // Walk the original bytes so invalid sequences are shown as escapes, not U+FFFD.
    let mut i = 0;
    while i < bytes.len() {
        if out.len() >= max {
            out.push_str(&format!("...[{} more bytes]", bytes.len() - used));
            return out;
        }
        let rest = &bytes[i..];
        let n = utf8_len(rest);
        match std::str::from_utf8(&rest[..n.min(rest.len())]) {
            Ok(s) if n > 0 => {
                let c = s.chars().next().unwrap_or('\0');
                if c == '\t' || !(c.is_control() || invisible(c)) {
                    out.push(c);
                } else {
                    for b in s.bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                i += n;
                used += n;
            }
            _ => {
                out.push_str(&format!("\\x{:02x}", bytes[i]));
                i += 1;
                used += 1;
            }
        }
    }
    out
}

/// Characters that change how text around them looks (bidi overrides, zero-width marks,
/// the replacement character): escaped, so remote text cannot disguise itself.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{fffd}')
}

/// `hay` with every `needle` replaced by `with` (bytes; an empty needle changes nothing).
pub fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Length of the UTF-8 sequence starting `b` (1 for a stray byte).
fn utf8_len(b: &[u8]) -> usize {
    match b.first() {
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => 1,
    }
}

/// The last [`TAIL_LINES`] lines of `bytes`, each quoted and cut to [`LINE_MAX`] bytes.
pub fn tail(bytes: &[u8]) -> String {
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    let lines = match lines.last() {
        Some([]) => &lines[..lines.len() - 1],
        _ => &lines[..],
    };
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|l| quote(l, LINE_MAX))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_and_bounded() {
        assert_eq!(quote(b"Python 3.11.2", 200), "Python 3.11.2");
        assert_eq!(quote("h\u{e9}\tx".as_bytes(), 200), "h\u{e9}\tx");
        assert_eq!(quote(b"a\x1b[2Jb\xff\x00", 200), "a\\x1b[2Jb\\xff\\x00");
        assert_eq!(quote("x\u{202e}y".as_bytes(), 200), "x\\xe2\\x80\\xaey");
        assert_eq!(replace(b"a pw b pw", b"pw", b"<r>"), b"a <r> b <r>");
        let big = vec![0u8; 65536];
        let q = quote(&big, 200);
        assert!(q.len() < 240, "{}", q.len());
        assert!(q.ends_with("more bytes]"), "{q}");
        let many: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let t = tail(&many);
        assert_eq!(t.lines().count(), TAIL_LINES);
        assert!(t.ends_with("line 99"), "{t}");
        let long = vec![b'x'; 100_000];
        assert!(tail(&long).len() < LINE_MAX + 40);
    }
}
