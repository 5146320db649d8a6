import numpy as np
import torch
from PIL import Image

from backend.methods.cad.generator import CADGeneratorAsset
from backend.methods.cad.config import InvertConfig
from backend.methods.cad.invert import invert_image
from backend.methods.progress import ProgressReporter
from backend.methods.cad.networks import CADGenerator

EXPORT = {"preview_resolution": 16, "full_resolution": 16, "texture_size": 64}


def test_without_an_elevation_the_image_is_inverted_at_the_generators_reference_elevation(tiny_config):
    torch.manual_seed(0)
    generator = CADGeneratorAsset(CADGenerator(tiny_config.generator), True, EXPORT, reference_elevation=30.0)
    generator.asset = lambda latent, quality: None  # the camera is the point here, not the mesh of a random generator
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:26, 10:22] = (40, 120, 200, 255)
    image, settings = Image.fromarray(rgba, "RGBA"), InvertConfig(space="w", steps=2, lpips_weight=0.0)
    quiet = ProgressReporter(lambda *a: None)
    told_none = invert_image(generator, image, None, settings, quiet)[0]
    told_30 = invert_image(generator, image, 30.0, settings, quiet)[0]
    told_0 = invert_image(generator, image, 0.0, settings, quiet)[0]
    assert np.allclose(told_none.latent, told_30.latent) and not np.allclose(told_none.latent, told_0.latent)
