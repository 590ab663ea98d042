# -*- coding: utf-8 -*-
"""Checks stub/python/econtext_stub.py against the shared vectors in testdata/.

Runs unchanged on Python 2.7 and 3.6+:  python tests/python/test_vectors.py
The JSON formats are described in docs/wire-format.md, section 8.
"""
from __future__ import print_function

import binascii
import json
import os
import random
import struct
import sys
import unittest
from collections import OrderedDict

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TESTDATA = os.path.join(ROOT, 'testdata')
sys.path.insert(0, os.path.join(ROOT, 'stub', 'python'))
import econtext_stub as stub  # noqa: E402

assert os.path.dirname(os.path.abspath(stub.__file__)) == os.path.join(ROOT, 'stub', 'python')

PY2 = sys.version_info[0] == 2
# Dicts keep their insertion order from 3.6 (2.7 and 3.5 decode them in hash order).
ORDERED_DICTS = sys.version_info >= (3, 6)
if PY2:
    TEXT, INTS = unicode, (int, long)  # noqa: F821
else:
    TEXT, INTS = str, (int,)

CODES = ('truncated trailing varint bad_bool bad_utf8 bad_variant depth noncanonical_bigint '
         'bad_magic bad_version bad_flags too_large').split()
VALUE_TAGS = ('None Bool Int Float Str Bytes List Tuple Dict Context Sender Error').split()
DEFAULT_MAX = 134217728

# Body schemas with the field names of docs/wire-format.md section 4 (written independently of
# the stub's table). A tuple is a struct ("name:kind"), a list is an enum ("Variant:kind").
# Kinds: s str, u u32, b bool, x bytes, v Value, K (str, Value) pair, *k seq, ?k option.
BODY = {
    'Call': ('module:s', 'function:s', 'args:*v', 'kwargs:*K'),
    'Reply': ['Ok:v', 'Err:RemoteError'],
    'RemoteError': ('type_name:s', 'message:s', 'traceback:s'),
    'Shutdown': (),
    'LogRecord': ('logger:s', 'level:u', 'message:s'),
    'ModuleRequest': ('fullname:s',),
    'ModuleReply': ('fullname:s', 'modules:*Module', 'missing:*s'),
    'Module': ('name:s', 'filename:s', 'is_package:b', 'source:x'),
    'RouteAdd': ('id:u', 'parent:u', 'name:s'),
    'RouteDel': ('id:u',),
    'Spawn': ('id:u', 'name:s', 'argv:*s', 'pty:b', 'stdio_pty:b', 'wait_stage1:b',
              'prompts:*Prompt', 'failures:*Failure', 'timeout_ms:u', 'boot:x'),
    'Prompt': ('pattern:x', 'answer:x'),
    'Failure': ('pattern:x', 'kind:u'),
    'Init': ('id:u', 'parent:u', 'name:s', 'log_level:u', 'max_frame:u', 'served:*s',
             'heartbeat_ms:u'),
    'Channel': ['Data:v', 'Close:?RemoteError', 'Credit:u'],
    'DeadLetter': ('reason:u', 'detail:s'),
}


def unhex(h):
    return binascii.unhexlify(h.encode('ascii'))


def tohex(b):
    return binascii.hexlify(b).decode('ascii')


def load(name):
    with open(os.path.join(TESTDATA, name), 'rb') as f:
        return json.loads(f.read().decode('utf-8'))


def text(x):
    assert isinstance(x, (TEXT, str)), x
    return x if isinstance(x, TEXT) else x.decode('ascii')


def from_v(j):
    """Tagged JSON value notation -> the Python value the stub uses."""
    assert isinstance(j, dict) and len(j) == 1, j
    (tag, x), = j.items()
    if tag == 'None':
        assert x is None
        return None
    if tag == 'Bool':
        assert isinstance(x, bool)
        return x
    if tag == 'Int':
        return int(x)
    if tag == 'Float':
        assert len(x) == 16
        return struct.unpack('>d', unhex(x))[0]
    if tag == 'Str':
        return text(x)
    if tag == 'Bytes':
        return unhex(x)
    if tag == 'List':
        return [from_v(y) for y in x]
    if tag == 'Tuple':
        return tuple(from_v(y) for y in x)
    if tag == 'Dict':
        d = OrderedDict((from_v(k), from_v(v)) for k, v in x)
        assert len(d) == len(x), 'vector has colliding dict keys'
        return d
    if tag == 'Context':
        return stub.Context(x)
    if tag == 'Sender':
        return stub.Sender(*x)
    if tag == 'Error':
        return stub.RemoteError(*[text(y) for y in x])
    raise AssertionError('unknown tag %r' % tag)


