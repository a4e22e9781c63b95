"""The test suite (a package, so that ``tests.events`` wins over an unrelated ``tests`` in site-packages)."""
