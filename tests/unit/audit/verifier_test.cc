// The audit log's verifier: an intact log with several segments verifies; each kind of damage
// the issue lists is found and named (record, byte offset, kind); key rotation; a writer killed
// with SIGKILL during a burst; inclusion and consistency proofs made from a log and checked
// offline, and rejected when altered.
#include "gateway/audit/verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/audit/audit_log.h"
#include "nlohmann/json.hpp"

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}
std::vector<std::string> Lines(const std::string& data) {
  std::vector<std::string> out;
  std::istringstream in(data);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}
std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

AuditRecord Sample(int i) {
  AuditRecord r;
  r.request_id = "req-" + std::to_string(i);
  r.tenant = i % 3 == 0 ? "acme" : "globex";
  r.subject = "agent";
  r.method = "Chat";
  r.policy_hash = std::string(64, 'a');
  r.rule_id = i % 5 == 0 ? "deny-secrets" : "default";
  r.level = i % 2 ? "internal" : "confidential";
  r.categories = {{"pii.email", i % 4}};
  r.target = "onprem";
  r.transform = "none";
  r.outcome = i % 5 == 0 ? "denied" : "ok";
  r.status_code = "OK";
  r.total_ms = 1.5;
  r.content_hmac = std::string(64, 'f');
  return r;
}

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/airlock-verify-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.path = dir_ + "/audit.jsonl";
    config_.fsync = AuditConfig::Fsync::kBatch;
    config_.checkpoint_every_records = 5;
    config_.segment_max_bytes = 4096;  // about 8 records per segment
    auto id = WriteNewAuditKeyPair(dir_ + "/signer");
    ASSERT_TRUE(id.ok()) << id.status();
    config_.signing_key_file = dir_ + "/signer.key";
    ASSERT_TRUE(keys_.AddPublicKeyFile(dir_ + "/signer.pub").ok());
    layout_ = AuditLogLayout::ForLivePath(config_.path);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteLog(int n, int from = 0) {
    auto log = AuditLog::Open(config_);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = from; i < from + n; ++i) {
      (*log)->Append(Sample(i));
      if (i % 3 == 0) (*log)->Flush();  // several batches
    }
    (*log)->Close();
    ASSERT_TRUE((*log)->status().ok()) << (*log)->status();
  }
  AuditVerifyResult Verify(const AuditKeyRing* keys = nullptr) {
    auto r = VerifyAuditLog(layout_, keys ? *keys : keys_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AuditVerifyResult{};
  }
  static const AuditProblem& First(const AuditVerifyResult& r) {
    static const AuditProblem kNone{"none", "", 0, -1, ""};
    return r.problems.empty() ? kNone : r.problems.front();
  }
  // Sealed segment `index`'s lines, and the byte offset of each.
  std::vector<std::string> SegmentLines(uint64_t index) {
    return Lines(ReadFile(layout_.Sealed(index)));
  }

  std::string dir_;
  AuditConfig config_;
  AuditKeyRing keys_;
  AuditLogLayout layout_;
};

TEST_F(VerifierTest, AnIntactLogVerifiesUpToItsLastRecord) {
  WriteLog(40);
  AuditVerifyResult r = Verify();
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.records, 40u);
  EXPECT_EQ(r.verified, 40u);
  EXPECT_GE(r.segments, 4u);
  ASSERT_TRUE(r.verified_at.has_value());
  EXPECT_EQ(r.verified_at->reason, "shutdown");
  EXPECT_THAT(r.Summary(), HasSubstr("intact up to record 39 at checkpoint "));
  EXPECT_EQ(nlohmann::json::parse(r.ToJson())["verified_through_seq"], 39);
  // Reopening continues the tree and the chain.
  WriteLog(7, 40);
  r = Verify();
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.verified, 47u);
}

