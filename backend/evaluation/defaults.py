"""The evaluations' default settings, importable without torch (the command line reads them to build its parser)."""

TAU = 0.01
"""F-score threshold: 1 % of the ground truth's bounding-box diagonal (Tatarchenko et al.'s 1 % of the object's size)."""
SURFACE_SAMPLES = 20_000
"""Surface samples per mesh for Chamfer and F-score."""
IOU_RESOLUTION = 64
"""Cells per axis of the volume-IoU grid (over the box around the meshes compared)."""
FRAMES = 120
"""Frames of the turntable orbit (CAD's evaluation: a 360° trajectory of 120 frames)."""
NOVEL_VIEWS = 8
"""DTC123's novel views for CLIP consistency (at the reference's elevation, evenly spaced, none at the reference's azimuth)."""
DTC123_RESOLUTION = 256
"""Side of DTC123's evaluation renders (Zero-1-to-3's input size)."""
CAD_RESOLUTION = 128
"""Side of the CAD orbit's frames (CLIP resizes to its own input anyway)."""
MEMBERS = 8
"""Fresh family members the CAD samples are compared with."""
CAD_SAMPLES = 4
"""Generator samples CAD's evaluation scores."""
ELEVATION = 15.0
"""Elevation° of DTC123's reference view when none is given (the project's example and demo jobs')."""
