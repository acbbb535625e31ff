"""Find diffusion weights: a local folder or a Hugging Face hub id."""
import hashlib
import json
import os
import os.path as osp
import re

HUB_ID = re.compile(r'^[\w.-]+/[\w.-]+$')


def resolve_weights(source: str, allow_pickle: bool = False) -> str:
    """Return a local folder holding the weights named by ``source``.

    A local folder is used as it is. A hub id (``org/name``) is looked up in
    the local Hugging Face cache first, then downloaded unless
    ``HF_HUB_OFFLINE`` is set. Only ``*.safetensors`` weights are fetched
    unless ``allow_pickle``. Any failure is one error that says how to
    provide the weights; nothing waits on a network that is not there
    beyond huggingface_hub's own timeouts (``HF_HUB_ETAG_TIMEOUT``).
    """
    path = osp.expanduser(str(source))
    if osp.isdir(path):
        return path
    if not HUB_ID.match(str(source)):
        raise FileNotFoundError(
            f"no diffusion weights folder at '{source}': give the folder "
            'that save_pretrained (or tools/train_diffusion.py) wrote, or a '
            "hub id such as 'org/name'.")
    from huggingface_hub import snapshot_download
    patterns = ['*.json', '*.txt', '*.safetensors', '*.model']
    if allow_pickle:
        patterns.append('*.bin')
    try:
        return snapshot_download(source, allow_patterns=patterns,
                                 local_files_only=True)
    except Exception:  # not cached: try the network below
        pass
    offline = os.environ.get('HF_HUB_OFFLINE', '').lower() in ('1', 'true')
    how = (f"Provide them: pass a local folder (save_pretrained's output, "
           f'or tools/train_diffusion.py\'s), or download them where there '
           f"is network (huggingface-cli download {source}) and run with "
           'that cache (HF_HOME) and HF_HUB_OFFLINE=1.')
    if offline:
        raise OSError(f"diffusion weights '{source}' are not in the local "
                      f'Hugging Face cache and HF_HUB_OFFLINE is set. {how}')
    try:
        return snapshot_download(source, allow_patterns=patterns)
    except Exception as e:
        raise OSError(
            f"cannot get diffusion weights '{source}': not a local folder, "
            f'not in the Hugging Face cache, and the download failed '
            f'({type(e).__name__}). {how}') from None


def read_class_name(folder: str, subfolder: str = '') -> str:
    """The ``_class_name`` in a diffusers config (or '' if there is none)."""
    for name in ('config.json', 'model_index.json'):
        path = osp.join(folder, subfolder, name)
        if osp.exists(path):
            with open(path) as f:
                return json.load(f).get('_class_name', '')
    return ''


def weights_fingerprint(folder: str) -> str:
    """Identifies the weight files in ``folder`` (names, sizes and the
    first MiB of each), so a cache made with other weights is never
    reused, without hashing gigabytes."""
    h = hashlib.sha1()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if not name.endswith(('.safetensors', '.bin', '.json')):
                continue
            path = osp.join(root, name)
            h.update(osp.relpath(path, folder).encode())
            h.update(str(osp.getsize(path)).encode())
            with open(path, 'rb') as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()[:16]
