"""On-disk store of generated variants, with a manifest of checksums."""
import errno
import glob
import hashlib
import json
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

import cv2
import numpy as np

from mmtada.utils.fileio import (HOST, atomic_write_bytes,
                                 remove_stale_temp_files, temp_prefix)
from mmtada.utils.image_format import ImageFormat, to_format, to_rgb8
from .strength_ladder import StrengthLadder
from .variant_codec import VariantCodec

Pair = Tuple[int, int]


def settings_key(settings: dict) -> str:
    """A short stable hash of JSON-able settings."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _cache_error(folder: str, err: OSError) -> OSError:
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    fix = ('free space or set cache_dir to a folder with room for the '
           'variants' if full else 'set cache_dir to a writable folder')
    return OSError(err.errno,
                   f'cannot write the variant cache {folder} ({err.strerror}'
                   f'): {fix} (all ranks must see it); rerun, and what was '
                   'made is kept')


def check_writable(root: str) -> None:
    """Fail now, not after hours of training, if ``root`` cannot hold
    variants: create it and write, then delete, a probe file."""
    probe = osp.join(root, f'{temp_prefix()}probe')
    try:
        os.makedirs(root, exist_ok=True)
        atomic_write_bytes(probe, b'')
        os.unlink(probe)
    except OSError as e:
        raise _cache_error(root, e) from e


class VariantCache:
    """Variants of one dataset made with one generator setting.

    Layout under ``<root>/<dataset>-<settings hash>/``: ``settings.json``,
    ``<src // 1000>/<src>_<v>.png`` (``.jpg`` with a JPEG
    :class:`VariantCodec`) and ``manifest/<host>-<pid>.jsonl``,
    one line ``{"s", "v", "bytes", "sha256"}`` per variant written, each
    process appending to its own file. File names are built from integers
    and hashes only; nothing from the data reaches a path.

    Invariants: a variant counts as cached only when the manifest lists it
    and the file has the listed size (:meth:`has`), and it is served only
    when its bytes match the listed checksum (:meth:`read`,
    :meth:`verify`). Files are written to a temp name and renamed, and
    listed after the rename, so a process killed at any point leaves
    whole, listed files, or unlisted ones that are made again, never a
    truncated variant in use. Runs sharing a cache at once (other jobs,
    other ranks) write whole files under the same names and each lists
    them; :meth:`refresh` reads what the others listed.

    With a :class:`StrengthLadder` the settings hold its strengths and a
    variant's id says the strength it was made at (:meth:`strength_of`).

    Args:
        root (str): cache root (under the work dir, or shared).
        dataset (str): fingerprint (hex) of the source dataset.
        settings (dict): the generator's settings plus the seed.
        ladder (StrengthLadder, optional): Defaults to None (every variant
            at the generator's own strength).
        codec (VariantCodec, optional): Defaults to None (PNG).
    """

    def __init__(self, root: str, dataset: str, settings: dict,
                 ladder: Optional[StrengthLadder] = None,
                 codec: Optional[VariantCodec] = None):
        if not re.fullmatch(r'[0-9a-f]{12,}', str(dataset)):
            raise ValueError(
                f'dataset fingerprint {dataset!r} is not a hex digest: pass '
                'SampleReader.fingerprint().')
        self.settings = dict(settings)
        self.ladder = ladder
        if ladder is not None:
            self.settings['ladder'] = list(ladder.strengths)
        self.codec = codec or VariantCodec()
        self.settings.update(self.codec.settings())
        self.dir = osp.join(root,
                            f'{dataset[:12]}-{settings_key(self.settings)}')
        self._entries: Dict[Pair, Set[Tuple[int, str]]] = {}
        self._offsets: Dict[str, int] = {}
        self._log = None
        meta = osp.join(self.dir, 'settings.json')
        record = dict(dataset=dataset, settings=self.settings)
        blob = json.dumps(record, indent=1, sort_keys=True, default=str)
        try:
            if not osp.exists(meta):
                atomic_write_bytes(meta, blob.encode())
        except OSError as e:
            raise _cache_error(self.dir, e) from e
        with open(meta) as f:
            found = json.load(f)
        if found != json.loads(blob):
            raise ValueError(
                f'{meta} was written for other settings or data than this '
                "run's (the folder name is their hash, so the folder was "
                'copied or edited): delete that folder, or point cache_dir '
                'elsewhere.')
        self.refresh()

    @classmethod
    def for_run(cls, root: str, source, generator, seed: int,
                ladder: Optional[StrengthLadder] = None,
                codec: Optional[VariantCodec] = None) -> 'VariantCache':
        """The cache of ``generator``'s variants of ``source`` (a
        :class:`SampleSource`) made with ``seed`` (and ``ladder``), stored
        with ``codec``."""
        return cls(root, source.fingerprint(),
                   dict(generator=generator.settings(), seed=int(seed)),
                   ladder, codec)

    def strength_of(self, variant_idx: int) -> Optional[float]:
        """The strength a variant is made at: its ladder step's, or None
        (the generator's own)."""
        return None if self.ladder is None \
            else self.ladder.strength_of(variant_idx)

    # -- manifest -------------------------------------------------------------
    def refresh(self) -> None:
        """Read the manifest lines written since the last call, by any
        process. A partial last line (a writer killed mid-line) is skipped
        until it is complete."""
        for path in sorted(glob.glob(osp.join(self.dir, 'manifest',
                                              '*.jsonl'))):
            start = self._offsets.get(path, 0)
            with open(path, 'rb') as f:
                f.seek(start)
                data = f.read()
            end = data.rfind(b'\n') + 1
            for line in data[:end].splitlines():
                try:
                    r = json.loads(line)
                    key = (int(r['s']), int(r['v']))
                    entry = (int(r['bytes']), str(r['sha256']))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line of a killed writer
                self._entries.setdefault(key, set()).add(entry)
            self._offsets[path] = start + end

    def _append(self, s: int, v: int, size: int, digest: str) -> None:
        if self._log is None or self._log[0] != os.getpid():
            folder = osp.join(self.dir, 'manifest')
            os.makedirs(folder, exist_ok=True)
            path = osp.join(folder, f'{HOST}-{os.getpid()}.jsonl')
            self._log = (os.getpid(), open(path, 'a'))
        line = json.dumps(dict(s=s, v=v, bytes=size, sha256=digest))
        self._log[1].write(line + '\n')
        self._log[1].flush()
        self._entries.setdefault((s, v), set()).add((size, digest))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state['_log'] = None  # file handles stay in their process
        return state

    # -- variants -----------------------------------------------------------
    def path(self, source_idx: int, variant_idx: int) -> str:
        s, v = int(source_idx), int(variant_idx)
        return osp.join(self.dir, f'{s // 1000:05d}',
                        f'{s}_{v}{self.codec.ext}')

    def has(self, source_idx: int, variant_idx: int) -> bool:
        """Listed in the manifest, and the file has the listed size."""
        key = (int(source_idx), int(variant_idx))
        try:
            size = os.stat(self.path(*key)).st_size
        except FileNotFoundError:
            return False
        if key not in self._entries:
            self.refresh()
        return any(size == n for n, _ in self._entries.get(key, ()))

    def _check(self, key: Pair, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        return any(sha == digest for _, sha in self._entries.get(key, ()))

    def verify(self, pairs: Iterable[Pair]) -> List[Pair]:
        """The pairs that are not cached whole: missing, unlisted, or whose
        bytes differ from the manifest (corrupt or truncated). Also deletes
        the temp files that killed processes left in their folders."""
        self.refresh()  # once: what every process has listed so far
        bad, folders = [], set()
        for key in pairs:
            key = (int(key[0]), int(key[1]))
            path = self.path(*key)
            folders.add(osp.dirname(path))
            try:
                with open(path, 'rb') as f:
                    data = f.read()
            except FileNotFoundError:
                bad.append(key)
                continue
            if not self._check(key, data):
                bad.append(key)
        for folder in folders:
            remove_stale_temp_files(folder)
        return bad

    def write(self, source_idx: int, variant_idx: int, rgb: np.ndarray,
              fmt: Optional[ImageFormat] = None) -> str:
        """Store a variant (uint8 RGB) in the cache's codec, in its
        source's format ``fmt`` (grey, 16-bit, RGBA; default RGB)."""
        s, v = int(source_idx), int(variant_idx)
        path = self.path(s, v)
        data = self.codec.encode(to_format(rgb, fmt or ImageFormat()))
        try:
            atomic_write_bytes(path, data)
            self._append(s, v, len(data), hashlib.sha256(data).hexdigest())
        except OSError as e:
            raise _cache_error(self.dir, e) from e
        return path

    def read(self, source_idx: int, variant_idx: int,
             unchanged: bool = False) -> np.ndarray:
        """The variant as uint8 RGB (``unchanged``: as stored, in its
        source's format, colour as BGR), after checking its bytes against
        the manifest."""
        key = (int(source_idx), int(variant_idx))
        path = self.path(*key)
        fix = 'delete it and rerun (or resume) to make it again.'
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            raise OSError(f'cached variant {path} is missing: rerun (or '
                          'resume) to make it again.') from None
        if key not in self._entries:
            self.refresh()
        if not self._check(key, data):
            raise OSError(f'cached variant {path} does not match the cache '
                          f'manifest (corrupt or truncated): {fix}')
        img = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_UNCHANGED)
        if img is None:
            raise OSError(f'cannot decode cached variant {path}: {fix}')
        return img if unchanged else to_rgb8(img)

    def listed(self) -> Dict[Pair, Set[Tuple[int, str]]]:
        """Every listed variant with its (size, sha256) entries."""
        self.refresh()
        return {k: set(v) for k, v in self._entries.items()}
