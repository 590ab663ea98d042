//! Many targets on the command line: `-t` repeated, `@FILE` lists, `[01-20]` ranges, and the
//! reverse, folding names back into ranges for the result table (`web[01-05,07]`).

/// Expand one `-t` value: `@FILE` reads one target chain per line (`#` starts a comment,
/// blank lines are skipped, `-` is stdin); every `[a-b,c]` in a name is expanded.
pub fn expand(spec: &str) -> Result<Vec<String>, String> {
    let lines: Vec<String> = match spec.strip_prefix('@') {
        Some(path) => {
            let text = if path == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| format!("-t @-: cannot read stdin: {e}"))?;
                s
            } else {
                std::fs::read_to_string(path)
                    .map_err(|e| format!("-t @{path}: cannot read the target list: {e}"))?
            };
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        }
        None => vec![spec.to_string()],
    };
    let mut out = Vec::new();
    for l in lines {
        out.extend(ranges(&l)?);
        if out.len() > MAX_TARGETS {
            return Err(format!("-t {spec}: more than {MAX_TARGETS} targets"));
        }
    }
    Ok(out)
}

/// The most targets one command line may expand to.
pub const MAX_TARGETS: usize = 1_000_000;

/// Expand the bracket ranges of one name: `web[01-03]` -> web01, web02, web03 (the width of
/// the first bound is kept); `db[1,3-4]x` -> db1x, db3x, db4x; several brackets multiply.
pub fn ranges(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_string()]);
    };
    // An IPv6 literal (`ssh:[::1]:22`) is not a range: its brackets hold colons.
    let close = name[open..]
        .find(']')
        .map(|c| open + c)
        .ok_or_else(|| format!("target {name:?}: '[' without ']'"))?;
    let inner = &name[open + 1..close];
    if inner.contains(':') {
        let rest = ranges(&name[close + 1..])?;
        return Ok(rest
            .into_iter()
            .map(|r| format!("{}{r}", &name[..=close]))
            .collect());
    }
    let mut items = Vec::new();
    for part in inner.split(',') {
        let bad =
            || format!("target {name:?}: bad range [{inner}] (use e.g. [01-20] or [1,3,5-7])");
        match part.split_once('-') {
            Some((a, b)) => {
                let (x, y): (u64, u64) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if y < x || y - x > MAX_TARGETS as u64 || items.len() > MAX_TARGETS {
                    return Err(bad());
                }
                let width = if a.starts_with('0') { a.len() } else { 0 };
                items.extend((x..=y).map(|v| format!("{v:0width$}")));
            }
            None if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) => {
                items.push(part.to_string())
            }
            None => return Err(bad()),
        }
    }
    let rest = ranges(&name[close + 1..])?;
    if items.len().saturating_mul(rest.len()) > MAX_TARGETS {
        return Err(format!("target {name:?}: more than {MAX_TARGETS} targets"));
    }
    let mut out = Vec::with_capacity(items.len() * rest.len());
    for i in &items {
        for r in &rest {
            out.push(format!("{}{i}{r}", &name[..open]));
        }
    }
    Ok(out)
}

/// Fold names into ranges, `clush -b` style: web01 web02 web03 web05 db -> `db, web[01-03,05]`.
/// Names that differ only in their last run of digits (same width) share a bracket.
pub fn fold(names: &[&str]) -> String {
    // (prefix, suffix) -> (number, digit count, zero-padded)
    type Entry = (u64, usize, bool);
    let mut families: Vec<((String, String), Vec<Entry>)> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let bytes = n.as_bytes();
        let Some(end) = bytes
            .iter()
            .rposition(|b| b.is_ascii_digit())
            .map(|e| e + 1)
        else {
            out.push(n.to_string());
            continue;
        };
        let start = bytes[..end]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |s| s + 1);
        let digits = &n[start..end];
        let Ok(v) = digits.parse::<u64>() else {
            out.push(n.to_string());
            continue;
        };
        let e = (v, digits.len(), digits.len() > 1 && digits.starts_with('0'));
        let key = (n[..start].to_string(), n[end..].to_string());
        match families.iter_mut().find(|(k, _)| *k == key) {
            Some((_, es)) => es.push(e),
            None => families.push((key, vec![e])),
        }
    }
    for ((prefix, suffix), es) in families {
        // Zero-padded widths seen; a number of such a width joins that padded bracket
        // (web099 and web100 fold as web[099-100]); other numbers share an unpadded one.
        let padded: Vec<usize> = es.iter().filter(|e| e.2).map(|e| e.1).collect();
        let mut widths: Vec<(usize, Vec<u64>)> = Vec::new();
        for (v, len, _) in es {
            let w = if padded.contains(&len) { len } else { 0 };
            match widths.iter_mut().find(|(x, _)| *x == w) {
                Some((_, vs)) => vs.push(v),
                None => widths.push((w, vec![v])),
            }
        }
        for (width, mut nums) in widths {
            nums.sort_unstable();
            nums.dedup();
            if nums.len() == 1 {
                out.push(format!("{prefix}{:0width$}{suffix}", nums[0]));
                continue;
            }
            let mut parts = Vec::new();
            let mut i = 0;
            while i < nums.len() {
                let mut j = i;
                while j + 1 < nums.len() && nums[j + 1] == nums[j] + 1 {
                    j += 1;
                }
                parts.push(if j == i {
                    format!("{:0width$}", nums[i])
                } else {
                    format!("{:0width$}-{:0width$}", nums[i], nums[j])
                });
                i = j + 1;
            }
            out.push(format!("{prefix}[{}]{suffix}", parts.join(",")));
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_with_width_and_lists() {
        assert_eq!(
            ranges("ssh:web[01-03]").unwrap(),
            ["ssh:web01", "ssh:web02", "ssh:web03"]
        );
        assert_eq!(ranges("db[1,3-4]x").unwrap(), ["db1x", "db3x", "db4x"]);
        assert_eq!(
            ranges("r[1-2]n[1-2]").unwrap(),
            ["r1n1", "r1n2", "r2n1", "r2n2"]
        );
        assert_eq!(ranges("plain").unwrap(), ["plain"]);
        assert_eq!(ranges("ssh:root@[::1]:22").unwrap(), ["ssh:root@[::1]:22"]);
        assert!(ranges("web[3-1]").unwrap_err().contains("bad range"));
        assert!(ranges("web[a]").is_err());
        assert!(ranges("web[1").unwrap_err().contains("without"));
        assert!(ranges("x[0-99999]y[0-99999]")
            .unwrap_err()
            .contains("more than"));
    }

    #[test]
    fn fold_gathers_ranges_back() {
        assert_eq!(
            fold(&["ssh:web01", "ssh:web02", "ssh:web03", "ssh:web05", "local"]),
            "local,ssh:web[01-03,05]"
        );
        assert_eq!(fold(&["a1", "a2", "a10"]), "a[1-2,10]");
        assert_eq!(fold(&["x7"]), "x7");
        let names: Vec<String> = ranges("n[001-100]").unwrap();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(fold(&refs), "n[001-100]");
    }

    #[test]
    fn target_files_skip_comments_and_blank_lines() {
        let dir = std::env::temp_dir().join(format!("econtext-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("hosts.txt");
        std::fs::write(&f, "# web tier\nssh:web[1-2]  # two\n\n  local\n").unwrap();
        let got = expand(&format!("@{}", f.display())).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, ["ssh:web1", "ssh:web2", "local"]);
        assert!(expand("@/nonexistent/hosts")
            .unwrap_err()
            .contains("cannot read"));
    }
}
