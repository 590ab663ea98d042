"""put and get from Python: files and trees, atomic and verified (docs/files.md)."""
import hashlib
import os

import pytest

import econtext


def test_put_and_get_a_file(router, tmp_path):
    c = router.local()
    src = tmp_path / 'app.conf'
    data = os.urandom(300000)
    src.write_bytes(data)
    os.chmod(str(src), 0o640)
    r = c.put(str(src), str(tmp_path / 'remote.conf'), mode=0o600)
    assert r == {'bytes': 300000, 'sha256': hashlib.sha256(data).hexdigest(), 'skipped': False}
    assert (tmp_path / 'remote.conf').read_bytes() == data
    assert os.stat(str(tmp_path / 'remote.conf')).st_mode & 0o777 == 0o600
    assert c.put(src, tmp_path / 'remote.conf', skip_unchanged=True)['skipped'] is True
    back = tmp_path / 'back.conf'
    r = c.get(str(tmp_path / 'remote.conf'), back, preserve=True)
    assert r['bytes'] == 300000 and back.read_bytes() == data
    assert os.stat(str(back)).st_mode & 0o777 == 0o600
    r = c.get(str(tmp_path / 'remote.conf'), tmp_path / 'fast.conf', verify=False)
    assert r == {'bytes': 300000, 'sha256': '', 'skipped': False}
    assert (tmp_path / 'fast.conf').read_bytes() == data


def test_trees(router, tmp_path):
    c = router.local()
    src = tmp_path / 'site'
    (src / 'css').mkdir(parents=True)
    (src / 'index.html').write_text('<p>hi</p>')
    (src / 'css' / 'a.css').write_text('p{}')
    os.symlink('index.html', str(src / 'home.html'))
    r = c.put(src, tmp_path / 'www', recursive=True)
    assert r == {'files': 2, 'dirs': 2, 'symlinks': 1, 'bytes': 12, 'skipped': 0}
    assert (tmp_path / 'www' / 'css' / 'a.css').read_text() == 'p{}'
    assert os.readlink(str(tmp_path / 'www' / 'home.html')) == 'index.html'
    r = c.get(str(tmp_path / 'www'), tmp_path / 'copy', recursive=True)
    assert (r['files'], r['symlinks']) == (2, 1)
    assert (tmp_path / 'copy' / 'index.html').read_text() == '<p>hi</p>'


def test_file_errors_say_what_and_where(router, tmp_path):
    c = router.local()
    with pytest.raises(econtext.FileError) as e:
        c.get(str(tmp_path / 'missing'), tmp_path / 'x')
    assert (e.value.kind, e.value.file_kind) == ('file', 'not_found')
    assert e.value.path.endswith('missing') and e.value.context == 'local'
    with pytest.raises(econtext.FileError) as e:
        c.put(tmp_path, tmp_path / 'y')
    assert e.value.file_kind == 'is_a_directory' and 'recursive=True' in str(e.value)
    (tmp_path / 'f').write_text('x')
    with pytest.raises(econtext.FileError) as e:
        c.put(tmp_path / 'f', str(tmp_path / 'a' / '..' / 'f2'))
    assert e.value.file_kind == 'bad_path'
