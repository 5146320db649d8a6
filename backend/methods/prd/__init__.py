"""PRD (TriplaneTurbo): instant text-to-mesh from Stable Diffusion adapted by a parameter-efficient triplane adapter."""
