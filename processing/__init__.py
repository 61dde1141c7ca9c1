"""Retexture: give back the skin texture that AI retouching wipes away.

The library is pure numpy/OpenCV. Heavy optional pieces (mediapipe) are imported
only inside the modules that use them.
"""

__version__ = "0.1.0"
