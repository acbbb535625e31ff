"""mmtada: targeted diffusion augmentation (TADA) for OpenMMLab."""
import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [ln.strip() for ln in f
                if ln.strip() and not ln.startswith('#')]


def version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmtada', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmtada',
    version=version(),
    description='Targeted diffusion augmentation (TADA) for mmpretrain and mmdet',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        det=read_requirements('det.txt'),
        diffusion=read_requirements('diffusion.txt'),
        tests=read_requirements('tests.txt'),
    ),
    license='Apache-2.0',
)
