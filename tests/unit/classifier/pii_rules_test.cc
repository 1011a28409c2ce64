#include "classifier/pii_rules.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/pii_checks.h"
#include "classifier/pii_names.h"
#include "classifier/pii_phone.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace airlock::classifier {
namespace {

using Strings = std::vector<std::string>;

const PatternSetDetector& Rules() {
  static const PatternSetDetector* const detector = [] {
    auto d = PatternSetDetector::Create("pii", PiiPatternRules());
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? d->release() : nullptr;
  }();
  return *detector;
}

// The substrings of text found with `category` by the PII rules and context detectors.
Strings Found(std::string_view text, std::string_view category) {
  std::vector<Match> matches;
  Rules().Scan(text, &matches);
  for (const auto& d : PiiContextDetectors()) d->Scan(text, &matches);
  Strings out;
  for (const Match& m : matches) {
    EXPECT_LT(m.begin, m.end);
    EXPECT_LE(m.end, text.size());
    if (m.category == category) out.emplace_back(text.substr(m.begin, m.end - m.begin));
  }
  return out;
}

TEST(PiiRules, EveryRuleHasANameCategoryAndDocumentedLevel) {
  const std::vector<PatternRule> rules = PiiPatternRules();
  ASSERT_GE(rules.size(), 9u);
  for (const PatternRule& r : rules) {
    EXPECT_FALSE(r.name.empty());
    EXPECT_EQ(r.category.rfind("pii.", 0), 0u) << r.category;
    const bool restricted =
        r.category == "pii.credit_card" || r.category == "pii.iban" || r.category == "pii.us_ssn";
    const Level expected = restricted                        ? Level::kRestricted
                           : r.category == "pii.mac_address" ? Level::kInternal
                                                             : Level::kConfidential;
    EXPECT_EQ(r.level, expected) << r.category;
  }
  EXPECT_EQ(PiiContextDetectors().size(), 1u);
}

TEST(PiiChecks, Luhn) {
  EXPECT_TRUE(pii::LuhnValid("4111111111111111"));
  EXPECT_TRUE(pii::LuhnValid("79927398713"));
  EXPECT_FALSE(pii::LuhnValid("4111111111111112"));
  EXPECT_FALSE(pii::LuhnValid(""));
  EXPECT_FALSE(pii::LuhnValid("4111-1111"));
}

TEST(PiiChecks, CardIssuers) {
  EXPECT_TRUE(pii::KnownCardIssuer("4111111111111111"));   // Visa 16
  EXPECT_TRUE(pii::KnownCardIssuer("5500000000000004"));   // Mastercard
  EXPECT_TRUE(pii::KnownCardIssuer("2221000000000009"));   // Mastercard 2-series
  EXPECT_TRUE(pii::KnownCardIssuer("378282246310005"));    // Amex 15
  EXPECT_TRUE(pii::KnownCardIssuer("6011111111111117"));   // Discover
  EXPECT_TRUE(pii::KnownCardIssuer("3530111333300000"));   // JCB
  EXPECT_FALSE(pii::KnownCardIssuer("41111111111111"));    // Visa with 14 digits
  EXPECT_FALSE(pii::KnownCardIssuer("37828224631000"));    // Amex with 14 digits
  EXPECT_FALSE(pii::KnownCardIssuer("9111111111111111"));  // no such issuer
}

TEST(PiiChecks, Iban) {
  EXPECT_TRUE(pii::IbanValid("GB82WEST12345698765432"));
  EXPECT_TRUE(pii::IbanValid("gb82west12345698765432"));
  EXPECT_TRUE(pii::IbanValid("DE89370400440532013000"));
  EXPECT_FALSE(pii::IbanValid("GB82WEST12345698765433"));  // checksum
  EXPECT_FALSE(pii::IbanValid("DE8937040044053201300"));   // length for DE
  EXPECT_FALSE(pii::IbanValid("QQ82WEST12345698765432"));  // no such country
  EXPECT_EQ(pii::IbanLength("NO"), 15);
  EXPECT_EQ(pii::IbanLength("XX"), 0);
}

TEST(PiiChecks, SsnParts) {
  EXPECT_TRUE(pii::SsnPartsValid("123", "45", "6789"));
  EXPECT_TRUE(pii::SsnPartsValid("853", "37", "1694"));
  EXPECT_FALSE(pii::SsnPartsValid("000", "45", "6789"));
  EXPECT_FALSE(pii::SsnPartsValid("666", "45", "6789"));
  EXPECT_FALSE(pii::SsnPartsValid("912", "45", "6789"));
  EXPECT_FALSE(pii::SsnPartsValid("123", "00", "6789"));
  EXPECT_FALSE(pii::SsnPartsValid("123", "45", "0000"));
}

TEST(PiiChecks, NearWordIsWholeWordAndCaseInsensitive) {
  const std::string_view words[] = {"phone", "date of birth"};
  EXPECT_TRUE(pii::NearWord("Phone: 1", 7, 8, 40, 0, words));
  EXPECT_TRUE(pii::NearWord("Date of\nbirth 1", 14, 15, 40, 0, words));
  EXPECT_FALSE(pii::NearWord("phones 1", 7, 8, 40, 0, words));
  EXPECT_FALSE(pii::NearWord("xphone 1", 7, 8, 40, 0, words));
  EXPECT_TRUE(pii::NearWord("1 phone", 0, 1, 0, 10, words));
  EXPECT_FALSE(pii::NearWord("phone ....... 1", 14, 15, 5, 0, words));  // out of the window
}

TEST(PiiPhone, LibphonenumberValidation) {
  EXPECT_TRUE(pii::IsValidPhone("+1 650-253-0000", "ZZ"));
  EXPECT_TRUE(pii::IsValidPhone("(650) 253-0000", "US"));
  EXPECT_TRUE(pii::IsValidPhone("+44 20 7946 0958", "ZZ"));
  EXPECT_FALSE(pii::IsValidPhone("+1 123-456-7890", "ZZ"));  // no area code 123
  EXPECT_FALSE(pii::IsValidPhone("650-253-0000", "ZZ"));     // national form needs a region
  EXPECT_FALSE(pii::IsValidPhone("not a number", "US"));
  EXPECT_TRUE(pii::IsValidPhoneInSomeRegion("030 901820"));  // Berlin
}

TEST(PiiRules, Phone) {
  EXPECT_EQ(Found("call +1-650-253-0000 now", "pii.phone"), Strings{"+1-650-253-0000"});
  EXPECT_EQ(Found("office (650) 253-0000.", "pii.phone"), Strings{"(650) 253-0000"});
  EXPECT_EQ(Found("Desk: +44 20 7946 0958", "pii.phone"), Strings{"+44 20 7946 0958"});
  EXPECT_EQ(Found("+41 (0)44 668 18 00 fax", "pii.phone"), Strings{"+41 (0)44 668 18 00"});
  EXPECT_EQ(Found("ring 650.253.0000x123", "pii.phone"), Strings{"650.253.0000x123"});
  // National numbers of other countries, and bare digits, need a phone word.
  EXPECT_EQ(Found("Mobile: 0490 75 40 81", "pii.phone"), Strings{"0490 75 40 81"});
  EXPECT_EQ(Found("phone 6502530000", "pii.phone"), Strings{"6502530000"});
  EXPECT_EQ(Found("0490 75 40 81", "pii.phone"), Strings{});
  EXPECT_EQ(Found("order 6502530000 shipped", "pii.phone"), Strings{});
  // Not phones: dates, times, decimals, versions, IPs, SSNs, cards, short numbers, licences.
  for (std::string_view text : {
           "released 2024-05-14 09:12",
           "pi is 3.14159265 roughly",
           "call at 10:30",
           "version 1.2.3.4",
           "host 8.8.8.8",
           "SSN 123-45-6789",
           "phone 4111 1111 1111 1111",
           "see page 555-1234",
           "license number is 2270-66-1551",
           "+1 123-456-7890",
           "call +99 1",
           "total 1 234 567 items",
       }) {
    EXPECT_EQ(Found(text, "pii.phone"), Strings{}) << text;
  }
}

TEST(PiiRules, CreditCard) {
  EXPECT_EQ(Found("card 4111 1111 1111 1111", "pii.credit_card"), Strings{"4111 1111 1111 1111"});
  EXPECT_EQ(Found("4111-1111-1111-1111", "pii.credit_card"), Strings{"4111-1111-1111-1111"});
  EXPECT_EQ(Found("amex 3782 822463 10005.", "pii.credit_card"), Strings{"3782 822463 10005"});
  EXPECT_EQ(Found("pay with 5500000000000004", "pii.credit_card"), Strings{"5500000000000004"});
  // Luhn-valid with a card word but an issuer outside the table.
  EXPECT_EQ(Found("my card 3598899323053410", "pii.credit_card"), Strings{"3598899323053410"});
  for (std::string_view text : {
           "4111111111111112",                 // Luhn fails
           "4111 1111-1111 1111",              // mixed separators
           "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",  // not grouped like a card
           "id 3598899323053410",              // unknown issuer, no card word
           "12345678901234567890123",          // longer digit run
           "0.4111111111111111",               // part of a decimal
           "501864667909",                     // short Maestro without a card word
       }) {
    EXPECT_EQ(Found(text, "pii.credit_card"), Strings{}) << text;
  }
}

TEST(PiiRules, Iban) {
  EXPECT_EQ(Found("IBAN GB82 WEST 1234 5698 7654 32 and more", "pii.iban"),
            Strings{"GB82 WEST 1234 5698 7654 32"});
  EXPECT_EQ(Found("to gb82west12345698765432.", "pii.iban"), Strings{"gb82west12345698765432"});
  EXPECT_EQ(Found("DE89370400440532013000", "pii.iban"), Strings{"DE89370400440532013000"});
  EXPECT_EQ(Found("GB82WEST12345698765433", "pii.iban"), Strings{});  // checksum
  EXPECT_EQ(Found("XGB82WEST12345698765432", "pii.iban"), Strings{});
  EXPECT_EQ(Found("GB82WEST123456987654321", "pii.iban"), Strings{});  // too long for GB
}

TEST(PiiRules, UsSsn) {
  EXPECT_EQ(Found("SSN: 123-45-6789", "pii.us_ssn"), Strings{"123-45-6789"});
  EXPECT_EQ(Found("id 853-37-1694.", "pii.us_ssn"), Strings{"853-37-1694"});
  EXPECT_EQ(Found("social security number 123456789", "pii.us_ssn"), Strings{"123456789"});
  EXPECT_EQ(Found("my ssn is 123 45 6789", "pii.us_ssn"), Strings{"123 45 6789"});
  for (std::string_view text :
       {"123456789", "123 45 6789", "000-45-6789", "666-45-6789", "912-45-6789", "123-00-6789",
        "123-45-0000", "1123-45-6789", "123-45-67890", "123-45-6789-1"}) {
    EXPECT_EQ(Found(text, "pii.us_ssn"), Strings{}) << text;
  }
}

TEST(PiiRules, IpAddress) {
  EXPECT_EQ(Found("from 203.0.113.7:443", "pii.ip_address"), Strings{"203.0.113.7"});
  EXPECT_EQ(Found("lan 192.168.1.20", "pii.ip_address"), Strings{"192.168.1.20"});
  EXPECT_EQ(Found("v6 2001:db8:85a3::8a2e:370:7334.", "pii.ip_address"),
            Strings{"2001:db8:85a3::8a2e:370:7334"});
  EXPECT_EQ(Found("6e40:4041:c617:e898:c11:40d2:c669:2eb4", "pii.ip_address"),
            Strings{"6e40:4041:c617:e898:c11:40d2:c669:2eb4"});
  EXPECT_EQ(Found("link fe80::1 up", "pii.ip_address"), Strings{"fe80::1"});
  // Both rules match here (the IPv4 rule inside); the classifier keeps the longer span.
  EXPECT_THAT(Found("mapped ::ffff:203.0.113.7", "pii.ip_address"),
              ::testing::Contains("::ffff:203.0.113.7"));
  for (std::string_view text :
       {"256.1.1.1", "1.2.3", "01.2.3.4", "127.0.0.1", "0.0.0.0", "255.255.255.255", "1.2.3.4.5",
        "v1.2.3.4", "::1", "::", "std::vector<int>", "12:30:45", "a::b", "1:2:3:4:5:6:7:8:9"}) {
    EXPECT_EQ(Found(text, "pii.ip_address"), Strings{}) << text;
  }
}

TEST(PiiRules, MacAddress) {
  EXPECT_EQ(Found("eth0 00:1a:2b:3c:4d:5e up", "pii.mac_address"), Strings{"00:1a:2b:3c:4d:5e"});
  EXPECT_EQ(Found("00-1A-2B-3C-4D-5E", "pii.mac_address"), Strings{"00-1A-2B-3C-4D-5E"});
  EXPECT_EQ(Found("001a.2b3c.4d5e", "pii.mac_address"), Strings{"001a.2b3c.4d5e"});
  for (std::string_view text : {"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "12-34-56-78-90-12",
                                "00:1a:2b:3c:4d:5e:6f", "1234.5678.9012"}) {
    EXPECT_EQ(Found(text, "pii.mac_address"), Strings{}) << text;
  }
}

TEST(PiiRules, DateOfBirthOnlyInContext) {
  EXPECT_EQ(Found("She was born on 2/8/1935.", "pii.date_of_birth"), Strings{"2/8/1935"});
  EXPECT_EQ(Found("DOB: 1985-03-21", "pii.date_of_birth"), Strings{"1985-03-21"});
  EXPECT_EQ(Found("date of birth 21 March 1985", "pii.date_of_birth"), Strings{"21 March 1985"});
  EXPECT_EQ(Found("Birthday: March 3rd, 1985", "pii.date_of_birth"), Strings{"March 3rd, 1985"});
  // The longest and shortest forms, at the edges of the rule's cheaper prefilter.
  EXPECT_EQ(Found("DOB: 12th of SEPTEMBER., 1985", "pii.date_of_birth"),
            Strings{"12th of SEPTEMBER., 1985"});
  EXPECT_EQ(Found("born 3 May 1985", "pii.date_of_birth"), Strings{"3 May 1985"});
  EXPECT_EQ(Found("birthday: Sept. 3, 1985", "pii.date_of_birth"), Strings{"Sept. 3, 1985"});
  EXPECT_EQ(Found("DOB 1985/3/2", "pii.date_of_birth"), Strings{"1985/3/2"});
  for (std::string_view text : {"meeting on 2/8/1935", "released 1985-03-21", "born on 13/13/1985",
                                "born 1985-13-01", "born on 21 Smarch 1985", "born 2/8/1500"}) {
    EXPECT_EQ(Found(text, "pii.date_of_birth"), Strings{}) << text;
  }
}

TEST(PiiRules, StreetAddress) {
  EXPECT_EQ(Found("lives at 221 Baker Street, London", "pii.street_address"),
            Strings{"221 Baker Street"});
  EXPECT_EQ(Found("ship to 72 Acheron Road Apt. 237 now", "pii.street_address"),
            Strings{"72 Acheron Road Apt. 237"});
  EXPECT_EQ(Found("Rue de la Paix 12, Paris", "pii.street_address"), Strings{"Rue de la Paix 12"});
  EXPECT_EQ(Found("Hauptstraße 5", "pii.street_address"), Strings{"Hauptstraße 5"});
  EXPECT_EQ(Found("6750 Koskikatu 25 Apt. 864", "pii.street_address"),
            Strings{"Koskikatu 25 Apt. 864"});
  EXPECT_EQ(Found("PO Box 1234", "pii.street_address"), Strings{"PO Box 1234"});
  for (std::string_view text : {"we walked down the street", "3 streets away",
                                "chapter 12 of the book", "version 2 Road map"}) {
    EXPECT_EQ(Found(text, "pii.street_address"), Strings{}) << text;
  }
}

TEST(PiiNames, PersonName) {
  EXPECT_EQ(Found("please ask Dr. Cettina Fanucci today", "pii.person_name"),
            Strings{"Cettina Fanucci"});
  EXPECT_EQ(Found("My name is Rubija", "pii.person_name"), Strings{"Rubija"});
  EXPECT_EQ(Found("Name: Toshimi Arata\n", "pii.person_name"), Strings{"Toshimi Arata"});
  EXPECT_EQ(Found("Billing address: Sara Schwarz", "pii.person_name"), Strings{"Sara Schwarz"});
  EXPECT_EQ(Found("by Anna D. Yefremova's book", "pii.person_name"), Strings{"Anna D. Yefremova"});
  EXPECT_EQ(Found("Mr. Pavlović flew", "pii.person_name"), Strings{"Pavlović"});
  EXPECT_EQ(Found("founders: Eklund, Michael and Hodge", "pii.person_name"), Strings{"Michael"});
  // Every kind of trigger, before a name no dictionary knows.
  for (std::string_view text :
       {"Prof. Toshimi Arata", "ask Frau Toshimi Arata", "Dear Toshimi Arata,",
        "Regards,\nToshimi Arata", "Sincerely,\nToshimi Arata", "Cheers,\nToshimi Arata",
        "Attn: Toshimi Arata", "Signed: Toshimi Arata", "a man named Toshimi Arata",
        "my name is Toshimi Arata"}) {
    EXPECT_EQ(Found(text, "pii.person_name"), Strings{"Toshimi Arata"}) << text;
  }
  for (std::string_view text :
       {"Mark the date", "Will you come?", "The Big Park is open", "the report for March",
        "my name is not important", "ALICE SMITH", "\xff\xfe Dr. \xc3"}) {
    EXPECT_EQ(Found(text, "pii.person_name"), Strings{}) << text;
  }
}

TEST(PiiRules, InvalidUtf8AndEmptyTextNeverCrash) {
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes.push_back(static_cast<char>((i * 131 + 7) % 256));
  std::vector<Match> matches;
  Rules().Scan(bytes, &matches);
  Rules().Scan("", &matches);
  PersonNameDetector().Scan(bytes, &matches);
  PersonNameDetector().Scan("", &matches);
  for (const Match& m : matches) EXPECT_LE(m.end, bytes.size());
  // A card in the middle of invalid UTF-8 is still found.
  EXPECT_EQ(Found("\xff\xfe card 4111 1111 1111 1111 \xc3", "pii.credit_card"),
            Strings{"4111 1111 1111 1111"});
}

}  // namespace
}  // namespace airlock::classifier
