// Safetensors: what is written reads back in place; every kind of damaged file is refused
// with a message naming the file and, where one is at fault, the tensor.
#include "engine/safetensors.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace airlock::engine {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("safetensors_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static TensorData F32(const std::string& name, std::vector<int64_t> shape, float base) {
    TensorData t{name, DType::kF32, shape, {}};
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    for (int64_t i = 0; i < n; ++i) {
      const float v = base + static_cast<float>(i);
      t.bytes.append(reinterpret_cast<const char*>(&v), 4);
    }
    return t;
  }
  // A file whose header is `header` (padded) followed by `data`.
  std::string Raw(const std::string& header, const std::string& data, uint64_t len_override = 0) {
    const std::string path = (dir_ / "raw.safetensors").string();
    uint64_t len = len_override ? len_override : header.size();
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    std::ofstream(path, std::ios::binary) << bytes << header << data;
    return path;
  }
  std::string OpenError(const std::string& path) {
    auto f = SafetensorsFile::Open(path);
    EXPECT_FALSE(f.ok());
    return f.ok() ? "" : std::string(f.status().message());
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, WrittenTensorsReadBackInPlace) {
  const std::string path = (dir_ / "model.safetensors").string();
  TensorData h{"h", DType::kBF16, {3}, {}};
  for (float v : {1.0f, -2.5f, 0.15625f}) {
    const uint16_t b = FloatToBf16(v);
    h.bytes.append(reinterpret_cast<const char*>(&b), 2);
  }
  ASSERT_TRUE(WriteSafetensors(path, {F32("a.weight", {2, 3}, 10), h}).ok());
  auto f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const Tensor& a = (*f)->tensors().at("a.weight");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.bytes, 24u);
  float v[6];
  std::memcpy(v, a.data, sizeof v);
  EXPECT_EQ(v[0], 10.0f);
  EXPECT_EQ(v[5], 15.0f);
  const Tensor& b = (*f)->tensors().at("h");
  uint16_t raw[3];
  std::memcpy(raw, b.data, sizeof raw);
  EXPECT_EQ(Bf16ToFloat(raw[1]), -2.5f);
  EXPECT_EQ(Bf16ToFloat(raw[2]), 0.15625f);
  // The data begins 8-byte aligned, as the format's writers pad the header.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % 8, 0u);

  auto store = TensorStore::Open(dir_.string());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_NE((*store)->Find("a.weight"), nullptr);
  EXPECT_EQ((*store)->Find("nope"), nullptr);
  EXPECT_EQ((*store)->total_bytes(), 30u);
}

TEST_F(SafetensorsTest, ShardsFollowTheIndex) {
  ASSERT_TRUE(WriteSafetensors((dir_ / "s1.safetensors").string(), {F32("x", {2}, 0)}).ok());
  ASSERT_TRUE(WriteSafetensors((dir_ / "s2.safetensors").string(), {F32("y", {4}, 0)}).ok());
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"x": "s1.safetensors", "y": "s2.safetensors"}})";
  auto store = TensorStore::Open(dir_.string());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Find("y")->shape, std::vector<int64_t>{4});
  EXPECT_EQ((*store)->names(), (std::vector<std::string>{"x", "y"}));
  // The index puts a tensor in a shard that does not hold it.
  std::ofstream(dir_ / "model.safetensors.index.json")
      << R"({"weight_map": {"x": "s1.safetensors", "y": "s1.safetensors"}})";
  auto bad = TensorStore::Open(dir_.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("tensor 'y' is not in"), std::string::npos)
      << bad.status();
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  EXPECT_EQ(TensorStore::Open(dir_.string()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SafetensorsTest, DamagedFilesAreRefusedWithTheReason) {
  const std::string good = (dir_ / "good.safetensors").string();
  ASSERT_TRUE(WriteSafetensors(good, {F32("w", {4}, 0)}).ok());
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Truncated: the data ends early.
  const std::string cut = (dir_ / "cut.safetensors").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  EXPECT_NE(OpenError(cut).find("tensor 'w': data [0, 16) is outside the 13 bytes of data "
                                "(truncated file?)"),
            std::string::npos)
      << OpenError(cut);
  std::ofstream(cut, std::ios::binary | std::ios::trunc) << bytes.substr(0, 5);
  EXPECT_EQ(OpenError(cut), cut + ": truncated: 5 bytes, not even the 8-byte header length");
  std::ofstream(cut, std::ios::binary | std::ios::trunc) << bytes.substr(0, 20);
  EXPECT_NE(OpenError(cut).find(": truncated: the header needs "), std::string::npos);

  EXPECT_NE(OpenError(Raw("{\"w\": {\"dtype\": \"F32\"", "")).find("header is not valid JSON"),
            std::string::npos);
  EXPECT_NE(OpenError(Raw("{\"w\": {\"dtype\": \"F32\", \"shape\": [4]}}", ""))
                .find("tensor 'w': expected {\"dtype\""),
            std::string::npos);
  EXPECT_NE(OpenError(Raw(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}})",
                          std::string(16, '\0')))
                .find("tensor 'w': 12 bytes of data for 4 F32 elements"),
            std::string::npos);
  EXPECT_NE(OpenError(Raw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                          R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                          std::string(16, '\0')))
                .find("two tensors overlap at data offset 4"),
            std::string::npos);
  EXPECT_NE(OpenError(Raw("{}", "", uint64_t{1} << 40)).find("over the 100 MB limit"),
            std::string::npos);
  // A dtype the engine does not compute with is kept, by name, for the binder to refuse.
  auto other = SafetensorsFile::Open(
      Raw(R"({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", std::string(8, 'x')));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->tensors().at("w").dtype, DType::kOther);
  EXPECT_EQ((*other)->tensors().at("w").dtype_name, "I64");
  EXPECT_EQ(SafetensorsFile::Open((dir_ / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(DType, HalfPrecisionConversionsRoundToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(3.140625f)), 3.140625f);
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie: to even
  EXPECT_EQ(FloatToBf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);
  for (float v : {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f}) {
    EXPECT_EQ(F16ToFloat(FloatToF16(v)), v) << v;
  }
  EXPECT_EQ(FloatToF16(1.0f), 0x3c00);
  EXPECT_EQ(FloatToF16(1e6f), 0x7c00);                // overflow: infinity
  EXPECT_EQ(FloatToF16(1.0f + 1.0f / 2048), 0x3c00);  // tie: to even
  EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(std::nanf("")))));
}

}  // namespace
}  // namespace airlock::engine
