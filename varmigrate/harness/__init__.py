"""The runtime harness: the only package that imports torch (lazily, inside functions)."""
