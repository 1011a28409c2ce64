// Phone-number checks backed by libphonenumber (Debian's libphonenumber-dev): the number plans
// of every country, kept up to date by Google. Used by the pii.phone rule (classifier/pii_rules.h).
//
// Thread-safety: libphonenumber's PhoneNumberUtil is a process-wide singleton whose const
// methods may be called concurrently; these functions are safe to call from many threads.
// They never throw and accept any bytes (what does not parse is simply not a number).
#pragma once

#include <string_view>

namespace airlock::classifier::pii {

// `number` parses (in international form "+CC ...", or national form in `region`, an ISO 3166
// alpha-2 code) and is a valid number of that plan: a real area code / mobile prefix and
// length. Extensions ("x123", "ext. 12") are allowed. Region "ZZ" accepts international form
// only.
bool IsValidPhone(std::string_view number, const char* region);
// Like IsValidPhone, for the national form of any of a fixed list of ~50 common regions
// (Europe, the Americas, Asia-Pacific, Africa).
bool IsValidPhoneInSomeRegion(std::string_view number);
// `number` parses in `region` and has a length that the plan allows (weaker than valid).
bool IsPossiblePhone(std::string_view number, const char* region);
// IsPossiblePhone for any of the regions of IsValidPhoneInSomeRegion.
bool IsPossiblePhoneInSomeRegion(std::string_view number);

}  // namespace airlock::classifier::pii
