// Reading the audit log back: query filters (time prefixes, comma lists, category globs),
// the table, and the HTML report (self-contained, escaped, charts, verification first).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "gateway/audit/audit_log.h"
#include "gateway/audit/query.h"
#include "gateway/audit/report.h"

namespace airlock::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

AuditRecord Record(const std::string& time, const std::string& tenant, const std::string& target,
                   const std::string& level, const std::string& outcome) {
  AuditRecord r;
  r.time = time;
  r.tenant = tenant;
  r.target = target;
  r.level = level;
  r.outcome = outcome;
  r.rule_id = outcome == "denied" ? "no-<email>" : "default";
  r.method = "Chat";
  if (level == "confidential") r.categories = {{"pii.email", 2}, {"secret.aws_access_key", 0}};
  if (outcome == "ok" && target == "onprem") r.fallbacks = {"frontier: not cleared"};
  return r;
}

TEST(AuditQueryTest, Filters) {
  AuditRecord r = Record("2026-11-24T12:30:00.000Z", "acme", "onprem", "confidential", "ok");
  EXPECT_TRUE(AuditQueryMatches({}, r));
  AuditQuery q;
  q.since = "2026-11-24";
  q.until = "2026-11-25";
  EXPECT_TRUE(AuditQueryMatches(q, r));
  q.since = "2026-11-24T12:31";
  EXPECT_FALSE(AuditQueryMatches(q, r));
  q = {};
  q.until = "2026-11-24T12:30:00.000Z";  // exclusive
  EXPECT_FALSE(AuditQueryMatches(q, r));
  q = {};
  q.tenant = "globex,acme";
  q.target = "onprem";
  q.level = "confidential";
  q.outcome = "ok";
  q.rule = "default";
  EXPECT_TRUE(AuditQueryMatches(q, r));
  q.outcome = "denied";
  EXPECT_FALSE(AuditQueryMatches(q, r));
  q = {};
  q.category = "pii.*";
  EXPECT_TRUE(AuditQueryMatches(q, r));
  q.category = "secret.*";  // a count of 0 is no finding
  EXPECT_FALSE(AuditQueryMatches(q, r));
  q.category = "pii.email";
  EXPECT_TRUE(AuditQueryMatches(q, r));
  q.category = "pii.e";
  EXPECT_FALSE(AuditQueryMatches(q, r));
}

TEST(AuditQueryTest, TimesMustBeRfc3339Prefixes) {
  for (const char* good : {"2026", "2026-11", "2026-11-24", "2026-11-24T12", "2026-11-24T12:30",
                           "2026-11-24T12:30:00", "2026-11-24T12:30:00.1Z", "2026-11-24Z"}) {
    AuditQuery q;
    q.since = good;
    EXPECT_TRUE(ValidateAuditQuery(q).ok()) << good;
  }
  for (const char* bad : {"yesterday", "2026-1", "26-11-24", "2026/11/24", "2026-11-24 12:00"}) {
    AuditQuery q;
    q.until = bad;
    absl::Status s = ValidateAuditQuery(q);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.message()), HasSubstr("--until"));
  }
}

TEST(AuditQueryTest, TableRow) {
  AuditRecord r = Record("2026-11-24T12:30:00.000Z", "acme", "", "public", "denied");
  r.seq = 12;
  EXPECT_THAT(AuditTableHeader(), HasSubstr("SEQ"));
  std::string row = AuditTableRow(r);
  EXPECT_THAT(row, HasSubstr("12 "));
  EXPECT_THAT(row, HasSubstr(" - "));  // no target
  EXPECT_THAT(row, HasSubstr("denied"));
}

class AuditReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/airlock-report-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(AuditReportTest, SelfContainedPageWithChartsAndVerificationFirst) {
  AuditConfig config;
  config.path = dir_ + "/audit.jsonl";
  {
    auto log = AuditLog::Open(config);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 40; ++i) {
      const std::string t = FormatRfc3339Millis(1795521600000 + i * 60000);
      (*log)->Append(Record(t, i % 2 ? "acme" : "<globex>", i % 3 ? "frontier" : "onprem",
                            i % 4 ? "public" : "confidential", i % 5 ? "ok" : "denied"));
    }
  }
  const AuditLogLayout layout = AuditLogLayout::ForLivePath(config.path);
  AuditKeyRing keys;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".pub") {
      ASSERT_TRUE(keys.AddPublicKeyFile(e.path()).ok());
    }
  }
  absl::StatusOr<AuditVerifyResult> v = VerifyAuditLog(layout, keys);
  ASSERT_TRUE(v.ok() && v->ok()) << v->Summary();
  absl::StatusOr<std::string> html = RenderAuditReport(layout, *v, {});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_THAT(*html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(*html, HasSubstr("Intact up to record 39"));
  EXPECT_LT(html->find("Verification"), html->find("Requests per target"));
  EXPECT_THAT(*html, HasSubstr("Requests per level"));
  EXPECT_THAT(*html, HasSubstr("Denials by rule"));
  EXPECT_THAT(*html, HasSubstr("no-&lt;email&gt;"));       // escaped
  EXPECT_THAT(*html, HasSubstr("Tenant &lt;globex&gt;"));  // escaped
  EXPECT_THAT(*html, Not(HasSubstr("<globex>")));
  EXPECT_THAT(*html, HasSubstr("frontier: not cleared"));
  EXPECT_THAT(*html, HasSubstr("<svg"));
  EXPECT_THAT(*html, Not(HasSubstr("<script")));
  EXPECT_THAT(*html, Not(HasSubstr("src=")));
  EXPECT_THAT(*html, Not(HasSubstr("href=")));

  // Problems are shown.
  AuditVerifyResult bad = *v;
  bad.problems.push_back({"unsigned-tail", "audit.jsonl", 10, 3, "records 3..4 <unsigned>"});
  html = RenderAuditReport(layout, bad, {});
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("class=\"bad\""));
  EXPECT_THAT(*html, HasSubstr("records 3..4 &lt;unsigned&gt;"));

  // A filter bounds what is counted.
  AuditQuery q;
  q.tenant = "acme";
  html = RenderAuditReport(layout, *v, q);
  ASSERT_TRUE(html.ok());
  EXPECT_THAT(*html, HasSubstr("20 matching records of 40"));
}

}  // namespace
}  // namespace airlock::gateway
