"""Diffusion priors behind one interface (:class:`Teacher`), the model registry and the synthetic world.

Importing this package imports neither diffusers nor the synthetic world; each
teacher lives in its own module and is loaded on demand.
"""
