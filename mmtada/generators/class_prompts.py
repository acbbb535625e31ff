"""The text prompt of a sample, and the per-class tokens that can stand for
the class names in it (textual inversion, as DA-Fusion learns them).

A classification sample's prompt is ``template.format(word)``, its class's
word; a detection image's joins the words of the classes it holds, in the
order of their first box. The word is the class name, or, with learned
tokens, the class's token (``<class-name>``): one new entry of the text
encoder's vocabulary per class, initialised from the mean embedding of
the name's own tokens. Tokens are saved in diffusers' textual-inversion
format, one ``tokens/<i>.safetensors`` (``{token: embedding}``) per class,
so that ``pipe.load_textual_inversion(files)`` loads them without mmtada;
``prompts.json`` holds the template, the classes and their tokens.
"""
import json
import os.path as osp
import re
from typing import List, Optional, Sequence

PROMPTS_FILE = 'prompts.json'
TOKENS_DIR = 'tokens'
DEFAULT_TEMPLATE = 'a photo of a {}'


def token_names(classes: Sequence[str]) -> List[str]:
    """``<name>`` per class: lower case, runs of other characters than
    letters and digits as ``-``; made unique with ``-<i>``."""
    out = []
    for i, name in enumerate(classes):
        slug = re.sub(r'[^0-9a-z]+', '-', str(name).lower()).strip('-')
        token = f'<{slug or i}>'
        out.append(token if token not in out else f'<{slug}-{i}>')
    return out


class ClassPrompts:
    """Prompts of samples from their annotations.

    Args:
        classes (Sequence[str]): the dataset's class names, in label order.
        template (str): ``{}`` is replaced by the sample's class word(s).
            Defaults to ``'a photo of a {}'``.
        tokens (Sequence[str], optional): a token per class, used instead
            of its name. Defaults to None (the names).
    """

    def __init__(self, classes: Sequence[str],
                 template: str = DEFAULT_TEMPLATE,
                 tokens: Optional[Sequence[str]] = None):
        if '{}' not in template:
            raise ValueError(f'the prompt template {template!r} has no {{}} '
                             'for the class: e.g. \'a photo of a {}\'.')
        self.classes = [str(c) for c in classes]
        self.template = template
        self.tokens = None if tokens is None else [str(t) for t in tokens]
        if self.tokens is not None and len(self.tokens) != len(self.classes):
            raise ValueError(f'{len(self.tokens)} tokens for '
                             f'{len(self.classes)} classes.')

    def words(self, annotation: dict) -> List[str]:
        """The class words of a sample (its labels' tokens or names)."""
        if 'labels' in annotation:  # detection: the classes present
            labels = list(dict.fromkeys(int(c) for c in annotation['labels']))
        else:
            labels = [int(annotation['gt_label'])]
        for c in labels:
            if not 0 <= c < len(self.classes):
                raise ValueError(
                    f'label {c} has no class among the {len(self.classes)} '
                    'the prompts were made for (tokens learned on another '
                    'dataset?): fine-tune on this dataset.')
        return [(self.tokens or self.classes)[c] for c in labels]

    def __call__(self, annotation: dict) -> str:
        words = self.words(annotation)
        if self.tokens is not None and 'labels' not in annotation:
            name = annotation.get('class_name')
            learned = self.classes[int(annotation['gt_label'])]
            if name is not None and str(name) != learned:
                raise ValueError(
                    f"the sample's class {name!r} is not {learned!r}, the "
                    'class its token was learned for: the tokens come from '
                    'another dataset or class order; fine-tune on this '
                    'one.')
        return self.template.format(', '.join(words))

    def to_dict(self) -> dict:
        return dict(template=self.template, classes=self.classes,
                    tokens=self.tokens)

    def save(self, folder: str) -> None:
        from mmtada.utils.fileio import atomic_write_json
        atomic_write_json(osp.join(folder, PROMPTS_FILE), self.to_dict(),
                          indent=1)

    @classmethod
    def load(cls, folder: str) -> 'ClassPrompts':
        path = osp.join(folder, PROMPTS_FILE)
        try:
            with open(path) as f:
                d = json.load(f)
            return cls(d['classes'], d['template'], d.get('tokens'))
        except FileNotFoundError:
            raise FileNotFoundError(
                f'no {PROMPTS_FILE} in {folder}: give the folder that '
                'tools/finetune_diffusion.py wrote (its adapter/).') from None
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f'{path} is not a prompts file ({e}); '
                             'fine-tune again.') from None

    def token_files(self, folder: str) -> List[str]:
        """The textual-inversion file of each class's token."""
        return [osp.join(folder, TOKENS_DIR, f'{i}.safetensors')
                for i in range(len(self.classes))]


def name_token_ids(tokenizer, name: str) -> List[int]:
    """The ids of ``name``'s own tokens (no start/end, no unknown); one
    clear error when there are none."""
    ids = tokenizer(str(name), add_special_tokens=False).input_ids
    unk = getattr(tokenizer, 'unk_token_id', None)
    ids = [i for i in ids if i != unk]
    if not ids:
        raise ValueError(
            f'the class name {name!r} has no text the tokenizer knows, so '
            'its token cannot start from the name\'s embedding: rename the '
            "class (the dataset's metainfo classes) to words.")
    return ids


def add_class_tokens(tokenizer, text_encoder, classes: Sequence[str]
                     ) -> List[int]:
    """Add a token per class (:func:`token_names`) to ``tokenizer`` and
    ``text_encoder``, each initialised from its name's mean embedding;
    returns their ids. Refuses tokens already in the vocabulary."""
    import torch
    tokens = token_names(classes)
    inits = [name_token_ids(tokenizer, name) for name in classes]
    clash = [t for t in tokens if t in tokenizer.get_vocab()]
    if clash:
        raise ValueError(
            f'{clash} are in the tokenizer already (weights saved with '
            'learned tokens?): fine-tune from the base model\'s folder.')
    tokenizer.add_tokens(tokens)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    rows = len(text_encoder.get_input_embeddings().weight)
    text_encoder.resize_token_embeddings(  # never below its rows
        max(rows, max(ids) + 1), mean_resizing=False)
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for i, init in zip(ids, inits):
            table[i] = table[init].mean(0)
    return list(ids)


def save_token_embeddings(folder: str, prompts: ClassPrompts, table,
                          ids: Sequence[int]) -> None:
    """Write each class's learned embedding (rows ``ids`` of ``table``) in
    diffusers' textual-inversion format under ``folder/tokens/``."""
    from safetensors.torch import save_file

    from mmtada.utils.fileio import atomic_path
    for path, token, i in zip(prompts.token_files(folder), prompts.tokens,
                              ids):
        with atomic_path(path) as tmp:
            save_file({token: table[i:i + 1].detach().float().cpu().clone()},
                      tmp)
