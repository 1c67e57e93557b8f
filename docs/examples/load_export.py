# A model written by `scouter export RUN` (RUN/export/model.pth), loaded in PyTorch.
# usage: python3 docs/examples/load_export.py RUN/export/model.pth
# With the authors' code: SlotModel(args).load_state_dict(state, strict=True), args as the export
# log's "published args" line gives them.
import sys

import torch

if __name__ == "__main__":
    state = torch.load(sys.argv[1], map_location="cpu")
    for name, tensor in state.items():
        print(name, list(tensor.shape), tensor.dtype)
