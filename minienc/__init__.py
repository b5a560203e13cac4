"""minienc: text encoders built three times — NumPy by hand, JAX with autodiff, Triton kernels.

Submodules are imported on use (`from minienc.numpy import linear`), so importing `minienc` stays
cheap and never pulls in torch or JAX.
"""

__version__ = "0.1.0"
