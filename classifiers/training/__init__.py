"""Everything that makes a model, apart from what scores with one.

The scoring path (the rest of :mod:`classifiers`) loads a model and scores batches with numpy and scipy;
it never imports this package, except that a model trained with ``--embeddings`` loads the optional
sentence encoder (:mod:`classifiers.training.encoder`) by name. Here: the corpus generator
(:mod:`.corpus`), labelled-file reading (:mod:`.dataset`), fitting the heads with scikit-learn
(:mod:`.fit`), training (:mod:`.train`), evaluation (:mod:`.evaluate`), the word-vector table builder
(:mod:`.wordtable`), the encoder (:mod:`.encoder`, torch, extra ``embeddings``) and the ``triage train`` /
``triage evaluate`` commands (:mod:`.cli`). Importing the package itself imports nothing.
"""

__all__: list[str] = []
