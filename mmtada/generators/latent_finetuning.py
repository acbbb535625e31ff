"""Adapting a Stable Diffusion model to a dataset (what
``tools/finetune_diffusion.py`` runs): LoRA layers on the UNet's attention
(peft, set up as diffusers' ``train_text_to_image_lora.py`` sets them up),
a token per class (textual inversion, :mod:`.class_prompts`), or both,
trained with the latent diffusion loss on the dataset's own images and
prompts.

Randomness is drawn per sample from a seed that is a function of the
sample's place in the run only (its flip, then the VAE's latent sample,
the timestep and the noise from a generator seeded with it), so a batch
split over ranks or read by any dataloader worker, or a run resumed at
any step, draws what one uninterrupted process draws. A frozen text
encoder's states are computed once per prompt. Only the LoRA layers and
the new token rows change; every other weight stays the base model's (the
other rows of the token table are put back after each step).

The adapter is saved in diffusers' own formats: ``pytorch_lora_weights.
safetensors`` (``pipe.load_lora_weights(folder)``) and ``tokens/<i>.
safetensors`` (``pipe.load_textual_inversion(files)``), with
``prompts.json`` (the template and the tokens) and ``adapter.json``.
"""
import hashlib
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from mmtada.utils.fileio import atomic_write_json, replace_dir
from .class_prompts import (DEFAULT_TEMPLATE, ClassPrompts, add_class_tokens,
                            save_token_embeddings, token_names)
from .diffusion_weights import read_class_name, weights_fingerprint
from .image_io import letterbox, to_model

METHODS = ('lora', 'tokens', 'both')
LORA_TARGETS = ('to_k', 'to_q', 'to_v', 'to_out.0')
LORA_FILE = 'pytorch_lora_weights.safetensors'
ADAPTER_FILE = 'adapter.json'
TEXT_CACHE = 1024  # prompts whose frozen text states are kept


def load_sd_pipeline(folder: str, dtype=torch.float32,
                     allow_pickle: bool = False):
    """``StableDiffusionImg2ImgPipeline`` from a Stable Diffusion folder;
    one clear error when it is not one."""
    from diffusers import StableDiffusionImg2ImgPipeline
    if read_class_name(folder, 'unet') != 'UNet2DConditionModel':
        raise ValueError(
            f"'{folder}' is not a Stable Diffusion folder (no "
            'unet/config.json of a UNet2DConditionModel): text-to-image '
            'latent diffusion weights are needed; for a pixel model use '
            'tools/train_diffusion.py --init-from.')
    return StableDiffusionImg2ImgPipeline.from_pretrained(
        folder, dtype=dtype, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False, use_safetensors=not allow_pickle)


def sample_view(img: np.ndarray, resolution: int, detection: bool,
                flip: bool) -> torch.Tensor:
    """(3, R, R) in [-1, 1]: the image as the generators see it (resized;
    letterboxed when not square or for detection), flipped if asked."""
    if detection or img.shape[0] != img.shape[1]:
        img = letterbox(img, resolution)[0]
    x = to_model([img], resolution, 'cpu', torch.float32)[0]
    return x.flip(-1) if flip else x


