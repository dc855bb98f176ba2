"""Batch farm (issue 15, docs/FARM.md): many images from a jobs file, locally or on a Ray cluster.

- jobs.py      read and check a JSONL/CSV jobs file or a folder of presets; one BatchJob per image,
               named by a hash of its settings
- output.py    the output folder: manifest.jsonl, resume, exactly-once, temp files cleaned
- render.py    Renderer: one engine, many jobs (the local run and every Ray worker use it)
- farm.py      the Ray driver: one actor per GPU (or per CPU share), Ray's own restarts and retries
- args.py      the `batch` subcommand's arguments (light: the CLI's parser is built at every start)
- command.py   the `batch` subcommand (Contract 1)
- importer.py  File ▸ Import batch folder…: a manifest's images into the gallery, once each

May import: app/ modules (model/ only through app.model_service); ray only inside farm.py's
functions; no Qt.
"""
