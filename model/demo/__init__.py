"""The demo model's data: procedural labelled wallpapers (data) and their scorers and eval (scoring).

The package itself holds nothing; import the modules. May import: numpy, Pillow, torch. Never Qt,
app/ or ui/.
"""
