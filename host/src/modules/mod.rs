//! The module server: serves `.py` sources from configured roots (directories and single
//! files), never from anywhere else, compressed once and cached.
//!
//! A reply carries the requested module followed by the modules it imports that live in the
//! served tree (found by scanning its import statements, transitively), minus those already
//! sent over that stream: importing a package of 20 modules costs one round trip, not 20.

mod imports;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use econtext_core::body::{ByteBuf, Module, ModuleReply};

use crate::Error;

/// Modules every host serves from its own binary: the spawn routine for `via` hops, the
/// channel runtime, the process runtime, fakessh and files (deflated at build time, with the
/// `econtext_*` modules each imports: `econtext_stub::builtins`).
pub use econtext_stub::builtins::BUILTINS as BUILTIN;

/// Most modules preloaded with one reply.
const MAX_RELATED: usize = 256;

#[derive(Debug, Clone)]
enum Root {
    Dir(PathBuf),
    File { name: String, path: PathBuf },
}

/// A module ready to send, with the names its source imports (scanned once, when read).
#[derive(Debug)]
pub struct Served {
    /// The compressed module.
    pub module: Module,
    /// Absolute names its import statements mention (see `imports::imported`).
    pub imports: Vec<String>,
}

/// One module's source, as a [`SourceProvider`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where it came from (shown in remote tracebacks), e.g. `/srv/app/app/util.py`.
    pub filename: String,
    /// True for a package (`__init__`); its submodules are asked for by dotted name.
    pub is_package: bool,
    /// The source text (UTF-8).
    pub source: Vec<u8>,
}

/// Modules found by something other than a directory walk: the Python binding implements it
/// with the calling interpreter's own import system (`sys.path`, zip files, editable
/// installs, the `__main__` script). Called on the module thread, never on the broker thread;
/// each answer is cached, so one name is asked for at most once per router.
pub trait SourceProvider: Send + Sync {
    /// Top-level names it serves (listed to every context at start: the stub asks for
    /// nothing else, and these shadow modules installed there).
    fn names(&self) -> Vec<String>;
    /// The source for a dotted name, or `None` when it has none (the context then falls back
    /// to its own import path).
    fn source(&self, fullname: &str) -> Option<Source>;
}

/// Serves module sources to contexts.
#[derive(Default)]
pub struct ModuleServer {
    roots: Vec<Root>,
    provider: Option<Arc<dyn SourceProvider>>,
    cache: Mutex<HashMap<String, Option<Arc<Served>>>>,
}

impl std::fmt::Debug for ModuleServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleServer")
            .field("roots", &self.roots)
            .field("provider", &self.provider.is_some())
            .finish()
    }
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_alphabetic())
        && c.all(|x| x == '_' || x.is_alphanumeric())
}

