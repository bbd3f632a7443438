"""The project's own labelled training corpus: written by a seeded generator, kept in the repo.

``python -m classifiers.training.corpus.generate`` rewrites ``classifiers/data/corpus.csv.gz`` byte for byte.
"""

__all__: list[str] = []
