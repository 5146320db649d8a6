"""Options that trade speed for GPU memory in the pretrained models a method loads: ``--set memory.offload=true``.

The teachers' loaders take both (:class:`backend.teachers.latent_diffusion.Runtime`); a method whose config has a
``memory`` field of this type passes them on, and the ``out_of_memory`` advice names them (:mod:`backend.server.memory`).
No torch here: the registry imports the configs.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.schema import Record, param


@dataclass(frozen=True)
class GpuMemoryConfig(Record):
    """How the method's pretrained diffusion models use GPU memory (ours; the papers ran on 40–80 GB GPUs without either)."""

    offload: bool = param(False, doc="Keep the models' text and image encoders on the CPU and bring each to the GPU only while it "
                          "runs: less GPU memory, slower steps. Not in the papers.")  # fmt: skip
    attention_slicing: bool = param(False, doc="Compute the UNets' attention in slices (diffusers' attention slicing): a lower peak "
                                    "of GPU memory, slower steps. Not in the papers.")  # fmt: skip

    def loader_options(self) -> dict[str, bool]:
        """The keyword arguments of the teachers' ``load`` functions."""
        return {"offload": self.offload, "attention_slicing": self.attention_slicing}