impl ModuleServer {
    /// A server for these directories (packages and modules directly inside them) and single
    /// files (each served under its file stem, e.g. `install_app.py` as `install_app`).
    pub fn new(dirs: &[PathBuf], files: &[PathBuf]) -> Result<ModuleServer, Error> {
        let mut roots = Vec::new();
        for d in dirs {
            let c = d
                .canonicalize()
                .map_err(|e| Error::Usage(format!("module path {}: {e}", d.display())))?;
            if !c.is_dir() {
                return Err(Error::Usage(format!(
                    "module path {} is not a directory",
                    d.display()
                )));
            }
            roots.push(Root::Dir(c));
        }
        for f in files {
            let c = f
                .canonicalize()
                .map_err(|e| Error::Usage(format!("--file {}: {e}", f.display())))?;
            let name = c
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| is_identifier(s) && c.extension().is_some_and(|e| e == "py"))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--file {}: expected NAME.py with NAME a Python identifier",
                        f.display()
                    ))
                })?
                .to_string();
            roots.push(Root::File { name, path: c });
        }
        Ok(ModuleServer {
            roots,
            provider: None,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Also serve what `provider` finds (after the builtins and the roots).
    pub fn with_provider(mut self, provider: Arc<dyn SourceProvider>) -> ModuleServer {
        self.provider = Some(provider);
        self
    }

    /// Top-level names this server can serve (sent to every context at start, so the stub
    /// never asks about anything else).
    pub fn served(&self) -> Vec<String> {
        let mut out: Vec<String> = BUILTIN.iter().map(|(n, ..)| n.to_string()).collect();
        for r in &self.roots {
            match r {
                Root::File { name, .. } => out.push(name.clone()),
                Root::Dir(d) => {
                    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                        let p = e.path();
                        let name = p
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or_default()
                            .to_string();
                        let module = p.extension().is_some_and(|x| x == "py") && p.is_file();
                        let package = p.is_dir() && p.join("__init__.py").is_file();
                        if (module || package) && is_identifier(&name) {
                            out.push(name);
                        }
                    }
                }
            }
        }
        if let Some(p) = &self.provider {
            out.extend(p.names().into_iter().filter(|n| is_identifier(n)));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The file for a dotted name, if it is inside a root. Symlinks that lead outside the root,
    /// `..`, absolute names and non-identifiers are refused.
    fn locate(&self, fullname: &str) -> Option<(PathBuf, bool)> {
        let parts: Vec<&str> = fullname.split('.').collect();
        if !parts.iter().all(|p| is_identifier(p)) {
            return None;
        }
        for r in &self.roots {
            match r {
                Root::File { name, path } if name == fullname => {
                    return Some((path.clone(), false))
                }
                Root::File { .. } => {}
                Root::Dir(root) => {
                    let mut dir = root.clone();
                    for p in &parts[..parts.len() - 1] {
                        dir.push(p);
                        if !dir.join("__init__.py").is_file() {
                            break;
                        }
                    }
                    let last = parts[parts.len() - 1];
                    for (cand, pkg) in [
                        (dir.join(last).join("__init__.py"), true),
                        (dir.join(format!("{last}.py")), false),
                    ] {
                        if let Ok(c) = cand.canonicalize() {
                            if c.starts_with(root)
                                && c.is_file()
                                && dir.starts_with(root)
                                && depth_ok(root, &cand, parts.len(), pkg)
                            {
                                return Some((c, pkg));
                            }
                        }
                    }
                }
            }
        }
        None
    }

    /// The compressed module and its imports, cached.
    pub fn find(&self, fullname: &str) -> Option<Arc<Served>> {
        if let Some(m) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(fullname)
        {
            return m.clone();
        }
        let builtin = BUILTIN
            .iter()
            .find(|(n, ..)| *n == fullname)
            .map(|(n, z, imports)| {
                Arc::new(Served {
                    module: Module {
                        name: fullname.to_string(),
                        filename: format!("<econtext>/{n}.py"),
                        is_package: false,
                        source: ByteBuf(z.to_vec()),
                    },
                    imports: imports.iter().map(|i| i.to_string()).collect(),
                })
            });
        let found = builtin
            .or_else(|| {
                let (path, is_package) = self.locate(fullname)?;
                let source = std::fs::read(&path).ok()?;
                Some(served(
                    fullname,
                    path.to_string_lossy().into_owned(),
                    is_package,
                    &source,
                ))
            })
            .or_else(|| {
                let valid = fullname.split('.').all(is_identifier);
                let s = self.provider.as_ref().filter(|_| valid)?.source(fullname)?;
                Some(served(fullname, s.filename, s.is_package, &s.source))
            });
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(fullname.to_string(), found.clone());
        found
    }

    /// The answer to a request for `fullname` on a stream that has already received `sent`.
    pub fn reply(&self, fullname: &str, sent: &mut HashSet<String>) -> ModuleReply {
        let mut reply = ModuleReply {
            fullname: fullname.to_string(),
            modules: vec![],
            missing: vec![],
        };
        let Some(first) = self.find(fullname) else {
            reply.missing.push(fullname.to_string());
            return reply;
        };
        sent.insert(fullname.to_string());
        let mut queue: VecDeque<Arc<Served>> = VecDeque::from([first]);
        while let Some(s) = queue.pop_front() {
            let m = &s.module;
            let package = if m.is_package {
                m.name.as_str()
            } else {
                m.name.rsplit_once('.').map_or("", |p| p.0)
            };
            for name in &s.imports {
                // Python 2 first tries `import os` inside package P as `P.os`: say up front that
                // no such module exists, so that costs no round trip.
                if !package.is_empty() && !name.contains('.') {
                    let implicit = format!("{package}.{name}");
                    if self.find(&implicit).is_none() && !reply.missing.contains(&implicit) {
                        reply.missing.push(implicit);
                    }
                }
                // find() serves only names inside the roots (and caches misses such as `os`).
                if reply.modules.len() + queue.len() >= MAX_RELATED || sent.contains(name) {
                    continue;
                }
                if let Some(r) = self.find(name) {
                    sent.insert(name.clone());
                    queue.push_back(r);
                }
            }
            reply.modules.push(m.clone());
        }
        reply
    }
}

/// A module compressed for the wire, with the names its source imports.
fn served(fullname: &str, filename: String, is_package: bool, source: &[u8]) -> Arc<Served> {
    let imports = imports::imported(&String::from_utf8_lossy(source), fullname, is_package);
    let module = Module {
        name: fullname.to_string(),
        filename,
        is_package,
        source: ByteBuf(miniz_oxide::deflate::compress_to_vec_zlib(source, 6)),
    };
    Arc::new(Served { module, imports })
}

/// The found file must sit exactly where the dotted name says (no shortcut through a missing
/// package `__init__.py`).
fn depth_ok(root: &Path, cand: &Path, parts: usize, pkg: bool) -> bool {
    let rel = cand
        .strip_prefix(root)
        .map(|r| r.components().count())
        .unwrap_or(0);
    rel == parts + usize::from(pkg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (PathBuf, ModuleServer) {
        let d = std::env::temp_dir().join(format!(
            "econtext-mods-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/pkg/sub")).unwrap();
        std::fs::write(
            d.join("root/pkg/__init__.py"),
            "from . import a\nfrom .sub import b\n",
        )
        .unwrap();
        std::fs::write(d.join("root/pkg/a.py"), "import os\nimport pkg.sub.c\n").unwrap();
        std::fs::write(d.join("root/pkg/sub/__init__.py"), "").unwrap();
        std::fs::write(d.join("root/pkg/sub/b.py"), "from ..a import x\n").unwrap();
        std::fs::write(d.join("root/pkg/sub/c.py"), "").unwrap();
        std::fs::write(d.join("secret.py"), "SECRET = 1\n").unwrap();
        std::os::unix::fs::symlink(d.join("secret.py"), d.join("root/escape.py")).unwrap();
        std::fs::write(d.join("script.py"), "def f(): pass\n").unwrap();
        let s = ModuleServer::new(&[d.join("root")], &[d.join("script.py")]).unwrap();
        (d, s)
    }

    #[test]
    fn serves_only_inside_roots() {
        let (d, s) = tree();
        assert_eq!(
            s.served(),
            vec![
                "econtext_channel",
                "econtext_fakessh",
                "econtext_files",
                "econtext_process",
                "econtext_spawn",
                "escape",
                "pkg",
                "script"
            ]
        );
        assert!(s.find("pkg.sub.b").is_some());
        assert!(s.find("script").is_some());
        assert!(s.find("escape").is_none(), "symlink out of the root");
        assert!(s.find("..secret").is_none());
        assert!(s.find("/etc/passwd").is_none());
        assert!(s.find("pkg.nope").is_none());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn one_reply_preloads_the_package_once() {
        let (d, s) = tree();
        let mut sent = HashSet::new();
        let r = s.reply("pkg", &mut sent);
        let names: Vec<&str> = r.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names[0], "pkg");
        for n in ["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.sub.c"] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        // Nothing twice over one stream.
        let again = s.reply("pkg.sub.c", &mut sent);
        assert_eq!(again.modules.len(), 1);
        std::fs::remove_dir_all(d).unwrap();
    }

    struct Fake;
    impl SourceProvider for Fake {
        fn names(&self) -> Vec<String> {
            vec!["app".into(), "not valid".into()]
        }
        fn source(&self, fullname: &str) -> Option<Source> {
            let (src, pkg) = match fullname {
                "app" => ("from . import util\n", true),
                "app.util" => ("X = 1\n", false),
                _ => return None,
            };
            Some(Source {
                filename: format!("/srv/{fullname}.py"),
                is_package: pkg,
                source: src.as_bytes().to_vec(),
            })
        }
    }

    #[test]
    fn a_provider_serves_after_the_roots() {
        let (d, s) = tree();
        let s = s.with_provider(Arc::new(Fake));
        let names = s.served();
        assert!(names.contains(&"app".to_string()) && names.contains(&"pkg".to_string()));
        assert!(!names.iter().any(|n| n.contains(' ')), "{names:?}");
        let r = s.reply("app", &mut HashSet::new());
        let got: Vec<&str> = r.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(got, ["app", "app.util"]);
        assert!(r.modules[0].is_package);
        assert!(s.find("app.nope").is_none());
        assert!(
            s.find("app..util").is_none(),
            "invalid names never reach the provider"
        );
        std::fs::remove_dir_all(d).unwrap();
    }
}
