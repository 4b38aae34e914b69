"""Chapter 4: training on real data -- tasks and data sets, baselines, optimisers
and schedules, the trainer, checkpoints and run outputs, and data-parallel runs.

Modules are imported where they are used (``from wavelearn.training import trainer``):
importing this package loads nothing heavy.
"""
