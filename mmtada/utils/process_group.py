"""The end of a command that ran distributed."""
import torch.distributed as dist


def end_process_group() -> None:
    """Destroy this process's default process group, if it has one.

    Every tool that takes ``--launcher`` calls it once its work succeeded.
    Otherwise the group outlives ``main()``, and Gloo's worker threads,
    still holding it while the interpreter finalizes, abort the exit of a
    finished rank (SIGABRT, "terminate called without an active
    exception"), so torchrun reports a run that trained to the end as
    failed. Not called on failure: a rank that raised must not wait in a
    collective for the others. A no-op without a group.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
