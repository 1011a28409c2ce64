#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/strings.h"
#include "nlohmann/json.hpp"

namespace airlock::engine {
namespace {

using Json = nlohmann::json;

// Headers larger than this are refused (the reference implementation's limit is 100 MB).
constexpr uint64_t kMaxHeader = uint64_t{100} << 20;

DType ParseDType(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  return DType::kOther;
}

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(Cat(path, ": ", what));
}

}  // namespace

int64_t Tensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(path, ": cannot open weights: ", std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::Status(absl::ErrnoToStatusCode(err), Cat(path, ": ", std::strerror(err)));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Bad(path, Cat("truncated: ", size, " bytes, not even the 8-byte header length"));
  }
  // MAP_POPULATE reads the file in and maps every page now, as llama.cpp does: otherwise the
  // first tokens fault pages in one by one (each expert's the first time it is chosen), and
  // decode speed depends on how long the model has run.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) {
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(path, ": cannot map weights: ", std::strerror(err)));
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->map_size_ = size;
  const auto* base = static_cast<const std::byte*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint64_t>(base[i]);
  if (header_len > kMaxHeader) {
    return Bad(path, Cat("header length ", header_len,
                         " is over the 100 MB limit (not a "
                         "safetensors file?)"));
  }
  if (header_len > size - 8) {
    return Bad(path, Cat("truncated: the header needs ", header_len, " bytes, the file has ",
                         size - 8, " after the length"));
  }
  Json header;
  try {
    header = Json::parse(std::string_view(reinterpret_cast<const char*>(base + 8), header_len));
  } catch (const Json::parse_error& e) {
    return Bad(path, Cat("header is not valid JSON: ", e.what()));
  }
  if (!header.is_object()) return Bad(path, "header is not a JSON object");
  const std::byte* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = Cat("tensor '", name, "': ");
    if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
        !entry.contains("shape") || !entry["shape"].is_array() || !entry.contains("data_offsets") ||
        !entry["data_offsets"].is_array() || entry["data_offsets"].size() != 2) {
      return Bad(path, where +
                           "expected {\"dtype\": ..., \"shape\": [...], \"data_offsets\": "
                           "[begin, end]}");
    }
    Tensor t;
    t.name = name;
    t.file = path;
    t.dtype_name = entry["dtype"].get<std::string>();
    t.dtype = ParseDType(t.dtype_name);
    for (const Json& d : entry["shape"]) {
      if (!d.is_number_unsigned()) return Bad(path, where + "shape holds " + d.dump());
      t.shape.push_back(d.get<int64_t>());
    }
    const Json& off = entry["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return Bad(path, where + "data_offsets must be two non-negative integers");
    }
    const auto begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return Bad(path, Cat(where, "data [", begin, ", ", end, ") is outside the ", data_size,
                           " bytes of data (truncated file?)"));
    }
    if (t.dtype != DType::kOther &&
        end - begin != static_cast<uint64_t>(t.elements()) * DTypeSize(t.dtype)) {
      return Bad(path, Cat(where, end - begin, " bytes of data for ", t.elements(), " ",
                           t.dtype_name, " elements"));
    }
    t.data = data + begin;
    t.bytes = end - begin;
    spans.emplace_back(begin, end);
    f->tensors_.emplace(name, std::move(t));
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) {
      return Bad(path, Cat("two tensors overlap at data offset ", spans[i].first));
    }
  }
  return f;
}

absl::StatusOr<std::unique_ptr<TensorStore>> TensorStore::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  auto store = std::unique_ptr<TensorStore>(new TensorStore());
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  std::error_code ec;
  if (fs::exists(index, ec)) {
    std::ifstream in(index, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    Json j;
    try {
      j = Json::parse(text.str());
    } catch (const Json::parse_error& e) {
      return Bad(index.string(), Cat("not valid JSON: ", e.what()));
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return Bad(index.string(), "weight_map: expected an object of tensor name to file");
    }
    std::map<std::string, SafetensorsFile*> opened;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string())
        return Bad(index.string(), Cat("weight_map: '", name, "': not a file"));
      const std::string shard = (fs::path(dir) / file.get<std::string>()).string();
      auto it = opened.find(shard);
      if (it == opened.end()) {
        auto f = SafetensorsFile::Open(shard);
        if (!f.ok()) return f.status();
        it = opened.emplace(shard, f->get()).first;
        store->files_.push_back(std::move(*f));
      }
      auto t = it->second->tensors().find(name);
      if (t == it->second->tensors().end()) {
        return Bad(index.string(),
                   Cat("tensor '", name, "' is not in ", shard, " where the weight_map puts it"));
      }
      store->by_name_[name] = &t->second;
    }
  } else if (fs::exists(single, ec)) {
    auto f = SafetensorsFile::Open(single.string());
    if (!f.ok()) return f.status();
    for (const auto& [name, t] : (*f)->tensors()) store->by_name_[name] = &t;
    store->files_.push_back(std::move(*f));
  } else {
    return absl::NotFoundError(Cat(dir, ": no model.safetensors or model.safetensors.index.json"));
  }
  return store;
}

const Tensor* TensorStore::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : by_name_) out.push_back(name);
  return out;
}

size_t TensorStore::total_bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : by_name_) n += t->bytes;
  return n;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorData>& tensors) {
  Json header = Json::object();
  uint64_t offset = 0;
  for (const TensorData& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (t.bytes.size() != static_cast<uint64_t>(n) * DTypeSize(t.dtype)) {
      return absl::InvalidArgumentError(
          Cat("tensor '", t.name, "': ", t.bytes.size(), " bytes for ", n, " elements"));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat(path, ": cannot write weights: ", std::strerror(err)));
  }
  uint64_t len = text.size();
  char len_bytes[8];
  for (char& b : len_bytes) {
    b = static_cast<char>(len & 0xff);
    len >>= 8;
  }
  out.write(len_bytes, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorData& t : tensors) {
    out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
  }
  out.flush();
  if (!out) return absl::DataLossError(Cat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace airlock::engine
