#!/usr/bin/env python3
"""Regenerates the shared wire-format vectors in testdata/ (docs/wire-format.md, section 8).

    python3 testdata/gen_vectors.py          # rewrite values/headers/bodies/malformed.json
    python3 testdata/gen_vectors.py --check  # exit 1 if the files differ from what it would write

Valid vectors are encoded by the Python stub (stub/python/econtext_stub.py) and checked here
against the hand-written examples of the spec; malformed vectors are written by hand and this
script checks that the stub rejects each one with the stated error code. Output is deterministic.
Needs Python 3.7+ (dict order).
"""
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, 'tests', 'python'))
import test_vectors as tv  # noqa: E402  (JSON <-> Python conversions, strict comparison)

stub = tv.stub
Context, Sender, Err = stub.Context, stub.Sender, stub.RemoteError
MAX = tv.DEFAULT_MAX


def f64(h):
    return struct.unpack('>d', bytes.fromhex(h))[0]


def to_v(v):
    """Python value -> tagged JSON notation (the reverse of tv.from_v)."""
    if v is None:
        return {'None': None}
    if isinstance(v, bool):
        return {'Bool': v}
    if isinstance(v, int):
        return {'Int': str(v)}
    if isinstance(v, float):
        return {'Float': struct.pack('>d', v).hex()}
    if isinstance(v, str):
        return {'Str': v}
    if isinstance(v, bytes):
        return {'Bytes': v.hex()}
    if isinstance(v, list):
        return {'List': [to_v(x) for x in v]}
    if isinstance(v, tuple):
        return {'Tuple': [to_v(x) for x in v]}
    if isinstance(v, dict):
        return {'Dict': [[to_v(k), to_v(x)] for k, x in v.items()]}
    if isinstance(v, Context):
        return {'Context': v.args[0]}
    if isinstance(v, Sender):
        return {'Sender': list(v.args)}
    if isinstance(v, Err):
        return {'Error': list(v.args)}
    raise TypeError(v)


def deep(n, kinds='L'):
    # innermost is an empty container of the first kind after the cycle
    k = kinds[(n - 1) % len(kinds)]
    v = [] if k == 'L' else () if k == 'T' else {}
    for i in range(n - 2, -1, -1):
        k = kinds[i % len(kinds)]
        v = [v] if k == 'L' else (v,) if k == 'T' else {i: v}
    return v


def depth_of(v):
    if isinstance(v, (list, tuple)):
        return 1 + max([depth_of(x) for x in v] or [0])
    if isinstance(v, dict):
        return 1 + max([depth_of(x) for p in v.items() for x in p] or [0])
    return 0


ERR = Err('ValueError', 'invalid literal', 'Traceback (most recent call last):\n  File "<x>", '
          'line 1, in <module>\nValueError: invalid literal\n')

