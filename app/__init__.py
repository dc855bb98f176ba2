"""The application core without widgets: jobs, the engine thread, the gallery, settings, files.

See docs/DESIGN.md for the layout and the import rules; each module says what it may import.
May import: nothing (an empty package marker).
"""
