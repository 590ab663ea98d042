//! Which modules a source imports: a scan of its import statements, good enough to choose
//! modules to preload (correctness never depends on it: the stub asks for anything missing).

/// Absolute dotted names imported by `source`, which is module `name` (a package when
/// `is_package`). Includes parent packages and `from X import y` candidates `X.y`. Inside a
/// package `P`, `import X` and `from X import y` also give `P.X` (`P.X.y`): Python 2 before
/// `absolute_import` (2.4 has nothing else) tries the sibling first.
pub fn imported(source: &str, name: &str, is_package: bool) -> Vec<String> {
    let package: Vec<&str> = {
        let mut p: Vec<&str> = name.split('.').collect();
        if !is_package {
            p.pop();
        }
        p
    };
    let mut out = Vec::new();
    let mut push = |n: String| {
        let parts: Vec<&str> = n.split('.').collect();
        for i in 1..=parts.len() {
            let prefix = parts[..i].join(".");
            if !prefix.is_empty() && !out.contains(&prefix) {
                out.push(prefix);
            }
        }
    };
    // Python 2's implicit relative form of an absolute name (none outside a package).
    let sibling = |m: &str| (!package.is_empty()).then(|| format!("{}.{m}", package.join(".")));
    for stmt in statements(source) {
        if let Some(rest) = stmt.strip_prefix("import ") {
            for item in rest.split(',') {
                if let Some(m) = item.split_whitespace().next() {
                    push(m.to_string());
                    if let Some(s) = sibling(m) {
                        push(s);
                    }
                }
            }
        } else if let Some(rest) = stmt.strip_prefix("from ") {
            let Some((module, names)) = rest.split_once(" import ") else {
                continue;
            };
            let module = module.trim();
            let dots = module.len() - module.trim_start_matches('.').len();
            let base = if dots == 0 {
                module.to_string()
            } else {
                if dots > package.len() {
                    continue;
                }
                let mut b: Vec<&str> = package[..package.len() + 1 - dots].to_vec();
                let tail = &module[dots..];
                if !tail.is_empty() {
                    b.push(tail);
                }
                b.join(".")
            };
            if base.is_empty() {
                continue;
            }
            let bases = [Some(base), (dots == 0).then(|| sibling(module)).flatten()];
            for base in bases.into_iter().flatten() {
                push(base.clone());
                for item in names
                    .trim_matches(|c| c == '(' || c == ')' || c == ' ')
                    .split(',')
                {
                    if let Some(n) = item.split_whitespace().next().filter(|n| *n != "*") {
                        push(format!("{base}.{n}"));
                    }
                }
            }
        }
    }
    out
}

/// Import statements, one per string, with parenthesised and backslash continuations joined.
fn statements(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in source.lines() {
        let code = line.split('#').next().unwrap_or("");
        let t = code.trim();
        match cur.as_mut() {
            Some(c) => {
                c.push(' ');
                c.push_str(t.trim_end_matches('\\'));
            }
            None if t.starts_with("import ") || t.starts_with("from ") => {
                cur = Some(t.trim_end_matches('\\').to_string())
            }
            None => continue,
        }
        let c = cur.as_deref().unwrap_or("");
        let open = c.matches('(').count() > c.matches(')').count();
        if !open && !t.ends_with('\\') {
            out.extend(
                cur.take()
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_relative_and_multiline() {
        let src = "import os, a.b as c\nfrom . import x\nfrom ..up import (\n  y,\n  z)\nfrom q import *\n";
        let got = imported(src, "p.s.m", false);
        for n in [
            "os", "a", "a.b", "p.s", "p.s.x", "p.up", "p.up.y", "p.up.z", "q",
        ] {
            assert!(got.contains(&n.to_string()), "{n} not in {got:?}");
        }
    }

    #[test]
    fn python2_implicit_relative_imports_name_the_sibling_too() {
        let got = imported(
            "import util
from sub.deep import V
",
            "pkg",
            true,
        );
        for n in [
            "util",
            "pkg.util",
            "sub.deep",
            "pkg.sub",
            "pkg.sub.deep",
            "pkg.sub.deep.V",
        ] {
            assert!(got.contains(&n.to_string()), "{n} not in {got:?}");
        }
        // Outside a package there is no sibling.
        assert_eq!(
            imported("import util\n", "top", false),
            vec!["util".to_string()]
        );
    }
}