VALUES = [
    ('none', None),
    ('bool_true', True),
    ('bool_false', False),
    ('int_0', 0),
    ('int_1', 1),
    ('int_neg1', -1),
    ('int_63', 63),
    ('int_neg64', -64),
    ('int_64', 64),
    ('int_neg65', -65),
    ('int_300', 300),
    ('int_neg300', -300),
    ('int_2p31_m1', 2 ** 31 - 1),
    ('int_neg_2p31', -2 ** 31),
    ('int_2p32', 2 ** 32),
    ('int_2p62', 2 ** 62),
    ('int_i64_max', 2 ** 63 - 1),
    ('int_i64_min', -2 ** 63),
    ('bigint_2p63', 2 ** 63),
    ('bigint_neg_2p63_m1', -2 ** 63 - 1),
    ('bigint_2p64_m1', 2 ** 64 - 1),
    ('bigint_2p64', 2 ** 64),
    ('bigint_neg_2p64', -2 ** 64),
    ('bigint_neg_2p64_m1', -2 ** 64 - 1),
    ('bigint_2p71_m1', 2 ** 71 - 1),
    ('bigint_2p71', 2 ** 71),
    ('bigint_neg_2p71', -2 ** 71),
    ('bigint_neg_2p71_m1', -2 ** 71 - 1),
    ('bigint_2p72_m1', 2 ** 72 - 1),
    ('bigint_neg_2p72', -2 ** 72),
    ('bigint_10p100', 10 ** 100),
    ('bigint_neg_10p100', -(10 ** 100)),
    ('bigint_2p1000_p1', 2 ** 1000 + 1),
    ('float_0', 0.0),
    ('float_neg0', -0.0),
    ('float_1_5', 1.5),
    ('float_neg2_25', -2.25),
    ('float_0_1', 0.1),
    ('float_nan', f64('7ff8000000000000')),
    ('float_nan_payload', f64('7ff8000000000001')),
    ('float_nan_negative', f64('fff8000000000000')),
    ('float_inf', float('inf')),
    ('float_neg_inf', float('-inf')),
    ('float_min_subnormal', f64('0000000000000001')),
    ('float_max', f64('7fefffffffffffff')),
    ('str_empty', ''),
    ('str_ascii', 'hello, world'),
    ('str_h_e_acute', 'h\xe9'),
    ('str_non_bmp', '\U0001F600'),
    ('str_embedded_nul', 'a\x00b'),
    ('str_u_ffff', '\uffff'),
    ('str_max_code_point', '\U0010ffff'),
    ('str_d7ff_e000', '\ud7ff\ue000'),
    ('str_200_chars', 'x' * 200),
    ('bytes_empty', b''),
    ('bytes_non_utf8', b'\xff\xfe\x00'),
    ('bytes_ascii', b'hello'),
    ('bytes_128', bytes(range(128))),
    ('list_empty', []),
    ('tuple_empty', ()),
    ('dict_empty', {}),
    ('list_mixed', [1, 'a', None, b'b', 2.5, True]),
    ('tuple_1_none', (1, None)),
    ('tuple_single', ('x',)),
    ('list_130_nones', [None] * 130),
    ('dict_str_keys', {'b': 1, 'a': 2}),
    ('dict_tuple_keys', {(1, 2): 'a', ('x', (None,)): [1, 2], (): {}}),
    ('dict_mixed_keys', {None: 0, False: 'f', 2: 'two', 3.5: 'f', 'a': 'str', b'b': 'bytes',
                         (1, 'a'): 'tuple', 2 ** 64: 'big', Context(7): 'ctx',
                         Sender(7, 1000): 'sender'}),
    ('dict_nested', {'a': {'b': {'c': [1, (2, {'d': None})]}}}),
    ('context_0', Context(0)),
    ('context_1', Context(1)),
    ('context_u32_max', Context(2 ** 32 - 1)),
    ('sender', Sender(3, 1000)),
    ('sender_u32_max', Sender(2 ** 32 - 1, 2 ** 32 - 1)),
    ('error', ERR),
    ('error_empty', Err('', '', '')),
    ('list_of_refs', [Context(1), Sender(1, 1001), Err('KeyError', "'k'", '')]),
    ('nesting_64_lists', deep(64)),
    ('nesting_64_mixed', deep(64, 'LTD')),
]

# spec section 3, copied by hand: these must come out of the encoder exactly
SPEC = {'none': '00', 'bool_true': '0101', 'int_0': '0200', 'int_neg1': '0201', 'int_300': '02d804',
        'bigint_2p63': '0309000000000000008000', 'float_neg0': '040000000000000080',
        'str_h_e_acute': '050368c3a9', 'tuple_1_none': '0802020200'}

HEADERS = [
    ('zero', (0, 0, 0, 0, 0, 0)),
    ('call_to_child', (0, 1, 0, 1, 1000, 42)),
    ('byte_order', (0, 0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10, 0x00111213)),
    ('dead_letter', (1, 0, 3, 1000, 0, 3)),
    ('max_fields', (1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, MAX)),
    ('log_to_host', (0, 0, 5, 3, 0, 7)),
]

