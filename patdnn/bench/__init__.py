from patdnn.bench.core import *  # noqa
