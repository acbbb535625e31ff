import pytest

from mmtada.generators import resolve_weights


def test_local_folder_is_used_as_is(pixel_weights):
    assert resolve_weights(pixel_weights) == pixel_weights


def test_hub_id_without_network_or_cache_is_one_clear_error(
        monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(OSError, match='HF_HUB_OFFLINE=1'):
        resolve_weights('someorg/some-model')


def test_not_a_folder_nor_an_id(tmp_path):
    with pytest.raises(FileNotFoundError, match="hub id such as 'org/name'"):
        resolve_weights(str(tmp_path / 'a' / 'b' / 'c'))