ERRJ = {'type_name': 'RuntimeError', 'message': 'boom', 'traceback': 'Traceback...\n'}
V = to_v
BODIES = [
    ('call_simple', 'Call', {'module': 'os', 'function': 'getcwd', 'args': [], 'kwargs': []}),
    ('call_args_kwargs', 'Call', {'module': 'pkg.mod', 'function': 'f',
                                  'args': [V(1), V('x'), V([None, 2 ** 64])],
                                  'kwargs': [['timeout', V(1.5)], ['\xe9', V({'k': b'\x00'})]]}),
    ('reply_ok', 'Reply', {'Ok': V(42)}),
    ('reply_ok_none', 'Reply', {'Ok': V(None)}),
    ('reply_ok_nesting_64', 'Reply', {'Ok': V(deep(64))}),
    ('reply_err', 'Reply', {'Err': ERRJ}),
    ('remote_error', 'RemoteError', ERRJ),
    ('remote_error_empty', 'RemoteError', {'type_name': '', 'message': '', 'traceback': ''}),
    ('shutdown', 'Shutdown', {}),
    ('log_record', 'LogRecord', {'logger': 'econtext', 'level': 20, 'message': 'hello'}),
    ('log_record_stderr', 'LogRecord', {'logger': 'stderr', 'level': 30, 'message': ''}),
    ('module_request', 'ModuleRequest', {'fullname': 'pkg.sub'}),
    ('module_reply', 'ModuleReply', {
        'fullname': 'pkg.sub',
        'modules': [{'name': 'pkg.sub', 'filename': 'pkg/sub/__init__.py', 'is_package': True,
                     'source': '78daab50b05530e4020005360131'},
                    {'name': 'pkg.sub.x', 'filename': 'pkg/sub/x.py', 'is_package': False,
                     'source': '789c030000000001'}],
        'missing': ['pkg.sub.nope']}),
    ('module_reply_missing', 'ModuleReply', {'fullname': 'nope', 'modules': [],
                                             'missing': ['nope']}),
    ('module', 'Module', {'name': 'm', 'filename': 'm.py', 'is_package': False,
                          'source': '789c030000000001'}),
    ('route_add', 'RouteAdd', {'id': 5, 'parent': 2, 'name': 'ssh.web1'}),
    ('route_del', 'RouteDel', {'id': 5}),
    ('route_del_u32_max', 'RouteDel', {'id': 2 ** 32 - 1}),
    ('spawn', 'Spawn', {'id': 6, 'name': 'sudo', 'argv': ['sudo', '-S', '-u', 'root'], 'pty': True,
                        'stdio_pty': False, 'wait_stage1': True,
                        'prompts': [{'pattern': '70617373776f72643a', 'answer': '7365637265740a'}],
                        'failures': [{'pattern': '536f7272792c', 'kind': 1}],
                        'timeout_ms': 30000, 'boot': '789c030000000001'}),
    ('spawn_minimal', 'Spawn', {'id': 7, 'name': '', 'argv': [], 'pty': False, 'stdio_pty': False,
                                'wait_stage1': False, 'prompts': [], 'failures': [],
                                'timeout_ms': 0, 'boot': ''}),
    ('prompt', 'Prompt', {'pattern': '3a20', 'answer': ''}),
    ('failure', 'Failure', {'pattern': 'ff00', 'kind': 300}),
    ('init', 'Init', {'id': 1, 'parent': 0, 'name': 'local', 'log_level': 20,
                      'max_frame': MAX, 'served': ['econtext', 'mypkg'],
                      'heartbeat_ms': 15000}),
    ('init_u32_max', 'Init', {'id': 2 ** 32 - 1, 'parent': 2 ** 32 - 2, 'name': '\U0001F600',
                              'log_level': 0, 'max_frame': 2 ** 32 - 1, 'served': [],
                              'heartbeat_ms': 2 ** 32 - 1}),
    ('channel_data', 'Channel', {'Data': V(b'chunk')}),
    ('channel_close', 'Channel', {'Close': None}),
    ('channel_close_err', 'Channel', {'Close': ERRJ}),
    ('channel_credit', 'Channel', {'Credit': 1048576}),
    ('dead_letter', 'DeadLetter', {'reason': 0, 'detail': 'no route to context 9'}),
    ('dead_letter_no_handle', 'DeadLetter', {'reason': 4, 'detail': ''}),
]


def hdr(flags=0, dst=1, src=0, handle=1, reply_to=0, n=0, magic='4543', version=1):
    return magic + struct.pack('>BB5I', version, flags, dst, src, handle, reply_to, n).hex()


GOOD_HDR = hdr(n=2)


def raw_nest(n, kinds):
    """Hex of n nested containers (L list, T tuple, D dict {None: inner}), innermost empty;
    for depths the encoder refuses to produce."""
    pre = {'L': '0701', 'T': '0801', 'D': '090100'}
    last = {'L': '0700', 'T': '0800', 'D': '0900'}
    return ''.join(pre[kinds[i % len(kinds)]] for i in range(n - 1)) + last[kinds[(n - 1) % len(kinds)]]


D65 = '0701' * 64 + '0700'

