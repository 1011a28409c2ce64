#include "gateway/audit/merkle.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <bit>

#include "absl/strings/str_cat.h"

namespace airlock::gateway {
namespace {

// Largest power of two strictly less than n (n >= 2).
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

void InclusionPath(const std::vector<Sha256Hash>& leaves, uint64_t index, uint64_t begin,
                   uint64_t end, std::vector<Sha256Hash>* out) {
  const uint64_t n = end - begin;
  if (n <= 1) return;
  const uint64_t k = SplitPoint(n);
  if (index < k) {
    InclusionPath(leaves, index, begin, begin + k, out);
    out->push_back(MerkleRootOf(leaves, begin + k, end));
  } else {
    InclusionPath(leaves, index - k, begin + k, end, out);
    out->push_back(MerkleRootOf(leaves, begin, begin + k));
  }
}

void SubProof(const std::vector<Sha256Hash>& leaves, uint64_t m, uint64_t begin, uint64_t end,
              bool whole, std::vector<Sha256Hash>* out) {
  const uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out->push_back(MerkleRootOf(leaves, begin, end));
    return;
  }
  const uint64_t k = SplitPoint(n);
  if (m <= k) {
    SubProof(leaves, m, begin, begin + k, whole, out);
    out->push_back(MerkleRootOf(leaves, begin + k, end));
  } else {
    SubProof(leaves, m - k, begin + k, end, false, out);
    out->push_back(MerkleRootOf(leaves, begin, begin + k));
  }
}

}  // namespace

Sha256Hash Sha256(std::string_view bytes) {
  Sha256Hash h;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h.data());
  return h;
}

Sha256Hash MerkleLeafHash(std::string_view line) {
  // One digest context per thread, reused: allocating one per leaf would cost more than the
  // hash of a short line.
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx c;
  const unsigned char prefix = 0x00;
  Sha256Hash h;
  EVP_DigestInit_ex(c.ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(c.ctx, &prefix, 1);
  EVP_DigestUpdate(c.ctx, line.data(), line.size());
  EVP_DigestFinal_ex(c.ctx, h.data(), nullptr);
  return h;
}

Sha256Hash MerkleNodeHash(const Sha256Hash& left, const Sha256Hash& right) {
  unsigned char buf[65];
  buf[0] = 0x01;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 33);
  Sha256Hash h;
  SHA256(buf, sizeof(buf), h.data());
  return h;
}

Sha256Hash MerkleEmptyRoot() { return Sha256(""); }

std::string HashToHex(const Sha256Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(64, '0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kHex[h[i] >> 4];
    out[2 * i + 1] = kHex[h[i] & 15];
  }
  return out;
}

absl::StatusOr<Sha256Hash> HashFromHex(std::string_view hex, std::string_view what) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Sha256Hash h{};
  bool ok = hex.size() == 64;
  for (size_t i = 0; ok && i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), ": expected 64 hex digits, got '",
                     std::string(hex.substr(0, 80)), hex.size() > 80 ? "...'" : "'"));
  }
  return h;
}

absl::StatusOr<MerkleTree> MerkleTree::FromFrontier(uint64_t size,
                                                    std::vector<Sha256Hash> frontier) {
  if (static_cast<uint64_t>(std::popcount(size)) != frontier.size()) {
    return absl::InvalidArgumentError(absl::StrCat("Merkle frontier: a tree of ", size,
                                                   " leaves has ", std::popcount(size),
                                                   " right-edge hashes, got ", frontier.size()));
  }
  MerkleTree t;
  t.size_ = size;
  t.frontier_ = std::move(frontier);
  return t;
}

void MerkleTree::AppendLeafHash(const Sha256Hash& leaf) {
  Sha256Hash h = leaf;
  // Each trailing 1 bit of the size is a perfect subtree of the height the new one reaches.
  for (uint64_t s = size_; s & 1; s >>= 1) {
    h = MerkleNodeHash(frontier_.back(), h);
    frontier_.pop_back();
  }
  frontier_.push_back(h);
  ++size_;
}

