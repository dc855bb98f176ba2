"""Sigma Studio's model side: everything that touches torch/diffusers, and nothing that touches Qt.

- request, errors, resolution, configs, build: plain values, errors, sizes, named presets, fresh pipelines
- loading/: catalog, defaults (sigma_studio.json), hub (downloads), single_file, components
- inference/: engine, prompt_cache, memory, kv_compress, vae_tiling, preview
- training/: config, data, cache, checkpoint, loop, pipelines, stages/, report, run, recipe, __main__
- demo/: the demo model's procedural data and scoring

The package itself holds nothing; import the modules. May import: the top-level `resources` package
(resources.root()), torch, diffusers, transformers, huggingface_hub, Pillow, numpy, psutil. Never
Qt, app/ or ui/.
"""