MALFORMED = [
    # values: truncated
    ('value_empty', 'value', '', 'truncated'),
    ('value_bool_missing_byte', 'value', '01', 'truncated'),
    ('value_int_varint_cut', 'value', '02ff', 'truncated'),
    ('value_variant_varint_cut', 'value', '80', 'truncated'),
    ('value_bigint_bytes_cut', 'value', '030900000000000000', 'truncated'),
    ('value_float_cut', 'value', '04000000000000f0', 'truncated'),
    ('value_str_cut', 'value', '05056865', 'truncated'),
    ('value_str_length_huge', 'value', '05ffffffff0f', 'truncated'),
    ('value_bytes_length_cut', 'value', '06', 'truncated'),
    ('value_list_item_missing', 'value', '070200', 'truncated'),
    ('value_list_count_huge', 'value', '07ffffffff0f00', 'truncated'),
    ('value_tuple_item_cut', 'value', '080202', 'truncated'),
    ('value_dict_value_missing', 'value', '090100', 'truncated'),
    ('value_context_missing_id', 'value', '0a', 'truncated'),
    ('value_sender_missing_handle', 'value', '0b01', 'truncated'),
    ('value_error_missing_traceback', 'value', '0c01610162', 'truncated'),
    # values: trailing
    ('value_trailing_byte', 'value', '0000', 'trailing'),
    ('value_int_trailing', 'value', '020200', 'trailing'),
    ('value_empty_list_trailing', 'value', '0700ff', 'trailing'),
    # values: varint
    ('value_varint_11_bytes', 'value', '02' + 'ff' * 10 + '01', 'varint'),
    ('value_varint_u64_overflow', 'value', '02' + 'ff' * 9 + '02', 'varint'),
    ('value_context_u32_overflow', 'value', '0affffffff10', 'varint'),
    ('value_context_u32_6_bytes', 'value', '0a8080808080' + '00', 'varint'),
    ('value_variant_index_u32_overflow', 'value', 'ffffffff1f', 'varint'),
    ('value_sender_handle_overflow', 'value', '0b01ffffffffff01', 'varint'),
    # values: bad_bool
    ('value_bool_2', 'value', '0102', 'bad_bool'),
    ('value_bool_ff', 'value', '01ff', 'bad_bool'),
    # values: bad_utf8
    ('value_str_ff', 'value', '0501ff', 'bad_utf8'),
    ('value_str_bad_continuation', 'value', '0502c328', 'bad_utf8'),
    ('value_str_cut_sequence', 'value', '0501c3', 'bad_utf8'),
    ('value_str_overlong_nul', 'value', '0502c080', 'bad_utf8'),
    ('value_str_surrogate', 'value', '0503eda080', 'bad_utf8'),
    ('value_str_surrogate_pair_cesu', 'value', '0506eda0bdedb880', 'bad_utf8'),
    ('value_str_above_10ffff', 'value', '0504f4908080', 'bad_utf8'),
    ('value_error_message_bad_utf8', 'value', '0c016101fe00', 'bad_utf8'),
    # values: bad_variant
    ('value_variant_13', 'value', '0d', 'bad_variant'),
    ('value_variant_128', 'value', '8001', 'bad_variant'),
    ('value_variant_u32_max', 'value', 'ffffffff0f', 'bad_variant'),
    ('value_list_bad_item_variant', 'value', '07010e', 'bad_variant'),
    # values: depth
    ('value_depth_65_lists', 'value', D65, 'depth'),
    ('value_depth_65_mixed', 'value', raw_nest(65, 'LTD'), 'depth'),
    ('value_depth_65_in_dict_key', 'value', '0901' + '0801' * 63 + '0800' + '00', 'depth'),
    # values: noncanonical_bigint
    ('value_bigint_fits_i64_short', 'value', '030105', 'noncanonical_bigint'),
    ('value_bigint_empty', 'value', '0300', 'noncanonical_bigint'),
    ('value_bigint_8_bytes', 'value', '0308ffffffffffffff7f', 'noncanonical_bigint'),
    ('value_bigint_i64_max_padded', 'value', '0309ffffffffffffff7f00', 'noncanonical_bigint'),
    ('value_bigint_i64_min_padded', 'value', '030900000000000000' + '80ff', 'noncanonical_bigint'),
    ('value_bigint_zero_9_bytes', 'value', '0309' + '00' * 9, 'noncanonical_bigint'),
    ('value_bigint_redundant_00', 'value', '030a' + '00' * 7 + '800000', 'noncanonical_bigint'),
    ('value_bigint_redundant_ff', 'value', '030a' + 'ff' * 7 + '7fffff', 'noncanonical_bigint'),
    # headers
    ('header_truncated_23', 'header', GOOD_HDR[:46], 'truncated'),
    ('header_empty', 'header', '', 'truncated'),
    ('header_bad_magic', 'header', hdr(magic='4544'), 'bad_magic'),
    ('header_bad_magic_zero', 'header', hdr(magic='0000'), 'bad_magic'),
    ('header_bad_magic_swapped', 'header', hdr(magic='4345'), 'bad_magic'),
    ('header_version_0', 'header', hdr(version=0), 'bad_version'),
    ('header_version_2', 'header', hdr(version=2), 'bad_version'),
    ('header_flag_bit_1', 'header', hdr(flags=2), 'bad_flags'),
    ('header_flag_bit_7', 'header', hdr(flags=0x80), 'bad_flags'),
    ('header_flags_ff', 'header', hdr(flags=0xff), 'bad_flags'),
    # frames (a stream decoder with the default maximum 134217728)
    ('frame_len_above_max_header_only', 'frame', hdr(n=MAX + 1), 'too_large'),
    ('frame_len_u32_max', 'frame', hdr(n=2 ** 32 - 1), 'too_large'),
    ('frame_second_len_above_max', 'frame', GOOD_HDR + '0000' + hdr(n=MAX + 1), 'too_large'),
    ('frame_len_at_max_body_missing', 'frame', hdr(n=MAX), 'truncated'),
    ('frame_header_cut', 'frame', GOOD_HDR[:20], 'truncated'),
    ('frame_body_cut', 'frame', GOOD_HDR + '00', 'truncated'),
    ('frame_second_header_cut', 'frame', GOOD_HDR + '0000' + GOOD_HDR[:2], 'truncated'),
    ('frame_bad_magic', 'frame', hdr(magic='4500', n=2) + '0000', 'bad_magic'),
    ('frame_bad_version', 'frame', hdr(version=3, n=2) + '0000', 'bad_version'),
    ('frame_second_bad_flags', 'frame', GOOD_HDR + '0000' + hdr(flags=4), 'bad_flags'),
    # bodies
    ('call_truncated_in_function', 'body:Call', '026f7306676574', 'truncated'),
    ('call_missing_kwargs', 'body:Call', '026f730163' + '00', 'truncated'),
    ('call_module_bad_utf8', 'body:Call', '01ff01660000', 'bad_utf8'),
    ('call_arg_bad_variant', 'body:Call', '026f7301660111' + '00', 'bad_variant'),
    ('call_trailing', 'body:Call', '026f7301660000' + '00', 'trailing'),
    ('call_kwarg_depth_65', 'body:Call', '026f7301660001016b' + D65, 'depth'),
    ('reply_empty', 'body:Reply', '', 'truncated'),
    ('reply_variant_2', 'body:Reply', '0200', 'bad_variant'),
    ('reply_variant_overflow', 'body:Reply', 'ffffffffff0100', 'varint'),
    ('reply_ok_depth_65', 'body:Reply', '00' + D65, 'depth'),
    ('reply_ok_noncanonical_bigint', 'body:Reply', '0003090000000000000000' + '00',
     'noncanonical_bigint'),
    ('reply_err_truncated', 'body:Reply', '01016101', 'truncated'),
    ('remote_error_trailing', 'body:RemoteError', '000000' + '00', 'trailing'),
    ('remote_error_bad_utf8', 'body:RemoteError', '0001c0' + '00', 'bad_utf8'),
    ('shutdown_trailing', 'body:Shutdown', '00', 'trailing'),
    ('log_record_level_overflow', 'body:LogRecord', '0161' + 'ffffffff7f' + '00', 'varint'),
    ('log_record_missing_message', 'body:LogRecord', '016114', 'truncated'),
    ('module_request_length_cut', 'body:ModuleRequest', '0561', 'truncated'),
    ('module_request_trailing', 'body:ModuleRequest', '016100', 'trailing'),
    ('module_reply_is_package_2', 'body:ModuleReply', '016101016101620200' + '00', 'bad_bool'),
    ('module_is_package_2', 'body:Module', '0161016202' + '00', 'bad_bool'),
    ('module_source_cut', 'body:Module', '016101620003aabb', 'truncated'),
    ('route_add_trailing', 'body:RouteAdd', '050200' + '00', 'trailing'),
    ('route_add_id_6_bytes', 'body:RouteAdd', '808080808000' + '0200', 'varint'),
    ('route_del_empty', 'body:RouteDel', '', 'truncated'),
    ('spawn_pty_2', 'body:Spawn', '0600' + '00' + '02' + '00' + '00' + '00' + '00', 'bad_bool'),
    ('spawn_argv_count_huge', 'body:Spawn', '0600' + 'ffffffff0f', 'truncated'),
    ('prompt_missing_answer', 'body:Prompt', '0161', 'truncated'),
    ('failure_kind_overflow', 'body:Failure', '00' + 'ffffffff10', 'varint'),
    ('init_max_frame_overflow', 'body:Init', '010000' + '14' + 'ffffffff1f' + '00', 'varint'),
    ('init_missing_served', 'body:Init', '0100001480808040', 'truncated'),
    ('init_name_bad_utf8', 'body:Init', '010003eda080' + '14' + '80808040' + '00', 'bad_utf8'),
    ('channel_variant_3', 'body:Channel', '0300', 'bad_variant'),
    ('channel_data_bad_bool', 'body:Channel', '000103', 'bad_bool'),
    ('channel_credit_overflow', 'body:Channel', '02ffffffff10', 'varint'),
    ('channel_credit_trailing', 'body:Channel', '020100', 'trailing'),
    ('channel_close_err_cut', 'body:Channel', '0101', 'truncated'),
    # an option tag other than 0/1: not spelled out in the spec; both sides say bad_variant
    ('channel_close_option_tag_2', 'body:Channel', '0102', 'bad_variant'),
    ('dead_letter_bad_utf8', 'body:DeadLetter', '0001ff', 'bad_utf8'),
    ('dead_letter_trailing', 'body:DeadLetter', '000000', 'trailing'),
]


