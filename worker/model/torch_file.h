// Tensors of a file written by Python's torch.save (the zip format of PyTorch >= 1.6): a dict of
// tensors (a state_dict) or a training checkpoint holding one under "model" or "state_dict".
// LibTorch's torch::pickle_load cannot read these: it turns an OrderedDict, the type of every
// state_dict, into None. So the pickle is read by a small restricted unpickler that builds only
// containers, numbers, strings and tensors; nothing in the file is executed.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace scouter {

using NamedTensors = std::map<std::string, torch::Tensor>;

// The state_dict's tensors by key, in the file's dtypes, on the CPU; other entries (numbers,
// strings, unknown objects) are skipped. UserError naming the file when it cannot be read.
NamedTensors read_torch_file(const std::string& path);

// A scalar of the checkpoint's "args" (an argparse.Namespace or a dict): Python's None, bool, int,
// float or str, with its text as Python would print it (True/False for bools).
struct PyScalar {
  enum Kind { kNone, kBool, kInt, kFloat, kString } kind = kNone;
  std::string text;
};

// A training checkpoint of the published code, {"model": state_dict, "optimizer", "lr_scheduler",
// "epoch", "args": argparse.Namespace}, or a bare state_dict (then args is empty and epoch -1).
struct TorchCheckpoint {
  NamedTensors tensors;
  std::map<std::string, PyScalar> args;  // scalar entries of "args"; lists and objects skipped
  int64_t epoch = -1;                    // "epoch" as saved (the published code: 0-based index)
};
TorchCheckpoint read_torch_checkpoint(const std::string& path);

}  // namespace scouter
