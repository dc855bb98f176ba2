"""Poster mode (issue 13): text layers over a gallery picture, automatic layout that respects the
picture, contrast checks, and export to PNG/JPEG/WebP and print-ready PDF.

Modules: model (data, papers; standard library only), contrast (WCAG on pixels; numpy/Pillow),
text (fonts and text geometry; QtGui), layout (automatic placement), render (raster export),
pdf (QPdfWriter export with bleed and crop marks), cli (`sigma-studio poster`).

May import: what each module's docstring says; nothing here imports torch or QtWidgets.
"""
