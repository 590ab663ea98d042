//! Builds the stage-2 stub: concatenates the Python sources, minifies them (comments, blank
//! lines and indentation), and deflates the result (zlib stream) as it will be shipped.

use std::env;
use std::fs;
use std::path::PathBuf;

/// The stub's sources, in the order they are concatenated into one program.
const SOURCES: &[&str] = &["python/econtext_stub.py", "python/runtime.py"];
/// The stub for Python 2.4-2.6 (the same protocol in 2.4's syntax and library).
const SOURCES_OLD: &[&str] = &["python/old/econtext_stub.py", "python/old/runtime.py"];

fn minify(src: &str, name: &str) -> String {
    // The indent unit of this file: its smallest indentation (sources may be hand-minified).
    let unit = src
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .filter(|n| *n > 0)
        .min()
        .unwrap_or(1);
    assert!(
        src.is_ascii(),
        "{name}: the stub must be ASCII (stage 1 reads it as text)"
    );
    let mut out = String::new();
    for (no, line) in src.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        assert!(
            indent % unit == 0,
            "{name}:{}: indent with multiples of {unit} spaces",
            no + 1
        );
        let mut body = body.trim_end().to_string();
        // A trailing comment is cut only on lines without quotes, where `#` cannot be in a string.
        if !body.contains(['"', '\'']) {
            if let Some(i) = body.find(" #") {
                body.truncate(i);
                body = body.trim_end().to_string();
            }
        }
        out.push_str(&" ".repeat(indent / unit));
        out.push_str(&squeeze(&body));
        out.push('\n');
    }
    out
}

/// Drop the spaces inside a line that Python does not need: a space goes unless it separates
/// two identifier or number characters (`return x`, `not in`, `1 if` keep theirs). String
/// literals are copied unchanged; a `#` outside a string ends the line.
fn squeeze(line: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == '\\' && i + 1 < chars.len() {
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                i += 1;
                if chars[i - 1] == c {
                    break;
                }
            }
            continue;
        }
        if c == '#' {
            break;
        }
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars[i + 1..].iter().find(|c| **c != ' ').copied();
            if let (Some(p), Some(n)) = (prev, next) {
                if word(p) && word(n) {
                    out.push(' ');
                }
            }
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out.trim_end().to_string()
}

/// Concatenate and minify `sources`: (raw, minified, zlib stream of the minified).
fn program(dir: &std::path::Path, sources: &[&str]) -> (String, String, Vec<u8>) {
    let mut raw = String::new();
    let mut min = String::new();
    for s in sources {
        let path = dir.join(s);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        min.push_str(&minify(&text, s));
        raw.push_str(&text);
    }
    let deflated = miniz_oxide::deflate::compress_to_vec_zlib(min.as_bytes(), 10);
    (raw, min, deflated)
}

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let (raw, min, mut z) = program(&dir, SOURCES);
    let (_, min_old, mut z_old) = program(&dir, SOURCES_OLD);
    // Stage 1 reads one length whatever the interpreter turns out to be: both streams are
    // padded with zeros to the longer one (zlib.decompress ignores what follows a stream).
    let sizes = format!(
        "/// The modern stub deflated, before padding (the budget counts this).\n\
         pub const STAGE2_DEFLATED: usize = {};\n\
         /// The 2.4-2.6 stub deflated, before padding.\n\
         pub const STAGE2_OLD_DEFLATED: usize = {};\n",
        z.len(),
        z_old.len()
    );
    let len = z.len().max(z_old.len());
    z.resize(len, 0);
    z_old.resize(len, 0);
    fs::write(out.join("stage2.raw.py"), &raw).unwrap();
    fs::write(out.join("stage2.min.py"), &min).unwrap();
    fs::write(out.join("stage2.z"), &z).unwrap();
    fs::write(out.join("stage2_old.min.py"), &min_old).unwrap();
    fs::write(out.join("stage2_old.z"), &z_old).unwrap();
    fs::write(out.join("sizes.rs"), sizes).unwrap();
    builtins(&dir, &out);
}

/// The on-demand modules the host serves from its binary, deflated as they are sent (the
/// binary keeps 19 KB instead of 54 KB of source), with the `econtext_*` modules each one
/// imports (what the module server preloads with it).
const BUILTINS: &[(&str, &str)] = &[
    ("econtext_spawn", "python/spawn.py"),
    ("econtext_channel", "python/channel.py"),
    ("econtext_process", "python/process.py"),
    ("econtext_fakessh", "python/fakessh.py"),
    ("econtext_files", "python/files.py"),
];

fn builtins(dir: &std::path::Path, out: &std::path::Path) {
    let mut rs = String::from(
        "/// (name, zlib stream of the source, econtext_* modules it imports)\n\
         pub const BUILTINS: &[(&str, &[u8], &[&str])] = &[\n",
    );
    for (name, file) in BUILTINS {
        let path = dir.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let z = miniz_oxide::deflate::compress_to_vec_zlib(text.as_bytes(), 10);
        fs::write(out.join(format!("{name}.z")), &z).unwrap();
        let mut imports: Vec<String> = Vec::new();
        for line in text.lines() {
            let l = line.trim_start();
            if !(l.starts_with("import ") || l.starts_with("from ")) {
                continue;
            }
            for word in l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("econtext_")
                    && word != *name
                    && !imports.iter().any(|i| i == word)
                {
                    imports.push(word.to_string());
                }
            }
        }
        let list: Vec<String> = imports.iter().map(|i| format!("{i:?}")).collect();
        rs.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.z\")), &[{}]),\n",
            list.join(", ")
        ));
    }
    rs.push_str("];\n");
    fs::write(out.join("builtins.rs"), rs).unwrap();
}
