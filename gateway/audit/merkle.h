// RFC 6962 / RFC 9162 Merkle trees over audit record lines.
//
//   leaf hash  = SHA-256(0x00 || line)           (the record's exact bytes, without '\n')
//   node hash  = SHA-256(0x01 || left || right)
//   MTH({})    = SHA-256("")
//
// MerkleTree keeps only the right edge of the tree (one hash per set bit of its size: O(log n)
// state) and can append and give the root at any size it has reached. The proof functions
// build inclusion and consistency proofs from the full list of leaf hashes and check them as
// RFC 9162 sections 2.1.3.2 and 2.1.4.2 specify; a check names what failed.
//
// Thread-safety: none of these types synchronize; functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace airlock::gateway {

using Sha256Hash = std::array<uint8_t, 32>;

Sha256Hash Sha256(std::string_view bytes);
Sha256Hash MerkleLeafHash(std::string_view line);
Sha256Hash MerkleNodeHash(const Sha256Hash& left, const Sha256Hash& right);
Sha256Hash MerkleEmptyRoot();

std::string HashToHex(const Sha256Hash& h);
// Exactly 64 hex digits (either case); INVALID_ARGUMENT naming `what` otherwise.
absl::StatusOr<Sha256Hash> HashFromHex(std::string_view hex, std::string_view what);

class MerkleTree {
 public:
  MerkleTree() = default;
  // Restores a tree of `size` leaves from its right edge (`frontier`, largest subtree first,
  // as frontier() returns it). INVALID_ARGUMENT when the count does not match size's bits.
  static absl::StatusOr<MerkleTree> FromFrontier(uint64_t size, std::vector<Sha256Hash> frontier);

  void AppendLeafHash(const Sha256Hash& leaf);
  void AppendLine(std::string_view line) { AppendLeafHash(MerkleLeafHash(line)); }
  uint64_t size() const { return size_; }
  Sha256Hash Root() const;
  // Roots of the perfect subtrees along the right edge, largest (leftmost) first.
  const std::vector<Sha256Hash>& frontier() const { return frontier_; }

 private:
  uint64_t size_ = 0;
  std::vector<Sha256Hash> frontier_;
};

// Root of leaves[begin, end) (RFC 6962 MTH).
Sha256Hash MerkleRootOf(const std::vector<Sha256Hash>& leaves, uint64_t begin, uint64_t end);

// Inclusion proof (audit path) for leaf `index` in the tree of the first `size` leaves.
// INVALID_ARGUMENT when index >= size or size > leaves.size().
absl::StatusOr<std::vector<Sha256Hash>> MerkleInclusionProof(const std::vector<Sha256Hash>& leaves,
                                                             uint64_t index, uint64_t size);
// Consistency proof between the trees of the first `size1` and `size2` leaves
// (0 < size1 <= size2 <= leaves.size(); empty when size1 == size2).
absl::StatusOr<std::vector<Sha256Hash>> MerkleConsistencyProof(
    const std::vector<Sha256Hash>& leaves, uint64_t size1, uint64_t size2);

// OK when `proof` shows that `leaf` is at `index` in the tree of `size` leaves with `root`.
absl::Status VerifyMerkleInclusion(uint64_t index, uint64_t size, const Sha256Hash& leaf,
                                   const std::vector<Sha256Hash>& proof, const Sha256Hash& root);
// OK when `proof` shows that the tree (size1, root1) is a prefix of (size2, root2).
absl::Status VerifyMerkleConsistency(uint64_t size1, uint64_t size2, const Sha256Hash& root1,
                                     const Sha256Hash& root2, const std::vector<Sha256Hash>& proof);

}  // namespace airlock::gateway
