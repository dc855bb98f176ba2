"""Loading models: catalog (variants, resolving a spec), defaults (sigma_studio.json), hub (downloads),
single_file (official checkpoint conversion) and components (the five pipeline parts).

This package's namespace is the API the app's model manager uses (below); everything else is
imported from its module. May import: model.errors, model.request, model.configs,
model.inference.kv_compress, `resources`. Never Qt, app/ or ui/.
"""

from .catalog import resolve_source
from .hub import download, hub_cache_dir, installed_models
from .single_file import convert_official_state_dict, infer_transformer_config, read_checkpoint

__all__ = [
    "convert_official_state_dict",
    "download",
    "hub_cache_dir",
    "infer_transformer_config",
    "installed_models",
    "read_checkpoint",
    "resolve_source",
]
