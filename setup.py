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
    packages=find_packages(include=('mmtada', 'mmtada.*')),
    # The fragments, example configs and tools ship inside the package
    # (mmtada/utils/shipped_files.py); the clone's benchmarks and its
    # installer do not.
    package_data=dict(mmtada=[
        'configs/*.py', 'configs/_base_/*.py', 'tools/*.py',
        'tools/dist_train.sh', 'tools/slurm_train.sh'
    ]),
    entry_points=dict(console_scripts=['mmtada = mmtada.cli:main']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(
        det=read_requirements('det.txt'),
        diffusion=read_requirements('diffusion.txt'),
        tests=read_requirements('tests.txt'),
    ),
    license='Apache-2.0',
)
