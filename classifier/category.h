// Category names and category globs, shared by the classifier's level overrides and by the
// policy language.
//
// A category is a dotted lower-case name of at least two segments: "pii.email",
// "secret.aws_access_key", "custom.project". Each segment starts with a letter a-z and goes on
// with a-z, 0-9, '_' or '-'.
//
// A category glob is a category in which '*' stands for any run of characters, dots included,
// possibly empty: "secret.*" matches "secret.jwt" and "secret.aws.key" (not "secret"), "*.email"
// matches "pii.email", "*" matches every category. Apart from '*', a glob may hold only the
// characters of a category (a-z, 0-9, '_', '-', '.'); there is no '?' and no character class.
// Matching is case-sensitive.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace airlock::classifier {

// True when name is a category as described above.
bool IsValidCategory(std::string_view name);
// OK, or INVALID_ARGUMENT saying what is wrong ("empty glob", "character 'X' at offset 3 ...").
absl::Status ValidateCategoryGlob(std::string_view glob);
bool CategoryGlobMatches(std::string_view glob, std::string_view category);
// The number of characters of the glob that are not '*': the more, the more specific.
// A glob without '*' (an exact category) is more specific than any glob with one; see
// Classifier's level overrides.
int CategoryGlobSpecificity(std::string_view glob);

}  // namespace airlock::classifier
