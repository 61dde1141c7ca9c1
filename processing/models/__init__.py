"""Model files shipped with Retexture (read through ``importlib.resources``)."""