TEST_F(VerifierTest, OneFlippedBitInAnyRecordIsFoundAndNamed) {
  WriteLog(24);
  const std::string pristine_dir = dir_ + "/pristine";
  std::filesystem::create_directory(pristine_dir);
  absl::StatusOr<std::vector<AuditLogLayout::Segment>> segments = layout_.ListSegments();
  ASSERT_TRUE(segments.ok());
  for (const auto& seg : *segments) {
    const std::string original = ReadFile(seg.path);
    uint64_t offset = 0;
    int line_no = 0;
    for (const std::string& line : Lines(original)) {
      // One bit of one byte, a different place in each record.
      const size_t pos = (static_cast<size_t>(line_no) * 131 + 17) % line.size();
      std::string damaged = original;
      damaged[offset + pos] = static_cast<char>(damaged[offset + pos] ^ (1 << (line_no % 7)));
      if (damaged[offset + pos] == '\n') damaged[offset + pos] ^= 0x40;
      WriteFile(seg.path, damaged);
      AuditVerifyResult r = Verify();
      EXPECT_FALSE(r.ok()) << seg.path << " byte " << offset + pos;
      EXPECT_EQ(First(r).file, seg.path) << r.Summary();
      EXPECT_EQ(First(r).offset, offset) << r.Summary();
      WriteFile(seg.path, original);
      offset += line.size() + 1;
      ++line_no;
    }
  }
  EXPECT_TRUE(Verify().ok());
}

TEST_F(VerifierTest, ADeletedRecordIsMissing) {
  WriteLog(24);
  auto lines = SegmentLines(1);
  const std::string deleted = lines[2];
  lines.erase(lines.begin() + 2);
  WriteFile(layout_.Sealed(1), Join(lines));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "missing") << r.Summary();
  EXPECT_EQ(First(r).file, layout_.Sealed(1));
  EXPECT_EQ(First(r).offset, lines[0].size() + lines[1].size() + 2);
  EXPECT_THAT(First(r).message, HasSubstr("is missing"));
}

TEST_F(VerifierTest, TwoSwappedRecordsAreReordered) {
  WriteLog(24);
  auto lines = SegmentLines(0);
  std::swap(lines[3], lines[4]);
  WriteFile(layout_.Sealed(0), Join(lines));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "reordered") << r.Summary();
  EXPECT_EQ(First(r).offset, lines[0].size() + lines[1].size() + lines[2].size() + 3);
}

TEST_F(VerifierTest, ATruncatedSegmentIsFound) {
  WriteLog(24);
  // A sealed segment cut in the middle of a record.
  const std::string sealed = ReadFile(layout_.Sealed(0));
  WriteFile(layout_.Sealed(0), sealed.substr(0, sealed.size() - 40));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "truncated") << r.Summary();
  EXPECT_EQ(First(r).file, layout_.Sealed(0));
  WriteFile(layout_.Sealed(0), sealed);
  // The live segment cut at a record boundary: records the last checkpoint signed are gone.
  auto lines = Lines(ReadFile(layout_.live));
  ASSERT_GE(lines.size(), 2u);
  lines.pop_back();
  WriteFile(layout_.live, Join(lines));
  r = Verify();
  EXPECT_EQ(First(r).kind, "truncated") << r.Summary();
  EXPECT_THAT(First(r).message, HasSubstr("records 23..23 are missing"));
}

TEST_F(VerifierTest, AnAppendedForgedRecordIsAnUnsignedTail) {
  WriteLog(12);
  auto lines = Lines(ReadFile(layout_.live));
  AuditRecord forged = Sample(99);
  forged.seq = 12;
  forged.time = "2026-01-01T00:00:00.000Z";
  forged.prev = HashToHex(MerkleLeafHash(lines.back()));
  lines.push_back(EncodeAuditRecord(forged));
  const uint64_t offset = ReadFile(layout_.live).size();
  WriteFile(layout_.live, Join(lines));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "unsigned-tail") << r.Summary();
  EXPECT_EQ(First(r).seq, 12);
  EXPECT_EQ(First(r).offset, offset);
  EXPECT_EQ(r.verified, 12u);
}

