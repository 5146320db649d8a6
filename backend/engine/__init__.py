"""The training engine every optimising method runs on.

- :mod:`.loop`: one loop that owns the steps, the preview and checkpoint cadence, divergence
  checks, cancellation and resuming; a method hands it a :class:`~.loop.Task` (a step function
  and schedule callbacks).
- :mod:`.checkpoint`: the one checkpoint format, safetensors with a JSON header.
- :mod:`.errors`: the errors a job reports to the artist.
- :mod:`.preview`: progress previews as a near-square grid of views, each shown at 256² whatever it was rendered at.

Nothing here imports a method; methods import the engine. Importing this package imports
no torch (its modules do).
"""