def build():
    values = []
    for name, v in VALUES:
        h = stub.enc(v).hex()
        if name in SPEC:
            assert h == SPEC[name], (name, h, SPEC[name])
        j = to_v(v)
        assert tv.same(tv.from_v(j), v), name
        assert tv.same(stub.dec(bytes.fromhex(h)), v), name
        values.append({'name': name, 'hex': h, 'value': j})
    assert set(SPEC) <= set(n for n, _ in VALUES)
    assert depth_of(dict(VALUES)['nesting_64_lists']) == 64
    assert depth_of(dict(VALUES)['nesting_64_mixed']) == 64

    headers = []
    for name, f in HEADERS:
        h = stub.hdr_pack(*f).hex()
        assert stub.hdr_unpack(bytes.fromhex(h)) == f
        headers.append({'name': name, 'hex': h, 'header': dict(zip(
            ('flags', 'dst', 'src', 'handle', 'reply_to', 'len'), f))})

    bodies = []
    for name, t, j in BODIES:
        b = tv.from_k(t, j)
        for m in ([j] if t == 'Module' else j.get('modules', []) if t == 'ModuleReply' else []):
            zlib.decompress(bytes.fromhex(m['source']))  # sources are zlib streams
        h = stub.enc(b, t).hex()
        assert tv.same(stub.dec(bytes.fromhex(h), t), b), name
        bodies.append({'name': name, 'type': t, 'hex': h, 'body': j})

    malformed = []
    for name, kind, h, err in MALFORMED:
        try:
            got = tv.decode_kind(kind, bytes.fromhex(h))
        except stub.CodecError as e:
            assert e.code == err, (name, e.code, err)
        else:
            raise AssertionError('%s decoded to %r' % (name, got))
        malformed.append({'name': name, 'kind': kind, 'hex': h, 'error': err})
    return {'values.json': values, 'headers.json': headers, 'bodies.json': bodies,
            'malformed.json': malformed}


def dump(items):
    return '[\n' + ',\n'.join(json.dumps(x, ensure_ascii=True) for x in items) + '\n]\n'


def main():
    check = '--check' in sys.argv[1:]
    stale = []
    for fname, items in sorted(build().items()):
        text = dump(items)
        path = os.path.join(HERE, fname)
        old = open(path, encoding='utf-8').read() if os.path.exists(path) else None
        if old != text:
            stale.append(fname)
            if not check:
                with open(path, 'w', encoding='utf-8', newline='\n') as f:
                    f.write(text)
        print('%-15s %4d vectors%s' % (fname, len(items), ' (changed)' if old != text else ''))
    if check and stale:
        print('stale: ' + ', '.join(stale))
        sys.exit(1)


if __name__ == '__main__':
    main()
