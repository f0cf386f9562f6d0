"""Benchmark: pattern convolution vs PyTorch dense on the VGG-16 3x3 layer shapes.

The benchmark lives in `patdnn.bench`; this script and `patdnn bench layers` run it.
    python benchmarks/layers.py [--repeat N] [--layers 0,2] [--vector-width W]
"""

from patdnn.bench import main

if __name__ == "__main__":
    main()