Sha256Hash MerkleTree::Root() const {
  if (frontier_.empty()) return MerkleEmptyRoot();
  Sha256Hash r = frontier_.back();
  for (size_t i = frontier_.size() - 1; i-- > 0;) r = MerkleNodeHash(frontier_[i], r);
  return r;
}

Sha256Hash MerkleRootOf(const std::vector<Sha256Hash>& leaves, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return MerkleEmptyRoot();
  if (n == 1) return leaves[begin];
  const uint64_t k = SplitPoint(n);
  return MerkleNodeHash(MerkleRootOf(leaves, begin, begin + k),
                        MerkleRootOf(leaves, begin + k, end));
}

absl::StatusOr<std::vector<Sha256Hash>> MerkleInclusionProof(const std::vector<Sha256Hash>& leaves,
                                                             uint64_t index, uint64_t size) {
  if (size > leaves.size() || index >= size) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof: leaf ", index,
                                                   " is not in a tree of ", size, " leaves (",
                                                   leaves.size(), " known)"));
  }
  std::vector<Sha256Hash> out;
  InclusionPath(leaves, index, 0, size, &out);
  return out;
}

absl::StatusOr<std::vector<Sha256Hash>> MerkleConsistencyProof(
    const std::vector<Sha256Hash>& leaves, uint64_t size1, uint64_t size2) {
  if (size1 == 0 || size1 > size2 || size2 > leaves.size()) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof: sizes ", size1, " and ",
                                                   size2,
                                                   " are not 0 < from <= to <= ", leaves.size()));
  }
  std::vector<Sha256Hash> out;
  if (size1 < size2) SubProof(leaves, size1, 0, size2, true, &out);
  return out;
}

absl::Status VerifyMerkleInclusion(uint64_t index, uint64_t size, const Sha256Hash& leaf,
                                   const std::vector<Sha256Hash>& proof, const Sha256Hash& root) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof: leaf index ", index, " is beyond tree size ", size));
  }
  uint64_t fn = index, sn = size - 1;
  Sha256Hash r = leaf;
  for (const Sha256Hash& p : proof) {
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inclusion proof: ", proof.size(), " hashes is too long for leaf ", index, " of ", size));
    }
    if ((fn & 1) || fn == sn) {
      r = MerkleNodeHash(p, r);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inclusion proof: ", proof.size(), " hashes is too short for leaf ", index, " of ", size));
  }
  if (r != root) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof: computed root ", HashToHex(r),
                                                   " is not the expected ", HashToHex(root)));
  }
  return absl::OkStatus();
}

absl::Status VerifyMerkleConsistency(uint64_t size1, uint64_t size2, const Sha256Hash& root1,
                                     const Sha256Hash& root2,
                                     const std::vector<Sha256Hash>& proof) {
  if (size2 < size1) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: size ", size2, " is smaller than ", size1));
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError("consistency proof: equal sizes need an empty proof");
    }
    if (root1 != root2) {
      return absl::InvalidArgumentError(
          absl::StrCat("consistency proof: two trees of size ", size1, " have different roots"));
    }
    return absl::OkStatus();
  }
  if (size1 == 0) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError("consistency proof: from size 0 needs an empty proof");
    }
    return absl::OkStatus();
  }
  if (proof.empty()) return absl::InvalidArgumentError("consistency proof: empty proof");
  std::vector<Sha256Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = size1 - 1, sn = size2 - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Sha256Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Sha256Hash& c = path[i];
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat("consistency proof: ", proof.size(),
                                                     " hashes is too long for sizes ", size1,
                                                     " and ", size2));
    }
    if ((fn & 1) || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      if (!(fn & 1)) {
        while (!(fn & 1) && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof: ", proof.size(),
                                                   " hashes is too short for sizes ", size1,
                                                   " and ", size2));
  }
  if (fr != root1) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: does not lead to the root of size ", size1));
  }
  if (sr != root2) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: does not lead to the root of size ", size2));
  }
  return absl::OkStatus();
}

}  // namespace airlock::gateway
