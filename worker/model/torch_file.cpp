// torch.save's zip layout: <archive>/data.pkl is a pickle (protocol 2) whose tensors refer, by
// persistent id ("storage", <torch.FloatStorage>, key, location, numel), to raw little-endian
// records <archive>/data/<key>. The unpickler below knows the opcodes such files use.
//
// Any bytes are safe (docs/models.md, "Limits"): every length is checked against the bytes left;
// the memory the objects take is counted as they are made and capped (kMaxObjectBytes), since a
// few bytes of pickle can make a large object (STACK_GLOBAL joins two strings, REDUCE gives a
// tensor as many dimensions as a memoized tuple holds); containers nest at most kMaxNesting deep
// and never hold themselves; the objects belong to one arena (PickleObjects), so freeing them
// never recurses, whatever the nesting.
#include "worker/model/torch_file.h"

#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <unordered_map>

#include "common/error.h"
#include "common/format.h"
#include "common/text.h"

namespace scouter {
namespace {

// A state_dict or a training checkpoint nests fewer than 10 containers deep (the published ones
// 5: checkpoint dict -> optimizer state_dict -> param_groups list -> group dict -> params list);
// 1,000 is 100 times that, and shallow enough for any code that walks the result recursively.
constexpr int kMaxNesting = 1000;
// The memory the objects may take (tensor data not counted: it is the file's own records). A
// tensor makes about 19 objects, ~2 KB (the published resnest26d checkpoint: 4,861 objects for 257
// tensors, under 1 MB); 256 MiB is some 2.5 million objects, over 100,000 tensors.
constexpr size_t kMaxObjectBytes = size_t{256} << 20;

// The Python values a state_dict pickle holds; anything else becomes an opaque kObject. Objects
// point to each other, never own each other: PickleObjects owns them all.
struct PyObj {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor, kObject };
  Kind kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;              // a string, or "module.name" of a global
  std::vector<PyObj*> items;  // tuple and list elements; a dict's keys and values, alternating
  PyObj* state = nullptr;     // an object's attributes: the dict BUILD gave it (referred, not copied)
  torch::Tensor tensor;       // a tensor, or a storage as a 1-d tensor of its dtype
  int depth = 0;              // containers nested in this one, itself included (0: no items yet)
  bool contained = false;     // in another one's items or state: from then on it never changes, so
                              // the depth of every object holding it stays right
};

// Every object of one pickle and the one STOP returned. Freed together, flat.
struct PickleObjects {
  std::deque<PyObj> all;
  PyObj* root = nullptr;
};

torch::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> kTypes = {
      {"torch.FloatStorage", torch::kFloat},   {"torch.HalfStorage", torch::kHalf},
      {"torch.BFloat16Storage", torch::kBFloat16}, {"torch.DoubleStorage", torch::kDouble},
      {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool}};
  auto it = kTypes.find(global);
  if (it == kTypes.end()) throw std::runtime_error("unsupported storage type " + global);
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const std::string& bytes, caffe2::serialize::PyTorchStreamReader& zip, PickleObjects& objects)
      : data_(bytes), zip_(zip), objects_(objects) {}

  PyObj* run() {
    while (true) {
      const auto op = read<uint8_t>();
      switch (op) {
        case 0x80: read<uint8_t>(); break;                    // PROTO
        case 0x95: read<uint64_t>(); break;                   // FRAME
        case '.': return pop();                               // STOP
        case '(': marks_.push_back(stack_.size()); break;     // MARK
        case '0': pop(); break;                               // POP
        case '1': pop_mark(); break;                          // POP_MARK
        case 'N': stack_.push_back(make(PyObj::kNone)); break;
        case 0x88: case 0x89: {                               // NEWTRUE, NEWFALSE
          auto o = make(PyObj::kBool);
          o->i = op == 0x88;
          stack_.push_back(o);
        } break;
        case 'J': push_int(read<int32_t>()); break;           // BININT
        case 'K': push_int(read<uint8_t>()); break;           // BININT1
        case 'M': push_int(read<uint16_t>()); break;          // BININT2
        case 0x8a: push_int(read_long(read<uint8_t>())); break;  // LONG1
        case 'G': {                                           // BINFLOAT, big-endian
          auto raw = read_bytes(8);
          std::reverse(raw.begin(), raw.end());
          auto o = make(PyObj::kFloat);
          std::memcpy(&o->f, raw.data(), 8);
          stack_.push_back(o);
        } break;
        case 'X': push_string(read_bytes(read<uint32_t>())); break;   // BINUNICODE
        case 0x8c: push_string(read_bytes(read<uint8_t>())); break;   // SHORT_BINUNICODE
        case 0x8d: push_string(read_bytes(read<uint64_t>())); break;  // BINUNICODE8
        case 'T': case 'B': push_string(read_bytes(read<uint32_t>())); break;  // BINSTRING, BINBYTES
        case 'U': case 'C': push_string(read_bytes(read<uint8_t>())); break;   // SHORT_BIN{STRING,BYTES}
        case ')': push_sequence(PyObj::kTuple, {}); break;    // EMPTY_TUPLE
        case 't': push_sequence(PyObj::kTuple, pop_mark()); break;
        case 0x85: case 0x86: case 0x87: {                    // TUPLE1..3
          std::vector<PyObj*> items(op - 0x84);
          for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
          push_sequence(PyObj::kTuple, items);
        } break;
        case ']': push_sequence(PyObj::kList, {}); break;     // EMPTY_LIST
        case 'l': push_sequence(PyObj::kList, pop_mark()); break;
        case 'a': {                                           // APPEND
          auto v = pop();
          add_items(*top(), {v});
        } break;
        case 'e': add_items(*top(), pop_mark()); break;       // APPENDS
        case 0x8f: push_sequence(PyObj::kList, {}); break;    // EMPTY_SET (kept as a list)
        case 0x90: add_items(*top(), pop_mark()); break;      // ADDITEMS
        case 0x91: push_sequence(PyObj::kList, pop_mark()); break;  // FROZENSET
        case '}': push_sequence(PyObj::kDict, {}); break;     // EMPTY_DICT
        case 'd': push_sequence(PyObj::kDict, pop_mark()); break;
        case 's': {                                           // SETITEM
          auto v = pop();
          auto k = pop();
          add_items(*top(), {k, v});
        } break;
        case 'u': add_items(*top(), pop_mark()); break;       // SETITEMS
        case 'c': {                                           // GLOBAL
          auto module = read_line();
          push_global(module + "." + read_line());
        } break;
        case 0x93: {                                          // STACK_GLOBAL
          auto name = pop();
          auto module = pop();
          charge(module->s.size() + 1 + name->s.size());
          push_global(module->s + "." + name->s);
        } break;
        case 'R': {                                           // REDUCE
          auto args = pop();
          auto callable = pop();
          stack_.push_back(reduce(*callable, *args));
        } break;
        case 0x81: {                                          // NEWOBJ: cls.__new__(cls, *args)
          pop();
          auto cls = pop();
          auto o = make(PyObj::kObject);
          o->s = cls->s;
          stack_.push_back(o);
        } break;
        case 'b': {                                           // BUILD: obj.__dict__.update(state)
          auto state = pop();
          // Kept for plain objects (argparse.Namespace: its attributes); tensors need none.
          if (top()->kind == PyObj::kObject && state->kind == PyObj::kDict) {
            adopt(*top(), {state});
            top()->state = state;
          }
        } break;
        case 'Q': stack_.push_back(load_storage(*pop())); break;  // BINPERSID
        case 'q': memo(read<uint8_t>()); break;               // BINPUT
        case 'r': memo(read<uint32_t>()); break;              // LONG_BINPUT
        case 0x94: memo(memo_.size()); break;                 // MEMOIZE
        case 'h': stack_.push_back(recall(read<uint8_t>())); break;   // BINGET
        case 'j': stack_.push_back(recall(read<uint32_t>())); break;  // LONG_BINGET
        default:
          throw std::runtime_error(str_format("unsupported pickle opcode 0x{:02x} at byte {}", static_cast<unsigned>(op), pos_ - 1));
      }
    }
  }

 private:
  template <typename T>
  T read() {
    T v;
    std::memcpy(&v, read_bytes(sizeof(T)).data(), sizeof(T));  // little-endian, as pickle's ints
    return v;
  }
  std::string read_bytes(uint64_t n) {
    if (n > data_.size() - pos_) throw std::runtime_error("the pickle ends early");
    std::string s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string read_line() {
    auto end = data_.find('\n', pos_);
    if (end == std::string::npos) throw std::runtime_error("the pickle ends early");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  int64_t read_long(size_t n) {
    if (n > 8) throw std::runtime_error("an integer wider than 64 bits");
    auto raw = read_bytes(n);
    uint64_t u = 0;
    for (size_t k = 0; k < n; ++k) u |= uint64_t{static_cast<uint8_t>(raw[k])} << (8 * k);
    if (n > 0 && n < 8 && (static_cast<uint8_t>(raw[n - 1]) & 0x80)) u |= ~uint64_t{0} << (8 * n);
    return static_cast<int64_t>(u);
  }
  PyObj* pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
      throw std::runtime_error("malformed pickle (stack underflow)");
    PyObj* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  PyObj* top() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle (empty stack)");
    return stack_.back();
  }
  std::vector<PyObj*> pop_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) throw std::runtime_error("malformed pickle (no mark)");
    std::vector<PyObj*> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void push_int(int64_t v) {
    auto o = make(PyObj::kInt);
    o->i = v;
    stack_.push_back(o);
  }
  void push_string(std::string s) {
    charge(s.size());
    auto o = make(PyObj::kString);
    o->s = std::move(s);
    stack_.push_back(o);
  }
  void push_global(std::string name) {
    auto o = make(PyObj::kGlobal);
    o->s = std::move(name);
    stack_.push_back(o);
  }
  void push_sequence(PyObj::Kind kind, const std::vector<PyObj*>& items) {
    auto o = make(kind);
    add_items(*o, items);
    stack_.push_back(o);
  }
  void charge(size_t bytes) {
    charged_ += bytes;
    if (charged_ > kMaxObjectBytes)
      throw std::runtime_error(str_format("its objects take more than {} MiB (the limit)", kMaxObjectBytes >> 20));
  }
  PyObj* make(PyObj::Kind kind) {
    charge(sizeof(PyObj));
    objects_.all.emplace_back().kind = kind;
    return &objects_.all.back();
  }
  void add_items(PyObj& to, const std::vector<PyObj*>& items) {
    adopt(to, items);
    charge(items.size() * sizeof(PyObj*));
    to.items.insert(to.items.end(), items.begin(), items.end());
  }
  // The one way an object gains others (a container built, appended to, updated; an object's
  // state). A container in another one may not change, and none may hold itself: so no cycle can
  // form, and a depth once counted stays right.
  static void adopt(PyObj& to, const std::vector<PyObj*>& items) {
    if (std::find(items.begin(), items.end(), &to) != items.end())
      throw std::runtime_error("a container holds itself (a self-referencing structure, which "
                               "no state_dict or checkpoint holds)");
    if (to.contained)
      throw std::runtime_error("a container changes after it was put in another one (a "
                               "self-referencing structure, which no state_dict or checkpoint holds)");
    int depth = 0;
    for (const PyObj* item : items) depth = std::max(depth, item->depth);
    if (depth >= kMaxNesting)
      throw std::runtime_error(str_format("it nests containers deeper than {} levels (the limit; a "
                                          "state_dict or checkpoint nests fewer than 10)", kMaxNesting));
    for (PyObj* item : items) item->contained = true;
    to.depth = std::max(to.depth, depth + 1);
  }
  void memo(uint64_t id) {
    if (memo_.find(id) == memo_.end()) charge(64);  // a hash node and its bucket
    memo_[id] = top();
  }
  PyObj* recall(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) throw std::runtime_error("malformed pickle (unknown memo entry)");
    return it->second;
  }

  static std::vector<int64_t> ints(const PyObj& tuple) {
    std::vector<int64_t> v;
    for (const auto& e : tuple.items) {
      if (e->kind != PyObj::kInt) throw std::runtime_error("a tensor size that is not an integer");
      v.push_back(e->i);
    }
    return v;
  }

  // The few callables a state_dict needs; any other call yields an opaque object.
  PyObj* reduce(const PyObj& callable, const PyObj& args) {
    const std::string& f = callable.s;
    if (f == "collections.OrderedDict") return make(PyObj::kDict);
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      if (args.items.size() < 4 || args.items[0]->kind != PyObj::kTensor)
        throw std::runtime_error("malformed tensor record");
      auto o = make(PyObj::kTensor);
      const auto sizes = ints(*args.items[2]), strides = ints(*args.items[3]);
      charge(sizeof(c10::TensorImpl) + (sizes.size() + strides.size()) * sizeof(int64_t));
      o->tensor = args.items[0]->tensor.as_strided(sizes, strides, args.items[1]->i);
      return o;
    }
    // LibTorch's pickler (torch::pickle_save, our export) tags typed containers:
    // restore_type_tag(dict, "Dict[str, Tensor]").
    if (f == "torch.jit._pickle.restore_type_tag") {
      if (args.items.empty()) throw std::runtime_error("malformed type tag");
      return args.items[0];
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (args.items.empty()) throw std::runtime_error("malformed parameter record");
      return args.items[0];
    }
    return make(PyObj::kObject);
  }

  // ("storage", <torch.XStorage>, key, location, numel) -> the record data/<key>.
  PyObj* load_storage(const PyObj& pid) {
    if (pid.items.size() < 5 || pid.items[0]->s != "storage")
      throw std::runtime_error("unsupported persistent id");
    const std::string& key = pid.items[2]->s;
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      const torch::ScalarType dtype = storage_dtype(pid.items[1]->s);
      const int64_t numel = pid.items[4]->i;
      at::DataPtr ptr;
      size_t size = 0;
      std::tie(ptr, size) = zip_.getRecord("data/" + key);
      // Checked before allocating: numel comes from the pickle, the record's size from the zip.
      const size_t item = c10::elementSize(dtype);
      if (numel < 0 || size % item != 0 || static_cast<uint64_t>(numel) != size / item)
        throw std::runtime_error(str_format("storage {} has {} bytes, expected {} elements of {} bytes",
                                            key, size, numel, item));
      torch::Tensor t = torch::empty({numel}, dtype);
      std::memcpy(t.data_ptr(), ptr.get(), size);
      it = storages_.emplace(key, t).first;
    }
    auto o = make(PyObj::kTensor);
    o->tensor = it->second;
    return o;
  }

  const std::string& data_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  PickleObjects& objects_;
  size_t charged_ = 0;  // bytes the objects take, as counted by charge()
  size_t pos_ = 0;
  std::vector<PyObj*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyObj*> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

