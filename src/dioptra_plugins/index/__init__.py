"""Storage and documents of an index.

Local, S3 and HTTP storages, the root and project documents, the PEP 503 pages, the
compare-and-swap of the root and its history.  Writing an index is
:mod:`dioptra_plugins.publishing`'s.
"""
