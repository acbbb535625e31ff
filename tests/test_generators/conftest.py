import pytest

from mmtada.testing import save_tiny_latent_model, save_tiny_pixel_model


@pytest.fixture(scope='session')
def pixel_weights(tmp_path_factory):
    return save_tiny_pixel_model(str(tmp_path_factory.mktemp('pixel')))


@pytest.fixture(scope='session')
def latent_weights(tmp_path_factory):
    return save_tiny_latent_model(str(tmp_path_factory.mktemp('latent')))