TEST_F(VerifierTest, ACheckpointSignedByAnotherKeyIsWrongKey) {
  WriteLog(20);
  auto cps = Lines(ReadFile(layout_.checkpoints));
  ASSERT_GE(cps.size(), 3u);
  auto other = AuditSigner::Generate();
  ASSERT_TRUE(other.ok());
  AuditCheckpoint c = *DecodeCheckpoint(cps[1]);
  c.key_id = other->key_id();
  c.signature = other->Sign(CheckpointSignedBody(c));
  cps[1] = EncodeCheckpoint(c);
  WriteFile(layout_.checkpoints, Join(cps));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "wrong-key") << r.Summary();
  EXPECT_EQ(First(r).offset, cps[0].size() + 1);
  EXPECT_THAT(First(r).message, HasSubstr(other->key_id()));
  // An altered checkpoint that keeps its key id: its signature fails.
  c = *DecodeCheckpoint(Lines(ReadFile(layout_.checkpoints))[2]);
  cps = Lines(ReadFile(layout_.checkpoints));
  c.time = "2020-01-01T00:00:00.000Z";
  cps[2] = EncodeCheckpoint(c);
  WriteFile(layout_.checkpoints, Join(cps));
  r = Verify();
  bool bad_signature = false;
  for (const auto& p : r.problems) bad_signature |= p.kind == "bad-signature";
  EXPECT_TRUE(bad_signature) << r.Summary();
}

TEST_F(VerifierTest, ACheckpointInconsistentWithAnEarlierOneIsFound) {
  WriteLog(12);
  auto signer = AuditSigner::FromPrivateKeyFile(config_.signing_key_file);
  ASSERT_TRUE(signer.ok());
  auto cps = Lines(ReadFile(layout_.checkpoints));
  // A validly signed, correctly chained checkpoint whose tree is not the log's.
  AuditCheckpoint last = *DecodeCheckpoint(cps.back());
  AuditCheckpoint fork = last;
  fork.index = last.index + 1;
  fork.prev = CheckpointHash(last);
  fork.root = Sha256("another history");
  fork.signature = signer->Sign(CheckpointSignedBody(fork));
  cps.push_back(EncodeCheckpoint(fork));
  WriteFile(layout_.checkpoints, Join(cps));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "inconsistent-checkpoint") << r.Summary();
  // One that shrinks the tree.
  cps.pop_back();
  fork.size = last.size - 3;
  fork.root = last.root;
  fork.signature = signer->Sign(CheckpointSignedBody(fork));
  cps.push_back(EncodeCheckpoint(fork));
  WriteFile(layout_.checkpoints, Join(cps));
  r = Verify();
  EXPECT_EQ(First(r).kind, "inconsistent-checkpoint") << r.Summary();
  EXPECT_THAT(First(r).message, HasSubstr("smaller"));
}

TEST_F(VerifierTest, ADeletedCheckpointIsMissing) {
  WriteLog(20);
  auto cps = Lines(ReadFile(layout_.checkpoints));
  ASSERT_GE(cps.size(), 3u);
  cps.erase(cps.begin() + 1);
  WriteFile(layout_.checkpoints, Join(cps));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "missing-checkpoint") << r.Summary();
  EXPECT_EQ(First(r).offset, cps[0].size() + 1);
  // The first one deleted.
  WriteLog(1, 20);
  cps = Lines(ReadFile(layout_.checkpoints));
  cps.erase(cps.begin());
  WriteFile(layout_.checkpoints, Join(cps));
  r = Verify();
  EXPECT_EQ(First(r).kind, "missing-checkpoint") << r.Summary();
  EXPECT_EQ(First(r).offset, 0u);
}

