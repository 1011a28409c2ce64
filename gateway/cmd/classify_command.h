// `airlock classify`: assesses one request from a file or stdin and prints the findings.
//
//   airlock classify [FILE|-] [--json] [--policy POLICY.yaml]
//
// The classifier is Classifier::CreateDefault(), or with --policy the policy's own (built-in
// detectors plus the policy's `detectors` and `levels`; router/policy.h). The policy is
// loaded and validated in full except for target names, which only the gateway config knows:
// every `route` and `fallbacks` name in it is accepted. A policy that does not load is an error
// (its file:line:column message) and exit status 2.
//
// Input (FILE, or stdin when FILE is "-" or absent), at most kMaxClassifyInput bytes:
//   - JSON when its first byte that is not whitespace is '{': a ChatRequest in the protobuf
//     JSON mapping of the API (airlock/v1/gateway.proto), e.g.
//       {"messages": [{"role": "USER", "content": "mail bob@example.org"}],
//        "tools": [{"name": "send", "description": "..."}]}
//     Field names may be proto names or lowerCamelCase; enum names are case-insensitive
//     ("user" = "USER"); unknown fields are errors.
//   - otherwise UTF-8 text, taken as the content of one USER message.
// Bad input is an error on stderr and exit status 2: a file that cannot be read (the path
// and the system's reason), empty input, input over the size limit, binary input (a NUL or
// other control byte besides \t \n \v \f \r, or bytes that are not UTF-8; the offset is
// named), and JSON that does not parse as a ChatRequest (protobuf's reason).
//
// Output (stdout), exit status 0:
//   - a table, one row per finding in request order: level, category, detector, confidence,
//     location ("messages[0].content [5,20)": FieldPath and the byte span) and an excerpt of
//     the text around it in which the value is masked (MaskedExcerpt); then the overall level,
//     the number of findings, the estimated tokens, the difficulty and each of its signals;
//   - with --json, the Assessment as the API's v1::Assessment in protobuf JSON (proto field
//     names, every field printed), one object.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "airlock/v1/gateway.pb.h"
#include "classifier/assessment.h"
#include "classifier/classifier.h"
#include "router/policy.h"

namespace airlock::gateway::cli {

inline constexpr size_t kMaxClassifyInput = size_t{64} << 20;  // 64 MiB

// Parses input bytes as described above. `source` names the input in error messages
// ("request.json", "stdin"). INVALID_ARGUMENT for every kind of bad input.
absl::StatusOr<v1::ChatRequest> ParseClassifyInput(std::string_view bytes, std::string_view source);

// A one-line excerpt of the finding's field around the finding: up to kExcerptContext bytes
// on each side (cut at UTF-8 character boundaries, "..." where cut), the finding's value shown
// as its first characters and "***" (2 characters for values of 8 characters or more, 1 for
// 4 to 7, none below), any other finding's value in the context as "***", line breaks and
// tabs as spaces, other control bytes and bytes that are not UTF-8 as '?'. An empty string
// when the finding does not address a field of request.
inline constexpr size_t kExcerptContext = 16;
std::string MaskedExcerpt(const v1::ChatRequest& request, const classifier::Assessment& assessment,
                          size_t finding);

// The human-readable report (table and summary) described above.
std::string FormatAssessmentReport(const v1::ChatRequest& request,
                                   const classifier::Assessment& assessment);
// The --json output (with a trailing newline).
std::string AssessmentJson(const classifier::Assessment& assessment);

// Reads the input: the file at path, or stdin when path is "-" or empty. NOT_FOUND and the like
// (with the path and the system's reason) when it cannot be read.
absl::StatusOr<std::string> ReadClassifyInput(const std::string& path);

// The policy at path, loaded and validated in full except for target names: every `route` and
// `fallbacks` name in it is accepted (only the gateway config knows the targets).
absl::StatusOr<std::shared_ptr<const router::Policy>> LoadPolicyAnyTargets(const std::string& path);

// The classifier of the policy at path (see above).
absl::StatusOr<std::shared_ptr<const classifier::Classifier>> LoadPolicyClassifier(
    const std::string& path);

// Adds the `classify` subcommand to app. When it runs, its exit status is stored in
// *exit_code (which must outlive app's parsing).
void AddClassifyCommand(CLI::App& app, int* exit_code);

}  // namespace airlock::gateway::cli
