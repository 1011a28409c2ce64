// RFC 6962 Merkle trees: the reference roots of the Certificate Transparency test vectors,
// incremental roots against the recursive definition, inclusion and consistency proofs for
// every index and size pair of small trees, and the negative probes of transparency-dev's
// merkle/proof tests (named like theirs: wrong-leaf, trailing-garbage, ...).
#include "gateway/audit/merkle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace airlock::gateway {
namespace {

const std::vector<std::string> kLeaves = {
    std::string(""),
    std::string("\x00", 1),
    std::string("\x10"),
    std::string("\x20\x21"),
    std::string("\x30\x31"),
    std::string("\x40\x41\x42\x43"),
    std::string("\x50\x51\x52\x53\x54\x55\x56\x57"),
    std::string("\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f")};

// Roots of the first 1..8 leaves (certificate-transparency and transparency-dev vectors).
const char* const kRoots[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                              "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                              "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                              "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                              "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                              "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                              "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

std::vector<Sha256Hash> LeafHashes(size_t n) {
  std::vector<Sha256Hash> out;
  for (size_t i = 0; i < n; ++i) out.push_back(MerkleLeafHash("leaf " + std::to_string(i)));
  return out;
}

Sha256Hash Flip(Sha256Hash h) {
  h[0] ^= 1;
  return h;
}

TEST(MerkleTest, EmptyTreeRootIsSha256OfNothing) {
  EXPECT_EQ(HashToHex(MerkleTree().Root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(MerkleTest, ReferenceRoots) {
  MerkleTree t;
  std::vector<Sha256Hash> leaves;
  for (size_t i = 0; i < kLeaves.size(); ++i) {
    t.AppendLine(kLeaves[i]);
    leaves.push_back(MerkleLeafHash(kLeaves[i]));
    EXPECT_EQ(HashToHex(t.Root()), kRoots[i]) << "size " << i + 1;
    EXPECT_EQ(HashToHex(MerkleRootOf(leaves, 0, leaves.size())), kRoots[i]);
  }
}

TEST(MerkleTest, FrontierRestoresTheTree) {
  const auto leaves = LeafHashes(37);
  MerkleTree t;
  for (size_t i = 0; i < 20; ++i) t.AppendLeafHash(leaves[i]);
  absl::StatusOr<MerkleTree> copy = MerkleTree::FromFrontier(t.size(), t.frontier());
  ASSERT_TRUE(copy.ok()) << copy.status();
  for (size_t i = 20; i < leaves.size(); ++i) {
    t.AppendLeafHash(leaves[i]);
    copy->AppendLeafHash(leaves[i]);
  }
  EXPECT_EQ(copy->Root(), t.Root());
  EXPECT_EQ(t.Root(), MerkleRootOf(leaves, 0, leaves.size()));
  EXPECT_FALSE(MerkleTree::FromFrontier(20, {}).ok());
}

TEST(MerkleTest, EveryInclusionProofOfSmallTreesVerifies) {
  const auto leaves = LeafHashes(70);
  for (uint64_t size = 1; size <= leaves.size(); ++size) {
    const Sha256Hash root = MerkleRootOf(leaves, 0, size);
    for (uint64_t i = 0; i < size; ++i) {
      auto proof = MerkleInclusionProof(leaves, i, size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyMerkleInclusion(i, size, leaves[i], *proof, root).ok())
          << i << " of " << size;
    }
  }
}

TEST(MerkleTest, EveryConsistencyProofOfSmallTreesVerifies) {
  const auto leaves = LeafHashes(40);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      auto proof = MerkleConsistencyProof(leaves, m, n);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(VerifyMerkleConsistency(m, n, MerkleRootOf(leaves, 0, m),
                                          MerkleRootOf(leaves, 0, n), *proof)
                      .ok())
          << m << " -> " << n;
    }
  }
}

TEST(MerkleTest, ProofRequestsOutOfRangeAreErrors) {
  const auto leaves = LeafHashes(5);
  EXPECT_FALSE(MerkleInclusionProof(leaves, 5, 5).ok());
  EXPECT_FALSE(MerkleInclusionProof(leaves, 0, 6).ok());
  EXPECT_FALSE(MerkleConsistencyProof(leaves, 0, 3).ok());
  EXPECT_FALSE(MerkleConsistencyProof(leaves, 4, 3).ok());
  EXPECT_FALSE(MerkleConsistencyProof(leaves, 3, 6).ok());
  EXPECT_FALSE(HashFromHex("abc", "x").ok());
  EXPECT_FALSE(HashFromHex(std::string(64, 'g'), "x").ok());
}

// transparency-dev/merkle proof/verify_test.go corruptInclusionProof, one test per probe.
class InclusionProbeTest : public ::testing::TestWithParam<std::pair<uint64_t, uint64_t>> {
 protected:
  void SetUp() override {
    leaves_ = LeafHashes(16);
    std::tie(index_, size_) = GetParam();
    root_ = MerkleRootOf(leaves_, 0, size_);
    proof_ = *MerkleInclusionProof(leaves_, index_, size_);
    ASSERT_TRUE(VerifyMerkleInclusion(index_, size_, leaves_[index_], proof_, root_).ok());
  }
  bool Rejects(uint64_t index, uint64_t size, const Sha256Hash& leaf,
               const std::vector<Sha256Hash>& proof, const Sha256Hash& root) {
    return !VerifyMerkleInclusion(index, size, leaf, proof, root).ok();
  }
  std::vector<Sha256Hash> leaves_;
  uint64_t index_ = 0, size_ = 0;
  Sha256Hash root_{};
  std::vector<Sha256Hash> proof_;
};

TEST_P(InclusionProbeTest, WrongLeaf) {
  EXPECT_TRUE(Rejects(index_, size_, Flip(leaves_[index_]), proof_, root_));
}
TEST_P(InclusionProbeTest, WrongLeafIndex) {
  if (index_ > 0) {
    EXPECT_TRUE(Rejects(index_ - 1, size_, leaves_[index_], proof_, root_));
  }
  EXPECT_TRUE(Rejects(index_ + 1, size_, leaves_[index_], proof_, root_));
  EXPECT_TRUE(Rejects(index_ ^ 2, size_, leaves_[index_], proof_, root_));
}
TEST_P(InclusionProbeTest, WrongTreeSize) {
  EXPECT_TRUE(Rejects(index_, size_ * 2, leaves_[index_], proof_, root_));
  if (size_ / 2 > index_) {
    EXPECT_TRUE(Rejects(index_, size_ / 2, leaves_[index_], proof_, root_));
  }
}
TEST_P(InclusionProbeTest, WrongRoot) {
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], proof_, Flip(root_)));
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], proof_, Sha256Hash{}));
}
TEST_P(InclusionProbeTest, TrailingGarbage) {
  auto p = proof_;
  p.push_back(Sha256("garbage"));
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], p, root_));
  p = proof_;
  p.push_back(root_);  // "trailing root"
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], p, root_));
}
TEST_P(InclusionProbeTest, PrecedingGarbage) {
  auto p = proof_;
  p.insert(p.begin(), Sha256("garbage"));
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], p, root_));
}
TEST_P(InclusionProbeTest, TruncatedProof) {
  if (proof_.empty()) return;
  auto p = proof_;
  p.pop_back();
  EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], p, root_));
}
TEST_P(InclusionProbeTest, ModifiedProofElement) {
  for (size_t i = 0; i < proof_.size(); ++i) {
    auto p = proof_;
    p[i] = Flip(p[i]);
    EXPECT_TRUE(Rejects(index_, size_, leaves_[index_], p, root_)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Probes, InclusionProbeTest,
    ::testing::Values(std::pair<uint64_t, uint64_t>{0, 1}, std::pair<uint64_t, uint64_t>{0, 2},
                      std::pair<uint64_t, uint64_t>{1, 2}, std::pair<uint64_t, uint64_t>{2, 3},
                      std::pair<uint64_t, uint64_t>{3, 8}, std::pair<uint64_t, uint64_t>{5, 7},
                      std::pair<uint64_t, uint64_t>{6, 13}, std::pair<uint64_t, uint64_t>{15, 16}));

// corruptConsistencyProof probes.
class ConsistencyProbeTest : public ::testing::TestWithParam<std::pair<uint64_t, uint64_t>> {
 protected:
  void SetUp() override {
    leaves_ = LeafHashes(16);
    std::tie(m_, n_) = GetParam();
    root1_ = MerkleRootOf(leaves_, 0, m_);
    root2_ = MerkleRootOf(leaves_, 0, n_);
    proof_ = *MerkleConsistencyProof(leaves_, m_, n_);
    ASSERT_TRUE(VerifyMerkleConsistency(m_, n_, root1_, root2_, proof_).ok());
  }
  bool Rejects(uint64_t m, uint64_t n, const Sha256Hash& r1, const Sha256Hash& r2,
               const std::vector<Sha256Hash>& p) {
    return !VerifyMerkleConsistency(m, n, r1, r2, p).ok();
  }
  std::vector<Sha256Hash> leaves_;
  uint64_t m_ = 0, n_ = 0;
  Sha256Hash root1_{}, root2_{};
  std::vector<Sha256Hash> proof_;
};

TEST_P(ConsistencyProbeTest, WrongSize1) {
  if (m_ > 1) {
    EXPECT_TRUE(Rejects(m_ - 1, n_, root1_, root2_, proof_));
  }
  if (m_ + 1 < n_) {
    EXPECT_TRUE(Rejects(m_ + 1, n_, root1_, root2_, proof_));
  }
  if ((m_ ^ 2) < n_ && (m_ ^ 2) > 0) {
    EXPECT_TRUE(Rejects(m_ ^ 2, n_, root1_, root2_, proof_));
  }
}
TEST_P(ConsistencyProbeTest, WrongSize2) {
  EXPECT_TRUE(Rejects(m_, n_ * 2, root1_, root2_, proof_));
  if (n_ / 2 > m_) {
    EXPECT_TRUE(Rejects(m_, n_ / 2, root1_, root2_, proof_));
  }
}
TEST_P(ConsistencyProbeTest, WrongRoots) {
  EXPECT_TRUE(Rejects(m_, n_, Flip(root1_), root2_, proof_));
  EXPECT_TRUE(Rejects(m_, n_, root1_, Flip(root2_), proof_));
  EXPECT_TRUE(Rejects(m_, n_, root2_, root1_, proof_));
}
TEST_P(ConsistencyProbeTest, TrailingGarbage) {
  for (const Sha256Hash& extra : {Sha256("garbage"), root1_, root2_}) {
    auto p = proof_;
    p.push_back(extra);
    EXPECT_TRUE(Rejects(m_, n_, root1_, root2_, p));
  }
}
TEST_P(ConsistencyProbeTest, PrecedingGarbage) {
  for (const Sha256Hash& extra : {Sha256("garbage"), root1_, root2_}) {
    auto p = proof_;
    p.insert(p.begin(), extra);
    EXPECT_TRUE(Rejects(m_, n_, root1_, root2_, p));
  }
}
TEST_P(ConsistencyProbeTest, TruncatedProof) {
  auto p = proof_;
  p.pop_back();
  EXPECT_TRUE(Rejects(m_, n_, root1_, root2_, p));
}
TEST_P(ConsistencyProbeTest, ModifiedProofElement) {
  for (size_t i = 0; i < proof_.size(); ++i) {
    auto p = proof_;
    p[i] = Flip(p[i]);
    EXPECT_TRUE(Rejects(m_, n_, root1_, root2_, p)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Probes, ConsistencyProbeTest,
    ::testing::Values(std::pair<uint64_t, uint64_t>{1, 2}, std::pair<uint64_t, uint64_t>{1, 8},
                      std::pair<uint64_t, uint64_t>{3, 7}, std::pair<uint64_t, uint64_t>{4, 8},
                      std::pair<uint64_t, uint64_t>{6, 15}, std::pair<uint64_t, uint64_t>{7, 16}));

}  // namespace
}  // namespace airlock::gateway
