import json
import os

from mmtada.utils.run_scalars import divergence, last_value, read_scalars


def test_the_last_value_of_the_last_run_and_where_it_diverged(tmp_path):
    for stamp, values in (('20260101_000000', [10.0, 20.0]),
                          ('20260102_000000', [30.0])):
        folder = tmp_path / stamp / 'vis_data'
        folder.mkdir(parents=True)
        with open(folder / 'scalars.json', 'w') as f:
            for v in values:
                f.write(json.dumps({'accuracy/top1': v, 'step': 1}) + '\n')
            f.write(json.dumps({'loss': 1.0, 'step': 5}) + '\n')
        os.utime(folder / 'scalars.json', (0, int(stamp[:8])))  # order
    assert last_value(read_scalars(str(tmp_path)), 'accuracy/top1') == 30.0
    assert last_value(read_scalars(str(tmp_path)), 'coco/bbox_mAP') is None
    records = read_scalars(str(tmp_path))
    assert divergence(records) is None
    records.append(dict(loss=float('nan'), step=41, epoch=6))
    records.append(dict(loss=float('nan'), step=42, epoch=6))
    assert divergence(records) == 'loss nan from iteration 41 (epoch 6)'
