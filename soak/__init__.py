"""The soak harness: generated traffic delivered twice with faults on, then a redrive."""
