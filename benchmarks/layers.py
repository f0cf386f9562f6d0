"""Benchmark: patdnn against every installed dense peer on the VGG-16 3x3 layers.

The benchmark lives in `patdnn.bench`; this script and `patdnn bench layers` run it.
    python benchmarks/layers.py [--suite vgg|dense] [--layers 0,2] [--threads 1,2] [--repeat N]
"""

from patdnn.bench import main

if __name__ == "__main__":
    main()