TEST_F(VerifierTest, ADeletedWholeSegmentIsMissing) {
  WriteLog(40);
  ASSERT_TRUE(std::filesystem::exists(layout_.Sealed(2)));
  const std::string saved = ReadFile(layout_.Sealed(1));
  std::filesystem::remove(layout_.Sealed(1));
  AuditVerifyResult r = Verify();
  EXPECT_EQ(First(r).kind, "missing-segment") << r.Summary();
  EXPECT_THAT(First(r).message, HasSubstr("audit.000001.jsonl"));
  WriteFile(layout_.Sealed(1), saved);
  EXPECT_TRUE(Verify().ok());
  // The live segment deleted.
  std::filesystem::remove(layout_.live);
  r = Verify();
  EXPECT_EQ(First(r).kind, "missing-segment") << r.Summary();
}

TEST_F(VerifierTest, KeyRotationVerifiesWithBothPublicKeys) {
  WriteLog(10);
  ASSERT_TRUE(WriteNewAuditKeyPair(dir_ + "/second").ok());
  config_.signing_key_file = dir_ + "/second.key";
  WriteLog(10, 10);
  AuditKeyRing only_first = keys_;
  ASSERT_TRUE(keys_.AddPublicKeyFile(dir_ + "/second.pub").ok());
  AuditVerifyResult r = Verify();
  EXPECT_TRUE(r.ok()) << r.Summary();
  EXPECT_EQ(r.key_ids.size(), 2u);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_THAT(r.notes[0], HasSubstr("signing key rotated"));
  r = Verify(&only_first);
  EXPECT_EQ(First(r).kind, "wrong-key") << r.Summary();
  EXPECT_EQ(r.verified, 10u);
}

TEST_F(VerifierTest, AWriterKilledDuringABurstLosesNoAcknowledgedRecord) {
  config_.fsync = AuditConfig::Fsync::kEveryRecord;  // the strictest policy
  config_.checkpoint_every_records = 50;
  config_.segment_max_bytes = 64 * 1024;
  int acks[2];
  ASSERT_EQ(pipe(acks), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(acks[0]);
    auto log = AuditLog::Open(config_);
    if (!log.ok()) _exit(3);
    for (int i = 0;; ++i) {
      (*log)->Append(Sample(i));
      if (i % 4 == 3) {
        (*log)->Flush();  // records 0..i are durable: say so
        uint64_t n = static_cast<uint64_t>(i) + 1;
        if (write(acks[1], &n, sizeof(n)) != sizeof(n)) _exit(4);
      }
    }
  }
  close(acks[1]);
  uint64_t acked = 0, n = 0;
  while (acked < 300 && read(acks[0], &n, sizeof(n)) == sizeof(n)) acked = n;
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  while (read(acks[0], &n, sizeof(n)) == sizeof(n)) acked = n;
  close(acks[0]);
  ASSERT_TRUE(WIFSIGNALED(status));
  // A write torn by the crash (SIGKILL rarely tears one; a power cut would): half a record.
  const std::string live = ReadFile(layout_.live);
  if (!live.empty() && live.back() == '\n') {
    std::ofstream(layout_.live, std::ios::app) << R"({"seq":99999,"time":"2026-)";
  }

  AuditVerifyResult r = Verify();
  EXPECT_GE(r.records, acked) << r.Summary();  // no acknowledged record lost
  EXPECT_GE(r.verified, 250u);
  for (const AuditProblem& p : r.problems) {
    EXPECT_TRUE(p.kind == "unsigned-tail" || p.kind == "torn-tail") << r.Summary();
  }
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems.back().kind, "torn-tail") << r.Summary();
  EXPECT_EQ(r.problems.back().file, layout_.live);

  // The writer restarts: it reports the torn tail, signs what is complete, starts a segment.
  {
    auto log = AuditLog::Open(config_);
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_GT((*log)->torn_tail_bytes(), 0u);
    EXPECT_THAT((*log)->recovery_note(), HasSubstr("torn tail"));
    EXPECT_EQ((*log)->next_seq(), r.records);
    (*log)->Append(Sample(1));
  }
  AuditVerifyResult after = Verify();
  EXPECT_TRUE(after.ok()) << after.Summary();
  EXPECT_EQ(after.verified, r.records + 1);
  ASSERT_FALSE(after.notes.empty());
  EXPECT_THAT(after.notes.back(), HasSubstr("torn tail"));
}

