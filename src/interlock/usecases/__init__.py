"""Use cases: the manifest each one is declared in, the catalogue calls are bound through, its lifecycle
and the launch gate."""

from interlock.usecases.manifest import STATES, ManifestError, UseCase, load_directory, load_manifest

__all__ = ["STATES", "ManifestError", "UseCase", "load_directory", "load_manifest"]
