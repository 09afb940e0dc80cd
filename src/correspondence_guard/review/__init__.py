"""The nightly review: where it reads mail (sources), the run itself, and its schedule."""