class LatentFinetuner:
    """The trainable adaptation of one Stable Diffusion model.

    Args:
        folder (str): a Stable Diffusion folder
            (``save_pretrained``'s layout).
        classes (Sequence[str]): the dataset's class names.
        method (str): ``'lora'``, ``'tokens'`` or ``'both'``. Defaults to
            ``'lora'``.
        rank (int): LoRA rank (alpha = rank). Defaults to 4.
        template (str): the prompt template. Defaults to
            ``'a photo of a {}'``.
        device (str): Defaults to ``'cpu'``.
        gradient_checkpointing (bool): Defaults to False.
        allow_pickle (bool): also accept ``.bin`` weights. Defaults to
            False.
    """

    def __init__(self, folder: str, classes: Sequence[str],
                 method: str = 'lora', rank: int = 4,
                 template: str = DEFAULT_TEMPLATE, device='cpu',
                 gradient_checkpointing: bool = False,
                 allow_pickle: bool = False):
        from diffusers import DDPMScheduler
        if method not in METHODS:
            raise ValueError(f'method must be one of {METHODS}, got '
                             f'{method!r}.')
        self.folder, self.method, self.rank = folder, method, int(rank)
        self.device = torch.device(device)
        pipe = load_sd_pipeline(folder, allow_pickle=allow_pickle)
        self.vae, self.unet = pipe.vae, pipe.unet
        self.text_encoder, self.tokenizer = pipe.text_encoder, pipe.tokenizer
        self.pipeline_class = type(pipe)
        self.scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        for m in (self.vae, self.unet, self.text_encoder):
            m.requires_grad_(False).to(self.device)
        self.vae.eval()
        self.token_ids: List[int] = []
        tokens = None
        if method in ('tokens', 'both'):
            self.token_ids = add_class_tokens(self.tokenizer,
                                              self.text_encoder, classes)
            tokens = token_names(classes)
            table = self.text_encoder.get_input_embeddings().weight
            table.requires_grad_(True)
            self._base_rows = table.detach().clone()
        self.prompts = ClassPrompts(classes, template, tokens)
        if method in ('lora', 'both'):
            from peft import LoraConfig
            self.unet.add_adapter(LoraConfig(
                r=self.rank, lora_alpha=self.rank,
                init_lora_weights='gaussian',
                target_modules=list(LORA_TARGETS)))
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            if self.token_ids:
                self.text_encoder.gradient_checkpointing_enable()
        self.unet.train()
        self.text_encoder.train(bool(self.token_ids))
        self._text: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        self.resolution = int(self.unet.config.sample_size * 2**(
            len(self.vae.config.block_out_channels) - 1))

    # -- what trains -------------------------------------------------------
    def lora_parameters(self) -> List[torch.nn.Parameter]:
        return [p for n, p in self.unet.named_parameters()
                if p.requires_grad and 'lora' in n]

    def token_table(self) -> Optional[torch.nn.Parameter]:
        return self.text_encoder.get_input_embeddings().weight \
            if self.token_ids else None

    def param_groups(self, lr: float, token_lr: float) -> List[dict]:
        """Optimizer groups: the LoRA layers at ``lr``, the token table
        at ``token_lr`` without weight decay (only its new rows keep a
        change, :meth:`after_step`)."""
        groups = []
        if self.lora_parameters():
            groups.append(dict(params=self.lora_parameters(), lr=lr))
        if self.token_ids:
            groups.append(dict(params=[self.token_table()], lr=token_lr,
                               weight_decay=0.0))
        return groups

    def trainable(self) -> List[torch.nn.Parameter]:
        return [p for g in self.param_groups(0, 0) for p in g['params']]

    @torch.no_grad()
    def after_step(self) -> None:
        """Put back every row of the token table but the new tokens'."""
        if self.token_ids:
            table = self.token_table()
            keep = torch.ones(len(table), dtype=torch.bool,
                              device=table.device)
            keep[self.token_ids] = False
            table[keep] = self._base_rows[keep]

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """The trained values only: LoRA tensors and the tokens' rows."""
        state = {f'unet.{n}': p.detach().clone()
                 for n, p in self.unet.named_parameters() if 'lora' in n}
        if self.token_ids:
            state['tokens'] = self.token_table()[self.token_ids].detach(
            ).clone()
        return state

    @torch.no_grad()
    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        params = dict(self.unet.named_parameters())
        for key, value in state.items():
            if key == 'tokens':
                self.token_table()[self.token_ids] = value.to(self.device)
            else:
                params[key[len('unet.'):]].copy_(value)

    # -- the loss -----------------------------------------------------------
    def losses(self, x: torch.Tensor, prompts: Sequence[str],
               gens: Sequence[torch.Generator],
               autocast_dtype: Optional[torch.dtype] = None
               ) -> torch.Tensor:
        """Per-sample diffusion loss (B,) of images ``x`` ((B, 3, R, R) in
        [-1, 1]) with ``prompts``; ``gens[i]`` draws sample i's latent,
        timestep and noise."""
        x = x.to(self.device)
        sched = self.scheduler
        with torch.no_grad():
            dist = self.vae.encode(x).latent_dist
        draws = [(torch.randn(dist.mean.shape[1:], generator=g),
                  torch.randint(0, sched.config.num_train_timesteps, (1, ),
                                generator=g),
                  torch.randn(dist.mean.shape[1:], generator=g))
                 for g in gens]
        eps, t, noise = (torch.stack(v).to(self.device) for v in zip(*draws))
        t = t.view(-1)
        latents = (dist.mean + dist.std * eps) * self.vae.config.scaling_factor
        noisy = sched.add_noise(latents, noise, t)
        target = noise if sched.config.prediction_type == 'epsilon' \
            else sched.get_velocity(latents, noise, t)
        ctx = torch.autocast(self.device.type, autocast_dtype) \
            if autocast_dtype is not None else torch.autocast(
                self.device.type, enabled=False)
        with ctx:
            hidden = self.text_states(prompts)
            pred = self.unet(noisy, t, encoder_hidden_states=hidden).sample
        return F.mse_loss(pred.float(), target.float(),
                          reduction='none').mean((1, 2, 3))

    def text_states(self, prompts: Sequence[str]) -> torch.Tensor:
        """The text encoder's states of ``prompts``: computed with
        gradients while tokens train; else (a frozen encoder) each prompt
        once, kept for the last :data:`TEXT_CACHE` prompts."""
        if self.token_ids:
            return self.text_encoder(self._ids(prompts))[0]
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text]
        if missing:
            with torch.no_grad():
                states = self.text_encoder(self._ids(missing))[0]
            self._text.update(zip(missing, states))
        for p in prompts:
            self._text.move_to_end(p)
        while len(self._text) > TEXT_CACHE:
            self._text.popitem(last=False)
        return torch.stack([self._text[p] for p in prompts])

    def _ids(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(
            list(prompts), padding='max_length', truncation=True,
            max_length=self.tokenizer.model_max_length,
            return_tensors='pt').input_ids.to(self.device)

    # -- the product ----------------------------------------------------------
    def save(self, folder: str, **record) -> None:
        """The adapter, in diffusers' formats, swapped in whole for
        ``folder``; ``record`` goes into ``adapter.json``."""
        tmp = f'{folder}.tmp'
        shutil.rmtree(tmp, ignore_errors=True)
        if self.lora_parameters():
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict
            layers = convert_state_dict_to_diffusers(
                get_peft_model_state_dict(self.unet))
            self.pipeline_class.save_lora_weights(
                tmp, unet_lora_layers=layers, weight_name=LORA_FILE,
                safe_serialization=True)
        if self.token_ids:
            save_token_embeddings(tmp, self.prompts, self.token_table(),
                                  self.token_ids)
        self.prompts.save(tmp)
        atomic_write_json(osp.join(tmp, ADAPTER_FILE), dict(
            record, method=self.method,
            rank=self.rank if self.lora_parameters() else None,
            base=weights_fingerprint(self.folder),
            resolution=self.resolution,
            lora=LORA_FILE if self.lora_parameters() else None,
            tokens=[osp.relpath(p, folder) for p in
                    self.prompts.token_files(folder)]
            if self.token_ids else None), indent=1)
        replace_dir(tmp, folder)


class Batch(NamedTuple):
    """One rank's share of a global batch."""
    images: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    prompts: List[str]
    generators: List[torch.Generator]  # one per sample, seeded


def sample_seed(seed: int, step: int, position: int) -> int:
    """The seed of the sample at ``position`` of global batch ``step``:
    the same whichever rank or worker takes it, and after a resume."""
    blob = f'{int(seed)}/{int(step)}/{int(position)}'.encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], 'little') >> 1