def from_k(kind, j):
    """JSON body notation of section 8 -> the stub's body form (structs are tuples, seqs lists,
    enums (index, payload), RemoteError a stub.RemoteError)."""
    if kind[0] == '*':
        return [from_k(kind[1:], y) for y in j]
    if kind[0] == '?':
        return None if j is None else from_k(kind[1:], j)
    if kind == 's':
        return text(j)
    if kind == 'u':
        assert isinstance(j, INTS) and not isinstance(j, bool) and 0 <= j < 2 ** 32, j
        return j
    if kind == 'b':
        assert isinstance(j, bool), j
        return j
    if kind == 'x':
        return unhex(j)
    if kind == 'v':
        return from_v(j)
    if kind == 'K':
        k, v = j
        return (text(k), from_v(v))
    schema = BODY[kind]
    if isinstance(schema, list):
        assert isinstance(j, dict) and len(j) == 1, j
        (tag, payload), = j.items()
        names = [f.split(':')[0] for f in schema]
        i = names.index(tag)
        return (i, from_k(schema[i].split(':')[1], payload))
    names = [f.split(':')[0] for f in schema]
    assert isinstance(j, dict) and sorted(j) == sorted(names), (kind, j)
    fields = tuple(from_k(f.split(':')[1], j[f.split(':')[0]]) for f in schema)
    return stub.RemoteError(*fields) if kind == 'RemoteError' else fields


def fbits(x):
    return struct.pack('>d', x)


