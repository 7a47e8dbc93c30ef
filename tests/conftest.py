"""Test-wide settings: the CUDA target runs under Numba's simulator unless a real GPU run is asked for."""
import os

# Must be set before numba.cuda is first imported. SYMGRAPH_REAL_GPU=1 runs the CUDA tests on a real GPU.
if os.environ.get("SYMGRAPH_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
