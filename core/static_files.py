"""Static files: once collected, under hashed names, compressed, and cached by browsers for a
year; before `collectstatic` has run, under their plain names, served from the apps."""

from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage

ONE_YEAR = 365 * 24 * 3600


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage, with plain names where the manifest has none: a process
    started without `collectstatic` (a test run, a quick start with DEBUG off) still renders
    its pages, whose static files WhiteNoise then serves from the finders."""

    def stored_name(self, name):
        if not self.hashed_files:
            return name
        try:
            return super().stored_name(name)
        except ValueError:  # a file added since the last collectstatic
            return name


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, caching a hashed name for a year (its default is ten), the longest HTTP
    caches are asked to honour."""

    FOREVER = ONE_YEAR
