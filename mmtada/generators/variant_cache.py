"""Store of generated variants, with a manifest of checksums."""
import errno
import hashlib
import json
import os
import re
import uuid
from typing import Dict, Iterable, List, Optional, Set, Tuple

import cv2
import numpy as np

from mmtada.utils.fileio import HOST, temp_prefix
from mmtada.utils.image_format import ImageFormat, to_format, to_rgb8
from mmtada.utils.storage import Storage
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


def check_writable(root: str, backend_args: Optional[dict] = None) -> None:
    """Fail now, not after hours of training, if ``root`` cannot hold
    variants: write, then delete, a probe file."""
    storage = Storage(root, backend_args)
    probe = storage.join(root, f'{temp_prefix()}probe')
    try:
        storage.put(probe, b'')
        storage.remove(probe)
    except OSError as e:
        raise _cache_error(root, e) from e


class VariantCache:
    """Variants of one dataset made with one generator setting.

    Layout under ``<root>/<dataset>-<settings hash>/``: ``settings.json``,
    ``<src // 1000>/<src>_<v>.png`` (``.jpg`` with a JPEG
    :class:`VariantCodec`) and ``manifest/<host>-<pid>-<token>-<n>.jsonl``, one
    line ``{"s", "v", "bytes", "sha256"}`` per variant, each file (a
    *piece*) written whole by one process at :meth:`flush` and never
    changed. File names are built from integers and hashes only; nothing
    from the data reaches a path. ``root`` may be a local folder or any
    storage an mmengine file backend reaches (``backend_args``; see
    :class:`~mmtada.utils.storage.Storage`): nothing is renamed or
    appended to there.

    Invariants: a variant counts as cached only when a manifest piece
    lists it and its file exists (locally: with the listed size;
    :meth:`has`), and it is served only when its bytes match the listed
    checksum (:meth:`read`, :meth:`verify`). Files are written whole and
    listed after they are written, so a process killed at any point leaves
    whole, listed files, or unlisted ones that are made again, never a
    truncated variant in use. Runs sharing a cache at once (other jobs,
    other ranks) write whole files under the same names and each lists
    them; :meth:`refresh` reads the pieces the others wrote.

    With a :class:`StrengthLadder` the settings hold its strengths and a
    variant's id says the strength it was made at (:meth:`strength_of`).

    Args:
        root (str): cache root (under the work dir, or shared).
        dataset (str): fingerprint (hex) of the source dataset.
        settings (dict): the generator's settings plus the seed.
        ladder (StrengthLadder, optional): Defaults to None (every variant
            at the generator's own strength).
        codec (VariantCodec, optional): Defaults to None (PNG).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None (by ``root``'s prefix; none: the local disk).
    """

    def __init__(self, root: str, dataset: str, settings: dict,
                 ladder: Optional[StrengthLadder] = None,
                 codec: Optional[VariantCodec] = None,
                 backend_args: Optional[dict] = None):
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
        self.storage = Storage(root, backend_args)
        self.dir = self.storage.join(
            root, f'{dataset[:12]}-{settings_key(self.settings)}')
        self._entries: Dict[Pair, Set[Tuple[int, str]]] = {}
        self._read: Set[str] = set()  # manifest pieces already read
        self._pending: List[str] = []  # lines not yet in a piece
        self._pieces = 0  # pieces this process wrote
        self._token = uuid.uuid4().hex[:8]  # pids are reused
        meta = self.storage.join(self.dir, 'settings.json')
        record = dict(dataset=dataset, settings=self.settings)
        blob = json.dumps(record, indent=1, sort_keys=True, default=str)
        try:
            if not self.storage.exists(meta):
                self.storage.put(meta, blob.encode())
            found = json.loads(self.storage.get(meta))
        except OSError as e:
            raise _cache_error(self.dir, e) from e
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
                codec: Optional[VariantCodec] = None,
                backend_args: Optional[dict] = None) -> 'VariantCache':
        """The cache of ``generator``'s variants of ``source`` (a
        :class:`SampleSource`) made with ``seed`` (and ``ladder``), stored
        with ``codec`` (under ``root``, through ``backend_args``)."""
        return cls(root, source.fingerprint(),
                   dict(generator=generator.settings(), seed=int(seed)),
                   ladder, codec, backend_args)

    def strength_of(self, variant_idx: int) -> Optional[float]:
        """The strength a variant is made at: its ladder step's, or None
        (the generator's own)."""
        return None if self.ladder is None \
            else self.ladder.strength_of(variant_idx)

    # -- manifest -------------------------------------------------------------
    def refresh(self) -> None:
        """Read the manifest pieces written since the last call, by any
        process (a piece is whole once it exists)."""
        folder = self.storage.join(self.dir, 'manifest')
        for name in self.storage.list(folder, '.jsonl'):
            if name in self._read:
                continue
            try:
                data = self.storage.get(self.storage.join(folder, name))
            except FileNotFoundError:
                continue  # listed, then removed by hand
            for line in data.splitlines():
                try:
                    r = json.loads(line)
                    key = (int(r['s']), int(r['v']))
                    entry = (int(r['bytes']), str(r['sha256']))
                except (ValueError, KeyError, TypeError):
                    continue  # not a manifest line (edited by hand)
                self._entries.setdefault(key, set()).add(entry)
            self._read.add(name)

    def flush(self) -> None:
        """List the variants written since the last flush: one new
        manifest piece, written whole. Until then only this process knows
        them (a process killed before leaves unlisted files, made again)."""
        if not self._pending:
            return
        name = (f'{HOST}-{os.getpid()}-{self._token}-'
                f'{self._pieces:06d}.jsonl')
        data = ''.join(line + '\n' for line in self._pending).encode()
        self.storage.put(self.storage.join(self.dir, 'manifest', name), data)
        self._read.add(name)
        self._pieces += 1
        self._pending = []

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _pending=[])  # this process lists them

    # -- variants -----------------------------------------------------------
    def path(self, source_idx: int, variant_idx: int) -> str:
        s, v = int(source_idx), int(variant_idx)
        return self.storage.join(self.dir, f'{s // 1000:05d}',
                                 f'{s}_{v}{self.codec.ext}')

    def has(self, source_idx: int, variant_idx: int) -> bool:
        """Listed in the manifest, and the file is there (locally: with
        the listed size)."""
        key = (int(source_idx), int(variant_idx))
        size = self.storage.size(self.path(*key))
        if size is None:
            return False
        if key not in self._entries:
            self.refresh()
        return any(size in (n, -1) for n, _ in self._entries.get(key, ()))

    def _check(self, key: Pair, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        return any(sha == digest for _, sha in self._entries.get(key, ()))

    def verify(self, pairs: Iterable[Pair]) -> List[Pair]:
        """The pairs that are not cached whole: missing, unlisted, or whose
        bytes differ from the manifest (corrupt or truncated). Also deletes
        the temp files that killed local processes left in their
        folders."""
        self.refresh()  # once: what every process has listed so far
        bad, folders = [], set()
        for key in pairs:
            key = (int(key[0]), int(key[1]))
            path = self.path(*key)
            folders.add(path.rsplit('/', 1)[0])
            if key not in self._entries:
                bad.append(key)  # unlisted: not read at all
                continue
            try:
                data = self.storage.get(path)
            except FileNotFoundError:
                bad.append(key)
                continue
            if not self._check(key, data):
                bad.append(key)
        for folder in folders:
            self.storage.clean_temp(folder)
        return bad

    def write(self, source_idx: int, variant_idx: int, rgb: np.ndarray,
              fmt: Optional[ImageFormat] = None) -> str:
        """Store a variant (uint8 RGB) in the cache's codec, in its
        source's format ``fmt`` (grey, 16-bit, RGBA; default RGB). Listed
        for other processes at the next :meth:`flush`."""
        s, v = int(source_idx), int(variant_idx)
        path = self.path(s, v)
        data = self.codec.encode(to_format(rgb, fmt or ImageFormat()))
        digest = hashlib.sha256(data).hexdigest()
        try:
            self.storage.put(path, data)
        except OSError as e:
            raise _cache_error(self.dir, e) from e
        self._pending.append(json.dumps(dict(s=s, v=v, bytes=len(data),
                                             sha256=digest)))
        self._entries.setdefault((s, v), set()).add((len(data), digest))
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
            data = self.storage.get(path)
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
