//! The way back: the frames a fake ssh and the econtext process that started its tool
//! exchange over a unix socket (docs/fakessh.md). Each frame is a tag byte, a 4-byte big-endian
//! payload length and the payload. The Python fake ssh (`stub/python/fakessh.py`) speaks the
//! same frames; `testdata/fakessh.json` pins both.

use std::io::{self, Read, Write};

/// The largest payload accepted (a hello or a data frame).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One frame of the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Fake ssh -> econtext, first: the token, ssh's arguments, and environment entries
    /// (`GIT_PROTOCOL=...`) that `SendEnv` may forward.
    Hello {
        /// The secret from `ECONTEXT_FAKESSH_TOKEN`.
        token: String,
        /// ssh's arguments, without its own name.
        argv: Vec<String>,
        /// `KEY=value` entries.
        env: Vec<String>,
    },
    /// Fake ssh -> econtext: bytes of its stdin.
    Stdin(Vec<u8>),
    /// Fake ssh -> econtext: its stdin ended.
    StdinEof,
    /// econtext -> fake ssh: bytes for its stdout.
    Stdout(Vec<u8>),
    /// econtext -> fake ssh: bytes for its stderr.
    Stderr(Vec<u8>),
    /// econtext -> fake ssh: the remote command ended; exit with this status.
    Exit(i32),
}

fn words(p: &[u8]) -> Vec<String> {
    p.split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Frame::Hello { token, argv, env } => {
                let mut w = vec![token.clone(), argv.len().to_string()];
                w.extend(argv.iter().cloned());
                w.extend(env.iter().cloned());
                (b'H', w.join("\0").into_bytes())
            }
            Frame::Stdin(b) => (b'i', b.clone()),
            Frame::StdinEof => (b'I', vec![]),
            Frame::Stdout(b) => (b'o', b.clone()),
            Frame::Stderr(b) => (b'e', b.clone()),
            Frame::Exit(c) => (b'x', c.to_string().into_bytes()),
        };
        let mut out = Vec::with_capacity(5 + payload.len());
        out.push(tag);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// A frame from its tag and payload.
    pub fn decode(tag: u8, p: Vec<u8>) -> Result<Frame, String> {
        Ok(match tag {
            b'H' => {
                let w = words(&p);
                let n: usize = w
                    .get(1)
                    .and_then(|n| n.parse().ok())
                    .filter(|n| w.len() >= 2 + n)
                    .ok_or("a hello frame without its argument count")?;
                Frame::Hello {
                    token: w[0].clone(),
                    argv: w[2..2 + n].to_vec(),
                    env: w[2 + n..].to_vec(),
                }
            }
            b'i' => Frame::Stdin(p),
            b'I' => Frame::StdinEof,
            b'o' => Frame::Stdout(p),
            b'e' => Frame::Stderr(p),
            b'x' => Frame::Exit(
                std::str::from_utf8(&p)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("an exit frame without a number")?,
            ),
            t => return Err(format!("unknown frame tag {t:#04x}")),
        })
    }

    /// Read one frame; `None` at a clean end of stream (before a frame starts).
    pub fn read(r: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut head = [0u8; 5];
        let mut got = 0;
        while got < 5 {
            match r.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let n = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if n > MAX_PAYLOAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a {n}-byte frame, over the {MAX_PAYLOAD}-byte limit"),
            ));
        }
        let mut p = vec![0u8; n];
        r.read_exact(&mut p)?;
        Frame::decode(head[0], p)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Write this frame: data frames as their header and payload (one `writev` where it
    /// takes all), without copying the payload.
    pub fn write(&self, w: &mut impl Write) -> io::Result<()> {
        let (tag, data) = match self {
            Frame::Stdin(b) => (b'i', b),
            Frame::Stdout(b) => (b'o', b),
            Frame::Stderr(b) => (b'e', b),
            _ => {
                w.write_all(&self.encode())?;
                return w.flush();
            }
        };
        write_data(w, tag, data)?;
        w.flush()
    }
}

