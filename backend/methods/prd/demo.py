"""The PRD demo student that ships with the project (``prd-demo``): a tiny student trained on the synthetic text world.

It was made on CPU by the project's own training path, ``distill3d train --method prd --preset demo-train --seed 0``
(the exact command and its wall time are in ``demo_student/generator.json`` under ``about``), with its tiny base models
in ``demo_student/base``, so that PRD's Generate, Variants and Interpolation paths run on a fresh machine with no
weights. It knows the text world's words ("a <colour> <shape>"), not real objects; ``distill3d eval prd`` scores it.
"""

from __future__ import annotations

from pathlib import Path

DEMO_STUDENT = Path(__file__).with_name("demo_student")
"""The shipped generator folder (``generator.json``, ``student.safetensors``, ``base/``)."""
