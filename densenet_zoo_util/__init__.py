"""Standard-library helpers every layer of densenet-zoo shares.

``atomic`` (atomic file output), ``hashing`` (sha256 of a file in chunks) and
``lazy`` (package names imported on first use). This package imports nothing
of the project, so ``converters.t7``, the converters, the registry, training
and evaluation may all import it without an import pointing up.
"""
