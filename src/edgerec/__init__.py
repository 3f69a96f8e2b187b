"""edgerec: real-time sequential recommendation for small edge nodes.

The flow is one way: data -> train -> artifact -> serve. Serving code (``infer``,
``artifact``) imports numpy only; PyTorch lives behind the ``train`` extra.
"""

from edgerec._blas import prefer_avx512_kernels

prefer_avx512_kernels()  # before anything loads numpy's OpenBLAS

__version__ = "0.1.0"

__all__ = ["__version__"]
