// Safetensors: reading model weights in place (memory-mapped) and writing them.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON
// ({"NAME": {"dtype": "BF16", "shape": [..], "data_offsets": [BEGIN, END]}, "__metadata__":
// {...}}), then the data; offsets are relative to the data's start. SafetensorsFile checks the
// whole header on open: the length fits the file, the JSON parses, every entry has a dtype, a
// shape of non-negative integers and offsets inside the data whose size is the shape's
// element count times the dtype's size; and no two tensors overlap. A truncated file or one
// with a bad header is refused with a message naming the file and what is wrong (and the
// tensor, when one entry is at fault). Dtypes other than F32, F16 and BF16 are read as
// DType::kOther with their name kept (the binder refuses them by name).
//
// TensorStore is a model folder: `model.safetensors`, or the shards that
// `model.safetensors.index.json` ("weight_map": {NAME: FILE}) names; a tensor must be in the
// shard the index says. Tensors are looked up by name.
//
// Thread-safety: immutable after opening; the mapped data lives as long as the object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/dtype.h"

namespace airlock::engine {

struct Tensor {
  std::string name;
  DType dtype = DType::kOther;
  std::string dtype_name;  // as written in the file ("BF16", "F8_E4M3", ...)
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t bytes = 0;
  std::string file;  // the file it was read from

  int64_t elements() const;
};

// Element i of an F32, F16 or BF16 tensor as float (0 for another dtype, which the binder
// refuses).
inline float ElementAsFloat(const Tensor& t, size_t i) {
  uint16_t half;
  switch (t.dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, t.data + i * 4, 4);
      return v;
    }
    case DType::kBF16:
      std::memcpy(&half, t.data + i * 2, 2);
      return Bf16ToFloat(half);
    case DType::kF16:
      std::memcpy(&half, t.data + i * 2, 2);
      return F16ToFloat(half);
    case DType::kOther:
      break;
  }
  return 0.0f;
}

class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, Tensor> tensors_;
};

class TensorStore {
 public:
  // The model folder dir (see above). NOT_FOUND when it holds neither file.
  static absl::StatusOr<std::unique_ptr<TensorStore>> Open(const std::string& dir);

  const Tensor* Find(std::string_view name) const;  // nullptr when absent
  std::vector<std::string> names() const;
  size_t total_bytes() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const Tensor*, std::less<>> by_name_;
};

// A tensor to write: its bytes in dtype's little-endian layout, row-major.
struct TensorData {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes tensors to path in the safetensors format (header padded to 8 bytes, as the reference
// implementation does). INVALID_ARGUMENT when a tensor's bytes do not match its shape.
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorData>& tensors);

}  // namespace airlock::engine
