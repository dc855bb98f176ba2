"""The widgets: the studio window and its panels and dialogs (no torch, no model/).

See docs/DESIGN.md for the layout and the import rules; each module says what it may import.
May import: nothing (an empty package marker).
"""