TEST_F(VerifierTest, InclusionProofsCheckOfflineAndAlteredOnesFail) {
  WriteLog(21);
  for (uint64_t seq : {0, 1, 7, 13, 20}) {
    absl::StatusOr<std::string> proof = ProveAuditInclusion(layout_, keys_, seq);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_TRUE(CheckAuditProof(*proof, keys_).ok()) << seq;
  }
  EXPECT_EQ(ProveAuditInclusion(layout_, keys_, 21).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const nlohmann::json proof = nlohmann::json::parse(*ProveAuditInclusion(layout_, keys_, 7));
  auto rejects = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json p = proof;
    edit(p);
    return !CheckAuditProof(p.dump(), keys_).ok();
  };
  EXPECT_TRUE(rejects([](auto& p) {  // wrong-leaf
    std::string rec = p["record"];
    rec[rec.find("req-7")] = 'R';
    p["record"] = rec;
  }));
  EXPECT_TRUE(rejects([](auto& p) { p["leaf_hash"] = HashToHex(Sha256("x")); }));
  EXPECT_TRUE(rejects([](auto& p) { p["seq"] = 8; }));  // wrong-leaf-index
  EXPECT_TRUE(
      rejects([](auto& p) { p["path"].push_back(HashToHex(Sha256("g"))); }));    // trailing-garbage
  EXPECT_TRUE(rejects([](auto& p) { p["path"].erase(p["path"].size() - 1); }));  // truncated-proof
  EXPECT_TRUE(rejects([](auto& p) { p["root"] = HashToHex(Sha256("r")); }));     // wrong-root
  EXPECT_TRUE(rejects([](auto& p) { p["checkpoint"]["size"] = 30; }));           // bad-signature
  AuditKeyRing stranger;
  auto other = AuditSigner::Generate();
  ASSERT_TRUE(stranger.AddPublicKeyPem(other->PublicKeyPem(), "other").ok());
  EXPECT_FALSE(CheckAuditProof(proof.dump(), stranger).ok());  // wrong-key
  EXPECT_FALSE(CheckAuditProof("not json", keys_).ok());
}

TEST_F(VerifierTest, ConsistencyProofsBetweenCheckpoints) {
  WriteLog(21);
  AuditVerifyResult r = Verify();
  ASSERT_GE(r.good_checkpoints.size(), 3u);
  for (const AuditCheckpoint& a : r.good_checkpoints) {
    for (const AuditCheckpoint& b : r.good_checkpoints) {
      if (a.size == 0 || a.size > b.size) continue;
      absl::StatusOr<std::string> proof = ProveAuditConsistency(layout_, keys_, a.size, b.size);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(CheckAuditProof(*proof, keys_).ok()) << a.size << " -> " << b.size;
    }
  }
  nlohmann::json proof = nlohmann::json::parse(*ProveAuditConsistency(layout_, keys_, 5, 21));
  nlohmann::json p = proof;
  p["path"].push_back(HashToHex(Sha256("g")));  // trailing-garbage
  EXPECT_FALSE(CheckAuditProof(p.dump(), keys_).ok());
  p = proof;
  p["root_from"] = HashToHex(Sha256("r"));  // wrong-root
  EXPECT_FALSE(CheckAuditProof(p.dump(), keys_).ok());
  p = proof;
  p["from"] = 4;  // wrong-size
  EXPECT_FALSE(CheckAuditProof(p.dump(), keys_).ok());
  EXPECT_FALSE(ProveAuditConsistency(layout_, keys_, 5, 22).ok());
  EXPECT_FALSE(ProveAuditConsistency(layout_, keys_, 0, 5).ok());
}

}  // namespace
}  // namespace airlock::gateway
