#!/usr/bin/env python3
"""Build the seed corpora fuzz/corpus/<target>/ from the shared vectors in testdata/*.json.

The corpora are generated (gitignored); run this before fuzzing. Missing vector files are
skipped, so a few built-in seeds always exist.
"""
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, '..', 'testdata')
CORPUS = os.path.join(HERE, 'corpus')

# Must match TYPES in fuzz_targets/body_decode.rs.
BODY_TYPES = ['Call', 'Reply', 'LogRecord', 'ModuleRequest', 'ModuleReply', 'RouteAdd',
              'RouteDel', 'Spawn', 'Init', 'Channel', 'DeadLetter', 'Shutdown', 'RemoteError']
# Handle a body of that type travels to (dynamic handle for replies, channels, dead letters).
HANDLE = {'Call': 1, 'Shutdown': 2, 'LogRecord': 3, 'ModuleRequest': 4, 'RouteAdd': 5,
          'RouteDel': 6, 'Spawn': 7, 'Init': 8}
# frame_decoder's first byte: bits 0-1 pick the maximum, bits 2-4 the chunk-size byte count - 1.
CHUNKINGS = [b'\x00\x00', b'\x04\x01\x07', b'\x08\x18\x01\x05', b'\x01\x00', b'\x06\x17\x19']


def load(name):
    path = os.path.join(TESTDATA, name)
    if not os.path.exists(path):
        print('seed: %s missing, skipped' % name, file=sys.stderr)
        return []
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def frame(body, handle=1000, flags=0):
    return struct.pack('>2sBB5I', b'EC', 1, flags, 1, 0, handle, 1000 if handle < 1000 else 0,
                       len(body)) + body


def main():
    seeds = {'value_decode': set(), 'body_decode': set(), 'frame_decoder': set()}
    values, headers = load('values.json'), load('headers.json')
    bodies, malformed = load('bodies.json'), load('malformed.json')

    for v in values:
        seeds['value_decode'].add(bytes.fromhex(v['hex']))
    streams = []
    for b in bodies:
        raw = bytes.fromhex(b['hex'])
        if b['type'] in BODY_TYPES:
            seeds['body_decode'].add(bytes([BODY_TYPES.index(b['type'])]) + raw)
        flags = 1 if b['type'] == 'DeadLetter' else 0
        streams.append(frame(raw, HANDLE.get(b['type'], 1000), flags))
    for h in headers:
        raw = bytes.fromhex(h['hex'])
        n = h['header']['len']
        streams.append(raw + bytes(n) if n <= 4096 else raw + b'\x00' * 16)
    for m in malformed:
        raw = bytes.fromhex(m['hex'])
        kind = m['kind']
        if kind == 'value':
            seeds['value_decode'].add(raw)
        elif kind.startswith('body:') and kind[5:] in BODY_TYPES:
            seeds['body_decode'].add(bytes([BODY_TYPES.index(kind[5:])]) + raw)
        elif kind in ('header', 'frame'):
            streams.append(raw)

    # Built-in seeds, so the corpora are never empty.
    seeds['value_decode'].update([b'\x00', b'\x02\xd8\x04', b'\x07\x02\x05\x01a\x09\x01\x00\x00'])
    seeds['body_decode'].update(bytes([i]) for i in range(len(BODY_TYPES)))
    streams.append(frame(b'\x00\x00'))
    for s in streams:
        for c in CHUNKINGS:
            seeds['frame_decoder'].add(c + s)
    # A few streams of several frames.
    for i in range(0, len(streams), 3):
        seeds['frame_decoder'].add(CHUNKINGS[i % len(CHUNKINGS)] + b''.join(streams[i:i + 3]))

    for target, items in seeds.items():
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for s in items:
            name = 'seed-' + hashlib.sha1(s).hexdigest()
            with open(os.path.join(d, name), 'wb') as f:
                f.write(s)
        print('seed: %s: %d seeds' % (target, len(items)))


if __name__ == '__main__':
    main()
