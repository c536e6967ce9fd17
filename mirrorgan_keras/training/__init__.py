"""Training, the top of the package: the three stages as functions (``stages``), the resumable
``fit`` they run (``fit``), the sample-sheet callback (``callbacks``) and the recipes' shared
flags (``cli``). Nothing else in the package imports it; the recipes do.

Nothing is imported here, so ``mirrorgan_keras.training.cli`` loads no model until a stage runs.
"""
