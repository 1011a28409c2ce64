// The secret-detector evaluation behind EvalSecrets (classifier/eval.h), with its inputs named.
//
// EvalSecrets(classifier, data_dir) runs three checks and returns one table per check plus its
// goal checks. Only findings whose category starts with "secret." count, so a classifier that
// also holds PII detectors is measured the same way.
//
// 1. noseyparker (data_dir/secrets/noseyparker-rules/*.yml, parsed with yaml-cpp): for every
//    rule of an in-scope provider (kNoseyParkerInScope in eval_secrets.cc; rules that find
//    identifiers or public values rather than secrets are listed as out of scope), each
//    `examples` entry must give at least one secret finding: goal recall >= 0.95. Each
//    `negative_examples` entry of an in-scope provider must give none: goal false-positive
//    rate <= 0.02. A negative entry that another noseyparker rule's own pattern matches (the
//    data set's negatives are per rule: "xoxb-..." is a negative of the bot-token rule and an
//    example of the legacy-bot-token rule) is a secret by the data set's own account; it is
//    left out of the rate and counted in its own column. noseyparker's patterns are compiled
//    with RE2 for this only (their (?x) layout and (?#...) comments are removed first).
// 2. detect-secrets (data_dir/secrets/detect-secrets/test_data/**): every file is scanned, and
//    the findings are compared line by line with a list of the real secrets and red herrings
//    in those files (kDetectSecretsExpectations in eval_secrets.cc, with how each was judged).
//    Goals: no red herring reported, and at least 0.83 of the real secrets found (15 of 18
//    when written; the misses, listed in the notes, are design limits: a low-entropy literal
//    under `secret`, values on the indented lines of a multi-line INI key, a value nested one
//    YAML level under `password:`).
// 3. Ordinary text (ordinary_dir/*: prose, source code and logs with no secrets in them):
//    secret findings per 10,000 words; goal <= 1.
//
// An unreadable or malformed data file is an error naming the file. A missing ordinary_dir
// leaves check 3 out with a note (no goal), so that an installed binary without the source
// tree still runs checks 1 and 2.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "classifier/eval.h"

namespace airlock::classifier {

// <source root>/tests/data/classifier/ordinary, the ordinary text that ships with the source.
std::string DefaultOrdinaryTextDir();

absl::StatusOr<EvalReport> EvalSecretsWith(const Classifier& classifier,
                                           const std::string& data_dir,
                                           const std::string& ordinary_dir);

// Rewrites a noseyparker (Vectorscan / Rust regex) pattern into RE2 syntax: drops the x flag
// and, under it, unescaped white space and # comments outside character classes; drops
// (?#...) comments; turns "\ " into a space and "\_" into "_"; clamps repetition counts to
// RE2's limit of 1000. Exposed for its test.
std::string NoseyParkerToRe2(const std::string& pattern);

}  // namespace airlock::classifier
