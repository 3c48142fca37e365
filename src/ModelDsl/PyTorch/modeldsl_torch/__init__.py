"""ModelDsl's blocks in PyTorch: the modules the generated twins (model.py) are built from.

Every module registers its parameters under the names the C# blocks use (timm's VisionTransformer names), and its
forward is the C# block's math, so a state_dict moves between the two unchanged. Written for PyTorch 1.13 and 2.x.
"""

from . import layers, safetensors_io

__all__ = ["layers", "safetensors_io"]
