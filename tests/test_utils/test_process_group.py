import torch.distributed as dist

from mmtada.utils.process_group import end_process_group


def test_end_process_group_destroys_the_group_once(tmp_path):
    end_process_group()  # no group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store',
                            rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        end_process_group()
        assert not dist.is_initialized()
        end_process_group()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