const PyObj* dict_entry(const PyObj& dict, const std::string& key) {
  for (size_t k = 0; k + 1 < dict.items.size(); k += 2)
    if (dict.items[k]->kind == PyObj::kString && dict.items[k]->s == key) return dict.items[k + 1];
  return nullptr;
}


PyScalar scalar_of(const PyObj& o) {
  PyScalar v;
  switch (o.kind) {
    case PyObj::kNone: v.kind = PyScalar::kNone; v.text = "None"; break;
    case PyObj::kBool: v.kind = PyScalar::kBool; v.text = o.i ? "True" : "False"; break;
    case PyObj::kInt: v.kind = PyScalar::kInt; v.text = std::to_string(o.i); break;
    case PyObj::kFloat: v.kind = PyScalar::kFloat; v.text = str_format("{}", o.f); break;
    case PyObj::kString: v.kind = PyScalar::kString; v.text = o.s; break;
    default: v.kind = PyScalar::kNone; v.text = "";
  }
  return v;
}

// ---- The zip's central directory, checked before LibTorch's reader touches a record ----
// PyTorchStreamReader::getRecord allocates the size an entry declares and inflates a compressed
// entry into it, so a few KB could claim gigabytes (a zip bomb). torch.save stores every record
// uncompressed; so every entry must be stored (method 0), with equal compressed and uncompressed
// sizes that lie inside the file. Then no record can need more memory than the file's size.
uint64_t le(const std::string& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(b[at + static_cast<size_t>(i)]);
  return v;
}