def same(a, b):
    """Strict equality: types must match (bool is not int, list is not tuple, bytes is not
    text), floats compare by bits, dicts compare in order on Python 3."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, INTS) and isinstance(b, INTS):
        return a == b
    if isinstance(a, float) and isinstance(b, float):
        return fbits(a) == fbits(b)
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b):
            return False
        if ORDERED_DICTS:
            return all(same(ka, kb) and same(va, vb)
                       for (ka, va), (kb, vb) in zip(a.items(), b.items()))
        for ka, va in a.items():
            m = [kb for kb in b if same(ka, kb)]
            if len(m) != 1 or not same(va, b[m[0]]):
                return False
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (stub.Context, stub.Sender, stub.RemoteError)):
        return same(a.args, b.args)
    return a == b


def frames(data, mx=DEFAULT_MAX):
    """A minimal stream decoder fed one byte at a time: the header is validated as soon as its
    24 bytes are present, and the end of input inside a frame is `truncated`."""
    out, buf, hdr = [], bytearray(), None
    for i in range(len(data)):
        buf += data[i:i + 1]
        if hdr is None and len(buf) == 24:
            hdr = stub.hdr_unpack(buf, mx)
        if hdr is not None and len(buf) == 24 + hdr[5]:
            out.append((hdr, bytes(buf[24:])))
            buf, hdr = bytearray(), None
        assert len(buf) <= 24 + mx
    if buf:
        raise stub.CodecError('truncated')
    return out


def decode_kind(kind, data):
    if kind == 'value':
        return stub.dec(data)
    if kind == 'header':
        return stub.hdr_unpack(data)
    if kind == 'frame':
        return frames(data)
    assert kind.startswith('body:'), kind
    t = kind[5:]
    assert t in BODY, t
    return stub.dec(data, t)


def tags(j, acc):
    """Collects the Value variant tags used anywhere in a tagged JSON value."""
    (tag, x), = j.items()
    acc.add(tag)
    if tag in ('List', 'Tuple'):
        for y in x:
            tags(y, acc)
    elif tag == 'Dict':
        for k, v in x:
            tags(k, acc)
            tags(v, acc)
    return acc


class Vectors(unittest.TestCase):
    def test_values(self):
        vs = load('values.json')
        self.assertTrue(vs)
        for v in vs:
            meaning = from_v(v['value'])
            data = unhex(v['hex'])
            self.assertEqual(v['hex'], v['hex'].lower())
            self.assertEqual(tohex(stub.enc(meaning)), v['hex'], v['name'])
            got = stub.dec(data)
            self.assertTrue(same(got, meaning), '%s: %r != %r' % (v['name'], got, meaning))
            if ORDERED_DICTS:  # 2.7 and 3.5 dicts do not keep the order: re-encoding may reorder
                self.assertEqual(tohex(stub.enc(got)), v['hex'], v['name'])

    def test_value_coverage(self):
        vs = load('values.json')
        seen = set()
        for v in vs:
            tags(v['value'], seen)
        self.assertEqual(seen, set(VALUE_TAGS))
        names = [v['name'] for v in vs]
        self.assertEqual(len(names), len(set(names)))
        ints = set(v['hex'][:2] for v in vs if list(v['value']) == ['Int'])
        self.assertEqual(ints, set(['02', '03']))  # both Int and BigInt encodings occur

    def test_headers(self):
        hs = load('headers.json')
        self.assertTrue(hs)
        for h in hs:
            f = h['header']
            fields = tuple(f[k] for k in ('flags', 'dst', 'src', 'handle', 'reply_to', 'len'))
            data = unhex(h['hex'])
            self.assertEqual(len(data), 24)
            self.assertEqual(tuple(stub.hdr_unpack(data)), fields, h['name'])
            self.assertEqual(tohex(stub.hdr_pack(*fields)), h['hex'], h['name'])
            self.assertEqual(stub.HDR.unpack(data)[2:], fields)

    def test_bodies(self):
        bs = load('bodies.json')
        for b in bs:
            meaning = from_k(b['type'], b['body'])
            self.assertEqual(tohex(stub.enc(meaning, b['type'])), b['hex'], b['name'])
            got = stub.dec(unhex(b['hex']), b['type'])
            self.assertTrue(same(got, meaning), '%s: %r != %r' % (b['name'], got, meaning))

    def test_body_coverage(self):
        bs = load('bodies.json')
        self.assertEqual(set(b['type'] for b in bs), set(BODY))
        for t in ('Reply', 'Channel'):
            seen = set(list(b['body'])[0] for b in bs if b['type'] == t)
            self.assertEqual(seen, set(f.split(':')[0] for f in BODY[t]), t)
        closes = [b['body']['Close'] for b in bs if 'Close' in b['body']]
        self.assertIn(None, closes)
        self.assertTrue([c for c in closes if c is not None])

    def test_malformed(self):
        ms = load('malformed.json')
        for m in ms:
            self.assertIn(m['error'], CODES, m['name'])
            try:
                got = decode_kind(m['kind'], unhex(m['hex']))
            except stub.CodecError as e:
                self.assertEqual(e.code, m['error'], '%s: got %s' % (m['name'], e.code))
                self.assertEqual(e.args[0], m['error'])
            else:
                self.fail('%s: decoded to %r, expected %s' % (m['name'], got, m['error']))

    def test_malformed_coverage(self):
        ms = load('malformed.json')
        self.assertEqual(set(m['error'] for m in ms), set(CODES))
        kinds = set(m['kind'].split(':')[0] for m in ms)
        self.assertEqual(kinds, set(['value', 'header', 'frame', 'body']))
        names = [m['name'] for m in ms]
        self.assertEqual(len(names), len(set(names)))

    def test_spec_examples(self):
        # docs/wire-format.md section 3, copied by hand
        for v, h in [(None, '00'), (True, '01 01'), (0, '02 00'), (-1, '02 01'),
                     (300, '02 d8 04'), (2 ** 63, '03 09 00 00 00 00 00 00 00 80 00'),
                     (-0.0, '04 00 00 00 00 00 00 00 80'), (u'h\xe9', '05 03 68 c3 a9'),
                     ((1, None), '08 02 02 02 00')]:
            h = h.replace(' ', '')
            self.assertEqual(tohex(stub.enc(v)), h)
            self.assertTrue(same(stub.dec(unhex(h)), v))


class Behaviour(unittest.TestCase):
    def code(self, fn, *a):
        try:
            fn(*a)
        except stub.CodecError as e:
            return e.code
        self.fail('no CodecError')

    def test_bool_is_not_int(self):
        self.assertEqual(stub.enc(True), b'\x01\x01')
        self.assertEqual(stub.enc(False), b'\x01\x00')
        self.assertIs(stub.dec(b'\x01\x01'), True)

    def test_int_range_edges(self):
        for v in (2 ** 63 - 1, -2 ** 63):
            self.assertEqual(stub.enc(v)[:1], b'\x02')
        for v in (2 ** 63, -2 ** 63 - 1, 2 ** 200, -2 ** 200):
            self.assertEqual(stub.enc(v)[:1], b'\x03')

    def test_depth(self):
        v = []
        for _ in range(63):
            v = [v]
        self.assertEqual(stub.dec(stub.enc(v)), v)  # 64 levels
        self.assertEqual(self.code(stub.enc, [v]), 'depth')
        self.assertEqual(self.code(stub.dec, b'\x07\x01' * 64 + b'\x07\x00'), 'depth')
        loop = []
        loop.append(loop)
        self.assertEqual(self.code(stub.enc, loop), 'depth')
        # the bound holds even when the input claims a huge nesting
        self.assertEqual(self.code(stub.dec, b'\x07\x01' * 100000), 'depth')

    def test_dict_keys(self):
        # Python-only rule: unhashable or repeated keys are refused, never dropped
        unhashable = b'\x09\x01\x07\x00\x00'  # {[]: None}
        self.assertEqual(self.code(stub.dec, unhashable), 'bad_key')
        dup = b'\x09\x02\x02\x02\x00\x02\x02\x00'  # {1: None, 1: None}
        self.assertEqual(self.code(stub.dec, dup), 'bad_key')
        int_bool = b'\x09\x02\x02\x02\x00\x01\x01\x00'  # {1: None, True: None}: equal in Python
        self.assertEqual(self.code(stub.dec, int_bool), 'bad_key')
        nested = b'\x09\x01\x08\x01\x07\x00\x00'  # {([],): None}
        self.assertEqual(self.code(stub.dec, nested), 'bad_key')

    def test_unsupported_and_ranges(self):
        self.assertEqual(self.code(stub.enc, set([1])), 'bad_variant')
        self.assertEqual(self.code(stub.enc, object()), 'bad_variant')
        self.assertEqual(self.code(stub.enc, stub.Context(2 ** 32)), 'varint')
        self.assertEqual(self.code(stub.enc, stub.Context(-1)), 'varint')
        self.assertEqual(self.code(stub.enc, (2, 2 ** 32), 'Channel'), 'varint')

    def test_refs(self):
        self.assertEqual(stub.Context(1), stub.Context(1))
        self.assertNotEqual(stub.Context(1), stub.Context(2))
        self.assertNotEqual(stub.Context(1), stub.Sender(1, 1))
        self.assertFalse(stub.Sender(1, 2) != stub.Sender(1, 2))
        self.assertEqual(len(set([stub.Sender(1, 2), stub.Sender(1, 2)])), 1)
        e = stub.RemoteError(u'ValueError', u'boom', u'tb')
        self.assertIsInstance(e, Exception)
        self.assertEqual(e, stub.RemoteError(u'ValueError', u'boom', u'tb'))
        self.assertEqual(stub.dec(stub.enc({e: 1})), {e: 1})

    def test_py2_native_str_is_bytes(self):
        if PY2:
            self.assertEqual(stub.enc('ab'), b'\x06\x02ab')
            self.assertEqual(stub.enc(u'ab'), b'\x05\x02ab')
        self.assertEqual(stub.enc(bytearray(b'ab')), b'\x06\x02ab')

    def test_surrogates_rejected(self):
        # Python 2's utf-8 codec accepts encoded surrogates; the stub must not
        for s in (b'\xed\xa0\x80', b'\xed\xbf\xbf', b'\xed\xa0\xbd\xed\xb8\x80'):
            self.assertEqual(self.code(stub.dec, b'\x05' + struct.pack('B', len(s)) + s),
                             'bad_utf8')
        self.assertEqual(stub.dec(b'\x05\x03\xed\x9f\xbf'), u'\ud7ff')

    def test_header_max(self):
        h = stub.hdr_pack(0, 1, 0, 1, 0, 1000)
        self.assertEqual(self.code(stub.hdr_unpack, h, 999), 'too_large')
        self.assertEqual(stub.hdr_unpack(h, 1000), (0, 1, 0, 1, 0, 1000))


class ChannelFlowControl(unittest.TestCase):
    """stub/python/channel.py's Window and Grants against testdata/channels.json (the Rust
    core reads the same file in core/tests/window.rs)."""

    def test_a_credit_after_close_began_keeps_the_handle(self):
        # Regression: close() marks the channel closed, then sends its Close, then gives up the
        # handle. A credit handled in between gave the handle up early, so the next credit was
        # answered "no handle" and that dead letter failed a receiver whose stream ended well
        # (seen under load with both ends on one context).
        import channel as chan
        sent = []
        g = {'HANDLES': {}, 'ME': 1, 'NH': [1000], 'enc': stub.enc, 'dec': stub.dec,
             'Sender': stub.Sender, 'WL': chan.threading.Lock(),
             'send': lambda dst, h, body, rt=0: sent.append((dst, h, rt))}
        old, chan.G = chan.G, g
        try:
            o = chan.Out(2, 7, True)
            self.assertIn(o.me, g['HANDLES'])
            chan.locked(o.cv, o._close)  # close() has begun: its Close is not out yet
            o.frame(0, stub.enc((2, 1000), 'Channel'))
            self.assertIn(o.me, g['HANDLES'])
            # A frame that ends the channel itself (the receiver cancels) gives it up.
            o2 = chan.Out(2, 8, True)
            o2.frame(0, stub.enc((1, None), 'Channel'))
            self.assertNotIn(o2.me, g['HANDLES'])
        finally:
            chan.G = old

    def test_a_spliced_item_is_the_frame_send_writes(self):
        # Out.splice (econtext_process's stdout and stderr, Python 3.10+) writes the same
        # frame as send() of the bytes would; where the kernel refuses the splice (a terminal
        # since Linux 5.10) the rest goes by read and write, and the frame is still whole.
        import channel as chan
        payload = os.urandom(300000)
        for splice in [chan.SPLICE, None] if chan.SPLICE else [None]:
            r, w = os.pipe()
            src_r, src_w = os.pipe()
            g = {'HANDLES': {}, 'ME': 1, 'NH': [1000], 'enc': stub.enc, 'dec': stub.dec,
                 'Sender': stub.Sender, 'WL': chan.threading.Lock(), 'ROUTES': {}, 'OUT': w,
                 'INIT': [1, 0, 0, 0, 1 << 24], 'hdr_pack': stub.hdr_pack,
                 'send': lambda dst, h, body, rt=0: None}
            old, chan.G = chan.G, g
            old_splice = chan.SPLICE

            def refuse(*a):
                raise OSError(22, 'Invalid argument')
            chan.SPLICE = splice or refuse
            try:
                chan.grow(r)
                chan.grow(src_r)
                os.write(src_w, payload[:200000])
                o = chan.Out(0, 7, True)
                o.splice(src_r, 200000)
                got = os.read(r, 1 << 20)
                while len(got) < 24 + 200004:
                    got += os.read(r, 1 << 20)
                body = chan.DATA + chan.varint(200000) + payload[:200000]
                want = stub.hdr_pack(0, 0, 1, 7, o.me, len(body)) + body
                self.assertEqual(got, want, 'splice' if splice else 'fallback')
            finally:
                chan.G, chan.SPLICE = old, old_splice
                for fd in r, w, src_r, src_w:
                    os.close(fd)

    def test_channel_vectors(self):
        import channel as chan
        vs = load('channels.json')
        self.assertTrue(len(vs) >= 4)
        for v in vs:
            w = v['window']
            if v['side'] == 'sender':
                s = chan.Window(w, v['start'] == 'full')
                for i, op in enumerate(v['ops']):
                    at = '%s op %d' % (v['name'], i)
                    if op[0] == 'send':
                        ok, n = s.take(op[1])
                        self.assertEqual((ok, n), (op[2] == 'ok', op[3]), at)
                        self.assertEqual(s.credit, op[4], at)
                    else:
                        try:
                            s.grant(op[1])
                            got = 'ok'
                        except ValueError as e:
                            got = e.args[0]
                        self.assertEqual(got, op[2], at)
                        self.assertEqual(s.credit, op[3], at)
            else:
                g = chan.Grants(w)
                for i, op in enumerate(v['ops']):
                    at = '%s op %d' % (v['name'], i)
                    if op[0] == 'arrive':
                        try:
                            g.arrived(op[1])
                            got = 'ok'
                        except ValueError as e:
                            got = e.args[0]
                        self.assertEqual(got, op[2], at)
                        self.assertEqual(g.available, op[3], at)
                    else:
                        self.assertEqual(g.taken(op[1], op[2]), op[3], at)
                        self.assertEqual(g.available, op[4], at)



def fakessh_module():
    # stub/python/fakessh.py imports the process runtime under its served name, and that
    # the channel runtime.
    import channel
    sys.modules.setdefault('econtext_channel', channel)
    import process
    sys.modules.setdefault('econtext_process', process)
    import fakessh
    return fakessh


class FakesshFrames(unittest.TestCase):
    """The way-back frames of stub/python/fakessh.py (its CLIENT and the server side) against
    testdata/fakessh.json (the Rust side reads the same file in host/src/fakessh/wire.rs)."""

    def test_client_encodes_and_server_decodes(self):
        fs = fakessh_module()
        client = {'__name__': 'econtext_fakessh_client'}
        exec(fs.CLIENT, client)
        vs = load('fakessh.json')
        self.assertTrue(len(vs['frames']) >= 8)
        kinds = set()
        for v in vs['frames']:
            want, got = v['frame'], unhex(v['hex'])
            kinds.add(want['kind'])
            if want['kind'] == 'hello':
                b = client['hello'](want['token'], want['argv'], want['env'])
                self.assertEqual(tohex(b), v['hex'], v['name'])
                self.assertEqual(fs.words(got[5:]), (want['token'], want['argv'], want['env']),
                                 v['name'])
            elif want['kind'] in ('stdin', 'stdin_eof'):
                tag = 'i' if want['kind'] == 'stdin' else 'I'
                b = client['frame'](tag, unhex(want.get('data', '')))
                self.assertEqual(tohex(b), v['hex'], v['name'])
            elif want['kind'] == 'exit':
                self.assertEqual(int(got[5:]), want['code'], v['name'])
        self.assertEqual(kinds, set(['hello', 'stdin', 'stdin_eof', 'stdout', 'stderr', 'exit']))
        for v in vs['malformed']:
            if v['name'].startswith('hello_'):
                self.assertEqual(fs.words(unhex(v['hex'])[5:]), None, v['name'])

    def test_refusal_is_a_stderr_frame_then_exit_255(self):
        fs = fakessh_module()
        sent = []

        class Conn(object):
            def sendall(self, b):
                sent.append(b)

            def close(self):
                pass
        fs.refuse(Conn(), 'wrong token')
        b = b''.join(sent)
        n = struct.unpack('>I', b[1:5])[0]
        self.assertEqual(b[:1], b'e')
        self.assertEqual(b[5:5 + n], b'econtext fakessh: wrong token\n')
        exit_255 = [v for v in load('fakessh.json')['frames'] if v['name'] == 'exit_255'][0]
        self.assertEqual(tohex(b[5 + n:]), exit_255['hex'])

def rand_text(r, n):
    out = []
    for _ in range(n):
        c = r.choice((0x20, 0x7f, 0x800, 0x10000, 0x110000))
        cp = r.randrange(c)
        if 0xd800 <= cp < 0xe000:
            cp = 0x41
        out.append(struct.pack('<I', cp).decode('utf-32-le'))
    return u''.join(out)


def rand_int(r):
    k = r.randrange(6)
    if k == 0:
        return r.randrange(-200, 200)
    if k == 1:
        return r.randrange(-2 ** 63, 2 ** 63)
    if k == 2:
        return r.choice((2 ** 63, 2 ** 63 - 1, -2 ** 63, -2 ** 63 - 1, 2 ** 64, -2 ** 64))
    if k == 3:
        return r.randrange(-2 ** 300, 2 ** 300)
    b = r.randrange(8, 40) * 8
    return r.choice((1, -1)) * (2 ** b + r.randrange(-2, 3))


def rand_key(r, depth):
    k = r.randrange(7)
    if k == 0:
        return rand_int(r)
    if k == 1:
        return rand_text(r, r.randrange(4))
    if k == 2:
        return bytes(bytearray(r.randrange(256) for _ in range(r.randrange(4))))
    if k == 3 and depth < 6:
        return tuple(rand_key(r, depth + 1) for _ in range(r.randrange(3)))
    if k == 4:
        return stub.Context(r.randrange(2 ** 32))
    if k == 5:
        return stub.Sender(r.randrange(2 ** 32), r.randrange(2 ** 32))
    return r.choice((None, True, False, 0.5, -0.0))


def rand_value(r, depth=1):
    k = r.randrange(12 if depth < 6 else 9)
    if k == 0:
        return r.choice((None, True, False))
    if k in (1, 2):
        return rand_int(r)
    if k == 3:
        return struct.unpack('<d', bytes(bytearray(r.randrange(256) for _ in range(8))))[0]
    if k == 4:
        return rand_text(r, r.randrange(20))
    if k == 5:
        return bytes(bytearray(r.randrange(256) for _ in range(r.randrange(300))))
    if k == 6:
        return stub.Context(r.randrange(2 ** 32))
    if k == 7:
        return stub.Sender(r.randrange(2 ** 32), r.randrange(2 ** 32))
    if k == 8:
        return stub.RemoteError(rand_text(r, 5), rand_text(r, 10), rand_text(r, 30))
    n = r.randrange(6)
    if k == 9:
        return [rand_value(r, depth + 1) for _ in range(n)]
    if k == 10:
        return tuple(rand_value(r, depth + 1) for _ in range(n))
    d = OrderedDict()
    for _ in range(n):
        key = rand_key(r, depth + 1)
        if key not in d:  # skip keys Python considers equal (1 == True == 1.0)
            d[key] = rand_value(r, depth + 1)
    return d


class Properties(unittest.TestCase):
    def test_round_trip(self):
        r = random.Random(20240611)
        for _ in range(1500):
            v = rand_value(r)
            e = stub.enc(v)
            d = stub.dec(e)
            self.assertTrue(same(d, v), '%r != %r' % (d, v))
            if ORDERED_DICTS:
                self.assertEqual(stub.enc(d), e)
            # every strict prefix is truncated, an extra byte is trailing
            cuts = range(len(e)) if len(e) < 64 else r.sample(range(len(e)), 64)
            for i in cuts:
                try:
                    stub.dec(e[:i])
                except stub.CodecError as x:
                    self.assertEqual(x.code, 'truncated', (e[:i], x.code))
                else:
                    self.fail('prefix decoded: %r' % e[:i])
            try:
                stub.dec(e + b'\x00')
            except stub.CodecError as x:
                self.assertEqual(x.code, 'trailing')
            else:
                self.fail('trailing byte accepted')

    def test_mutations_only_raise_codec_errors(self):
        r = random.Random(7)
        for _ in range(1500):
            e = bytearray(stub.enc(rand_value(r)))
            for _ in range(r.randrange(1, 4)):
                e[r.randrange(len(e))] = r.randrange(256)
            try:
                stub.dec(bytes(e))
            except stub.CodecError as x:
                self.assertIn(x.code, CODES + ['bad_key'])

    def test_bodies_round_trip(self):
        r = random.Random(3)
        err = stub.RemoteError(u'E', u'm', u't')
        samples = [
            ('Call', (u'os', u'getcwd', [rand_value(r) for _ in range(3)],
                      [(u'k', rand_value(r)), (u'\xe9', None)])),
            ('Reply', (0, rand_value(r))), ('Reply', (1, err)),
            ('Channel', (0, rand_value(r))), ('Channel', (1, None)), ('Channel', (1, err)),
            ('Channel', (2, 2 ** 32 - 1)), ('Shutdown', ()), ('RemoteError', err),
            ('Spawn', (5, u'n', [u'ssh', u'h'], True, False, True, [(b'pw:', b'x\n')],
                       [(b'denied', 1)], 0, b'boot')),
            ('Init', (1, 0, u'a', 20, 2 ** 27, [u'x', u'y'], 500)),
        ]
        for t, b in samples:
            e = stub.enc(b, t)
            self.assertTrue(same(stub.dec(e, t), b), t)
            for i in range(len(e)):
                try:
                    stub.dec(e[:i], t)
                except stub.CodecError as x:
                    self.assertEqual(x.code, 'truncated')
                else:
                    self.fail('%s prefix %d decoded' % (t, i))


if __name__ == '__main__':
    print('python %s' % sys.version.split()[0])
    unittest.main()
