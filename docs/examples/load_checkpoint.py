# A scouter checkpoint's weights as a PyTorch state_dict, under the published model's names.
# usage: python3 docs/examples/load_checkpoint.py RUN/checkpoints/epoch-NNNN.h5
import sys

import h5py
import numpy as np
import torch


def load_state_dict(path):
    # np.asarray: a 0-d dataset (BatchNorm's num_batches_tracked) reads as a NumPy scalar,
    # which torch.from_numpy refuses.
    with h5py.File(path, "r") as f:
        return {name: torch.from_numpy(np.asarray(d[()])) for name, d in f["model"].items()}


if __name__ == "__main__":
    for name, tensor in load_state_dict(sys.argv[1]).items():
        print(name, list(tensor.shape), tensor.dtype)
