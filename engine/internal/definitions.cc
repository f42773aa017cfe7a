#include "engine/internal/definitions.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "engine/errors.h"

namespace spotflow::engine::internal {
namespace {

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

bool IsLeap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysIn(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

// Calls `literal(text)` and `token(name, width)` for each part of a key format; returns
// INVALID_ARGUMENT for an unknown or unclosed token.
template <typename Literal, typename Token>
absl::Status ParseKeyFormat(absl::string_view format, Literal literal, Token token) {
  size_t i = 0;
  while (i < format.size()) {
    const size_t open = format.find('{', i);
    if (open == absl::string_view::npos) {
      literal(format.substr(i));
      break;
    }
    literal(format.substr(i, open - i));
    const size_t close = format.find('}', open);
    if (close == absl::string_view::npos) {
      return Invalid(absl::StrCat("key format \"", format, "\" has an unclosed '{'"));
    }
    absl::string_view name = format.substr(open + 1, close - open - 1);
    int width = 0;
    if (name == "yyyy" || name == "yy") {
      token(name, 0);
    } else if (absl::ConsumePrefix(&name, "seq:") && absl::SimpleAtoi(name, &width) && width >= 1 &&
               width <= 12) {
      token("seq", width);
    } else {
      return Invalid(absl::StrCat("key format \"", format, "\" has an unknown token {",
                                  format.substr(open + 1, close - open - 1),
                                  "}; use {yyyy}, {yy} or {seq:N} with N from 1 to 12"));
    }
    i = close + 1;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUtf8(const google::protobuf::Message& message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
      for (int i = 0; i < count; ++i) {
        const std::string value = field->is_repeated()
                                      ? reflection->GetRepeatedString(message, field, i)
                                      : reflection->GetString(message, field);
        if (!spotflow::IsUtf8(value)) {
          return Invalid(absl::StrCat(field->name(), " is not valid UTF-8 text"));
        }
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
      for (int i = 0; i < count; ++i) {
        RETURN_IF_ERROR(ValidateUtf8(field->is_repeated()
                                         ? reflection->GetRepeatedMessage(message, field, i)
                                         : reflection->GetMessage(message, field)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateId(absl::string_view what, absl::string_view id) {
  if (id.empty()) return Invalid(absl::StrCat(what, " is required"));
  if (id.size() > kMaxIdBytes) {
    return Invalid(
        absl::StrCat(what, " is ", id.size(), " characters long; the limit is ", kMaxIdBytes));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return Invalid(absl::StrCat(what, " \"", absl::CHexEscape(id),
                                  "\" may only hold letters, digits, '-', '_' and '.'"));
    }
  }
  return absl::OkStatus();
}

namespace {

// The ASCII letters a Latin letter of two UTF-8 bytes stands for ("ü": "u", "ß": "ss", "Ł":
// "l"); "" for a separator (the no-break space, Latin-1's punctuation and signs, "×", "÷");
// nullptr for a letter of another script, which Slug leaves out.
const char* LatinLetters(uint32_t code_point) {
  // U+00C0..U+00FF.
  static constexpr const char* kLatin1[64] = {
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
      "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
      "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y"};
  // U+0100..U+017F (Latin Extended-A), by runs of one base letter.
  struct Run {
    uint32_t last;
    const char* letters;
  };
  static constexpr Run kExtendedA[] = {
      {0x105, "a"}, {0x10D, "c"},  {0x111, "d"}, {0x11B, "e"}, {0x123, "g"}, {0x127, "h"},
      {0x131, "i"}, {0x133, "ij"}, {0x135, "j"}, {0x138, "k"}, {0x142, "l"}, {0x14B, "n"},
      {0x151, "o"}, {0x153, "oe"}, {0x159, "r"}, {0x161, "s"}, {0x167, "t"}, {0x173, "u"},
      {0x175, "w"}, {0x178, "y"},  {0x17E, "z"}, {0x17F, "s"}};
  if (code_point < 0xC0) return "";
  if (code_point < 0x100) return kLatin1[code_point - 0xC0];
  for (const Run& run : kExtendedA) {
    if (code_point <= run.last) return run.letters;
  }
  return nullptr;
}

}  // namespace

std::string Slug(absl::string_view name) {
  std::string slug;
  bool apart = false;  // A separator came since the last letter or digit.
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char u = static_cast<unsigned char>(name[i]);
    std::string letters;
    if (absl::ascii_isalnum(u)) {
      letters.push_back(absl::ascii_tolower(u));
    } else if (u >= 0xC2 && u <= 0xDF && i + 1 < name.size() &&
               (static_cast<unsigned char>(name[i + 1]) & 0xC0) == 0x80) {
      // Two bytes of UTF-8: U+0080..U+07FF.
      const uint32_t code_point =
          ((u & 0x1Fu) << 6) | (static_cast<unsigned char>(name[++i]) & 0x3Fu);
      const char* latin = LatinLetters(code_point);
      if (latin == nullptr) continue;  // Another script: left out, the word kept whole.
      letters = latin;
      if (letters.empty()) apart = true;
    } else if (u == '\'' || u >= 0x80) {
      // An apostrophe ("McDonald's") and the rest of UTF-8 (other scripts, a typographic
      // apostrophe) leave the word whole.
    } else {
      apart = true;
    }
    if (letters.empty()) continue;
    const size_t dash = apart && !slug.empty() ? 1 : 0;
    if (slug.size() + dash + letters.size() > kMaxSlugChars) break;
    if (dash == 1) slug.push_back('-');
    slug += letters;
    apart = false;
  }
  return slug;
}

absl::Status ValidateText(absl::string_view what, absl::string_view text, size_t max_bytes,
                          bool required) {
  if (required && text.empty()) return Invalid(absl::StrCat(what, " is required"));
  if (text.size() > max_bytes) {
    return Invalid(
        absl::StrCat(what, " is ", text.size(), " bytes long; the limit is ", max_bytes));
  }
  if (required && absl::StripAsciiWhitespace(text).empty()) {
    return Invalid(absl::StrCat(what, " is blank; it is required"));
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f) {
      return Invalid(absl::StrFormat("%s holds a control character (0x%02x at byte %d); remove it",
                                     what, c, i));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEmail(absl::string_view what, absl::string_view email) {
  RETURN_IF_ERROR(ValidateText(what, email, kMaxNameBytes, false));
  if (email.empty()) return absl::OkStatus();  // Optional.
  const size_t at = email.find('@');
  // No space, tab or line break anywhere: an address is written into mail headers, where a
  // line break would start another.
  const bool blank_inside = std::any_of(email.begin(), email.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  });
  if (at == 0 || at == absl::string_view::npos || at + 1 == email.size() ||
      email.find('@', at + 1) != absl::string_view::npos || blank_inside) {
    return Invalid(absl::StrCat(what, " \"", absl::CHexEscape(email),
                                "\" is not an address like name@example.com"));
  }
  return absl::OkStatus();
}

absl::Status ValidateDate(absl::string_view what, const v1::Date& date) {
  if (date.year() == 0 && date.month() == 0 && date.day() == 0) {
    return Invalid(absl::StrCat(what, " is required (a date: year, month, day)"));
  }
  // A year out of range is told so apart: 0001-01-01 is a date, not one Spotflow keeps.
  if (date.year() < 1900 || date.year() > 9999) {
    return Invalid(absl::StrFormat("%s %04d-%02d-%02d is out of range: the year is 1900 to 9999",
                                   what, date.year(), date.month(), date.day()));
  }
  if (date.month() < 1 || date.month() > 12 || date.day() < 1 ||
      date.day() > DaysIn(date.year(), date.month())) {
    return Invalid(absl::StrFormat("%s %04d-%02d-%02d is not a valid date", what, date.year(),
                                   date.month(), date.day()));
  }
  return absl::OkStatus();
}

int CompareDates(const v1::Date& a, const v1::Date& b) {
  auto tie = [](const v1::Date& d) { return std::tuple(d.year(), d.month(), d.day()); };
  return tie(a) < tie(b) ? -1 : (tie(b) < tie(a) ? 1 : 0);
}

std::string FormatDate(const v1::Date& date) {
  return absl::StrFormat("%04d-%02d-%02d", date.year(), date.month(), date.day());
}

absl::Status ValidateFlight(const v1::Date& start, const v1::Date& end) {
  RETURN_IF_ERROR(ValidateDate("flight_start", start));
  RETURN_IF_ERROR(ValidateDate("flight_end", end));
  if (CompareDates(end, start) < 0) {
    return Invalid(absl::StrCat("flight_end ", FormatDate(end), " is before flight_start ",
                                FormatDate(start)));
  }
  return absl::OkStatus();
}

absl::Status ValidateRole(const v1::RoleDefinition& role) {
  RETURN_IF_ERROR(ValidateId("role name", role.name()));
  RETURN_IF_ERROR(ValidateText("role title", role.title(), kMaxNameBytes, false));
  // Most likely a slip (an empty --grant) that would leave every holder unable to work.
  if (role.grants().empty()) {
    return Invalid(absl::StrCat("role \"", role.name(),
                                "\" grants nothing; give it at least one privilege (to take a "
                                "role from users, change their roles: SetUserRoles)"));
  }
  absl::flat_hash_set<int> seen;
  for (const v1::Grant& grant : role.grants()) {
    if (grant.privilege() == v1::PRIVILEGE_UNSPECIFIED ||
        !v1::Privilege_IsValid(grant.privilege())) {
      return Invalid(absl::StrCat("role \"", role.name(), "\" grants unknown privilege ",
                                  static_cast<int>(grant.privilege())));
    }
    if (grant.scope() == v1::SCOPE_UNSPECIFIED || !v1::Scope_IsValid(grant.scope())) {
      return Invalid(absl::StrCat("role \"", role.name(), "\" grants ",
                                  v1::Privilege_Name(grant.privilege()),
                                  " without a scope; use OWN, TEAM or ALL"));
    }
    if (!seen.insert(grant.privilege()).second) {
      return Invalid(absl::StrCat("role \"", role.name(), "\" grants ",
                                  v1::Privilege_Name(grant.privilege()), " twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateKeyFormat(absl::string_view format) {
  int seqs = 0;
  RETURN_IF_ERROR(ParseKeyFormat(
      format, [](absl::string_view) {},
      [&](absl::string_view name, int) { seqs += name == "seq" ? 1 : 0; }));
  if (seqs != 1) {
    return Invalid(absl::StrCat("key format \"", format,
                                "\" needs exactly one {seq:N} so that keys are unique"));
  }
  return absl::OkStatus();
}

bool KeyFormatHasYear(absl::string_view format) {
  return absl::StrContains(format, "{yyyy}") || absl::StrContains(format, "{yy}");
}

std::string RenderKey(absl::string_view format, int year, uint64_t seq) {
  std::string key;
  // The format was validated when the item type was defined.
  ParseKeyFormat(
      format, [&](absl::string_view text) { absl::StrAppend(&key, text); },
      [&](absl::string_view name, int width) {
        if (name == "yyyy") {
          absl::StrAppend(&key, absl::StrFormat("%04d", year));
        } else if (name == "yy") {
          absl::StrAppend(&key, absl::StrFormat("%02d", year % 100));
        } else {
          absl::StrAppend(&key, absl::StrFormat("%0*d", width, seq));
        }
      })
      .IgnoreError();
  return key;
}

namespace {

// A field's bounds: a range for whole numbers, choices for text, each on its own type.
absl::Status ValidateFieldBounds(const v1::FieldDefinition& field) {
  const std::string what = absl::StrCat("field \"", field.name(), "\"");
  if ((field.has_min() || field.has_max()) && field.type() != v1::INTEGER) {
    return Invalid(absl::StrCat(what, " is ", v1::FieldType_Name(field.type()),
                                "; min and max bound an INTEGER field: leave them out"));
  }
  if (field.has_min() && field.has_max() && field.min() > field.max()) {
    return Invalid(absl::StrCat(what, " has min ", field.min(), " above its max ", field.max(),
                                ": no value would do"));
  }
  if (field.choices().empty()) return absl::OkStatus();
  if (field.type() != v1::STRING) {
    return Invalid(absl::StrCat(what, " is ", v1::FieldType_Name(field.type()),
                                "; choices are a STRING field's values: leave them out"));
  }
  if (field.choices_size() > kMaxFieldChoices) {
    return Invalid(absl::StrCat(what, " has ", field.choices_size(), " choices; the limit is ",
                                kMaxFieldChoices));
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < field.choices_size(); ++i) {
    const std::string& choice = field.choices(i);
    const std::string which = absl::StrCat(what, "'s choice \"", absl::CHexEscape(choice), "\"");
    const absl::string_view trimmed = absl::StripAsciiWhitespace(choice);
    if (trimmed.empty()) return Invalid(absl::StrCat(what, "'s choice ", i + 1, " is blank"));
    // Picked as people type it: " radio " would refuse "radio".
    if (trimmed.size() != choice.size()) {
      return Invalid(absl::StrCat(which, " has spaces at its ends; write it as people pick it: \"",
                                  trimmed, "\""));
    }
    RETURN_IF_ERROR(ValidateText(absl::StrCat(what, "'s choice"), choice, kMaxNameBytes, true));
    if (absl::StrContains(choice, '\n') || absl::StrContains(choice, '\r')) {
      return Invalid(absl::StrCat(which, " holds a line break; a choice is one line"));
    }
    // "Radio" beside "radio" would be taken for one another by whoever picks.
    if (!seen.insert(absl::AsciiStrToLower(choice)).second) {
      return Invalid(absl::StrCat(which, " is listed twice (case aside)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateItemType(const v1::ItemTypeDefinition& type) {
  RETURN_IF_ERROR(ValidateId("item type name", type.name()));
  RETURN_IF_ERROR(ValidateText("item type title", type.title(), kMaxNameBytes, false));
  RETURN_IF_ERROR(ValidateId("item type workflow", type.workflow()));
  RETURN_IF_ERROR(ValidateKeyFormat(type.key_format()));
  absl::flat_hash_set<std::string> names;
  for (const v1::FieldDefinition& field : type.fields()) {
    RETURN_IF_ERROR(ValidateId("field name", field.name()));
    if (field.type() == v1::FIELD_TYPE_UNSPECIFIED || !v1::FieldType_IsValid(field.type())) {
      return Invalid(absl::StrCat("field \"", field.name(), "\" has no valid type"));
    }
    if (!names.insert(field.name()).second) {
      return Invalid(absl::StrCat("field \"", field.name(), "\" is defined twice"));
    }
    RETURN_IF_ERROR(ValidateFieldBounds(field));
  }
  absl::flat_hash_set<std::string> artifacts;
  for (const std::string& artifact : type.facets().artifacts()) {
    RETURN_IF_ERROR(ValidateId("artifact name", artifact));
    if (!artifacts.insert(artifact).second) {
      return Invalid(absl::StrCat("artifact \"", artifact, "\" is listed twice"));
    }
    // Revisions are kept as scripts and spots (OrderView): another artifact no command takes.
    if (artifact != "script" && artifact != "spot") {
      return Invalid(absl::StrCat("artifact \"", artifact,
                                  "\" cannot be kept: revisions are of a script or a spot"));
    }
  }
  if (type.facets().house_only() && !type.facets().client_link()) {
    return Invalid(absl::StrCat(
        "item type \"", type.name(),
        "\" is house_only but belongs to no client (client_link), which no client requests "
        "anyway: leave house_only out"));
  }
  absl::flat_hash_set<std::string> child_types;
  for (const std::string& child : type.facets().child_types()) {
    RETURN_IF_ERROR(ValidateId("child type name", child));
    if (!child_types.insert(child).second) {
      return Invalid(absl::StrCat("child type \"", child, "\" is listed twice"));
    }
  }
  return absl::OkStatus();
}

namespace {

// A workflow's transitions as edges between states: from a state to those they lead to (or,
// built backwards, from a state to those that lead to it).
using Edges = absl::flat_hash_map<std::string, std::vector<std::string>>;

// The states `edges` lead to from those in `from`, and those themselves, in the order they are
// reached.
std::vector<std::string> Reached(std::vector<std::string> from, const Edges& edges) {
  absl::flat_hash_set<std::string> seen(from.begin(), from.end());
  for (size_t i = 0; i < from.size(); ++i) {
    auto it = edges.find(from[i]);
    if (it == edges.end()) continue;
    for (const std::string& other : it->second) {
      if (seen.insert(other).second) from.push_back(other);
    }
  }
  return from;
}

// The names of `type`'s fields, for a message: "a, b", or `none` when it has none.
std::string FieldNames(const v1::ItemTypeDefinition& type, absl::string_view none) {
  std::vector<std::string> names;
  for (const v1::FieldDefinition& f : type.fields()) names.push_back(f.name());
  return names.empty() ? std::string(none) : absl::StrJoin(names, ", ");
}

bool HasField(const v1::ItemTypeDefinition& type, absl::string_view field) {
  return std::any_of(type.fields().begin(), type.fields().end(),
                     [&](const v1::FieldDefinition& f) { return f.name() == field; });
}

// Whether an order of `type` can take transition `t`: its type has the artifact `t`'s action
// works on, a spot for SPOT_APPROVED, or for INTERNALLY_APPROVED on an action of no artifact
// of its own, and the fields `t` requires. (No allocation: CreateOrder asks for each
// transition.)
bool TypeCanTake(const v1::ItemTypeDefinition& type, const v1::Transition& t) {
  const auto& artifacts = type.facets().artifacts();
  const auto has = [&](absl::string_view artifact) {
    return std::find(artifacts.begin(), artifacts.end(), artifact) != artifacts.end();
  };
  const std::string own = ArtifactOfAction(t.action());
  if (!own.empty() && !has(own)) return false;
  for (const std::string& field : t.required_fields()) {
    if (!HasField(type, field)) return false;
  }
  for (int condition : t.conditions()) {
    if ((condition == v1::SPOT_APPROVED || (condition == v1::INTERNALLY_APPROVED && own.empty())) &&
        !has("spot")) {
      return false;
    }
  }
  return true;
}

// What `t` needs that TypeCanTake checks and `type` lacks, for a message.
std::string WhyNeeds(const v1::ItemTypeDefinition& type, const v1::Transition& t) {
  std::vector<std::string> why;
  const std::string artifact = ArtifactOfAction(t.action());
  if (!artifact.empty()) why.push_back(absl::StrCat("works on ", artifact, "s"));
  for (int condition : t.conditions()) {
    if (condition == v1::SPOT_APPROVED) why.push_back("needs an approved spot");
    if (condition == v1::INTERNALLY_APPROVED && artifact.empty()) {
      why.push_back("needs a spot approved in the house");
    }
  }
  for (const std::string& field : t.required_fields()) {
    if (!HasField(type, field)) why.push_back(absl::StrCat("requires field ", field));
  }
  return absl::StrJoin(why, " and ");
}

}  // namespace

absl::Status CheckKindFinishes(const v1::ItemTypeDefinition& type,
                               const v1::WorkflowDefinition& workflow, v1::OrderKind kind) {
  for (const v1::InitialState& s : workflow.initial_states()) {
    if (s.kind() != kind) continue;
    return CheckFinishesFrom(
        type, workflow, s.state(),
        absl::StrCat("a ", v1::OrderKind_Name(kind), " order of item type \"", type.name(), "\""));
  }
  return absl::OkStatus();  // No such orders: CreateOrder says so.
}

absl::Status CheckFinishesFrom(const v1::ItemTypeDefinition& type,
                               const v1::WorkflowDefinition& workflow, const std::string& from,
                               absl::string_view who) {
  const auto usable = [&](const v1::Transition& t) { return TypeCanTake(type, t); };
  // The common case, cheaply (CreateOrder asks each time): a type that has all the workflow
  // works on finishes from anywhere, since every state of a published workflow leads on to a
  // final one.
  if (std::all_of(workflow.transitions().begin(), workflow.transitions().end(), usable)) {
    return absl::OkStatus();
  }
  Edges next, previous;                     // By the transitions the type can take.
  std::vector<std::string> terminal, done;  // Final states; those not abandoned.
  for (const v1::Transition& t : workflow.transitions()) {
    if (!usable(t)) continue;
    next[t.from()].push_back(t.to());
    previous[t.to()].push_back(t.from());
  }
  for (const v1::WorkflowState& s : workflow.states()) {
    if (s.terminal()) terminal.push_back(s.name());
    if (s.terminal() && !s.abandoned()) done.push_back(s.name());
  }
  // The states that lead on to a final one, found backwards; and those the order reaches, in
  // the order it reaches them: the first of these that cannot finish is where it would stop.
  const std::vector<std::string> finishing_list = Reached(std::move(terminal), previous);
  const absl::flat_hash_set<std::string> finishing(finishing_list.begin(), finishing_list.end());
  const std::vector<std::string> order = Reached({from}, next);
  const absl::flat_hash_set<std::string> reached(order.begin(), order.end());
  // The ways on it lacks: the transitions out of what it reaches that the type cannot take.
  const auto blocked = [&](absl::string_view none) {
    std::vector<std::string> ways;
    for (const v1::Transition& t : workflow.transitions()) {
      if (reached.contains(t.from()) && !usable(t)) {
        ways.push_back(
            absl::StrCat("\"", t.action(), "\" from ", t.from(), " ", WhyNeeds(type, t)));
      }
    }
    if (ways.empty()) return std::string(none);
    const auto& artifacts = type.facets().artifacts();
    // The type's fields too when one a way requires is what it lacks.
    bool field_lacking = false;
    for (const v1::Transition& t : workflow.transitions()) {
      field_lacking |= reached.contains(t.from()) && !FieldsTypeLacks(&type, t).empty();
    }
    return absl::StrCat(
        "its ways on (", absl::StrJoin(ways, "; "), ") need what the type has not (artifacts: ",
        artifacts.empty() ? "none" : absl::StrJoin(artifacts, ", "),
        field_lacking ? absl::StrCat("; fields: ", FieldNames(type, "none")) : "", ")");
  };
  for (const std::string& state : order) {
    if (finishing.contains(state)) continue;
    return Invalid(absl::StrCat(who, " would stop for good in state \"", state, "\" of workflow \"",
                                workflow.name(), "\" v", workflow.version(), ": ",
                                blocked("no way on from there reaches a final state")));
  }
  // And it may be done, not only lost: a type whose orders could only end abandoned (declined)
  // would take work it could never deliver.
  const std::vector<std::string> doable = Reached(std::move(done), previous);
  if (std::find(doable.begin(), doable.end(), from) == doable.end()) {
    return Invalid(
        absl::StrCat(who, " could only end abandoned from state \"", from, "\" of workflow \"",
                     workflow.name(), "\" v", workflow.version(), ": ",
                     blocked("no way on from there reaches a final state that is not abandoned")));
  }
  return absl::OkStatus();
}

absl::Status CheckTypeFitsWorkflow(const v1::ItemTypeDefinition& type,
                                   const v1::WorkflowDefinition& workflow) {
  // The fields its steps require or clear: a name the type lacks is most likely misspelt, and
  // would take the step from every order of the type without a word, or leave the value it
  // meant to clear (a reopened deal's loss reason).
  for (const v1::Transition& t : workflow.transitions()) {
    std::vector<std::string> cleared;
    for (const std::string& field : t.clears_fields()) {
      if (!HasField(type, field)) cleared.push_back(field);
    }
    for (const auto& [does, lacking] : {std::make_pair("requires", FieldsTypeLacks(&type, t)),
                                        std::make_pair("clears", cleared)}) {
      if (lacking.empty()) continue;
      return Invalid(absl::StrCat(
          "item type \"", type.name(), "\" follows workflow \"", workflow.name(),
          "\", whose action \"", t.action(), "\" from state \"", t.from(), "\" ", does, " field",
          lacking.size() == 1 ? " " : "s ", absl::StrJoin(lacking, ", "),
          ", which the type has not (",
          type.fields().empty() ? "it has no fields"
                                : absl::StrCat("its fields: ", FieldNames(type, "")),
          "); add ", lacking.size() == 1 ? "it" : "them", " to the type first, or leave ",
          lacking.size() == 1 ? "it" : "them", " out of the step"));
    }
  }
  // Nor may a step into a final state where the work is done clear a field the type requires
  // of a finished order: every order would be refused that step (Decider::Transit says so to
  // orders on older versions, which this check did not see).
  for (const v1::Transition& t : workflow.transitions()) {
    const v1::WorkflowState* to = nullptr;
    for (const v1::WorkflowState& s : workflow.states()) {
      if (s.name() == t.to()) to = &s;
    }
    if (to == nullptr || !to->terminal() || to->abandoned()) continue;
    std::vector<std::string> needed;
    for (const std::string& field : t.clears_fields()) {
      for (const v1::FieldDefinition& f : type.fields()) {
        if (f.name() == field && f.required()) needed.push_back(field);
      }
    }
    if (needed.empty()) continue;
    return Invalid(absl::StrCat(
        "item type \"", type.name(), "\" follows workflow \"", workflow.name(),
        "\", whose action \"", t.action(), "\" from state \"", t.from(), "\" clears field",
        needed.size() == 1 ? " " : "s ", absl::StrJoin(needed, ", "),
        " and leads to final state \"", t.to(), "\", but the type requires ",
        needed.size() == 1 ? "it" : "them", " of a finished order; leave ",
        needed.size() == 1 ? "it" : "them", " out of the step, or make ",
        needed.size() == 1 ? "it" : "them", " optional"));
  }
  std::vector<std::string> reasons;  // Each kind's.
  for (const v1::InitialState& s : workflow.initial_states()) {
    // A reuse starts from an order of a kind CreateOrder makes: it does not count alone.
    if (s.kind() == v1::REUSE) continue;
    absl::Status status = CheckKindFinishes(type, workflow, s.kind());
    if (status.ok()) return status;
    reasons.emplace_back(status.message());
  }
  if (reasons.empty()) return absl::OkStatus();
  return Invalid(absl::StrCat("no kind of order of it could finish: ", absl::StrJoin(reasons, "; "),
                              "; add what it lacks to the type, or have it follow a workflow "
                              "without that way"));
}

std::string ArtifactOfAction(absl::string_view action) {
  static const auto* const kBuilt = [] {
    auto* built = new absl::flat_hash_map<std::string, std::string>{{"record_spot", "spot"},
                                                                    {"upload_spot", "spot"}};
    for (const std::string artifact : {"script", "spot"}) {
      for (const std::string& name :
           {"submit_" + artifact, "approve_" + artifact, "forward_" + artifact,
            "request_" + artifact + "_changes", "client_approve_" + artifact,
            "client_request_" + artifact + "_changes"}) {
        built->emplace(name, artifact);
      }
    }
    return built;
  }();
  auto it = kBuilt->find(action);
  return it == kBuilt->end() ? "" : it->second;
}

bool HasRevisionActionPrefix(absl::string_view action) {
  for (const char* prefix :
       {"submit_", "record_", "upload_", "approve_", "request_", "forward_", "client_"}) {
    if (absl::StartsWith(action, prefix)) return true;
  }
  return false;
}

absl::Status ValidateWorkflow(const v1::WorkflowDefinition& workflow) {
  RETURN_IF_ERROR(ValidateId("workflow name", workflow.name()));
  const std::string name = absl::StrCat("workflow \"", workflow.name(), "\"");
  if (workflow.states().empty()) return Invalid(absl::StrCat(name, " has no states"));
  absl::flat_hash_set<std::string> states;
  absl::flat_hash_set<std::string> finals, done_finals;  // Terminal; terminal, not abandoned.
  for (const v1::WorkflowState& state : workflow.states()) {
    RETURN_IF_ERROR(ValidateId("state name", state.name()));
    if (!states.insert(state.name()).second) {
      return Invalid(absl::StrCat(name, " defines state \"", state.name(), "\" twice"));
    }
    if (state.terminal()) finals.insert(state.name());
    if (state.terminal() && !state.abandoned()) done_finals.insert(state.name());
  }
  if (workflow.initial_states().empty()) {
    return Invalid(absl::StrCat(name, " has no initial state"));
  }
  absl::flat_hash_set<int> kinds;
  std::vector<std::string> frontier;
  for (const v1::InitialState& initial : workflow.initial_states()) {
    if (initial.kind() == v1::ORDER_KIND_UNSPECIFIED || !v1::OrderKind_IsValid(initial.kind())) {
      return Invalid(absl::StrCat(name, " has an initial state without a valid order kind"));
    }
    if (!kinds.insert(initial.kind()).second) {
      return Invalid(
          absl::StrCat(name, " has two initial states for ", v1::OrderKind_Name(initial.kind())));
    }
    if (!states.contains(initial.state())) {
      return Invalid(absl::StrCat(name, " starts ", v1::OrderKind_Name(initial.kind()),
                                  " orders in unknown state \"", initial.state(), "\""));
    }
    // An order starts with its work ahead of it: one made done (or lost) would count so
    // without a step taken.
    if (finals.contains(initial.state())) {
      return Invalid(absl::StrCat(name, " starts ", v1::OrderKind_Name(initial.kind()),
                                  " orders in final state \"", initial.state(),
                                  "\"; start them where their work begins"));
    }
    frontier.push_back(initial.state());
  }
  Edges next;
  std::set<std::pair<std::string, std::string>> seen;
  for (const v1::Transition& t : workflow.transitions()) {
    RETURN_IF_ERROR(ValidateId("transition action", t.action()));
    if (HasRevisionActionPrefix(t.action()) && ArtifactOfAction(t.action()).empty()) {
      return Invalid(absl::StrCat(
          name, ": action \"", t.action(),
          "\" is named like a revision command's (submit_, record_, upload_, approve_, "
          "request_, forward_, client_) but is none of them, so no command could take it; "
          "rename it"));
    }
    const std::string label =
        absl::StrCat("transition \"", t.from(), "\" --", t.action(), "--> \"", t.to(), "\"");
    if (!states.contains(t.from()) || !states.contains(t.to())) {
      return Invalid(absl::StrCat(name, ": ", label, " names an unknown state"));
    }

    if (t.privilege() == v1::PRIVILEGE_UNSPECIFIED) {
      return Invalid(absl::StrCat(name, ": ", label,
                                  " names no privilege; give it the one whoever takes the action "
                                  "holds, such as ORDER_MANAGE"));
    }
    if (!v1::Privilege_IsValid(t.privilege())) {
      return Invalid(absl::StrCat(name, ": ", label, " requires unknown privilege ",
                                  static_cast<int>(t.privilege())));
    }
    // An action moves an order: not for who only reads (an auditor) or configures, nor for a
    // client's login by the right to submit requests (which creates them, and does no more).
    if (t.privilege() == v1::ORDER_VIEW || t.privilege() == v1::EVENTS_READ ||
        t.privilege() == v1::ADMIN_CONFIGURE || t.privilege() == v1::REQUEST_SUBMIT) {
      return Invalid(absl::StrCat(
          name, ": ", label, " requires ", v1::Privilege_Name(t.privilege()),
          ", which reads, configures or submits requests but does not act on orders; give it "
          "one that does, such as ORDER_MANAGE"));
    }
    // A client's login acts only by answering what was forwarded to it.
    if (t.privilege() == v1::CLIENT_ANSWER && !absl::StartsWith(t.action(), "client_")) {
      return Invalid(absl::StrCat(name, ": ", label,
                                  " requires CLIENT_ANSWER, which is only for the client's "
                                  "answers (client_approve_..., client_request_..._changes)"));
    }
    for (int condition : t.conditions()) {
      if (condition == v1::CONDITION_UNSPECIFIED || !v1::Condition_IsValid(condition)) {
        return Invalid(absl::StrCat(name, ": ", label, " has unknown condition ", condition));
      }
    }
    // A client's answer is the client's, whoever the revision was forwarded to; recorded on
    // its behalf, it is taken with the house's privilege, by no role of the client's.
    if (t.privilege() == v1::CLIENT_ANSWER && !t.roles().empty()) {
      return Invalid(absl::StrCat(name, ": ", label,
                                  " is a client's answer, which names no roles: leave them out"));
    }
    std::set<std::string> roles;
    for (const std::string& role : t.roles()) {
      RETURN_IF_ERROR(ValidateId(absl::StrCat(name, ": ", label, ": role"), role));
      if (!roles.insert(role).second) {
        return Invalid(absl::StrCat(name, ": ", label, " names role \"", role, "\" twice"));
      }
    }
    std::set<std::string> required;
    for (const std::string& field : t.required_fields()) {
      if (field.empty()) {
        return Invalid(absl::StrCat(name, ": ", label,
                                    " names a required field without a name; give the field's "
                                    "name, as its item type defines it"));
      }
      RETURN_IF_ERROR(ValidateId(absl::StrCat(name, ": ", label, ": required field"), field));
      if (!required.insert(field).second) {
        return Invalid(
            absl::StrCat(name, ": ", label, " names required field \"", field, "\" twice"));
      }
    }
    std::set<std::string> cleared;
    for (const std::string& field : t.clears_fields()) {
      if (field.empty()) {
        return Invalid(absl::StrCat(name, ": ", label,
                                    " names a field to clear without a name; give the field's "
                                    "name, as its item type defines it"));
      }
      RETURN_IF_ERROR(ValidateId(absl::StrCat(name, ": ", label, ": cleared field"), field));
      if (!cleared.insert(field).second) {
        return Invalid(
            absl::StrCat(name, ": ", label, " names cleared field \"", field, "\" twice"));
      }
      if (required.count(field) != 0) {
        return Invalid(absl::StrCat(name, ": ", label, " requires field \"", field,
                                    "\" and clears it; a step does one or the other"));
      }
    }
    // A client's answer is an approval or a request for changes, with no form to fill in,
    // whoever records it.
    if ((t.privilege() == v1::CLIENT_ANSWER || absl::StartsWith(t.action(), "client_")) &&
        (!t.required_fields().empty() || !t.clears_fields().empty())) {
      return Invalid(absl::StrCat(name, ": ", label,
                                  " is a client's answer, which sets no fields: require or "
                                  "clear them on the house's step after it"));
    }
    // Nor does it make anyone the order's responsible: the client is not the house.
    if ((t.privilege() == v1::CLIENT_ANSWER || absl::StartsWith(t.action(), "client_")) &&
        t.assigns_taker()) {
      return Invalid(absl::StrCat(name, ": ", label,
                                  " is a client's answer, which assigns no one: leave "
                                  "assigns_taker out, or set it on the house's step after it"));
    }
    if (!seen.emplace(t.from(), t.action()).second) {
      return Invalid(absl::StrCat(name, " has two transitions for action \"", t.action(),
                                  "\" out of state \"", t.from(), "\""));
    }
    next[t.from()].push_back(t.to());
  }
  const std::vector<std::string> reached_list = Reached(std::move(frontier), next);
  const absl::flat_hash_set<std::string> reached(reached_list.begin(), reached_list.end());
  for (const v1::WorkflowState& state : workflow.states()) {
    if (!reached.contains(state.name())) {
      return Invalid(absl::StrCat(name, ": state \"", state.name(),
                                  "\" cannot be reached from any initial state"));
    }
  }
  // And every state leads on to a final one: an order in a dead end could never complete.
  Edges previous;
  for (const v1::Transition& t : workflow.transitions()) previous[t.to()].push_back(t.from());
  std::vector<std::string> terminal;
  bool done_somewhere = false;  // A final state where the work is done, not abandoned.
  for (const v1::WorkflowState& state : workflow.states()) {
    if (state.abandoned() && !state.terminal()) {
      return Invalid(absl::StrCat(name, ": state \"", state.name(),
                                  "\" is abandoned but not terminal; an order is abandoned where "
                                  "it ends: mark the state terminal too, or not abandoned"));
    }
    if (state.terminal()) terminal.push_back(state.name());
    if (state.terminal() && !state.abandoned()) done_somewhere = true;
  }
  if (terminal.empty()) {
    return Invalid(absl::StrCat(name,
                                " has no final state (terminal); its orders could never "
                                "complete"));
  }
  if (!done_somewhere) {
    return Invalid(absl::StrCat(name, "'s final states (", absl::StrJoin(terminal, ", "),
                                ") are all abandoned; its orders could never be done: leave "
                                "abandoned off the state where the work is delivered"));
  }
  const std::vector<std::string> finishing_list = Reached(std::move(terminal), previous);
  const absl::flat_hash_set<std::string> finishing(finishing_list.begin(), finishing_list.end());
  for (const v1::WorkflowState& state : workflow.states()) {
    if (!finishing.contains(state.name())) {
      return Invalid(absl::StrCat(name, ": no action leads from state \"", state.name(),
                                  "\" to a final state, so an order there could never complete; "
                                  "add a transition out of it"));
    }
  }
  // And each kind of order may be done, not only lost: from where it starts, some way leads
  // to a final state that is not abandoned.
  const std::vector<std::string> doable_list =
      Reached(std::vector<std::string>(done_finals.begin(), done_finals.end()), previous);
  const absl::flat_hash_set<std::string> doable(doable_list.begin(), doable_list.end());
  for (const v1::InitialState& initial : workflow.initial_states()) {
    if (!doable.contains(initial.state())) {
      return Invalid(absl::StrCat(
          name, " starts ", v1::OrderKind_Name(initial.kind()), " orders in \"", initial.state(),
          "\", from which every way ends abandoned; add a way on to where the work is done (",
          absl::StrJoin(std::set<std::string>(done_finals.begin(), done_finals.end()), ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSummableField(const v1::ItemTypeDefinition& type, const std::string& field) {
  const auto& fields = type.fields();
  if (std::any_of(fields.begin(), fields.end(), [&](const v1::FieldDefinition& f) {
        return f.name() == field && f.type() == v1::INTEGER;
      })) {
    return absl::OkStatus();
  }
  std::vector<std::string> numbers;
  for (const v1::FieldDefinition& f : fields) {
    if (f.type() == v1::INTEGER) numbers.push_back(f.name());
  }
  return Invalid(absl::StrCat("item type \"", type.name(), "\" has no whole-number field \"",
                              absl::CHexEscape(field), "\" to sum",
                              numbers.empty() ? "; it has none: leave field out to count the orders"
                                              : absl::StrCat("; its whole-number fields are: ",
                                                             absl::StrJoin(numbers, ", "))));
}

bool Requestable(const v1::ItemTypeDefinition& type) {
  return type.facets().client_link() && !type.facets().house_only();
}

v1::ItemTypeDefinition FormOf(const v1::ItemTypeDefinition& type) {
  v1::ItemTypeDefinition form;
  form.set_name(type.name());
  form.set_title(type.title());
  form.set_version(type.version());
  for (const v1::FieldDefinition& field : type.fields()) {
    if (!field.internal()) *form.add_fields() = field;
  }
  *form.mutable_facets() = type.facets();
  form.mutable_facets()->clear_child_types();  // What the house makes for a request.
  return form;
}

std::vector<std::string> MissingRequiredFields(const v1::ItemTypeDefinition& type,
                                               const v1::OrderView& order) {
  std::vector<std::string> missing;
  for (const v1::FieldDefinition& field : type.fields()) {
    if (field.required() && !order.fields().contains(field.name())) {
      missing.push_back(field.name());
    }
  }
  return missing;
}

std::vector<std::string> MissingStepFields(const v1::Transition& t, const v1::OrderView& order) {
  std::vector<std::string> missing;
  for (const std::string& field : t.required_fields()) {
    auto value = order.fields().find(field);
    // Blank text is no reason given, as a required field's is no value.
    if (value == order.fields().end() ||
        (value->second.has_string_value() &&
         absl::StripAsciiWhitespace(value->second.string_value()).empty())) {
      missing.push_back(field);
    }
  }
  return missing;
}

std::vector<std::string> FieldsTypeLacks(const v1::ItemTypeDefinition* type,
                                         const v1::Transition& t) {
  std::vector<std::string> lacking;
  if (type == nullptr) return lacking;
  for (const std::string& field : t.required_fields()) {
    if (!HasField(*type, field)) lacking.push_back(field);
  }
  return lacking;
}

google::protobuf::Map<std::string, v1::FieldValue> AsPicked(
    const v1::ItemTypeDefinition& type,
    const google::protobuf::Map<std::string, v1::FieldValue>& fields) {
  google::protobuf::Map<std::string, v1::FieldValue> picked = fields;
  for (const v1::FieldDefinition& field : type.fields()) {
    auto it = picked.find(field.name());
    if (it == picked.end() || field.choices().empty() || !it->second.has_string_value()) continue;
    for (const std::string& choice : field.choices()) {
      if (absl::EqualsIgnoreCase(choice, it->second.string_value())) {
        it->second.set_string_value(choice);
        break;
      }
    }
  }
  return picked;
}

namespace {

// Why `value` will not do for the field `field_name` of `type`.
absl::Status ValidateField(const v1::ItemTypeDefinition& type, const std::string& field_name,
                           const v1::FieldValue& value) {
  const v1::FieldDefinition* definition = nullptr;
  for (const v1::FieldDefinition& f : type.fields()) {
    if (f.name() == field_name) definition = &f;
  }
  if (definition == nullptr) {
    return Invalid(absl::StrCat("item type \"", type.name(), "\" has no field \"",
                                absl::CHexEscape(field_name), "\""));
  }
  bool matches = false;
  switch (definition->type()) {
    case v1::STRING:
      matches = value.has_string_value();
      if (matches) {
        // A required field given blank is missing all the same (on creation and on update).
        RETURN_IF_ERROR(ValidateText(absl::StrCat("field \"", field_name, "\""),
                                     value.string_value(), kMaxTextBytes, definition->required()));
        const auto& choices = definition->choices();
        // Blank is no value: an optional field given blank is left unpicked.
        if (!choices.empty() && !absl::StripAsciiWhitespace(value.string_value()).empty() &&
            std::find(choices.begin(), choices.end(), value.string_value()) == choices.end()) {
          return Invalid(absl::StrCat("field \"", field_name,
                                      "\" is one of: ", absl::StrJoin(choices, ", "), "; not \"",
                                      absl::CHexEscape(value.string_value()), "\""));
        }
      }
      break;
    case v1::INTEGER:
      matches = value.value_case() == v1::FieldValue::kIntegerValue;
      if (matches && ((definition->has_min() && value.integer_value() < definition->min()) ||
                      (definition->has_max() && value.integer_value() > definition->max()))) {
        return Invalid(absl::StrCat(
            "field \"", field_name, "\" is ", value.integer_value(), "; it takes ",
            !definition->has_max() ? absl::StrCat(definition->min(), " or more")
            : !definition->has_min()
                ? absl::StrCat(definition->max(), " or less")
                : absl::StrCat("from ", definition->min(), " to ", definition->max())));
      }
      break;
    case v1::BOOLEAN:
      matches = value.value_case() == v1::FieldValue::kBooleanValue;
      break;
    case v1::DATE:
      matches = value.has_date_value();
      if (matches) {
        RETURN_IF_ERROR(
            ValidateDate(absl::StrCat("field \"", field_name, "\""), value.date_value()));
      }
      break;
    case v1::EMAIL:
      matches = value.has_string_value();
      if (matches) {
        const std::string what = absl::StrCat("field \"", field_name, "\"");
        const absl::string_view trimmed = absl::StripAsciiWhitespace(value.string_value());
        // Given blank, a required one is missing and an optional one left out, as a text's.
        if (trimmed.empty()) {
          if (definition->required()) return Invalid(absl::StrCat(what, " is required"));
          break;
        }
        if (trimmed.size() != value.string_value().size()) {
          return Invalid(absl::StrCat(what, " \"", absl::CHexEscape(value.string_value()),
                                      "\" has spaces at its ends; give the address alone"));
        }
        RETURN_IF_ERROR(ValidateEmail(what, value.string_value()));
      }
      break;
    default:
      break;
  }
  if (!matches) {
    return Invalid(absl::StrCat("field \"", field_name, "\" takes a value of type ",
                                v1::FieldType_Name(definition->type())));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateFields(const v1::ItemTypeDefinition& type,
                            const google::protobuf::Map<std::string, v1::FieldValue>& fields,
                            bool require_all) {
  // A form shows the refusal beside the field it is about: the reason names it.
  for (const auto& [field_name, value] : fields) {
    if (absl::Status refused = ValidateField(type, field_name, value); !refused.ok()) {
      // Escaped as the message names it: a name that is not UTF-8 cannot go in a proto string.
      return WithErrorInfo(std::move(refused), kInvalidField,
                           {{"field", absl::CHexEscape(field_name)}});
    }
  }
  if (require_all) {
    // Every one missing at once: a form is filled in once, not once a field.
    std::vector<std::string> missing, quoted;
    for (const v1::FieldDefinition& f : type.fields()) {
      if (f.required() && !fields.contains(f.name())) {
        missing.push_back(f.name());
        quoted.push_back(absl::StrCat("\"", f.name(), "\""));
      }
    }
    if (!missing.empty()) {
      return WithErrorInfo(
          Invalid(missing.size() == 1
                      ? absl::StrCat("field ", quoted[0], " is required for a ", type.name())
                      : absl::StrCat("fields ", absl::StrJoin(quoted, ", "), " are required for a ",
                                     type.name())),
          kMissingFields, {{"fields", absl::StrJoin(missing, ",")}});
    }
  }
  return absl::OkStatus();
}

const v1::Transition* FindTransition(const v1::WorkflowDefinition& workflow,
                                     absl::string_view state, absl::string_view action) {
  for (const v1::Transition& t : workflow.transitions()) {
    if (t.from() == state && t.action() == action) return &t;
  }
  return nullptr;
}

const v1::WorkflowState* FindState(const v1::WorkflowDefinition& workflow,
                                   absl::string_view state) {
  for (const v1::WorkflowState& s : workflow.states()) {
    if (s.name() == state) return &s;
  }
  return nullptr;
}

std::string InitialState(const v1::WorkflowDefinition& workflow, v1::OrderKind kind) {
  for (const v1::InitialState& initial : workflow.initial_states()) {
    if (initial.kind() == kind) return initial.state();
  }
  return "";
}

}  // namespace spotflow::engine::internal
