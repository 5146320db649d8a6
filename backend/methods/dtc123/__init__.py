"""DTC123: one image to a textured mesh by score distillation with a diffusion time-step curriculum (Yi et al., CVPR 2024)."""