class FinetuneSamples(torch.utils.data.Dataset):
    """The run's samples by global position ``k`` (sample ``k % B`` of
    global batch ``k // B``, ``B`` = ``batch_size``): the dataset index
    ``perm_e[k % N]`` (a permutation of the ``N`` samples per pass ``e =
    k // N``, seeded by ``seed`` and ``e``), its view as the generators
    see it (flipped by the sample's seed), its prompt and its seed. A
    function of ``k`` alone: any worker, rank or resumed run gives the
    same.

    Args:
        reader: a :class:`~mmtada.datasets.SampleReader` (its base
            samples).
        prompts (ClassPrompts): the prompt of an annotation.
        resolution (int): the model's.
        seed (int): the run's.
        batch_size (int): the global batch.
    """

    def __init__(self, reader, prompts: ClassPrompts, resolution: int,
                 seed: int, batch_size: int):
        self.reader, self.prompts = reader, prompts
        self.resolution, self.seed = int(resolution), int(seed)
        self.batch_size = int(batch_size)
        self._perm = (None, None)  # (pass, permutation): the last used

    def index(self, k: int) -> int:
        n = len(self.reader)
        epoch = k // n
        if self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng(
                [self.seed, epoch]).permutation(n))
        return int(self._perm[1][k % n])

    def __getitem__(self, k: int):
        i = self.index(k)
        seed = sample_seed(self.seed, k // self.batch_size,
                           k % self.batch_size)
        x = sample_view(self.reader.source_image(i), self.resolution,
                        self.reader.is_detection, flip=bool(seed & 1))
        return x, self.prompts(self.reader.source_annotation(i)), seed


