#include "classifier/pii_phone.h"

#include <string>

#include "phonenumbers/phonenumber.pb.h"
#include "phonenumbers/phonenumberutil.h"

namespace airlock::classifier::pii {
namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

constexpr const char* kRegions[] = {
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "IT", "ES",
    "PT", "DK", "SE", "NO", "FI", "IS", "PL", "CZ", "SK", "HU", "SI", "HR", "RO",
    "BG", "GR", "CY", "EE", "LV", "LT", "UA", "RU", "TR", "IL", "AU", "NZ", "JP",
    "KR", "CN", "IN", "SG", "PH", "BR", "MX", "AR", "CL", "CO", "UY", "ZA",
};

bool Parse(std::string_view number, const char* region, PhoneNumber* out) {
  if (number.size() > 64) return false;  // longer than any phone number with extension
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  return util.Parse(std::string(number), region, out) == PhoneNumberUtil::NO_PARSING_ERROR;
}

}  // namespace

bool IsValidPhone(std::string_view number, const char* region) {
  PhoneNumber parsed;
  return Parse(number, region, &parsed) && PhoneNumberUtil::GetInstance()->IsValidNumber(parsed);
}

bool IsValidPhoneInSomeRegion(std::string_view number) {
  for (const char* region : kRegions) {
    if (IsValidPhone(number, region)) return true;
  }
  return false;
}

bool IsPossiblePhone(std::string_view number, const char* region) {
  PhoneNumber parsed;
  return Parse(number, region, &parsed) && PhoneNumberUtil::GetInstance()->IsPossibleNumber(parsed);
}

bool IsPossiblePhoneInSomeRegion(std::string_view number) {
  for (const char* region : kRegions) {
    if (IsPossiblePhone(number, region)) return true;
  }
  return false;
}

}  // namespace airlock::classifier::pii
