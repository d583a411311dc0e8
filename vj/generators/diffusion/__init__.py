"""The diffusion generator: a few-step img2img feedback loop (see docs/diffusion.md).

Import ``vj.generators.diffusion.generator.DiffusionGenerator``; torch and diffusers load lazily."""
