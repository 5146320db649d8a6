"""CAD: consistent adversarial distillation of a 3D generator from multi-view diffusion samples."""
