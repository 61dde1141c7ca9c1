"""The one error alignment raises on valid images.

It lives in its own module because every stage (features, geometry checks,
coverage) can refuse a pair, and they must not import each other for it.
"""

__all__ = ["AlignmentError"]


class AlignmentError(ValueError):
    """The two images cannot be aligned: they are not the same photo."""
