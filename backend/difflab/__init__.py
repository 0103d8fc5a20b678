"""difflab: text-to-image latent diffusion you can train, run and understand."""

import os

# transformers warns at import about optional image backends difflab does not use
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
