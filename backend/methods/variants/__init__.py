"""Generator tools: sample variants of a 3D generator, and interpolate between two of its latents."""