void check_zip_entries(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return;  // LibTorch's reader says why
  const auto file_size = static_cast<uint64_t>(in.tellg());
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535, at the end.
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
  std::string tail(tail_size, '\0');
  in.seekg(static_cast<std::streamoff>(file_size - tail_size));
  in.read(tail.data(), static_cast<std::streamsize>(tail_size));
  size_t eocd = std::string::npos;
  for (size_t at = tail_size >= 22 ? tail_size - 22 + 1 : 0; at-- > 0;)
    if (le(tail, at, 4) == 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd == std::string::npos) throw std::runtime_error("not a zip archive (no end of central directory)");
  uint64_t entries = le(tail, eocd + 10, 2), cd_size = le(tail, eocd + 12, 4),
           cd_offset = le(tail, eocd + 16, 4);
  // ZIP64 (files over 4 GB): the real values are in the ZIP64 end record its locator points to.
  if ((entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) && eocd >= 20 &&
      le(tail, eocd - 20, 4) == 0x07064b50) {
    const uint64_t record = le(tail, eocd - 20 + 8, 8);
    if (record > file_size || file_size - record < 56) throw std::runtime_error("broken ZIP64 end record");
    std::string z(56, '\0');
    in.seekg(static_cast<std::streamoff>(record));
    in.read(z.data(), 56);
    if (le(z, 0, 4) != 0x06064b50) throw std::runtime_error("broken ZIP64 end record");
    entries = le(z, 32, 8);
    cd_size = le(z, 40, 8);
    cd_offset = le(z, 48, 8);
  }
  if (cd_offset > file_size || cd_size > file_size - cd_offset)
    throw std::runtime_error("its central directory lies outside the file");
  std::string cd(cd_size, '\0');
  in.seekg(static_cast<std::streamoff>(cd_offset));
  in.read(cd.data(), static_cast<std::streamsize>(cd_size));
  if (!in) throw std::runtime_error("cannot read its central directory");
  size_t at = 0;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > cd.size() || le(cd, at, 4) != 0x02014b50)
      throw std::runtime_error("its central directory is damaged");
    const uint64_t method = le(cd, at + 10, 2);
    uint64_t comp = le(cd, at + 20, 4), uncomp = le(cd, at + 24, 4);
    const size_t name_len = le(cd, at + 28, 2), extra_len = le(cd, at + 30, 2),
                 comment_len = le(cd, at + 32, 2);
    if (at + 46 + name_len + extra_len + comment_len > cd.size())
      throw std::runtime_error("its central directory is damaged");
    const std::string name = cd.substr(at + 46, name_len);
    // ZIP64 sizes: extra field 0x0001 holds the 8-byte values of the fields set to 0xffffffff.
    for (size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = le(cd, x, 2), len = le(cd, x + 2, 2);
      if (x + 4 + len > at + 46 + name_len + extra_len) break;
      if (id == 0x0001) {
        size_t v = x + 4;
        if (uncomp == 0xffffffff && v + 8 <= x + 4 + len) uncomp = le(cd, v, 8), v += 8;
        if (comp == 0xffffffff && v + 8 <= x + 4 + len) comp = le(cd, v, 8);
      }
      x += 4 + len;
    }
    if (method != 0)
      throw std::runtime_error(str_format("record '{}' is compressed (zip method {}); torch.save "
                                          "stores records uncompressed",
                                          printable(name, 80), method));
    if (comp != uncomp || uncomp > file_size)
      throw std::runtime_error(str_format("record '{}' claims {} bytes in a file of {}",
                                          printable(name, 80), uncomp, file_size));
    at += 46 + name_len + extra_len + comment_len;
  }
}