class RankPositions:
    """The global positions rank ``rank`` of ``world`` takes in global
    batches ``start`` to ``end - 1``: its consecutive ``B / world`` of
    each."""

    def __init__(self, start: int, end: int, batch_size: int, rank: int = 0,
                 world: int = 1):
        self.start, self.end = int(start), int(end)
        self.local = int(batch_size) // int(world)
        self.batch_size, self.rank = int(batch_size), int(rank)

    def __iter__(self):
        for step in range(self.start, self.end):
            first = step * self.batch_size + self.rank * self.local
            yield from range(first, first + self.local)

    def __len__(self):
        return max(0, self.end - self.start) * self.local


def finetune_batches(samples: FinetuneSamples, start: int, end: int,
                     rank: int = 0, world: int = 1, num_workers: int = 2):
    """This rank's :class:`Batch` of each global batch ``start`` to
    ``end - 1``, read by ``num_workers`` dataloader workers."""
    local = samples.batch_size // world
    loader = torch.utils.data.DataLoader(
        samples, batch_size=local, num_workers=num_workers,
        sampler=RankPositions(start, end, samples.batch_size, rank, world))
    for x, prompts, seeds in loader:
        yield Batch(x, list(prompts), [
            torch.Generator().manual_seed(int(s)) for s in seeds])


def train_step(tuner: LatentFinetuner, opt, scaler, batch: Batch,
               batch_size: int, autocast_dtype=None) -> torch.Tensor:
    """One optimizer step on the global batch (``batch_size`` samples, of
    which ``batch`` is this rank's): the mean loss's gradient, summed over
    the ranks of the process group (collective when there are several),
    clipped to norm 1; then the token rows are put back. Returns the
    global mean loss (for the log)."""
    import torch.distributed as dist
    loss = tuner.losses(batch.images, batch.prompts, batch.generators,
                        autocast_dtype).sum() / batch_size
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    shown = loss.detach().clone()
    trainable = tuner.trainable()
    if dist.is_available() and dist.is_initialized() and \
            dist.get_world_size() > 1:
        for p in trainable:
            if p.grad is not None:
                dist.all_reduce(p.grad)
        dist.all_reduce(shown)
    scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    scaler.step(opt)
    scaler.update()
    tuner.after_step()
    return shown