/// One data frame from its tag and payload, with `writev`.
pub fn write_data(w: &mut impl Write, tag: u8, data: &[u8]) -> io::Result<()> {
    let mut head = [tag, 0, 0, 0, 0];
    head[1..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    let n = w.write_vectored(&[io::IoSlice::new(&head), io::IoSlice::new(data)])?;
    if n < 5 {
        w.write_all(&head[n..])?;
        w.write_all(data)
    } else {
        w.write_all(&data[n - 5..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn frames_round_trip_and_bad_ones_fail() {
        let fs = [
            Frame::Hello {
                token: "t".into(),
                argv: vec!["-s".into(), "h".into(), "sftp".into()],
                env: vec!["GIT_PROTOCOL=version=2".into()],
            },
            Frame::Stdin(b"\0\xff".to_vec()),
            Frame::StdinEof,
            Frame::Exit(-1),
        ];
        let mut buf = vec![];
        for f in &fs {
            f.write(&mut buf).unwrap();
        }
        let mut r = &buf[..];
        for f in &fs {
            assert_eq!(Frame::read(&mut r).unwrap().as_ref(), Some(f));
        }
        assert!(Frame::read(&mut r).unwrap().is_none());
        assert!(Frame::read(&mut &b"o\0\0"[..]).is_err());
        assert!(Frame::read(&mut &b"z\0\0\0\0"[..]).is_err());
        assert!(Frame::read(&mut &b"o\xff\0\0\0"[..]).is_err());
        assert!(Frame::read(&mut &b"H\0\0\0\x01t"[..]).is_err());
    }

    fn get<'a>(v: &'a Value, k: &str) -> &'a Value {
        match v {
            Value::Dict(d) => d
                .iter()
                .find(|(key, _)| *key == Value::from(k))
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no {k} in {v:?}")),
            _ => panic!("not an object: {v:?}"),
        }
    }

    fn text(v: &Value) -> String {
        match v {
            Value::Str(s) => s.clone(),
            _ => panic!("not a string: {v:?}"),
        }
    }

    fn list(v: &Value) -> Vec<Value> {
        match v {
            Value::List(l) => l.clone(),
            _ => panic!("not a list: {v:?}"),
        }
    }

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    }

    /// testdata/fakessh.json, which tests/python/test_vectors.py reads for the Python side.
    #[test]
    fn shared_vectors() {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/fakessh.json");
        let v = crate::json::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
        let frames = list(get(&v, "frames"));
        assert!(frames.len() >= 8);
        for f in &frames {
            let name = text(get(f, "name"));
            let bytes = unhex(&text(get(f, "hex")));
            let want = get(f, "frame");
            let strs = |k: &str| list(get(want, k)).iter().map(text).collect::<Vec<_>>();
            let data = |k: &str| unhex(&text(get(want, k)));
            let expect = match text(get(want, "kind")).as_str() {
                "hello" => Frame::Hello {
                    token: text(get(want, "token")),
                    argv: strs("argv"),
                    env: strs("env"),
                },
                "stdin" => Frame::Stdin(data("data")),
                "stdin_eof" => Frame::StdinEof,
                "stdout" => Frame::Stdout(data("data")),
                "stderr" => Frame::Stderr(data("data")),
                "exit" => match get(want, "code") {
                    Value::Int(c) => Frame::Exit(*c as i32),
                    c => panic!("{name}: code {c:?}"),
                },
                k => panic!("{name}: kind {k}"),
            };
            assert_eq!(expect.encode(), bytes, "{name}: encoding");
            let got = Frame::read(&mut &bytes[..]).unwrap();
            assert_eq!(got.as_ref(), Some(&expect), "{name}: decoding");
        }
        for m in list(get(&v, "malformed")) {
            let name = text(get(&m, "name"));
            let bytes = unhex(&text(get(&m, "hex")));
            assert!(Frame::read(&mut &bytes[..]).is_err(), "{name}: accepted");
        }
    }
}