PickleObjects read_pickle_root(const std::string& path) {
  PickleObjects objects;
  try {
    check_zip_entries(path);
    caffe2::serialize::PyTorchStreamReader zip(path);
    at::DataPtr ptr;
    size_t size = 0;
    std::tie(ptr, size) = zip.getRecord("data.pkl");
    const std::string pickle(static_cast<const char*>(ptr.get()), size);
    objects.root = Unpickler(pickle, zip, objects).run();
  } catch (const std::exception& e) {
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));  // c10 errors append a backtrace
    throw UserError(str_format("cannot read '{}' as a torch.save file: {}", path, why),
                    "give a file written by torch.save (PyTorch >= 1.6) or a .safetensors file");
  }
  return objects;
}

NamedTensors state_dict_of(const PyObj& root, const std::string& path) {
  const PyObj* dict = &root;
  if (dict->kind == PyObj::kDict) {
    for (const char* key : {"model", "state_dict"}) {
      const PyObj* inner = dict_entry(*dict, key);
      if (inner && inner->kind == PyObj::kDict) {
        dict = inner;
        break;
      }
    }
  }
  NamedTensors out;
  if (dict->kind == PyObj::kDict)
    for (size_t k = 0; k + 1 < dict->items.size(); k += 2)
      if (dict->items[k]->kind == PyObj::kString && dict->items[k + 1]->kind == PyObj::kTensor)
        out[dict->items[k]->s] = dict->items[k + 1]->tensor;
  if (out.empty())
    throw UserError(str_format("'{}' holds no state_dict (a dict of tensors, or a dict with one "
                               "under \"model\" or \"state_dict\")", path),
                    "save the weights with torch.save(model.state_dict(), path)");
  return out;
}

}  // namespace

NamedTensors read_torch_file(const std::string& path) {
  return state_dict_of(*read_pickle_root(path).root, path);
}

TorchCheckpoint read_torch_checkpoint(const std::string& path) {
  const PickleObjects objects = read_pickle_root(path);
  const PyObj& root = *objects.root;
  TorchCheckpoint c;
  c.tensors = state_dict_of(root, path);
  if (root.kind != PyObj::kDict) return c;
  if (const PyObj* e = dict_entry(root, "epoch"); e && e->kind == PyObj::kInt) c.epoch = e->i;
  const PyObj* args = dict_entry(root, "args");
  if (args && args->kind == PyObj::kObject && args->state) args = args->state;  // its attributes
  if (!args || (args->kind != PyObj::kDict && args->kind != PyObj::kObject)) return c;
  for (size_t k = 0; k + 1 < args->items.size(); k += 2) {
    const PyObj& key = *args->items[k];
    const PyObj& value = *args->items[k + 1];
    if (key.kind != PyObj::kString) continue;
    if (value.kind <= PyObj::kString) c.args[key.s] = scalar_of(value);
  }
  return c;
}

}  // namespace scouter
