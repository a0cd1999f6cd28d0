"""genzoo-made: two fully visible belief networks for genzoo, MADE and NADE.

The models are registered by :mod:`genzoo_made.plugin`, which genzoo finds through the entry
point ``genzoo-made`` in group ``genzoo``.
"""

__version__ = "0.1.0"
