"""What a run stands on, below the models: a run directory's files and its lock
(``run_files``), atomic training checkpoints (``checkpoint``), ``tf.distribute`` strategies,
worker roles and the helpers that keep losses exact under them (``distribute``), the
mixed-precision policy (``precision``) and TensorFlow's quiet start (``quiet_tensorflow``, for
programs only).

Nothing is imported here: ``run_files`` does not load TensorFlow (the plain data readers use
it), and ``quiet_tensorflow`` must be a program's own first import."""
