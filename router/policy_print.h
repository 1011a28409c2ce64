// The canonical form of a policy: PrintPolicy writes a parsed policy back as YAML that parses
// to the same compiled policy (EquivalentPolicies), whatever its original spelling.
//
// Canonical means: keys in the grammar's order (router/policy.h), block style, every string
// double-quoted, every default spelled out (`transform: none`, `case_sensitive: false`,
// `word_boundary: true`), terms files inlined as `terms`, term-list detectors before pattern
// detectors (each kind in the order written), and no comments. Printing the parse of a
// canonical text gives the same text back.
#pragma once

#include <string>

#include "router/policy.h"

namespace airlock::router {

std::string PrintPolicy(const Policy& policy);

// Whether a and b are the same compiled policy: the same rules in the same order (ids,
// descriptions, conditions, decisions; not their lines), the same default, the same detectors
// level overrides and model thresholds. Not compared: path, hash, files.
bool EquivalentPolicies(const Policy& a, const Policy& b);

}  // namespace airlock::router
