# The 16-float build of the same kernels (_native512.c): the same functions.
from edgerec.infer._native import *  # noqa: F403
