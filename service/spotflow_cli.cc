// spotflow: the command-line client of spotflowd.
//
//   spotflow [--server=HOST:PORT] [--token=TOKEN] [--json]
//            [--tls-ca=PEM [--tls-cert=PEM --tls-key=PEM]] VERB ARGS...
//
// The token comes from --token or $SPOTFLOW_TOKEN; the server from --server or
// $SPOTFLOW_SERVER (default 127.0.0.1:50051). Output is a readable summary, or the
// response as JSON with --json. On an error it prints the server's code and message and
// exits with 1 (2 for a usage error). `spotflow help` lists the verbs.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/nearest.h"
#include "base/utf8.h"
#include "engine/audit.h"
#include "engine/errors.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "proto/service.grpc.pb.h"
#include "service/internal/files.h"
#include "service/internal/pem.h"
#include "service/status.h"

namespace {

namespace v1 = spotflow::v1;
using spotflow::Nearest;
namespace files = spotflow::service::internal;

// Arguments after the verb: positionals, and --name=value / --name value / --flag options.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::vector<std::string> fields;  // Each --field NAME=VALUE, which may be given again.

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

// The usage of the verb being run, once it is known ("usage: spotflow order create ..."): a
// mistake in its arguments then shows it, rather than pointing at the list of every verb. The
// CLI runs one verb per process.
std::string verb_usage;

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr, "spotflow: %s\n%s\n", message.c_str(),
               verb_usage.empty() ? "(spotflow help lists the verbs)" : verb_usage.c_str());
  std::exit(2);
}

// A failure that is not a mistake in the command line (a file that cannot be read, one that
// does not hold what it should): exit 1, as a refusal by the server, with no usage hint.
[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "spotflow: %s\n", message.c_str());
  std::exit(1);
}

// "cannot read PATH: REASON", from errno.
std::string CannotRead(const std::string& path) {
  return absl::StrCat("cannot read ", path, ": ", std::strerror(errno));
}

const std::string& Positional(const Args& args, size_t index, const char* what) {
  if (index >= args.positional.size()) Usage(absl::StrCat("missing ", what));
  return args.positional[index];
}

// Whether a change that cannot be undone (a delete: the record leaves every list for good)
// goes ahead: --yes says so, a preview (--dry-run) changes nothing, and on a terminal the
// person is asked; elsewhere (a script) without --yes it is a usage error.
// `why`: what makes it grave, after the change ("cannot be undone").
bool Confirmed(const Args& args, const std::string& change,
               const std::string& why = "cannot be undone") {
  if (args.Has("yes") || args.Has("dry-run")) return true;
  // Asked only where the person sees the question (stderr) and answers it (stdin).
  if (isatty(STDIN_FILENO) == 0 || isatty(STDERR_FILENO) == 0) {
    Usage(absl::StrCat(change, " ", why,
                       ": add --yes to go ahead (or --dry-run to see what it would do)"));
  }
  std::fprintf(stderr, "%s %s. Go ahead? [y/N] ", change.c_str(), why.c_str());
  std::string answer;
  for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar()) answer.push_back(c);
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  if (answer == "y" || answer == "yes") return true;
  std::fprintf(stderr, "spotflow: nothing changed\n");
  return false;
}

std::string Required(const Args& args, const std::string& name) {
  if (!args.Has(name)) Usage(absl::StrCat("missing --", name));
  return args.Get(name);
}

// A JSON parser's error as a person finds the place: protobuf's ends with a window of the text
// and a caret under the spot ("Unexpected token.\n<window>\n    ^"). The window's own line
// breaks are shown as spaces, so that the caret stays under the spot, and the spot is named by
// line and column when the window is found in `text`.
std::string WhereInText(const std::string& error, const std::string& text) {
  const size_t first = error.find('\n');
  const size_t last = error.rfind('\n');
  if (first == std::string::npos || last == first) return error;
  std::string window = error.substr(first + 1, last - first - 1);
  const std::string caret = error.substr(last + 1);
  const size_t column_in_window = caret.find('^');
  std::string where;
  if (const size_t at = text.find(window);
      column_in_window != std::string::npos && at != std::string::npos) {
    const size_t spot = at + column_in_window;
    const size_t line = 1 + std::count(text.begin(), text.begin() + spot, '\n');
    const size_t line_start = spot == 0 ? std::string::npos : text.rfind('\n', spot - 1);
    const size_t column = line_start == std::string::npos ? spot + 1 : spot - line_start;
    where = absl::StrCat(" (line ", line, ", column ", column, ")");
  }
  std::replace(window.begin(), window.end(), '\n', ' ');
  std::replace(window.begin(), window.end(), '\t', ' ');
  return absl::StrCat(error.substr(0, first), where, "\n", window, "\n", caret);
}

// A definition (a workflow, an item type) read from a JSON file, as `--json ... show` prints
// one; its fields as protobuf's JSON mapping names them.
template <typename Message>
Message ReadDefinition(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) Fail(CannotRead(path));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Message message;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, &message);
  if (!parsed.ok()) {
    // An enum value misspelt: name the values there are ("invalid value \"INT\" for type
    // type.googleapis.com/spotflow.v1.FieldType").
    std::string values;
    const std::string kTypePrefix = "type.googleapis.com/";
    const std::string error(parsed.message());
    if (const size_t at = error.find(kTypePrefix); at != std::string::npos) {
      std::string type_name;
      for (size_t i = at + kTypePrefix.size(); i < error.size(); ++i) {
        const char c = error[i];
        if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') break;
        type_name += c;
      }
      if (const google::protobuf::EnumDescriptor* e =
              google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(type_name)) {
        std::vector<std::string> names;
        for (int i = 0; i < e->value_count(); ++i) {
          if (e->value(i)->number() != 0) names.push_back(e->value(i)->name());
        }
        values = absl::StrCat("; ", e->name(), " is one of ", absl::StrJoin(names, ", "));
      }
    }
    Fail(absl::StrCat(path, " is not a ", what, " in JSON (as `spotflow --json ", what,
                      " show NAME` prints one): ", WhereInText(error, text), values));
  }
  return message;
}

// "PRIVILEGE:SCOPE[,...]" as grants, names in any case: order_view:own.
std::vector<v1::Grant> ParseGrants(const std::string& text) {
  std::vector<v1::Grant> grants;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::vector<std::string> parts = absl::StrSplit(absl::StripAsciiWhitespace(item), ':');
    v1::Privilege privilege;
    v1::Scope scope;
    if (parts.size() != 2 || !v1::Privilege_Parse(absl::AsciiStrToUpper(parts[0]), &privilege) ||
        !v1::Scope_Parse(absl::AsciiStrToUpper(parts[1]), &scope) ||
        privilege == v1::PRIVILEGE_UNSPECIFIED || scope == v1::SCOPE_UNSPECIFIED) {
      std::vector<std::string> privileges;
      for (int i = 1; i < v1::Privilege_descriptor()->value_count(); ++i) {
        privileges.push_back(v1::Privilege_descriptor()->value(i)->name());
      }
      Usage(absl::StrCat("a grant is PRIVILEGE:SCOPE, not \"", item, "\"; privileges: ",
                         absl::StrJoin(privileges, ", "), "; scopes: OWN, TEAM, ALL"));
    }
    v1::Grant& grant = grants.emplace_back();
    grant.set_privilege(privilege);
    grant.set_scope(scope);
  }
  return grants;
}

// Digits alone, at least one: a number, whether or not it fits where it goes.
bool AllDigits(absl::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// A whole number of at most `Int`'s range: one past it is told the bound, not that it is no
// number.
template <typename Int>
Int WholeNumber(const std::string& text, const char* what) {
  Int value = 0;
  if (absl::SimpleAtoi(text, &value)) return value;
  if (AllDigits(text)) {
    Usage(absl::StrCat(what, " is at most ", std::numeric_limits<Int>::max(), ": not ", text));
  }
  Usage(absl::StrCat(what, " is a whole number, 0 or more: not \"", text, "\""));
}

uint32_t Number(const std::string& text, const char* what) {
  return WholeNumber<uint32_t>(text, what);
}

// --length: the spot's length in whole seconds, at least one.
uint32_t SpotSeconds(const Args& args) {
  uint32_t seconds = 0;
  if (!absl::SimpleAtoi(args.Get("length"), &seconds) || seconds == 0) {
    Usage(
        absl::StrCat("--length is the spot's length in whole seconds, 1 or more (30 for a :30), "
                     "not \"",
                     args.Get("length"), "\""));
  }
  return seconds;
}

// --limit: how many to list, at least one.
uint32_t Limit(const Args& args) {
  uint32_t limit = 0;
  if (!absl::SimpleAtoi(args.Get("limit"), &limit) || limit == 0) {
    Usage(absl::StrCat("--limit is a whole number, at least 1: not \"", args.Get("limit"), "\""));
  }
  return limit;
}

uint64_t Number64(const std::string& text, const char* what) {
  return WholeNumber<uint64_t>(text, what);
}

// What each verb takes: its words, how many arguments follow them, the options it reads and
// its line of help. The command line is checked against it before anything is sent, so a
// misspelt option, an option of another verb or a word too many is a usage error, not
// silently dropped.
struct VerbSpec {
  const char* name;   // "order create", "approve": one or two words.
  const char* usage;  // What follows the name, for help.
  size_t min_args, max_args;
  std::vector<std::string> options;
  bool change;  // Takes --etag, --request-id and --dry-run too.
};

const std::vector<VerbSpec>& Verbs() {
  // One verb a line or two, as the help prints them.
  // clang-format off
  static const auto* const kVerbs = new std::vector<VerbSpec>{
      {"order create", "--title TEXT [--client ID] [--flight START..END] [--length SECONDS]\n"
                       "               (--client: the account, unless --parent gives it;\n"
                       "               --flight: for a type with flights, such as production_order)\n"
                       "               [--kind production|provided] [--instructions TEXT] [--id ID]\n"
                       "               [--type NAME] [--field NAME=VALUE]...   (another item type than\n"
                       "               production_order; the type's fields: type show NAME)\n"
                       "               [--parent ORDER]   (made for that item, for its client: a\n"
                       "               request's media insertion; its type lists the types made for it)\n"
                       "               [--owner USER]   (a manager: whose order it is, when not the\n"
                       "               account's owner's)",
       0, 0, {"client", "title", "flight", "length", "kind", "instructions", "id", "type", "field",
              "parent", "owner"},
       true},
      {"order show", "ORDER", 1, 1, {}, false},
      {"order history", "ORDER", 1, 1, {}, false},
      {"order watch", "ORDER                    each change as it happens, until interrupted",
       1, 1, {}, false},
      {"order list", "[--status S[,S...]] [--type TYPE] [--client ID] [--owner ID]\n"
                     "               [--account-owner ID] [--flight FROM..TO]\n"
                     "               [--archived include|only|exclude] [--queue] [--waiting]\n"
                     "               [--parent ORDER] [--assigned USER] [--limit N] [--page-token T]\n"
                     "               (--account-owner: orders on their accounts, whoever owns the\n"
                     "               orders; --flight: flights that overlap it; FROM.. or ..TO leave an\n"
                     "               end open; --waiting: whom each order waits for, for staff;\n"
                     "               --parent: the items made for that order; --assigned: those\n"
                     "               whose producer or responsible the user is)",
       0, 0, {"status", "type", "client", "owner", "account-owner", "flight", "archived",
              "queue", "waiting", "parent", "assigned", "limit", "page-token"}, false},
      {"order update", "ORDER [--title TEXT] [--instructions TEXT] [--length SECONDS]\n"
                       "               [--field NAME=VALUE]...   (NAME= clears a text field)",
       1, 1, {"title", "instructions", "length", "field"}, true},
      {"order reuse", "ORDER [--flight START..END] [--id ID] [--title TEXT] [--field NAME=VALUE]...\n"
                      "               (a new order like it, with a flight of its own when its type\n"
                      "               has flights; --field over the archived order's)",
       1, 1, {"id", "title", "flight", "field"}, true},
      {"order stats", "[--owner USER] [--client ID] [--type TYPE] [--assigned USER]\n"
                      "               [--per-assignee]   (each assignee's book, not each owner's;\n"
                      "               orders no one is assigned to as (no one))\n"
                      "               [--since YYYY-MM-DD]\n"
                      "               [--until YYYY-MM-DD]   (the orders you see, made in those days:\n"
                      "               how many in each state and how long they stay, each owner's\n"
                      "               open orders and those ended in each final state)\n"
                      "               [--ended-since YYYY-MM-DD] [--ended-until YYYY-MM-DD]   (only\n"
                      "               those that ended in those days, such as deals won and lost\n"
                      "               this quarter)\n"
                      "               [--field NAME]   (with --type: that whole-number field summed\n"
                      "               and averaged over them, such as the value of deals won and lost)\n"
                      "               [--by NAME]   (with --type: the finished ones counted by that text\n"
                      "               field, such as why deals were lost; with --field, summed too)",
       0, 0, {"owner", "client", "type", "assigned", "per-assignee", "since", "until", "ended-since",
              "ended-until", "field", "by"},
       false},
      {"budget set", "USER --title TEXT --period START..END --target N [--type TYPE]\n"
                     "               [--field NAME] [--basis made|done]   (a target for USER's orders\n"
                     "               made in the period, or done in it (delivered, won): counted, or\n"
                     "               --field of --type summed; sales managers, for their team)\n"
                     "  budget set --id ID [USER] [--title ...] [--target N] ...   (changes what is\n"
                     "               given of that budget, from the version it reads)",
       0, 1, {"title", "period", "target", "type", "field", "basis", "id"}, true},
      {"budget list", "[--user USER]   (your budgets and your team's, with how far each has come)",
       0, 0, {"user"}, false},
      {"budget remove", "BUDGET   (its member's manager; a target set for you is not yours to remove)",
       1, 1, {}, true},
      {"order reassign", "ORDER[,ORDER...] USER   (the orders to another owner, their accounts\n"
                         "               staying where they are: sales managers; an associate\n"
                         "               (account_reassign:own), their own, within their team)",
       2, 2, {}, true},
      {"script submit", "ORDER --text TEXT [--note TEXT]", 1, 1, {"text", "note"}, true},
      {"spot upload", "ORDER --uri URI [--provided] [--duration-ms N] [--checksum C] [--note TEXT]\n"
                      "               (--provided: the client's or agency's spot; implied on an\n"
                      "               order of kind provided for one who may not record spots)",
       1, 1, {"uri", "provided", "duration-ms", "checksum", "note"}, true},
      {"approve", "ORDER script|spot N [--comment TEXT]", 3, 3, {"comment"}, true},
      {"changes", "ORDER script|spot N --comment TEXT          (request changes)",
       3, 3, {"comment"}, true},
      {"forward", "ORDER script|spot N --contact ID [--message TEXT]",
       3, 3, {"contact", "message"}, true},
      {"client-answer", "ORDER script|spot N approve|changes [--contact ID] [--comment TEXT]\n"
                        "               (without --contact: the contact it was forwarded to)",
       4, 4, {"contact", "comment"}, true},
      {"flight request", "ORDER --flight START..END [--reason TEXT]",
       1, 1, {"flight", "reason"}, true},
      {"flight decide", "ORDER REQUEST approve|reject [--comment TEXT]", 3, 3, {"comment"}, true},
      {"flight withdraw", "ORDER REQUEST [--comment TEXT]   (take back a pending request)",
       2, 2, {"comment"}, true},
      {"deliver", "ORDER [--comment TEXT] [--field NAME=VALUE]...", 1, 1, {"comment", "field"},
       true},
      {"action", "ORDER NAME [--comment TEXT] [--field NAME=VALUE]...   any action of the\n"
                 "               order's workflow, by name; --field sets a form field with the step\n"
                 "               (a lost deal's reason)",
       2, 2, {"comment", "field"}, true},
      {"archive", "ORDER", 1, 1, {}, true},
      {"restore", "ORDER", 1, 1, {}, true},
      {"delete", "ORDER [--yes]   (it leaves every list for good: asks first, or --yes)",
       1, 1, {"yes"}, true},
      {"share", "ORDER USER", 2, 2, {}, true},
      {"unshare", "ORDER USER", 2, 2, {}, true},
      {"assign", "ORDER USER                  (its producer; an item without revisions, such as\n"
                 "               a marketing request: its responsible)", 2, 2, {}, true},
      {"unassign", "ORDER                      (no producer or responsible: it waits for any\n"
                   "               who may take its next step again)", 1, 1, {}, true},
      {"comment", "ORDER \"TEXT\" [--for-client]   (--for-client: the client's logins read it too;\n"
                  "               a client's own comment on its request always is)",
       2, 2, {"for-client"}, true},
      {"client create", "--name NAME [--id ID] [--owner USER] [--kind KIND]\n"
                        "               (the id: made from the name when not given; the owner:\n"
                        "               you, or the AE who shared accounts with you)",
       0, 0, {"name", "id", "owner", "kind"}, true},
      {"client show", "CLIENT", 1, 1, {}, false},
      {"client list", "[--owner USER] [--kind KIND]   (whose accounts; of a kind, such as agency)",
       0, 0, {"owner", "kind"}, false},
      {"client update", "CLIENT [--name NAME] [--kind KIND] [--organization ORG]\n"
                        "  client update CLIENT --owner USER   (whose account it is, its personal\n"
                        "               manager; its orders stay with whoever manages them: accounts\n"
                        "               reassign moves them too)",
       1, 1, {"name", "kind", "organization", "owner"}, true},
      {"client share", "CLIENT USER [--until T]   (T is RFC 3339 or a date, its start in UTC;\n"
                       "               without it, until unshared)",
       2, 2, {"until"}, true},
      {"client unshare", "CLIENT USER", 2, 2, {}, true},
      {"client delete", "CLIENT [--yes]   (it leaves every list for good: asks first, or --yes)",
       1, 1, {"yes"}, true},
      {"contact add", "CLIENT --name NAME [--id ID] [--email E] [--phone P] [--title T]\n"
                      "               (the id: made from the name when not given)",
       1, 1, {"name", "id", "email", "phone", "title"}, true},
      {"contact update", "CLIENT CONTACT [--name NAME] [--email E] [--phone P] [--title T]\n"
                         "               (changes only what is given; --email= clears it)",
       2, 2, {"name", "email", "phone", "title"}, true},
      {"contact remove", "CLIENT CONTACT [--yes]   (a contact with a login: asks first, as the\n"
                         "               login ends with it, or --yes)",
       2, 2, {"yes"}, true},
      {"accounts reassign", "FROM_USER[,FROM_USER...] TO_USER[,TO_USER...] [--client ID[,ID...] |\n"
                            "               --kind KIND]   (without --client: every client FROM_USER\n"
                            "               owns, or those of a kind, with their open orders; several\n"
                            "               FROM_USERs give at once; several TO_USERs share them, each\n"
                            "               account to whoever has the fewest open orders; --dry-run\n"
                            "               lists what would move)\n"
                            "               [--orders ID[,ID...] | --no-orders]   (only those of the\n"
                            "               open orders go with the accounts, or none: the exact way\n"
                            "               back of an earlier move, as it prints)\n"
                            "               FROM_USER '*': whoever holds the accounts --client names,\n"
                            "               or every account of --kind within your reach (an audience)",
       2, 2, {"client", "kind", "orders", "no-orders"}, true},
      {"user create", "ID --name NAME --role ROLE[,ROLE...] [--email E] [--manager USER]\n"
                      "               [--client CLIENT --contact CONTACT]   (a client contact's own login)",
       1, 1, {"name", "role", "email", "manager", "client", "contact"}, true},
      {"user list", "", 0, 0, {}, false},
      {"user show", "[USER]   (without one: yourself, whom your token speaks for)", 0, 1, {}, false},
      {"user update", "USER [--name NAME] [--email E]", 1, 1, {"name", "email"}, true},
      {"user roles", "USER ROLE[,ROLE...]       (replaces the user's roles)", 2, 2, {}, true},
      {"user manager", "USER [MANAGER]           (without MANAGER: no manager)", 1, 2, {}, true},
      {"user deactivate", "USER", 1, 1, {}, true},
      {"user reactivate", "USER", 1, 1, {}, true},
      {"role list", "", 0, 0, {}, false},
      {"role show", "NAME   a role's grants, and the steps of workflows (their latest versions)\n"
                    "               given to some roles, it among them",
       1, 1, {}, false},
      {"role define", "NAME --grant PRIVILEGE:SCOPE[,...] [--title T]   (administrators;\n"
                      "               creates the role or replaces its grants, e.g.\n"
                      "               --grant order_view:all,order_manage:own)",
       1, 1, {"grant", "title"}, true},
      {"workflow list", "   each workflow's latest version, its states and which types follow it",
       0, 0, {}, false},
      {"workflow show", "NAME [--version N]   (--json prints a definition to edit and publish)",
       1, 1, {"version"}, false},
      {"workflow publish", "FILE   a workflow in JSON, as --json workflow show prints it; it\n"
                           "               becomes the next version (administrators)",
       1, 1, {}, true},
      {"type list", "   the item types new orders may be of (order create --type)", 0, 0, {}, false},
      {"type show", "NAME   an item type (production_order)", 1, 1, {}, false},
      {"type define", "FILE   an item type in JSON, as --json type show prints it (administrators)",
       1, 1, {}, true},
      {"token issue", "USER                                   (administrators)", 1, 1, {}, false},
      {"token revoke", "USER HASH_PREFIX                      (administrators; `user show` lists\n"
                       "               a user's tokens by the start of their hash)",
       2, 2, {}, false},
      {"events tail", "[--limit N] [--from N] [--follow]   the latest N events (50), or N from\n"
                      "               --from; with --follow, then each new one until interrupted;\n"
                      "               --json shows each payload's fields and hashes in hex",
       0, 0, {"limit", "from", "follow"}, false},
      {"events verify", "", 0, 0, {}, false},
      {"notify", "[--state FILE | --from N] [--follow]   a line for each person an order comes\n"
                 "               to wait for, and what to do (a request to pre-approve, a spot to\n"
                 "               answer), or no longer waits for, and the accounts and orders\n"
                 "               moved to them (confirmed to whoever moved them), for a mail\n"
                 "               gateway to send on:\n"
                 "               first what waits for whom now, then each change to the log's\n"
                 "               end, or with --follow until interrupted; --from N: the changes\n"
                 "               from event N on, no one told yet (each order as it stands now:\n"
                 "               not a replay of what waited then); --state\n"
                 "               keeps where it stopped and who was told, to go on from there\n"
                 "               (one run at a time, and only on the log it was kept for);\n"
                 "               --recheck SECONDS (with --follow; 600 unless given): every order\n"
                 "               asked again that often, for waits that end with time alone (an\n"
                 "               account shared until a day);\n"
                 "               --json a line each. Needs the log (EVENTS_READ) and sight of the\n"
                 "               orders: an administrator's or an auditor's token",
       0, 0, {"state", "from", "follow", "recheck"}, false},
      {"audit verify", "[--from N] [--to N]        the hash chain; prints the digest of --to\n"
                       "  audit verify --digest POSITION:HASH     the log up to a kept digest is unchanged and extends\n"
                       "  audit verify --export FILE [--digest D] [--filtered]\n"
                       "                                          re-hash an export, offline (no server, no token)",
       0, 0, {"from", "to", "digest", "export", "filtered"}, false},
      {"audit digest", "                           verify the whole log; print its digest to keep",
       0, 0, {}, false},
      {"audit export", "[--from N] [--to N] [--order ORDER | --client ID | --stream ID] [--user ID]\n"
                       "               [--since T] [--until T] [--out FILE]   JSON Lines; T is RFC 3339,\n"
                       "               e.g. 2026-11-23T09:00:00Z, or a date (its start in UTC: --until\n"
                       "               2026-11-24 takes in the 23rd); --stream takes a log stream (order-ID)",
       0, 0, {"from", "to", "order", "client", "stream", "user", "since", "until", "out"}, false},
      {"audit replay", "order|client ID --position N | --time T\n"
                       "  audit replay check                      rebuild every projection; compare with the live ones",
       1, 2, {"position", "time"}, false},
      {"audit history", "order|client ID           every change, field by field, with who and when",
       2, 2, {}, false},
  };
  // clang-format on
  return *kVerbs;
}

// The spec the words name (`verb`, then the first argument for two-word verbs); how many of
// the arguments the name used goes to `name_words`. nullptr when there is none.
const VerbSpec* FindVerb(const std::string& verb, const std::vector<std::string>& positional) {
  for (const VerbSpec& spec : Verbs()) {
    const std::string name = spec.name;
    if (name == verb) return &spec;
    if (!positional.empty() && name == verb + " " + positional[0]) return &spec;
  }
  return nullptr;
}

void PrintVerbHelp(const VerbSpec& spec) {
  std::printf("  %s%s%s\n", spec.name, *spec.usage == '\0' ? "" : " ", spec.usage);
}

// One verb's usage on its own: without the alignment of the full list.
std::string VerbUsage(const VerbSpec& spec) {
  const std::string usage(absl::StripLeadingAsciiWhitespace(spec.usage));
  // A usage that starts with spaces takes no arguments: it only says what the verb does.
  const bool described_only = !usage.empty() && absl::ascii_isspace(spec.usage[0]);
  return absl::StrCat("usage: spotflow ", spec.name,
                      usage.empty() ? "" : (described_only ? "\n  " : " "), usage);
}
void PrintVerbUsage(const VerbSpec& spec) { std::printf("%s\n", VerbUsage(spec).c_str()); }

// How a flight change ended, in the words of `flight decide ... approve|reject` and
// `flight withdraw`.
std::string FlightOutcome(v1::FlightChangeStatus status) {
  switch (status) {
    case v1::GRANTED:
      return "approved";
    case v1::REJECTED:
      return "rejected";
    case v1::WITHDRAWN:
      return "withdrawn";
    case v1::PENDING:
      return "waiting for a decision";
    default:
      return absl::AsciiStrToLower(v1::FlightChangeStatus_Name(status));
  }
}

// "; did you mean \"order\"?" for a verb two edits or fewer from one there is; else "".
std::string DidYouMean(const std::string& verb) {
  std::vector<std::string> verbs;
  for (const VerbSpec& spec : Verbs()) {
    verbs.emplace_back(
        absl::string_view(spec.name).substr(0, absl::string_view(spec.name).find(' ')));
  }
  const std::string best = Nearest(verb, verbs);
  return best.empty() ? "" : absl::StrCat("; did you mean \"", best, "\"?");
}

constexpr char kGlobalUsage[] =
    "usage: spotflow [--server=HOST:PORT] [--token=TOKEN] [--json]\n"
    "                [--tls-ca=PEM [--tls-cert=PEM --tls-key=PEM]] VERB ...\n"
    "The token may come from $SPOTFLOW_TOKEN, the server from $SPOTFLOW_SERVER;\n"
    "spotflow --version prints its version.\n"
    "ORDER is an order's id or its key (PO-2026-00001).\n";
constexpr char kChangeNote[] =
    "every change takes [--etag N] [--request-id ID] [--dry-run]; --dry-run asks the server\n"
    "whether the change would be made (refused as it would be, or the records it would\n"
    "change) and writes nothing; --json prints the server's answer as JSON\n";

void PrintHelp() {
  std::printf("%sverbs:\n", kGlobalUsage);
  for (const VerbSpec& spec : Verbs()) {
    if (std::string(spec.name) == "audit verify") {
      std::printf("audit (auditors and administrators; progress goes to stderr):\n");
    }
    PrintVerbHelp(spec);
  }
  std::printf("%s", kChangeNote);
}

// Checks the arguments and options against the verb's spec; a usage error otherwise.
void CheckArgs(const std::string& verb, const VerbSpec& spec, const Args& args) {
  const size_t name_words = std::string(spec.name) == verb ? 0 : 1;
  const size_t given = args.positional.size() - name_words;
  if (given < spec.min_args || given > spec.max_args) {
    std::string expected = spec.min_args == spec.max_args
                               ? absl::StrCat(spec.min_args)
                               : absl::StrCat(spec.min_args, " or ", spec.max_args);
    Usage(absl::StrCat(spec.name, " takes ", expected,
                       spec.max_args == 1 ? " argument" : " arguments", ", not ", given,
                       given > spec.max_args ? " (put text with spaces in quotes)" : ""));
  }
  for (const auto& [name, value] : args.options) {
    const bool known =
        std::find(spec.options.begin(), spec.options.end(), name) != spec.options.end() ||
        (spec.change && (name == "etag" || name == "request-id" || name == "dry-run"));
    if (!known) {
      std::vector<std::string> takes = spec.options;
      if (spec.change) {
        takes.push_back("etag");
        takes.push_back("request-id");
        takes.push_back("dry-run");
      }
      const std::string nearest = Nearest(name, takes);
      Usage(absl::StrCat("--", name, " is not an option of ", spec.name,
                         nearest.empty() ? "" : absl::StrCat("; did you mean --", nearest, "?"),
                         takes.empty()
                             ? " (it takes none)"
                             : absl::StrCat(" (it takes --", absl::StrJoin(takes, ", --"), ")")));
    }
  }
}

// "2027-01-15" as a date; what dates look like otherwise.
absl::StatusOr<v1::Date> DateOf(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '-');
  int y = 0, m = 0, d = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d)) {
    return absl::InvalidArgumentError(absl::StrCat("dates are YYYY-MM-DD, not \"", text, "\""));
  }
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

v1::Date ParseDate(const std::string& text) {
  absl::StatusOr<v1::Date> date = DateOf(text);
  if (!date.ok()) Usage(std::string(date.status().message()));
  return *date;
}

// "2026-12-01..2026-12-31": a flight, or another period (`what` names it).
std::pair<v1::Date, v1::Date> ParseFlight(const std::string& text, const char* what = "a flight") {
  std::vector<std::string> parts = absl::StrSplit(text, "..");
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
    Usage(absl::StrCat(what, " is START..END with both dates, e.g. 2026-12-01..2026-12-31, not \"",
                       text, "\""));
  }
  return {ParseDate(parts[0]), ParseDate(parts[1])};
}

// A moment as people read it in the log's time zone (UTC), to the minute; "-" when unset.
// "by sam, " before a time, or nothing when the server did not say who (a contact's login is
// not told who in the house wrote a revision or opened an order).
std::string ByWhom(const std::string& user) {
  return user.empty() ? "" : absl::StrCat("by ", user, ", ");
}

std::string TimeText(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

// An INTEGER field's bounds, as `type show` and a refused value say them: ", from 0 to 10",
// ", 0 or more", ", 10 or less"; "" when it has none.
std::string BoundsText(const v1::FieldDefinition& field) {
  if (field.has_min() && field.has_max()) {
    return absl::StrCat(", from ", field.min(), " to ", field.max());
  }
  if (field.has_min()) return absl::StrCat(", ", field.min(), " or more");
  if (field.has_max()) return absl::StrCat(", ", field.max(), " or less");
  return "";
}

// A number as people read amounts in a table: "1,234,567", "-12,000", "1,234.50" (a
// number's digits before its point grouped by thousands; any other text as it is).
std::string Grouped(std::string number) {
  const size_t start = !number.empty() && number[0] == '-' ? 1 : 0;
  size_t end = number.find('.');
  if (end == std::string::npos) end = number.size();
  for (size_t i = start; i < end; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(number[i]))) return number;
  }
  for (size_t at = end; at > start + 3; at -= 3) number.insert(at - 3, ",");
  return number;
}

// Names as a sentence lists them: "ava", "ava and sam", "ava, joe and sam".
template <typename Names>
std::string AndList(const Names& names) {
  std::string list;
  const size_t size = std::distance(std::begin(names), std::end(names));
  size_t i = 0;
  for (const auto& name : names) {
    absl::StrAppend(&list, i == 0 ? "" : i + 1 == size ? " and " : ", ", name);
    ++i;
  }
  return list;
}

// A sum and an average over the orders that have a value, as `order stats` prints them:
// "-" for both when none has one.
std::vector<std::string> AmountCells(int64_t sum, uint32_t orders, double average) {
  if (orders == 0) return {"-", "-"};
  return {Grouped(absl::StrCat(sum)), Grouped(absl::StrFormat("%.2f", average))};
}

std::string DateText(const v1::Date& date) {
  return absl::StrFormat("%04d-%02d-%02d", date.year(), date.month(), date.day());
}

// An order's flight, START..END; "-" for an item whose type has none.
std::string FlightText(const v1::OrderView& o) {
  if (o.flight_start().year() == 0) return "-";  // Unset, or set to nothing.
  return absl::StrCat(DateText(o.flight_start()), "..", DateText(o.flight_end()));
}

// The columns UTF-8 text takes: one per character (code point), which holds for the scripts
// names are mostly written in.
size_t Columns(absl::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

// `text` in at most `columns` characters (at least 1), never cut inside one; a cut one ends
// with "…", so that a reader knows there is more.
std::string Clip(absl::string_view text, size_t columns) {
  if (Columns(text) <= columns) return std::string(text);
  size_t seen = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (seen++ == columns - 1) return absl::StrCat(text.substr(0, i), "\u2026");
  }
  return std::string(text);
}

// A table for people: each column as wide as its widest cell (the last one unpadded), so
// long ids and names stay in line.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print() const {
    std::vector<size_t> widths;
    for (const std::vector<std::string>& row : rows_) {
      widths.resize(std::max(widths.size(), row.size()));
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Columns(row[i]));
    }
    for (const std::vector<std::string>& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line.append(widths[i] - Columns(row[i]) + 2, ' ');
      }
      std::printf("%s\n", std::string(absl::StripTrailingAsciiWhitespace(line)).c_str());
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A span of time as people read it: "45s", "12m", "3h 20m", "2d 4h".
std::string DurationText(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 86400)
    return absl::StrCat(s / 3600, "h", s % 3600 / 60 == 0 ? "" : " ",
                        s % 3600 / 60 == 0 ? "" : absl::StrCat(s % 3600 / 60, "m"));
  return absl::StrCat(s / 86400, "d", s % 86400 / 3600 == 0 ? "" : " ",
                      s % 86400 / 3600 == 0 ? "" : absl::StrCat(s % 86400 / 3600, "h"));
}

std::string Artifact(const std::string& text) {
  if (text != "script" && text != "spot") Usage("the artifact is script or spot");
  return text;
}

google::protobuf::Timestamp ParseTimestamp(const std::string& text) {
  absl::Time time;
  std::string error;
  // A date alone is its start in UTC: "--until 2027-01-01" ends a share as 2027 begins.
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error) &&
      !absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &time, &error)) {
    Usage(absl::StrCat("times are RFC 3339 (2026-11-23T09:00:00Z) or a date (2026-11-23, ",
                       "its start in UTC), not ", text));
  }
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(time));
  timestamp.set_nanos(static_cast<int32_t>((time - absl::FromUnixSeconds(timestamp.seconds())) /
                                           absl::Nanoseconds(1)));
  return timestamp;
}

class Client {
 public:
  Client(std::shared_ptr<grpc::Channel> channel, std::string server, std::string token, bool json,
         bool tls)
      : server_(std::move(server)),
        tls_(tls),
        orders_(v1::Orders::NewStub(channel)),
        clients_(v1::Clients::NewStub(channel)),
        admin_(v1::Admin::NewStub(channel)),
        events_(v1::Events::NewStub(channel)),
        audit_(v1::Audit::NewStub(channel)),
        token_(std::move(token)),
        json_(json) {}

  int Run(const std::string& verb, const Args& args);

 private:
  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token_);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  // For audit runs, which take as long as the log is long: no deadline.
  std::unique_ptr<grpc::ClientContext> StreamContext() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token_);
    return context;
  }

  // Progress of a long run on stderr, at most once a second.
  void ShowProgress(const char* what, const v1::AuditProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::seconds(1) || progress.total() == 0 ||
        progress.done() >= progress.total()) {
      return;
    }
    last_progress_ = now;
    std::fprintf(stderr, "%s: %llu of %llu records (%.0f%%)\n", what,
                 static_cast<unsigned long long>(progress.done()),
                 static_cast<unsigned long long>(progress.total()),
                 100.0 * static_cast<double>(progress.done()) / progress.total());
  }

  int Audit(const std::string& sub, const Args& args);

  // Reads a long run's stream, showing its progress; `result` gets the last message, which
  // carries the outcome.
  template <typename Response>
  grpc::Status ReadResult(const char* what, std::unique_ptr<grpc::ClientReader<Response>> reader,
                          Response* result) {
    Response response;
    while (reader->Read(&response)) {
      if (response.done()) *result = response;
      ShowProgress(what, response.progress());
    }
    return reader->Finish();
  }

  // Every page of a list, in one response: the CLI shows whole lists.
  template <typename Request, typename Response, typename Method>
  grpc::Status AllPages(Request request, Response* all, Method method) const {
    request.set_page_size(1000);
    while (true) {
      Response page;
      grpc::Status status = method(Context().get(), request, &page);
      if (!status.ok()) return status;
      all->MergeFrom(page);
      if (page.next_page_token().empty()) break;
      if (page.next_page_token() == request.page_token()) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            "the server gave the same page token twice; the list is incomplete");
      }
      request.set_page_token(page.next_page_token());
    }
    all->clear_next_page_token();
    return grpc::Status::OK;
  }

  int Report(const grpc::Status& status) const {
    if (status.ok()) return 0;
    std::fprintf(stderr, "spotflow: %s: %s\n", CodeName(status.error_code()),
                 status.error_message().c_str());
    // A host name that does not resolve: no server was reached.
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        absl::StrContains(status.error_message(), "DNS resolution failed")) {
      std::fprintf(stderr,
                   "spotflow: no host is known by the name in %s: --server (or "
                   "$SPOTFLOW_SERVER) is HOST:PORT, e.g. 127.0.0.1:50051\n",
                   server_.c_str());
    }
    // Only when no connection was made: the server itself answers UNAVAILABLE while it stops.
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
        absl::StrContains(status.error_message(), "failed to connect")) {
      const std::string message = absl::AsciiStrToLower(status.error_message());
      // A server that wants a client certificate closes the socket on one without.
      if (absl::StrContains(message, "handshake") || absl::StrContains(message, "certificate") ||
          (tls_ && absl::StrContains(message, "socket closed"))) {
        std::fprintf(stderr,
                     "spotflow: the TLS handshake with %s failed: check --tls-ca (the CA that "
                     "signed the server's certificate) and, if the server asks for client "
                     "certificates, --tls-cert and --tls-key\n",
                     server_.c_str());
      } else {
        std::fprintf(stderr,
                     "spotflow: is spotflowd running at %s? (--server or $SPOTFLOW_SERVER; "
                     "scripts/run.sh starts one)%s\n",
                     server_.c_str(), tls_ ? "" : "; if it serves TLS, give --tls-ca");
      }
    }
    // The engine names workflow actions; order show maps those open to the caller to verbs.
    // (Only the house's staff are told what is open to them: a contact's answers are few.)
    const std::optional<v1::ErrorInfo> info = spotflow::service::ErrorInfoOf(status);
    if (info.has_value() && info->reason() == spotflow::engine::kActionNotOpen &&
        info->metadata().contains("open_to_you")) {
      std::fprintf(stderr,
                   "spotflow: `spotflow order show ORDER` lists the commands open to "
                   "you now\n");
    }
    return 1;
  }

  static const char* CodeName(grpc::StatusCode code) {
    static const char* kNames[] = {"OK",
                                   "CANCELLED",
                                   "UNKNOWN",
                                   "INVALID_ARGUMENT",
                                   "DEADLINE_EXCEEDED",
                                   "NOT_FOUND",
                                   "ALREADY_EXISTS",
                                   "PERMISSION_DENIED",
                                   "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION",
                                   "ABORTED",
                                   "OUT_OF_RANGE",
                                   "UNIMPLEMENTED",
                                   "INTERNAL",
                                   "UNAVAILABLE",
                                   "DATA_LOSS",
                                   "UNAUTHENTICATED"};
    const int index = static_cast<int>(code);
    return index >= 0 && index <= 16 ? kNames[index] : "UNKNOWN";
  }

  // An event as a line of `events tail`, or of JSON with --json.
  // One event per line, as `events tail --follow` prints them as they come: the columns are
  // fixed, the stream's wide enough for an order's with a generated id (order- and 32 digits).
  // The header over those lines, in the same columns.
  void PrintEventHeader() const {
    if (json_) return;
    std::printf("%6s %-19s %-38s %-4s %-36s %s\n", "POS", "TIME (UTC)", "STREAM", "VER", "EVENT",
                "BY");
  }
  // An event's stream as a table names it: an order by its key, as everywhere else, looked up
  // once per order; one deleted, or no longer in the caller's sight, as it was at the event
  // (`position`; the order's history as the caller may read it, or the log for an auditor); one
  // the caller may read neither way by its stream id. The other records' ids are the names
  // people gave them ("client-acme").
  std::string StreamLabel(const std::string& stream, uint64_t position) const {
    absl::string_view id = stream;
    if (!absl::ConsumePrefix(&id, "order-")) return stream;
    auto [label, fresh] = stream_labels_.try_emplace(stream, stream);
    if (fresh) {
      v1::GetOrderRequest request;
      request.set_order_id(std::string(id));
      v1::OrderView order;
      grpc::Status got = orders_->GetOrder(Context().get(), request, &order);
      if (got.error_code() == grpc::StatusCode::NOT_FOUND && position != 0) {
        request.mutable_as_of()->set_position(position);
        got = orders_->GetOrder(Context().get(), request, &order);
      }
      if (got.ok() && !order.key().empty()) label->second = absl::StrCat("order ", order.key());
    }
    return label->second;
  }
  void PrintEventLine(const v1::EventRecord& e) const {
    if (json_) return PrintJsonLine(Tailed(e));
    std::printf(
        "%6llu %s %-38s v%-3llu %-36s by %s%s%s\n", static_cast<unsigned long long>(e.position()),
        absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(e.recorded_time().seconds()),
                         absl::UTCTimeZone())
            .c_str(),
        StreamLabel(e.stream_id(), e.position()).c_str(),
        static_cast<unsigned long long>(e.stream_version()), e.payload_type().c_str(),
        e.actor().user_id().c_str(), e.actor().on_behalf_of().empty() ? "" : " for ",
        e.actor().on_behalf_of().c_str());
  }

  // One message as one line of JSON, for streams read by scripts.
  static void PrintJsonLine(const google::protobuf::Message& message) {
    std::printf("%s\n", JsonText(message, /*whitespace=*/false).c_str());
  }

  bool PrintJson(const google::protobuf::Message& message) const {
    if (!json_) return false;
    // Stats are figures, each read by scripts: every one printed, zeros and empty lists too,
    // in every row ("orders_now": 0), which protobuf's JSON mapping otherwise leaves out.
    const bool figures = message.GetDescriptor() == v1::OrderStats::descriptor();
    std::printf("%s",
                WithEmptyLists(message, JsonText(message, /*whitespace=*/true, figures)).c_str());
    return true;
  }

  // A List method's answer (ListOrdersResponse, ...) with its lists printed when empty
  // too ("orders": []), which protobuf's JSON mapping leaves out: a script reading `.orders[]`
  // then finds none rather than nothing to read. `text` is JsonText's, with whitespace: an
  // object opened on the first line and closed on the last, one space a level.
  static std::string WithEmptyLists(const google::protobuf::Message& message, std::string text) {
    const google::protobuf::Descriptor* type = message.GetDescriptor();
    const google::protobuf::Reflection* reflection = message.GetReflection();
    if (!absl::StartsWith(type->name(), "List") || !absl::EndsWith(type->name(), "Response")) {
      return text;
    }
    std::vector<std::string> empty;
    for (int i = 0; i < type->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* field = type->field(i);
      if (field->is_repeated() && !field->is_map() && reflection->FieldSize(message, field) == 0) {
        empty.push_back(absl::StrCat(" \"", field->name(), "\": []"));
      }
    }
    if (empty.empty()) return text;
    const std::string lists = absl::StrJoin(empty, ",\n");
    if (text == "{}\n" || text == "{}") return absl::StrCat("{\n", lists, "\n}\n");
    const size_t close = text.rfind("\n}");
    if (close == std::string::npos) return text;  // Not the shape expected: left as it is.
    text.insert(close, absl::StrCat(",\n", lists));
    return text;
  }

  // A message in protobuf's JSON mapping, under its fields' names in the .proto; `defaults`:
  // with fields that hold their default too (0, "", []). One that will not print (an Any of a
  // type this build lacks) is said on stderr and prints as null.
  static std::string JsonText(const google::protobuf::Message& message, bool whitespace,
                              bool defaults = false) {
    std::string text;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = whitespace;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = defaults;
    const auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
    if (status.ok()) return text;
    std::fprintf(stderr, "spotflow: cannot print a %s as JSON: %s\n",
                 message.GetDescriptor()->full_name().c_str(), status.ToString().c_str());
    return whitespace ? "null\n" : "null";
  }

  // An event as `events tail --json` prints it (TailedEvent): its payload read as the engine's
  // DomainEvent, field by field, and its hashes in hex, as `audit export` gives them. A payload
  // the engine did not write, or whose bytes are not the event its type names, stays bytes.
  static v1::TailedEvent Tailed(const v1::EventRecord& e) {
    v1::TailedEvent tailed;
    tailed.set_position(e.position());
    tailed.set_stream_id(e.stream_id());
    tailed.set_stream_version(e.stream_version());
    tailed.set_event_id(e.event_id());
    if (e.has_recorded_time()) *tailed.mutable_recorded_time() = e.recorded_time();
    if (e.has_actor()) *tailed.mutable_actor() = e.actor();
    tailed.set_correlation_id(e.correlation_id());
    tailed.set_causation_id(e.causation_id());
    tailed.set_idempotency_key(e.idempotency_key());
    tailed.set_schema_version(e.schema_version());
    tailed.set_payload_type(e.payload_type());
    tailed.set_previous_hash(absl::BytesToHexString(e.previous_hash()));
    tailed.set_hash(absl::BytesToHexString(e.hash()));
    tailed.set_command_digest(e.command_digest());
    v1::DomainEvent event;
    const google::protobuf::FieldDescriptor* kind =
        event.ParseFromString(e.payload())
            ? v1::DomainEvent::descriptor()->FindFieldByNumber(event.event_case())
            : nullptr;
    if (kind != nullptr && kind->message_type()->full_name() == e.payload_type()) {
      tailed.mutable_payload()->PackFrom(event);
    } else {
      tailed.set_payload_bytes(e.payload());
    }
    return tailed;
  }

  // `events tail`'s events, as a table's lines or, with --json, as the server's answer with
  // each event as Tailed gives it.
  void PrintEvents(const v1::ListEventsResponse& response) const {
    if (!json_) {
      if (!response.events().empty()) PrintEventHeader();
      for (const v1::EventRecord& e : response.events()) PrintEventLine(e);
      return;
    }
    v1::TailedEvents tailed;
    for (const v1::EventRecord& e : response.events()) *tailed.add_events() = Tailed(e);
    tailed.set_next_position(response.next_position());
    tailed.set_head_position(response.head_position());
    PrintJson(tailed);
  }

  // Prints each order a WatchOrder feed sends, and after the first each change with who made
  // it (from the order's history) past `*shown`; returns how the feed ended. The version last
  // printed (`*emitted`: the first order of a feed opened again) is not printed twice.
  grpc::Status Watch(grpc::ClientReaderInterface<v1::OrderView>* reader, uint64_t* shown_version,
                     uint64_t* emitted, bool* may_audit_changes) {
    v1::OrderView o;
    uint64_t& shown = *shown_version;
    bool& may_audit = *may_audit_changes;
    int comments_seen = -1;  // Of this feed; -1 before its first order.
    while (reader->Read(&o)) {
      if (o.version() == *emitted) continue;
      *emitted = o.version();
      if (json_) {
        PrintJsonLine(o);
      } else {
        const std::string revisions = RevisionCounts(o);
        std::printf("%s etag %llu: status %s%s%s%s%s\n", o.key().c_str(),
                    static_cast<unsigned long long>(o.version()),
                    StatusText(o, /*long_form=*/true).c_str(), FinalText(o),
                    o.archived() ? ", archived" : "", revisions.empty() ? "" : ", ",
                    revisions.c_str());
        // After the first, each change with who made it and what it changed, from the
        // order's history (the feed carries the order, not who changed it).
        bool read = true;  // The changes up to this version were printed (or need not be).
        if (shown != 0 && may_audit) {
          v1::AuditHistoryRequest changes;
          changes.set_order_id(o.order_id());
          v1::AuditHistoryResponse response;
          const grpc::Status status = audit_->History(Context().get(), changes, &response);
          if (status.ok()) {
            // Up to this version: later ones come with the order's next version.
            PrintChanges(response, shown, o.version());
          } else if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
            may_audit = false;
          } else {
            read = false;  // Not read this time: the next version's read prints these too.
          }
        }
        if (read) shown = o.version();
        // Who may not read the history (a client's login) is shown a new comment for it.
        if (!may_audit && comments_seen >= 0 && o.comments_size() > comments_seen) {
          const v1::Comment& c = *o.comments().rbegin();
          std::printf("  comment%s%s: %s\n", c.author().empty() ? "" : " by ", c.author().c_str(),
                      Indented(c.text(), 4).c_str());
        }
        comments_seen = o.comments_size();
      }
      std::fflush(stdout);
    }
    return reader->Finish();
  }

  // Whether a live feed that ended so is opened again: the server went away (a drain ends
  // feeds with UNAVAILABLE, and one opened again while it still stops is CANCELLED) rather than
  // refused or ended it. If so, it first waits a second, so that a server still stopping is
  // not asked again at once.
  static bool WaitToReconnect(const grpc::Status& status) {
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
        status.error_code() != grpc::StatusCode::CANCELLED) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return true;
  }

  // What a change's sub_id names, for its "ok:" line: "(revision 2)" rather than "(2)". The
  // others (accounts and orders moved) say it themselves.
  template <typename Request>
  static const char* SubIdLabel(const Request&) {
    return "";
  }
  static const char* SubIdLabel(const v1::SubmitRevisionRequest&) { return "revision "; }
  static const char* SubIdLabel(const v1::ApproveRevisionRequest&) { return "revision "; }
  static const char* SubIdLabel(const v1::RequestChangesRequest&) { return "revision "; }
  static const char* SubIdLabel(const v1::ForwardToClientRequest&) { return "revision "; }
  static const char* SubIdLabel(const v1::RecordClientAnswerRequest&) { return "revision "; }
  static const char* SubIdLabel(const v1::RequestFlightChangeRequest&) { return "flight change "; }
  static const char* SubIdLabel(const v1::DecideFlightChangeRequest&) { return "flight change "; }
  static const char* SubIdLabel(const v1::WithdrawFlightChangeRequest&) { return "flight change "; }
  static const char* SubIdLabel(const v1::AddCommentRequest&) { return "comment "; }
  static const char* SubIdLabel(const v1::AddContactRequest&) { return "contact "; }
  static const char* SubIdLabel(const v1::UpdateContactRequest&) { return "contact "; }
  static const char* SubIdLabel(const v1::PublishWorkflowRequest&) { return "version "; }

  // What an answer heads with: the record changed; for accounts spread over several, who
  // took them, as no one record did.
  template <typename Request>
  static std::string Heading(const Request&, const v1::CommandResult& result) {
    return result.id();
  }
  static std::string Heading(const v1::ReassignAccountsRequest& request,
                             const v1::CommandResult& result) {
    return result.id().empty() ? absl::StrJoin(request.reassign_accounts().spread_to(), ",")
                               : result.id();
  }

  // How a login a change deactivated comes back: after a removed contact, when the contact
  // is added again under its id (by name alone it would get another, "-2"); a deleted
  // client's never (it is not restored).
  template <typename Request>
  static std::string LoginBack(const Request&, absl::string_view) {
    return "";
  }
  static std::string LoginBack(const v1::RemoveContactRequest& request, absl::string_view user) {
    const v1::RemoveContact& removed = request.remove_contact();
    return absl::StrCat(
        "; to bring it back, add the contact again under its id (spotflow contact add ",
        removed.client_id(), " --id ", removed.contact_id(),
        " --name NAME), then an administrator may reactivate it (spotflow user reactivate ", user,
        ")");
  }

  // A change: prints what the server answered, then `then` with it, if given.
  template <typename Request, typename Method>
  int Change(Request request, const Args& args, Method method,
             const std::function<void(const v1::CommandResult&)>& then = nullptr) {
    if (args.Has("etag")) request.set_etag(Number64(args.Get("etag"), "--etag"));
    request.set_request_id(args.Get("request-id"));
    request.set_validate_only(args.Has("dry-run"));
    v1::CommandResult result;
    grpc::Status status = method(Context().get(), request, &result);
    if (!status.ok()) return Report(status);
    // A server from before validate_only ignores it and makes the change: say so loudly.
    const bool unheard_dry_run = args.Has("dry-run") && !result.validate_only();
    if (unheard_dry_run) {
      std::fprintf(stderr,
                   "spotflow: the server does not know --dry-run (validate_only), so the change "
                   "WAS made; its answer follows\n");
    }
    if (PrintJson(result)) return unheard_dry_run ? 1 : 0;
    if (result.validate_only()) {
      // A dry run: the server decided the change and wrote nothing.
      std::printf("dry run: %s%s; nothing was written\n",
                  result.deduplicated()      ? "that request id was already done"
                  : result.streams().empty() ? "nothing would change (already so)"
                                             : "the change would be made",
                  result.sub_id().empty()
                      ? ""
                      : absl::StrCat(" (", SubIdLabel(request), result.sub_id(), ")").c_str());
      if (then) {
        then(result);
      } else if (!result.streams().empty() && !result.deduplicated()) {
        std::vector<std::string> records;
        for (const v1::StreamEtag& written : result.streams()) {
          // "order-<id>" reads "order <id>"; one it would create, whose id is a placeholder
          // (its first version), "a new order".
          std::string record = written.stream_id();
          const size_t dash = record.find('-');
          if (dash == std::string::npos) {
            records.push_back(record);
          } else if (written.etag() == 1) {
            records.push_back("a new " + record.substr(0, dash));
          } else if (!result.key().empty() && record == "order-" + result.id()) {
            records.push_back("order " + result.key());  // As people quote it.
          } else {
            records.push_back(record.replace(dash, 1, " "));
          }
        }
        std::printf("  it would change: %s\n", absl::StrJoin(records, ", ").c_str());
        // Logins it would end (as the change itself prints them below), which the change
        // itself asks about first: a dry run is asked nothing.
        for (const v1::StreamEtag& written : result.streams()) {
          absl::string_view user = written.stream_id();
          if (!absl::ConsumePrefix(&user, "user-") || user == result.id()) continue;
          std::printf("  the login %s would be deactivated with it; %s\n",
                      std::string(user).c_str(),
                      args.Has("yes") ? "with --yes and without --dry-run, it would be"
                                      : "without --dry-run you are asked first (--yes to go "
                                        "ahead unasked)");
        }
      }
      return 0;
    }
    {
      // No etag for a change that targets no one record (reassigning several accounts).
      const std::string heading = Heading(request, result);
      std::printf("ok: %s%s%s%s%s\n", result.key().empty() ? "" : (result.key() + " ").c_str(),
                  heading.c_str(),
                  result.sub_id().empty() ? ""
                                          : absl::StrCat(heading.empty() ? "" : " ", "(",
                                                         SubIdLabel(request), result.sub_id(), ")")
                                                .c_str(),
                  result.etag() == 0 ? "" : absl::StrCat(" etag=", result.etag()).c_str(),
                  result.deduplicated()         ? " (repeat of an earlier request)"
                  : result.last_position() == 0 ? " (already so: nothing changed)"
                                                : "");
      if (then) then(result);
      // Logins a removal ended with what they spoke for (a contact, a client), which no one
      // would otherwise learn until they are refused. (Another user's stream is written by a
      // change to something else only there, DeactivateLogins, today.)
      for (const v1::StreamEtag& written : result.streams()) {
        absl::string_view user = written.stream_id();
        if (!absl::ConsumePrefix(&user, "user-") || user == result.id()) continue;
        std::printf("  the login %s was deactivated with it%s\n", std::string(user).c_str(),
                    LoginBack(request, user).c_str());
      }
    }
    return unheard_dry_run ? 1 : 0;
  }

  // The way back after a reassignment, while nothing else has changed: `commands`, giving back
  // to `owner`. Accounts and orders go only to an active user: one who left must be
  // reactivated first. (Moving them is a manager's, or their new owner's, to do.) Whether
  // `owner` is active: a dry run of the way back to one who is not would only say so again.
  bool PrintWayBack(const std::string& owner, const std::vector<std::string>& commands) {
    v1::GetUserRequest get;
    get.set_user_id(owner);
    v1::UserView giver;
    // Unknown (the caller may not read users): taken as active, and the dry run tells.
    const bool active = !admin_->GetUser(Context().get(), get, &giver).ok() || giver.active();
    const std::string lead =
        absl::StrCat("  to move them back to ", owner,
                     active ? "" : " (deactivated: reactivate them first)", ": ");
    std::printf("%s%s\n", lead.c_str(),
                absl::StrJoin(commands, "\n" + std::string(lead.size(), ' ')).c_str());
    return active;
  }

  // Which accounts and orders moved (or would), from whom (`from` when the server does not
  // say, as one from before several givers), to whom, and the way back to each giver.
  // `named`: the accounts asked for from whoever holds them (*), of which those a taker held
  // already stayed.
  void PrintAccountsMoved(const std::string& from, const std::vector<std::string>& takers,
                          bool by_kind, const std::vector<std::string>& named,
                          const v1::CommandResult& result) {
    if (by_kind && result.moved_accounts().empty() && !from.empty()) {
      // A server from before client_kind would have moved every account of theirs.
      std::fprintf(stderr,
                   "spotflow: the server did not say which accounts moved: it may not know "
                   "--kind and have moved all of %s's; check with spotflow client list\n",
                   from.c_str());
    }
    struct Moved {
      std::vector<std::string> clients, orders;  // Orders by key.
    };
    // Per taker, in the order given: their accounts and open orders; and per giver and taker,
    // what goes back. From a server that does not name the moves (moved_accounts), the
    // streams written say what moved, not to whom.
    std::vector<std::string> names = takers;
    std::map<std::string, Moved> to;
    std::vector<std::string> givers;  // In the order the moves name them.
    std::map<std::pair<std::string, std::string>, Moved> back_to;  // (giver, taker).
    std::map<std::string, std::string> key_of;  // Order id -> its key, to name it by.
    std::map<std::string, std::string> gave;    // Order id -> who gave it.
    for (const v1::OrderMoved& m : result.moved_orders()) {
      if (!m.key().empty()) key_of[m.order_id()] = m.key();
      if (!m.old_owner().empty()) gave[m.order_id()] = m.old_owner();
    }
    // A giver's orders on another giver's account, by who gave them: they go back on their own.
    std::map<std::string, std::vector<std::string>> orders_back;
    const auto add_giver = [&](const std::string& giver) {
      if (std::find(givers.begin(), givers.end(), giver) == givers.end()) givers.push_back(giver);
    };
    for (const v1::AccountMoved& m : result.moved_accounts()) {
      const std::string giver = m.old_owner().empty() ? from : m.old_owner();
      add_giver(giver);
      Moved& back = back_to[{giver, m.new_owner()}];
      back.clients.push_back(m.client_id());
      to[m.new_owner()].clients.push_back(m.client_id());
      for (const std::string& order : m.order_ids()) {
        auto key = key_of.find(order);
        const std::string& name = key == key_of.end() ? order : key->second;
        auto owner = gave.find(order);
        if (owner != gave.end() && owner->second != giver) {
          // Another giver's, on this account: marked as theirs.
          to[m.new_owner()].orders.push_back(absl::StrCat(name, " (", owner->second, "'s)"));
          orders_back[owner->second].push_back(name);
        } else {
          to[m.new_owner()].orders.push_back(name);
          back.orders.push_back(name);
        }
      }
    }
    for (const auto& [giver, orders] : orders_back) add_giver(giver);
    // From whom each account came, when several gave or whoever held them did (*).
    std::map<std::string, std::string> giver_of;
    if (givers.size() > 1 || (from.empty() && !givers.empty())) {
      for (const v1::AccountMoved& m : result.moved_accounts()) {
        giver_of[m.client_id()] = absl::StrCat(" (", m.old_owner(), "'s)");
      }
    }
    if (result.moved_accounts().empty()) {
      names = {takers.size() == 1 ? takers[0] : ""};
      for (const v1::StreamEtag& written : result.streams()) {
        absl::string_view id = written.stream_id();
        if (absl::ConsumePrefix(&id, "client-")) to[names[0]].clients.emplace_back(id);
        if (absl::ConsumePrefix(&id, "order-")) to[names[0]].orders.emplace_back(id);
      }
      if (!from.empty() && !names[0].empty() && !to[names[0]].clients.empty()) {
        givers = {from};
        back_to[{from, names[0]}] = to[names[0]];
      }
    }
    const bool dry = result.validate_only();
    for (const std::string& taker : names) {
      const Moved& moved = to[taker];
      if (names.size() > 1) {
        std::printf("  to %s:\n", taker.c_str());
        if (moved.clients.empty()) {
          std::printf(
              "    nothing (each account goes to whoever has the fewest open orders so "
              "far, counting those they own already)\n");
        }
      }
      const char* indent = names.size() > 1 ? "    " : "  ";
      if (!moved.clients.empty()) {
        std::vector<std::string> clients;
        for (const std::string& client : moved.clients) {
          clients.push_back(absl::StrCat(client, giver_of[client]));
        }
        std::printf("%s%s: %s\n", indent, dry ? "clients it would move" : "clients",
                    absl::StrJoin(clients, ", ").c_str());
      }
      if (!moved.orders.empty()) {
        std::printf("%s%s: %s\n", indent, dry ? "open orders it would move" : "open orders",
                    absl::StrJoin(moved.orders, ", ").c_str());
      }
    }
    // Named accounts that did not move: a taker held them already (a server from before
    // moved_accounts, which wrote streams without naming the moves, is not asked).
    if (!named.empty() && (!result.moved_accounts().empty() || result.streams().empty())) {
      std::vector<std::string> kept;
      for (const std::string& client : named) {
        const auto& all = result.moved_accounts();
        if (std::none_of(all.begin(), all.end(),
                         [&](const v1::AccountMoved& m) { return m.client_id() == client; }) &&
            std::find(kept.begin(), kept.end(), client) == kept.end()) {
          kept.push_back(client);
        }
      }
      if (!kept.empty()) {
        std::printf("  %s with %s%s, who held %s already: %s\n", dry ? "staying" : "stayed",
                    takers.size() == 1 ? "" : "one of ", absl::StrJoin(takers, ", ").c_str(),
                    kept.size() == 1 ? "it" : "them", absl::StrJoin(kept, ", ").c_str());
      }
    }
    if (dry) return;
    // The way back to each giver, while nothing else has changed: the same accounts the other
    // way, with the orders that came with them and not those the taker owned on them before.
    std::vector<std::string> unreachable;  // Takers whose accounts the caller may not move.
    std::vector<std::string> refused;      // Why a way back would be refused now, otherwise.
    for (const std::string& giver : givers) {
      // One command per giver: the takers give back together (several givers at once).
      std::vector<std::string> holders, clients, orders;
      for (const std::string& taker : names) {
        auto it = back_to.find({giver, taker});
        if (it == back_to.end() || it->second.clients.empty()) continue;
        holders.push_back(taker);
        clients.insert(clients.end(), it->second.clients.begin(), it->second.clients.end());
        orders.insert(orders.end(), it->second.orders.begin(), it->second.orders.end());
      }
      std::vector<std::string> commands;
      if (!holders.empty()) {
        commands.push_back(
            absl::StrCat("spotflow accounts reassign ", absl::StrJoin(holders, ","), " ", giver,
                         " --client ", absl::StrJoin(clients, ","),
                         orders.empty() ? " --no-orders"
                                        : absl::StrCat(" --orders ", absl::StrJoin(orders, ","))));
      }
      // Their orders that went with another's account.
      auto stray = orders_back.find(giver);
      if (stray != orders_back.end()) {
        commands.push_back(absl::StrCat("spotflow order reassign ",
                                        absl::StrJoin(stray->second, ","), " ", giver));
      }
      if (commands.empty()) continue;
      if (!PrintWayBack(giver, commands)) continue;
      grpc::Status way_back;
      if (!holders.empty()) way_back = TryReassignAccounts(holders, giver, clients, orders);
      if (way_back.ok() && stray != orders_back.end()) {
        way_back = TryReassignOrders(stray->second, giver);
      }
      if (way_back.error_code() == grpc::StatusCode::PERMISSION_DENIED && !holders.empty()) {
        for (const std::string& taker : holders) {
          if (std::find(unreachable.begin(), unreachable.end(), taker) == unreachable.end()) {
            unreachable.push_back(taker);
          }
        }
      } else if (!way_back.ok()) {
        refused.push_back(way_back.error_message());
      }
    }
    if (!unreachable.empty()) {
      std::printf("  (you may not move %s accounts back yourself: ask %s)\n",
                  unreachable.size() == 1 ? absl::StrCat(unreachable[0], "'s").c_str() : "these",
                  WhomToAsk(unreachable).c_str());
    }
    for (const std::string& why : refused) {
      std::printf("  (the way back would be refused now: %s)\n", why.c_str());
    }
  }
  // Who may move `holders`' accounts when the caller may not: each one's manager by name
  // ("mia, who manages sam and ava"), or, for those whose manager is unknown (none set, one who
  // has left, or the caller may not read users), a manager whose reach takes them in.
  std::string WhomToAsk(const std::vector<std::string>& holders) {
    std::map<std::string, std::vector<std::string>> managed;  // Manager -> holders.
    std::vector<std::string> unknown;
    const auto user_of = [&](const std::string& id, v1::UserView* user) {
      v1::GetUserRequest get;
      get.set_user_id(id);
      return admin_->GetUser(Context().get(), get, user).ok();
    };
    for (const std::string& holder : holders) {
      v1::UserView user, manager;
      // A manager who has left is no one to ask.
      if (user_of(holder, &user) && !user.manager_id().empty() &&
          user_of(user.manager_id(), &manager) && manager.active()) {
        managed[user.manager_id()].push_back(holder);
      } else {
        unknown.push_back(holder);
      }
    }
    std::vector<std::string> whom;
    for (const auto& [manager, team] : managed) {
      whom.push_back(absl::StrCat(manager, ", who manages ", AndList(team)));
    }
    if (!unknown.empty()) {
      whom.push_back(absl::StrCat("a manager whose reach takes in ", AndList(unknown)));
    }
    return absl::StrJoin(whom, "; or ");
  }
  // A dry run of moving `orders` to `to`: whether the caller may take a way back printed for
  // them, and if not, why.
  grpc::Status TryReassignOrders(const std::vector<std::string>& orders, const std::string& to) {
    v1::ReassignOrdersRequest request;
    for (const std::string& order : orders) request.mutable_reassign_orders()->add_order_ids(order);
    request.mutable_reassign_orders()->set_to_owner(to);
    request.set_validate_only(true);
    v1::CommandResult result;
    return orders_->ReassignOrders(Context().get(), request, &result);
  }
  // A dry run of moving `clients` from `owners` to `to` with `orders` only: whether the caller
  // may take a way back printed for them, and if not, why.
  grpc::Status TryReassignAccounts(const std::vector<std::string>& owners, const std::string& to,
                                   const std::vector<std::string>& clients,
                                   const std::vector<std::string>& orders) {
    v1::ReassignAccountsRequest request;
    v1::ReassignAccounts* move = request.mutable_reassign_accounts();
    if (owners.size() == 1) {
      move->set_from_owner(owners[0]);
    } else {
      for (const std::string& owner : owners) move->add_from_owners(owner);
    }
    move->set_to_owner(to);
    for (const std::string& client : clients) move->add_client_ids(client);
    for (const std::string& order : orders) move->mutable_only_orders()->add_order_ids(order);
    move->mutable_only_orders();  // None named: none go.
    request.set_validate_only(true);
    v1::CommandResult result;
    return clients_->ReassignAccounts(Context().get(), request, &result);
  }

  // What a deactivated `user` still owns, which no one works while it stays theirs, and how
  // to move it. Best effort: the lists are what the caller may see (administrators see all).
  // After `user` was deactivated: a workflow step given to some roles alone that no active
  // user holds now, which its orders would wait on for no one (seed 001's only pre-approver).
  // Said when the caller may read users and workflows; else nothing.
  void PrintStepsLeftAlone(const std::string& user) {
    v1::ListUsersResponse users;
    if (!AllPages(v1::ListUsersRequest(), &users, [&](auto* c, auto& q, auto* out) {
           return admin_->ListUsers(c, q, out);
         }).ok()) {
      return;
    }
    std::set<std::string> held, theirs;  // Roles active users hold; roles `user` held.
    for (const v1::UserView& u : users.users()) {
      if (u.user_id() == user) theirs.insert(u.roles().begin(), u.roles().end());
      if (u.active()) held.insert(u.roles().begin(), u.roles().end());
    }
    v1::ListWorkflowsResponse workflows;
    if (!AllPages(v1::ListWorkflowsRequest(), &workflows, [&](auto* c, auto& q, auto* out) {
           return admin_->ListWorkflows(c, q, out);
         }).ok()) {
      return;
    }
    std::map<std::string, std::vector<std::string>> alone;  // Role -> "step (workflow)".
    for (const v1::WorkflowDefinition& w : workflows.workflows()) {
      for (const v1::Transition& t : w.transitions()) {
        if (t.roles().empty()) continue;
        if (std::any_of(t.roles().begin(), t.roles().end(),
                        [&](const std::string& role) { return held.count(role) != 0; })) {
          continue;
        }
        for (const std::string& role : t.roles()) {
          if (theirs.count(role) == 0) continue;
          std::vector<std::string>& steps = alone[role];
          const std::string step = absl::StrCat(t.action(), " (workflow ", w.name(), ")");
          if (std::find(steps.begin(), steps.end(), step) == steps.end()) steps.push_back(step);
        }
      }
    }
    for (const auto& [role, steps] : alone) {
      std::printf(
          "  no active user holds the role %s now, which %s %s is given to: orders there wait "
          "for no one (give it to someone: spotflow user roles USER THEIR_ROLES,%s)\n",
          role.c_str(), steps.size() == 1 ? "step" : "steps", AndList(steps).c_str(), role.c_str());
    }
  }

  void PrintStillOwned(const std::string& user) {
    v1::ListClientsRequest clients_request;
    clients_request.set_owner_id(user);
    clients_request.set_page_size(1000);
    v1::ListClientsResponse clients;
    if (!clients_->ListClients(Context().get(), clients_request, &clients).ok()) return;
    v1::ListOrdersRequest orders_request;
    orders_request.set_owner_id(user);
    orders_request.set_page_size(1000);
    v1::ListOrdersResponse orders;
    if (!orders_->ListOrders(Context().get(), orders_request, &orders).ok()) return;
    std::set<std::string> client_ids;
    for (const v1::ClientView& c : clients.clients()) client_ids.insert(c.client_id());
    // Open orders on their accounts move with them; those on others' accounts, or on none,
    // do not. With more clients than one page, all are counted with the accounts.
    int with_accounts = 0;
    std::vector<std::string> elsewhere;  // The keys of those that do not.
    for (const v1::OrderView& o : orders.orders()) {
      if (o.completed()) continue;
      const bool theirs = !clients.next_page_token().empty() ||
                          (!o.client_id().empty() && client_ids.count(o.client_id()) != 0);
      if (theirs) {
        ++with_accounts;
      } else {
        elsewhere.push_back(o.key().empty() ? o.order_id() : o.key());
      }
    }
    const char* more_clients = clients.next_page_token().empty() ? "" : "+";
    const char* more_orders = orders.next_page_token().empty() ? "" : "+";
    if (!client_ids.empty()) {
      std::printf(
          "  %s still owns %zu%s %s (%s)%s; move them to another account executive with: "
          "spotflow accounts reassign %s USER\n",
          user.c_str(), client_ids.size(), more_clients,
          client_ids.size() == 1 ? "client" : "clients",
          Clip(absl::StrJoin(client_ids, ", "), 60).c_str(),
          with_accounts == 0 ? ""
                             : absl::StrCat(" with ", with_accounts, more_orders,
                                            with_accounts == 1 ? " open order" : " open orders")
                                   .c_str(),
          user.c_str());
    }
    if (!elsewhere.empty()) {
      // They stay theirs through an account move: each is moved on its own.
      std::printf(
          "  %s %sowns %zu%s open %s on no account of theirs (%s), which stay theirs; move them "
          "with: spotflow order reassign %s USER\n",
          user.c_str(), client_ids.empty() ? "" : "also ", elsewhere.size(), more_orders,
          elsewhere.size() == 1 ? "order" : "orders",
          Clip(absl::StrJoin(elsewhere, ", "), 60).c_str(),
          elsewhere.size() <= 10 ? absl::StrJoin(elsewhere, ",").c_str() : "ORDERS");
    }
  }

  // An order's status for people: a client contact's login gets its title alone ("Script with
  // the client"; the names are the house's, which its filters and workflows use); the house
  // gets the name, and in `long` form the title after it.
  static std::string StatusText(const v1::OrderView& o, bool long_form) {
    if (o.status_title().empty()) return o.status();
    if (!o.shown_to_contact().empty()) return o.status_title();
    // A title that only spells the name ("Completed") would say it twice.
    const bool same = absl::EqualsIgnoreCase(
        absl::StrReplaceAll(o.status_title(), {{" ", "_"}, {"-", "_"}}), o.status());
    return long_form && !same ? absl::StrCat(o.status(), " (", o.status_title(), ")") : o.status();
  }

  static std::vector<std::string> OrderRow(const v1::OrderView& o) {
    // A generated id (32 hex digits) would make the table twice as wide as a screen; the key
    // beside it names the order as well in every command (--json prints the whole id).
    const bool long_id = !o.key().empty() && Columns(o.order_id()) > 24;
    return {long_id ? Clip(o.order_id(), 9) : o.order_id(), o.key(), Clip(o.title(), 34),
            StatusText(o, /*long_form=*/false), o.client_id().empty() ? "-" : o.client_id(),
            o.owner_id(),
            // Its producer, or an item without revisions' responsible (seed 002's board).
            o.producer_id().empty() ? "-" : o.producer_id(),
            absl::StrCat(FlightText(o), o.archived() ? "  (archived)" : "")};
  }

  // What a work-queue entry waits for the caller to do, in the CLI's verbs: "script 2:
  // approve, changes, forward", "submit script", "flight change 1: decide".
  static std::string WaitsForText(const v1::OrderView& o) {
    const auto& flight = o.open_flight_actions();
    const bool reject = std::find(flight.begin(), flight.end(), "reject") != flight.end();
    return WaitsForText(o, o.open_actions(), !flight.empty(), reject ? "reject" : "decide");
  }

  // The decision on a flight change that `a` is waited for: "decide", or "reject" when its
  // dates have passed (a server from before flight_decision says nothing: "decide").
  static std::string FlightDecision(const v1::Awaiting& a) {
    return a.flight_decision().empty() ? "decide" : a.flight_decision();
  }

  // What `o` waits for someone to do: `actions`, and a decision on its flight change when
  // `flight_change` (`decision`: "reject" when its dates have passed).
  static std::string WaitsForText(const v1::OrderView& o,
                                  const google::protobuf::RepeatedPtrField<std::string>& actions,
                                  bool flight_change, absl::string_view decision = "decide") {
    std::vector<std::string> parts;
    std::set<std::string> said;  // Actions on a revision, said by revision.
    for (const std::string artifact : {"script", "spot"}) {
      const auto& revisions = artifact == "script" ? o.scripts() : o.spots();
      const std::vector<std::pair<std::string, std::string>> verb_of = {
          {"approve_" + artifact, "approve"},
          {"request_" + artifact + "_changes", "changes"},
          {"forward_" + artifact, "forward"},
          {"client_approve_" + artifact, "client-answer"},
          {"client_request_" + artifact + "_changes", "client-answer"}};
      std::vector<std::string> verbs;
      for (const auto& [action, verb] : verb_of) {
        if (std::find(actions.begin(), actions.end(), action) == actions.end()) {
          continue;
        }
        said.insert(action);
        if (std::find(verbs.begin(), verbs.end(), verb) == verbs.end()) verbs.push_back(verb);
      }
      if (!verbs.empty()) {
        parts.push_back(absl::StrCat(artifact, " ",
                                     revisions.empty() ? 0 : revisions.rbegin()->number(), ": ",
                                     absl::StrJoin(verbs, ", ")));
      }
    }
    for (const std::string& action : actions) {
      if (said.count(action) != 0) continue;
      if (action == "submit_script") {
        parts.push_back("submit script");
      } else if (action == "record_spot") {
        parts.push_back("record spot");
      } else if (action == "upload_spot") {
        parts.push_back("upload provided spot");
      } else {
        parts.push_back(action);  // deliver, and the workflow's own actions by name.
      }
    }
    if (flight_change) {
      for (const v1::FlightChange& c : o.flight_changes()) {
        if (c.status() == v1::PENDING) {
          parts.push_back(absl::StrCat("flight change ", c.request_id(), ": ", decision));
        }
      }
    }
    return absl::StrJoin(parts, "; ");
  }

  // Each --field NAME=VALUE as the item type `type_name` defines NAME (a string, a whole
  // number, true or false, a date YYYY-MM-DD); a usage error for a field it does not have or a
  // value not of its type. Non-zero: the exit code of a failed lookup of the type.
  int SetFields(const std::string& type_name, const Args& args,
                google::protobuf::Map<std::string, v1::FieldValue>* out) {
    v1::GetItemTypeRequest request;
    request.set_name(type_name);
    v1::ItemTypeDefinition type;
    grpc::Status status = admin_->GetItemType(Context().get(), request, &type);
    if (!status.ok()) return Report(status);
    SetFieldsOf(type, args, out);
    return 0;
  }
  // The --field values typed as `type`'s fields are (a usage error when one is not).
  static void SetFieldsOf(const v1::ItemTypeDefinition& type, const Args& args,
                          google::protobuf::Map<std::string, v1::FieldValue>* out) {
    const std::string& type_name = type.name();
    for (const std::string& given : args.fields) {
      const size_t eq = given.find('=');
      const std::string name = given.substr(0, eq);
      const v1::FieldDefinition* field = nullptr;
      std::vector<std::string> names;
      for (const v1::FieldDefinition& f : type.fields()) {
        if (f.name() == name) field = &f;
        names.push_back(f.name());
      }
      if (eq == std::string::npos || field == nullptr) {
        Usage(absl::StrCat("--field is NAME=VALUE with a field of ", type_name, ": ",
                           names.empty() ? "it has none" : absl::StrJoin(names, ", "), "; not \"",
                           given, "\""));
      }
      const std::string value = given.substr(eq + 1);
      if (out->contains(name)) Usage(absl::StrCat("--field ", name, " is given twice"));
      // Blank clears a text field (the server takes it as no value); no other kind is blank.
      if (value.empty() && field->type() != v1::STRING && field->type() != v1::EMAIL) {
        Usage(absl::StrCat("--field ", name, "= (blank) clears a text field, and ", name,
                           " is not one: give it a value"));
      }
      v1::FieldValue& set = (*out)[name];
      switch (field->type()) {
        case v1::INTEGER: {
          int64_t number = 0;
          if (!absl::SimpleAtoi(value, &number)) {
            // Digits that do not fit are told what fits; other text, what the field takes.
            const bool overflow = AllDigits(absl::StripPrefix(value, "-"));
            const std::string bounds = BoundsText(*field);
            Usage(overflow ? absl::StrCat("field ", name,
                                          " is a whole number from -9223372036854775808 to "
                                          "9223372036854775807, not \"",
                                          value, "\"")
                           : absl::StrCat("field ", name, " is a whole number", bounds, ", not \"",
                                          value, "\""));
          }
          set.set_integer_value(number);
          break;
        }
        case v1::BOOLEAN: {
          // As people type it, and as a workflow file's JSON reads it: yes and no too.
          const std::string lower = absl::AsciiStrToLower(value);
          if (lower != "true" && lower != "false" && lower != "yes" && lower != "no") {
            Usage(absl::StrCat("field ", name, " is true or false (or yes or no), not \"", value,
                               "\""));
          }
          set.set_boolean_value(lower == "true" || lower == "yes");
          break;
        }
        case v1::DATE: {
          const absl::StatusOr<v1::Date> date = DateOf(value);
          if (!date.ok())
            Usage(absl::StrCat("field ", name, " is a date: ", date.status().message()));
          *set.mutable_date_value() = *date;
          break;
        }
        default:
          set.set_string_value(value);
      }
    }
  }

  // What a review did, and who did it, in words: "forwarded to contact carol by sam".
  static std::string ReviewText(const v1::Review& review) {
    // A contact's answer recorded by someone else names both (a contact's own login is told
    // neither who recorded it nor who forwarded it: the server leaves `by` out).
    const std::string client = absl::StrCat("the client (contact ", review.contact_id(), ")",
                                            review.on_behalf() && !review.by().empty()
                                                ? absl::StrCat(", recorded by ", review.by())
                                                : "");
    switch (review.kind()) {
      case v1::APPROVED:
        return absl::StrCat("approved by ", review.by());
      case v1::CHANGES_REQUESTED:
        return absl::StrCat("changes asked by ", review.by());
      case v1::FORWARDED_TO_CLIENT:
        return absl::StrCat("forwarded to contact ", review.contact_id(),
                            review.by().empty() ? "" : " by ", review.by());
      case v1::CLIENT_APPROVED:
        return absl::StrCat("approved by ", client);
      case v1::CLIENT_CHANGES_REQUESTED:
        return absl::StrCat("changes asked by ", client);
      case v1::CARRIED_OVER:
        return absl::StrCat(
            "approval carried over from the reused order",
            review.by().empty() ? "" : absl::StrCat(" when ", review.by(), " reused it"));
      default:
        return absl::StrCat(v1::ReviewKind_Name(review.kind()), " by ", review.by());
    }
  }

  // After an order's status: whether its work ended there, and how ("abandoned" is the
  // house's word for work that ended undone: a client's login reads the state's title alone).
  static const char* FinalText(const v1::OrderView& o) {
    if (!o.completed()) return "";
    return o.abandoned() && o.shown_to_contact().empty() ? " (final, abandoned)" : " (final)";
  }

  static std::string FieldText(const v1::FieldValue& value) {
    switch (value.value_case()) {
      case v1::FieldValue::kIntegerValue:
        return absl::StrCat(value.integer_value());
      case v1::FieldValue::kBooleanValue:
        return value.boolean_value() ? "true" : "false";
      case v1::FieldValue::kDateValue:
        return DateText(value.date_value());
      default:
        return value.string_value();
    }
  }

  void PrintClient(const v1::ClientView& client) const {
    std::printf("%s  %s (owner %s, etag %llu)%s\n", client.client_id().c_str(),
                client.name().c_str(), client.owner_id().c_str(),
                static_cast<unsigned long long>(client.version()),
                client.deleted() ? " [deleted]" : "");
    std::vector<std::string> about;
    if (!client.kind().empty()) about.push_back(client.kind());
    if (!client.organization().empty()) about.push_back(absl::StrCat("of ", client.organization()));
    about.push_back(
        absl::StrCat("created ", ByWhom(client.created_by()), TimeText(client.created_time())));
    std::printf("  %s\n", absl::StrJoin(about, ", ").c_str());
    for (const v1::Contact& c : client.contacts()) {
      std::vector<std::string> details = {c.name()};
      for (const std::string* detail : {&c.title(), &c.email(), &c.phone()}) {
        if (!detail->empty()) details.push_back(*detail);
      }
      std::vector<std::string> logins;
      for (const v1::ContactLogin& login : client.contact_logins()) {
        if (login.contact_id() == c.contact_id()) logins.push_back(login.user_id());
      }
      std::printf("  contact %s: %s%s\n", c.contact_id().c_str(),
                  absl::StrJoin(details, ", ").c_str(),
                  logins.empty()
                      ? ""
                      : absl::StrCat(" (signs in as ", absl::StrJoin(logins, ", "), ")").c_str());
    }
    for (const v1::AccountShare& share : client.shares()) {
      std::printf(
          "  shared with %s%s\n", share.user_id().c_str(),
          share.has_until() ? absl::StrCat(" until ", TimeText(share.until())).c_str() : "");
    }
  }

  // The verb that takes workflow action `action` on order `o` (called `name`), with the
  // latest revision filled in and what else it needs in capitals.
  static std::string CommandFor(const v1::OrderView& o, const std::string& action,
                                const std::string& name) {
    for (const std::string artifact : {"script", "spot"}) {
      // The latest revision's own number: a contact's login sees only those forwarded to it.
      const auto& revisions = artifact == "script" ? o.scripts() : o.spots();
      const std::string latest = absl::StrCat(name, " ", artifact, " ",
                                              revisions.empty() ? 0 : revisions.rbegin()->number());
      if (action == "approve_" + artifact) return "approve " + latest;
      if (action == "request_" + artifact + "_changes") {
        return "changes " + latest + " --comment TEXT";
      }
      if (action == "forward_" + artifact) return "forward " + latest + " --contact ID";
      if (action == "client_approve_" + artifact) return "client-answer " + latest + " approve";
      if (action == "client_request_" + artifact + "_changes") {
        return "client-answer " + latest + " changes --comment TEXT";
      }
    }
    if (action == "submit_script") return "script submit " + name + " --text TEXT";
    if (action == "record_spot") return "spot upload " + name + " --uri URI";
    if (action == "upload_spot") return "spot upload " + name + " --uri URI --provided";
    if (action == "deliver") return "deliver " + name;
    return "action " + name + " " + action;  // The workflow's own actions.
  }

  // An order's key, as people quote it; its id when the caller may not see it (or it is gone).
  std::string KeyOf(const std::string& order_id) const {
    v1::GetOrderRequest request;
    request.set_order_id(order_id);
    v1::OrderView order;
    if (!orders_->GetOrder(Context().get(), request, &order).ok() || order.key().empty()) {
      return order_id;
    }
    return order.key();
  }

  // `changes`: the order's history, for the story `history` tells (nullptr: not readable).
  void PrintOrder(const v1::OrderView& o, bool history,
                  const v1::AuditHistoryResponse* changes = nullptr) const {
    std::printf("%s  %s\n", o.key().c_str(), o.title().c_str());
    // `completed` says the status is one its workflow ends in.
    std::printf("  id %s, status %s%s%s, etag %llu\n", o.order_id().c_str(),
                StatusText(o, /*long_form=*/true).c_str(), FinalText(o),
                o.archived() ? ", archived" : "", static_cast<unsigned long long>(o.version()));
    // The producer only when one is assigned: a client's login is not told, and "-" would
    // read to it as "none".
    // What it is: a production order of some kind, or an item of another type in its own
    // words (its title, with the name --type takes, and the kind when its items have spots);
    // for whom, when it belongs to a client; its flight and spot length, when its type has
    // them.
    const char* kind = o.kind() == v1::PROVIDED ? "provided-spot"
                       : o.kind() == v1::REUSE  ? "reuse"
                                                : "production";
    const bool production_order = o.item_type().empty() || o.item_type() == "production_order";
    const bool spots = HasArtifact(o, "spot");
    std::string what = absl::StrCat(kind, " order");
    if (!production_order) {
      std::vector<std::string> notes;
      if (!o.item_type_title().empty() && o.item_type_title() != o.item_type()) {
        notes.push_back(o.item_type());
      }
      if (spots) notes.push_back(kind);
      what = o.item_type_title().empty() ? o.item_type() : o.item_type_title();
      if (!notes.empty()) absl::StrAppend(&what, " (", absl::StrJoin(notes, ", "), ")");
    }
    // The client's account owner (its personal manager) beside the order's, when another.
    const std::string account =
        o.client_id().empty() ? ""
        : o.account_owner_id().empty() || o.account_owner_id() == o.owner_id()
            ? absl::StrCat(" for client ", o.client_id())
            : absl::StrCat(" for client ", o.client_id(), " (account owner ", o.account_owner_id(),
                           ")");
    std::printf("  %s%s, owner %s%s\n", what.c_str(), account.c_str(), o.owner_id().c_str(),
                o.producer_id().empty()
                    ? ""
                    : absl::StrCat(", ", AssigneeWord(o), " ", o.producer_id()).c_str());
    std::vector<std::string> schedule;
    if (o.flight_start().year() != 0 || !o.has_item_type_facets() ||
        o.item_type_facets().schedule()) {
      schedule.push_back("flight " + FlightText(o));
    }
    if (spots) {
      schedule.push_back(o.spot_length_seconds() == 0
                             ? "spot length not set"
                             : absl::StrCat(o.spot_length_seconds(), "s spot"));
    }
    if (!schedule.empty()) std::printf("  %s\n", absl::StrJoin(schedule, ", ").c_str());
    std::printf("  created %s%s%s\n", ByWhom(o.created_by()).c_str(),
                TimeText(o.created_time()).c_str(),
                o.reused_from_order().empty()
                    ? ""
                    : absl::StrCat(", reusing order ", KeyOf(o.reused_from_order())).c_str());
    // The item it was made for, and those made for it (each the caller may see).
    if (o.has_parent()) std::printf("  made for %s\n", LinkText(o.parent()).c_str());
    if (!o.children().empty()) {
      std::printf("  made for it:\n");
      for (const v1::OrderLink& child : o.children()) {
        std::printf("    %s\n", LinkText(child).c_str());
      }
    }
    if (!o.instructions().empty()) {
      std::printf("  instructions%s: %s\n",
                  o.instructions_revised() ? " (changed since the order was made)" : "",
                  Indented(o.instructions(), 4).c_str());
    }
    if (!o.fields().empty()) {
      // In the form's order, when the caller reads the type; the rest (fields the type no
      // longer has, or all of them) by name.
      std::vector<std::string> shown;
      std::set<std::string> done;
      v1::GetItemTypeRequest type_request;
      type_request.set_name(o.item_type());
      v1::ItemTypeDefinition type;
      if (!o.item_type().empty() &&
          admin_->GetItemType(Context().get(), type_request, &type).ok()) {
        for (const v1::FieldDefinition& f : type.fields()) {
          auto it = o.fields().find(f.name());
          if (it == o.fields().end()) continue;
          shown.push_back(absl::StrCat(f.name(), " ", FieldText(it->second)));
          done.insert(f.name());
        }
      }
      std::map<std::string, std::string> rest;
      for (const auto& [name, value] : o.fields()) {
        if (done.count(name) == 0) rest[name] = FieldText(value);
      }
      for (const auto& [name, text] : rest) shown.push_back(absl::StrCat(name, " ", text));
      std::printf("  fields: %s\n", absl::StrJoin(shown, ", ").c_str());
    }
    // Given before the type narrowed its bounds: kept, and shown as the refusal would word it.
    for (const v1::FieldOutOfBounds& f : o.fields_out_of_bounds()) {
      std::printf(
          "  field %s no longer fits its type: %s (kept as given; spotflow order update "
          "%s --field %s=VALUE)\n",
          f.field().c_str(), f.reason().c_str(),
          o.key().empty() ? o.order_id().c_str() : o.key().c_str(), f.field().c_str());
    }
    if (!o.missing_fields().empty()) {
      std::printf("  to fill in: %s (spotflow order update %s --field NAME=VALUE)\n",
                  absl::StrJoin(o.missing_fields(), ", ").c_str(),
                  o.key().empty() ? o.order_id().c_str() : o.key().c_str());
    }
    if (!o.participants().empty()) {
      std::printf("  shared with %s\n", absl::StrJoin(o.participants(), ", ").c_str());
    }
    if (!history) {
      const std::string name = o.key().empty() ? o.order_id() : o.key();
      // What waits for a decision, with the id `flight decide` takes.
      for (const v1::FlightChange& c : o.flight_changes()) {
        if (c.status() != v1::PENDING) continue;
        std::printf("  flight change %s by %s waits for a decision: %s..%s%s%s\n",
                    c.request_id().c_str(), c.requested_by().c_str(),
                    DateText(c.new_start()).c_str(), DateText(c.new_end()).c_str(),
                    c.reason().empty() ? "" : " (",
                    c.reason().empty() ? "" : (Indented(c.reason(), 4) + ")").c_str());
        const auto& open = o.open_flight_actions();
        const bool decide = std::find(open.begin(), open.end(), "decide") != open.end();
        const bool reject = std::find(open.begin(), open.end(), "reject") != open.end();
        const bool withdraw = std::find(open.begin(), open.end(), "withdraw") != open.end();
        if (reject) {
          std::printf(
              "    its dates have passed, so it can only be rejected: spotflow flight "
              "decide %s %s reject%s\n",
              name.c_str(), c.request_id().c_str(), withdraw ? "   (or flight withdraw)" : "");
        } else if (decide) {
          std::printf("    spotflow flight decide %s %s approve|reject%s\n", name.c_str(),
                      c.request_id().c_str(), withdraw ? "   (or flight withdraw)" : "");
        } else if (withdraw) {
          std::printf(
              "    (it waits for someone who decides flight changes; to take it back: "
              "spotflow flight withdraw %s %s)\n",
              name.c_str(), c.request_id().c_str());
        }
      }
      // The last request's outcome, when none waits: its requester would not learn it here.
      if (!o.flight_changes().empty() && o.flight_changes().rbegin()->status() != v1::PENDING) {
        const v1::FlightChange& c = *o.flight_changes().rbegin();
        const std::string outcome = FlightOutcome(c.status());
        std::printf("  last flight change %s by %s (%s..%s): %s by %s, %s%s%s\n",
                    c.request_id().c_str(), c.requested_by().c_str(),
                    DateText(c.new_start()).c_str(), DateText(c.new_end()).c_str(), outcome.c_str(),
                    c.decided_by().c_str(), TimeText(c.decided_time()).c_str(),
                    c.decision_comment().empty() ? "" : ": ",
                    Indented(c.decision_comment(), 4).c_str());
      }
      // A contact's login is shown the revisions sent to it, and the comments for the client.
      std::string counts = RevisionCounts(o);
      if (!counts.empty()) {
        absl::StrAppend(&counts, o.shown_to_contact().empty() ? "" : " sent to you", "; ");
      }
      absl::StrAppend(&counts, Count(o.comments_size(), "comment", "comments"));
      std::printf("  %s (spotflow order history %s)\n", counts.c_str(), name.c_str());
      // What a review or an answer judges, and what the last reviewer asked: the latest of each.
      for (const auto* revisions : {&o.scripts(), &o.spots()}) {
        if (!revisions->empty()) PrintRevision(o, *revisions->rbegin(), "  ", "latest ");
      }
      // The last word on it, beside the count: the latest comment, and the latest workflow
      // action taken with one (a decline's reason, a delivery's note), which the history
      // holds with the rest. (A contact's view holds only the comments for the client, by
      // whom when it is the login or the owner, and of the actions only the one that finished
      // a request it submitted, without who took it; the house marks those for the client.)
      if (!o.comments().empty()) {
        const v1::Comment& c = *o.comments().rbegin();
        std::printf("  latest comment%s%s%s, %s: %s\n", c.author().empty() ? "" : " by ",
                    c.author().c_str(),
                    c.for_client() && o.shown_to_contact().empty() ? " (for the client)" : "",
                    TimeText(c.time()).c_str(), Indented(c.text(), 4).c_str());
      }
      for (auto it = o.actions().rbegin(); it != o.actions().rend(); ++it) {
        if (it->comment().empty()) continue;
        std::printf("  %s%s%s, %s: %s\n", it->action().c_str(), it->by().empty() ? "" : " by ",
                    it->by().c_str(), TimeText(it->time()).c_str(),
                    Indented(it->comment(), 4).c_str());
        break;
      }
      if (o.archived() && o.shown_to_contact().empty()) {
        // What can still be done with it, for those who manage it (the server decides).
        std::printf(
            "  archived: no workflow action is open on it; whoever manages it may reopen it "
            "(spotflow restore %s)\n",
            name.c_str());
        if (std::any_of(o.spots().begin(), o.spots().end(),
                        [](const v1::Revision& r) { return r.approved(); })) {
          // With a flight of its own when it had one (its type has flights).
          std::printf("  or start a new order with its approved spot (spotflow order reuse %s%s)\n",
                      name.c_str(), o.flight_start().year() != 0 ? " --flight START..END" : "");
        }
      } else if (o.open_actions().empty()) {
        std::printf("  no workflow action is open to you now\n");
      } else {
        std::printf("  open to you now:\n");
        for (const std::string& action : o.open_actions()) {
          std::string command = CommandFor(o, action, name);
          // Said with the verb's own flag: a submission's note, a forward's message.
          const auto& with_comment = o.open_actions_needing_comment();
          const char* flag = absl::StartsWith(command, "script submit ") ||
                                     absl::StartsWith(command, "spot upload ")
                                 ? "--note"
                             : absl::StartsWith(command, "forward ") ? "--message"
                                                                     : "--comment";
          if (std::find(with_comment.begin(), with_comment.end(), action) != with_comment.end() &&
              !absl::StrContains(command, flag)) {
            absl::StrAppend(&command, " ", flag, " TEXT");
          }
          // The fields the step needs first: given with it where its verb takes --field (the
          // workflow's own actions), else filled in before it.
          std::string first;
          for (const v1::ActionNeeds& needs : o.open_actions_needing_fields()) {
            if (needs.action() != action) continue;
            std::vector<std::string> flags;
            for (const std::string& field : needs.fields()) {
              flags.push_back(absl::StrCat("--field ", field, "=VALUE"));
            }
            if (needs.filled_by_others()) {
              // Setting fields is managing the order, which someone else does.
              first = absl::StrCat("\n    ", std::string(30, ' '), " after whoever manages it (",
                                   o.owner_id().empty() ? "its owner" : o.owner_id(), ") fills in ",
                                   absl::StrJoin(needs.fields(), ", "));
            } else if (absl::StartsWith(command, "action ") ||
                       absl::StartsWith(command, "deliver ")) {
              absl::StrAppend(&command, " ", absl::StrJoin(flags, " "));
            } else {
              first = absl::StrCat("\n    ", std::string(30, ' '), " after spotflow order update ",
                                   name, " ", absl::StrJoin(flags, " "));
            }
          }
          std::printf("    %-30s spotflow %s%s\n", action.c_str(), command.c_str(), first.c_str());
        }
      }
      if (!o.forward_contacts().empty()) {
        std::vector<std::string> contacts;
        for (const v1::Contact& c : o.forward_contacts()) {
          contacts.push_back(absl::StrCat(c.contact_id(), " (", c.name(),
                                          c.title().empty() ? "" : ", " + c.title(),
                                          WaitsOn(o, c.contact_id()) ? "; has it" : "", ")"));
        }
        std::printf("  contacts to forward to: %s\n", absl::StrJoin(contacts, ", ").c_str());
      }
      // Whom to call about the order, when its account is someone else's.
      if (!o.client_contacts().empty()) {
        std::printf("  the client's contacts, to call about this order:\n");
        for (const v1::Contact& c : o.client_contacts()) {
          std::vector<std::string> details = {c.name()};
          for (const std::string* detail : {&c.title(), &c.email(), &c.phone()}) {
            if (!detail->empty()) details.push_back(*detail);
          }
          std::printf("    %s: %s\n", c.contact_id().c_str(), absl::StrJoin(details, ", ").c_str());
        }
      }
      // Whom in the house to reach about it (to a client's login).
      if (!o.house_contacts().empty()) {
        std::printf("  to reach us about this order:\n");
        for (const v1::HouseContact& c : o.house_contacts()) {
          std::vector<std::string> roles;
          if (c.manages_order()) roles.push_back("this order");
          if (c.manages_account()) roles.push_back("your account");
          std::printf(
              "    %s%s, who manages %s%s\n",
              c.name().empty() ? c.user_id().c_str() : c.name().c_str(),
              c.email().empty() ? " (no email on file)"
                                : absl::StrCat(" <", c.email(), ">").c_str(),
              absl::StrJoin(roles, " and ").c_str(),
              c.stands_in_for().empty()
                  ? ""
                  : absl::StrCat(" (in place of ", c.stands_in_for(), ", who has left)").c_str());
        }
      }
      PrintAwaiting(o);
      return;
    }
    PrintStory(o, changes);
  }

  // "budget*, cost (internal)": a type's fields, the required ones starred.
  static std::string FieldList(const v1::ItemTypeDefinition& type) {
    std::vector<std::string> fields;
    for (const v1::FieldDefinition& f : type.fields()) {
      fields.push_back(
          absl::StrCat(f.name(), f.required() ? "*" : "", f.internal() ? " (internal)" : ""));
    }
    return fields.empty() ? "-" : absl::StrJoin(fields, ", ");
  }

  // "MI-001 Radio spots (Media insertion, Planned)": a linked order, named as people know it.
  static std::string LinkText(const v1::OrderLink& link) {
    return absl::StrCat(link.key().empty() ? link.order_id() : link.key(), " ", link.title(), " (",
                        link.item_type_title().empty() ? link.item_type() : link.item_type_title(),
                        ", ", link.status_title().empty() ? link.status() : link.status_title(),
                        link.abandoned()   ? ", final, abandoned"
                        : link.completed() ? ", final"
                                           : "",
                        link.archived() ? ", archived" : "", ")");
  }

  static std::string Count(int n, const char* one, const char* many) {
    return absl::StrCat(n, " ", n == 1 ? one : many);
  }

  // Whether items of the order's type have revisions of `artifact` ("script", "spot"), or
  // the order holds some (its type, defined again, may have dropped the artifact since). A
  // server that does not say what the type has is taken to serve production orders.
  static bool HasArtifact(const v1::OrderView& o, absl::string_view artifact) {
    if (!o.has_item_type_facets()) return true;
    const auto& artifacts = o.item_type_facets().artifacts();
    return std::find(artifacts.begin(), artifacts.end(), artifact) != artifacts.end() ||
           !(artifact == "script" ? o.scripts() : o.spots()).empty();
  }

  // Whom AssignProducer names on the order: its producer, or for an item without revisions
  // (a marketing request) its responsible.
  static const char* AssigneeWord(const v1::OrderView& o) {
    return HasArtifact(o, "script") || HasArtifact(o, "spot") ? "producer" : "responsible";
  }

  // "1 script revision and 0 spot revisions", of the artifacts the order's type has; empty
  // for a type with none (a marketing request).
  static std::string RevisionCounts(const v1::OrderView& o) {
    std::vector<std::string> counts;
    if (HasArtifact(o, "script")) {
      counts.push_back(Count(o.scripts_size(), "script revision", "script revisions"));
    }
    if (HasArtifact(o, "spot")) {
      counts.push_back(Count(o.spots_size(), "spot revision", "spot revisions"));
    }
    return absl::StrJoin(counts, " and ");
  }

  // The contacts a revision waits on: each it was forwarded to since the last other word on it
  // (an answer, an approval), in the order it went to them. Any of them may answer it.
  static std::vector<std::string> ForwardedTo(const v1::Revision& revision) {
    std::vector<std::string> contacts;
    for (auto it = revision.reviews().rbegin(); it != revision.reviews().rend(); ++it) {
      if (it->kind() != v1::FORWARDED_TO_CLIENT) break;
      if (std::find(contacts.begin(), contacts.end(), it->contact_id()) == contacts.end()) {
        contacts.insert(contacts.begin(), it->contact_id());
      }
    }
    return contacts;
  }

  // Whether the latest revision of an artifact was forwarded to `contact_id` and waits for
  // their answer.
  static bool WaitsOn(const v1::OrderView& o, const std::string& contact_id) {
    for (const auto* revisions : {&o.scripts(), &o.spots()}) {
      if (revisions->empty()) continue;
      const std::vector<std::string> holders = ForwardedTo(*revisions->rbegin());
      if (std::find(holders.begin(), holders.end(), contact_id) != holders.end()) return true;
    }
    return false;
  }

  // Whom an order waits for (its `awaiting`, which the server gives the house's staff), or
  // that it waits for the client's answer to a forwarded revision.
  static void PrintAwaiting(const v1::OrderView& o) {
    // A delivered order still airs: a flight change on it may still wait for someone.
    if (o.awaiting().empty() && (o.completed() || o.archived() || o.deleted())) return;
    size_t id_width = 0, name_width = 0;
    for (const v1::Awaiting& a : o.awaiting()) {
      id_width = std::max(id_width, a.user_id().size());
      name_width = std::max(name_width, a.display_name().size());
    }
    if (!o.awaiting().empty()) std::printf("  waits for:\n");
    for (const v1::Awaiting& a : o.awaiting()) {
      std::printf("    %-*s  %-*s  %s\n", static_cast<int>(id_width), a.user_id().c_str(),
                  static_cast<int>(name_width), a.display_name().c_str(),
                  WaitsForText(o, a.actions(), a.flight_change(), FlightDecision(a)).c_str());
    }
    // A contact without a login of its own answers through the house: no queue lists it.
    std::vector<std::pair<std::string, std::vector<std::string>>> unlisted;  // By revision.
    for (const auto& [revision, contact] : ForwardedToClient(o)) {
      if (contact == o.shown_to_contact()) {  // The contact's own login: what it is there for.
        std::printf("  waits for your answer on %s (open to you above)\n", revision.c_str());
        continue;
      }
      if (unlisted.empty() || unlisted.back().first != revision) unlisted.push_back({revision, {}});
      unlisted.back().second.push_back(contact);
    }
    for (const auto& [revision, contacts] : unlisted) {
      std::printf("  waits for the client's answer: %s was forwarded to %s\n", revision.c_str(),
                  AndList(contacts).c_str());
    }
  }

  // The latest revisions that wait for the answer of a contact no queue lists (one without a
  // login of its own, whom the house answers for), each as "script 2" with a contact it was
  // forwarded to (one pair for each such contact).
  static std::vector<std::pair<std::string, std::string>> ForwardedToClient(
      const v1::OrderView& o) {
    std::vector<std::pair<std::string, std::string>> forwarded;
    for (const auto* revisions : {&o.scripts(), &o.spots()}) {
      if (revisions->empty()) continue;
      const v1::Revision& latest = *revisions->rbegin();
      const std::string artifact = revisions == &o.scripts() ? "script" : "spot";
      // A contact's own view holds only its own reviews, so another contact's answer is not in
      // it: whether the answer is still this contact's to give, the actions open to it say.
      const bool answerable = std::find(o.open_actions().begin(), o.open_actions().end(),
                                        "client_approve_" + artifact) != o.open_actions().end();
      if (!o.shown_to_contact().empty() && !answerable) continue;
      for (const std::string& contact : ForwardedTo(latest)) {
        // A contact's own login waits for it in its queue: `awaiting` names it.
        const bool listed =
            std::any_of(o.awaiting().begin(), o.awaiting().end(), [&](const v1::Awaiting& a) {
              // (A server from before contact_id names none: any contact's login, as then.)
              return (a.contact_id().empty() || a.contact_id() == contact) &&
                     std::find(a.actions().begin(), a.actions().end(),
                               "client_approve_" + artifact) != a.actions().end();
            });
        if (!listed) forwarded.emplace_back(absl::StrCat(artifact, " ", latest.number()), contact);
      }
    }
    return forwarded;
  }

  // The WAITS FOR column of `order list --waiting`: whom the order waits for, and to do what;
  // "-" for an order that is done, and "no one" for one that waits for nobody.
  static std::string WaitsForColumn(const v1::OrderView& o) {
    std::vector<std::string> whom;
    for (const v1::Awaiting& a : o.awaiting()) {
      whom.push_back(absl::StrCat(
          a.user_id(), ": ", WaitsForText(o, a.actions(), a.flight_change(), FlightDecision(a))));
    }
    // A delivered order still airs: a flight change on it may still wait for someone.
    if (whom.empty() && (o.completed() || o.archived() || o.deleted())) return "-";
    for (const auto& [revision, contact] : ForwardedToClient(o)) {
      whom.push_back(absl::StrCat("client (", contact, "): answer ", revision));
    }
    return whom.empty() ? "no one" : absl::StrJoin(whom, "; ");
  }

  // An order's story in the order it happened: each line with its time to the second, free
  // text indented under it. From the order itself, and from `changes` (its history, when the
  // caller may read it) what the order does not keep: archiving, restoring, assignments,
  // shares.
  static void PrintStory(const v1::OrderView& o, const v1::AuditHistoryResponse* changes) {
    struct Entry {
      int64_t seconds;
      int32_t nanos;
      std::string text;
    };
    std::vector<Entry> story;
    constexpr int kIndent = 23;  // "  YYYY-MM-DD HH:MM:SS  "
    const auto add = [&](const google::protobuf::Timestamp& time, std::string text) {
      story.push_back({time.seconds(), time.nanos(), std::move(text)});
    };
    add(o.created_time(), o.created_by().empty() ? "created" : "created by " + o.created_by());
    for (const auto* revisions : {&o.scripts(), &o.spots()}) {
      for (const v1::Revision& r : *revisions) {
        std::string text = absl::StrCat(
            r.artifact(), " r", r.number(), r.author().empty() ? "" : " by ", r.author(),
            r.provided_by_client() ? " [provided by the client]" : "", ": ",
            r.artifact() == "script" ? Indented(r.text(), kIndent) : r.media().uri());
        if (r.media().duration_ms() != 0) absl::StrAppend(&text, ", ", RunsText(o, r));
        if (!r.change_note().empty()) {
          absl::StrAppend(&text, "\n", std::string(kIndent, ' '),
                          "note: ", Indented(r.change_note(), kIndent + 6));
        }
        add(r.time(), std::move(text));
        for (const v1::Review& review : r.reviews()) {
          add(review.time(), absl::StrCat(r.artifact(), " r", r.number(), " ", ReviewText(review),
                                          review.comment().empty() ? "" : ": ",
                                          Indented(review.comment(), kIndent)));
        }
      }
    }
    for (const v1::FlightChange& c : o.flight_changes()) {
      add(c.requested_time(),
          absl::StrCat("flight change ", c.request_id(), " requested by ", c.requested_by(), ": ",
                       DateText(c.old_start()), "..", DateText(c.old_end()), " to ",
                       DateText(c.new_start()), "..", DateText(c.new_end()),
                       c.reason().empty() ? "" : ", because: ", Indented(c.reason(), kIndent)));
      if (c.status() != v1::PENDING) {
        add(c.decided_time(),
            absl::StrCat("flight change ", c.request_id(), " ", FlightOutcome(c.status()), " by ",
                         c.decided_by(), c.decision_comment().empty() ? "" : ": ",
                         Indented(c.decision_comment(), kIndent)));
      }
    }
    // A client's login follows its own request by the titles of the states it went through
    // (the first is where it was made; the action that finished it says its own).
    const auto& entered = o.status_history();
    for (int i = 1; !o.shown_to_contact().empty() && i < entered.size(); ++i) {
      const v1::StatusEntered& s = entered[i];
      const bool said = std::any_of(o.actions().begin(), o.actions().end(), [&](const auto& a) {
        return a.time().seconds() == s.time().seconds() && a.time().nanos() == s.time().nanos();
      });
      if (said) continue;
      const std::string title = s.title().empty() ? s.status() : s.title();
      add(s.time(), s.archived()                ? std::string("archived")
                    : entered[i - 1].archived() ? "restored: " + title
                                                : "status: " + title);
    }
    for (const v1::OrderLink& child : o.children()) {
      add(child.created_time(),
          absl::StrCat(
              "made for it: ", child.key().empty() ? child.order_id() : child.key(), " ",
              child.title(), " (",
              child.item_type_title().empty() ? child.item_type() : child.item_type_title(), ")"));
    }
    for (const v1::OwnerChange& c : o.owner_history()) {
      add(c.time(),
          absl::StrCat("owner ", c.old_owner(), " -> ", c.new_owner(), " by ", c.changed_by()));
    }
    for (const v1::ActionTaken& a : o.actions()) {
      // A contact's view holds only the action that finished its own request, without who
      // took it or the state before: it reads as the status it left the request in.
      const bool as_contact = !o.shown_to_contact().empty();
      const std::string moved = !as_contact ? absl::StrCat(a.from_status(), " -> ", a.to_status())
                                : a.to_status() == o.status() && !o.status_title().empty()
                                    ? o.status_title()
                                    : a.to_status();
      add(a.time(), absl::StrCat(a.action(), a.by().empty() ? "" : " by ", a.by(), ": ", moved,
                                 a.comment().empty() ? "" : ": ", Indented(a.comment(), kIndent)));
    }
    for (const v1::Comment& c : o.comments()) {
      add(c.time(),
          absl::StrCat("comment", c.author().empty() ? "" : " by ", c.author(),
                       c.for_client() && o.shown_to_contact().empty() ? " (for the client)" : "",
                       ": ", Indented(c.text(), kIndent)));
    }
    if (changes != nullptr) {
      for (const v1::Change& change : changes->changes()) {
        const absl::string_view type = absl::StripPrefix(change.type(), "spotflow.v1.");
        const std::string& by = change.actor().user_id();
        // The user the change is about (an assignment's producer, a share's user), before
        // and after it, unquoted.
        const v1::FieldChange* about = nullptr;
        for (const v1::FieldChange& field : change.fields()) {
          if (field.path() == "producer_id" || absl::StartsWith(field.path(), "participants")) {
            about = &field;
          }
        }
        const auto side = [&](bool after) {
          if (about == nullptr) return std::string();
          const std::string& text = after ? about->new_value() : about->old_value();
          return std::string(absl::StripSuffix(absl::StripPrefix(text, "\""), "\""));
        };
        if (type == "OrderUpdated") {
          // What an update or a step set, changed and cleared, a field by its name.
          std::vector<std::string> parts;
          for (const v1::FieldChange& field : change.fields()) {
            absl::string_view name = field.path();
            if (absl::ConsumePrefix(&name, "fields[")) absl::ConsumeSuffix(&name, "]");
            if (name == "instructions_revised") continue;  // Kept by the engine, not edited.
            if (name == "spot_length_seconds") name = "spot length (seconds)";
            parts.push_back(
                field.old_value().empty() ? absl::StrCat(name, " set to ", field.new_value())
                : field.new_value().empty()
                    ? absl::StrCat(name, " cleared (was ", field.old_value(), ")")
                    : absl::StrCat(name, " ", field.old_value(), " -> ", field.new_value()));
          }
          // A workflow action's own update (the fields it was given and those it clears)
          // shares its time, and follows it in the story. (A revision step's says "updated
          // by", under the revision or review of the same moment.)
          const auto action =
              std::find_if(o.actions().begin(), o.actions().end(), [&](const v1::ActionTaken& a) {
                return a.time().seconds() == change.time().seconds() &&
                       a.time().nanos() == change.time().nanos();
              });
          if (!parts.empty()) {
            add(change.time(),
                absl::StrCat(action == o.actions().end() ? absl::StrCat("updated by ", by)
                                                         : absl::StrCat("with ", action->action()),
                             ": ", Indented(absl::StrJoin(parts, "; "), kIndent)));
          }
        }
        if (type == "OrderArchived") add(change.time(), absl::StrCat("archived by ", by));
        if (type == "OrderRestored") add(change.time(), absl::StrCat("restored by ", by));
        if (type == "OrderDeleted") add(change.time(), absl::StrCat("deleted by ", by));
        if (type == "ProducerAssigned") {
          add(change.time(),
              side(true).empty()
                  ? absl::StrCat(AssigneeWord(o), " ", side(false), " unassigned by ", by)
                  : absl::StrCat(AssigneeWord(o), " ", side(true), " assigned by ", by));
        }
        if (type == "OrderShared") {
          add(change.time(), absl::StrCat("shared with ", side(true), " by ", by));
        }
        if (type == "OrderUnshared") {
          add(change.time(), absl::StrCat("unshared from ", side(false), " by ", by));
        }
      }
    }
    std::stable_sort(story.begin(), story.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.seconds, a.nanos) < std::tie(b.seconds, b.nanos);
    });
    for (const Entry& entry : story) {
      std::printf("  %s  %s\n",
                  absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(entry.seconds),
                                   absl::UTCTimeZone())
                      .c_str(),
                  entry.text.c_str());
    }
  }

  // Free text as printed under a line: its later lines indented by `indent` spaces, so that
  // a line of a script or comment never reads as a line of its own (another entry).
  static std::string Indented(absl::string_view text, int indent) {
    return absl::StrReplaceAll(text, {{"\n", absl::StrCat("\n", std::string(indent, ' '))}});
  }

  // How long spot `r` runs, beside `o`'s length when that differs: "runs 29.5 s (the order is
  // for 30 s)".
  static std::string RunsText(const v1::OrderView& o, const v1::Revision& r) {
    const uint64_t length_ms = uint64_t{o.spot_length_seconds()} * 1000;
    return absl::StrCat("runs ", r.media().duration_ms() / 1000.0, " s",
                        length_ms != 0 && r.media().duration_ms() != length_ms
                            ? absl::StrCat(" (the order is for ", o.spot_length_seconds(), " s)")
                            : "");
  }

  // One revision of `o`: who and when, its text or media (a spot's duration beside the order's
  // length), its note and every review, each starting with `indent`; `label` begins its line.
  static void PrintRevision(const v1::OrderView& o, const v1::Revision& r,
                            const std::string& indent, const char* label = "") {
    const std::string more = indent + "    ";  // Under the revision's line.
    const std::string reused =
        r.reused_by().empty() ? "" : absl::StrCat(" [reused by ", r.reused_by(), "]");
    std::printf("%s%s%s r%u %s%s%s%s%s%s: %s\n", indent.c_str(), label, r.artifact().c_str(),
                r.number(), ByWhom(r.author()).c_str(), TimeText(r.time()).c_str(), reused.c_str(),
                r.provided_by_client() ? " [provided by the client]" : "",
                r.approved() ? " [approved]" : "", r.superseded() ? " [superseded]" : "",
                r.artifact() == "script" ? Indented(r.text(), more.size()).c_str()
                                         : r.media().uri().c_str());
    if (r.media().duration_ms() != 0 || !r.media().checksum().empty()) {
      std::vector<std::string> media;
      if (r.media().duration_ms() != 0) media.push_back(RunsText(o, r));
      if (!r.media().checksum().empty()) media.push_back("checksum " + r.media().checksum());
      std::printf("%s%s\n", more.c_str(), absl::StrJoin(media, ", ").c_str());
    }
    if (!r.change_note().empty()) {
      std::printf("%snote: %s\n", more.c_str(), Indented(r.change_note(), more.size() + 2).c_str());
    }
    for (const v1::Review& review : r.reviews()) {
      std::printf("%s%s%s%s\n", more.c_str(), ReviewText(review).c_str(),
                  review.comment().empty() ? "" : ": ",
                  Indented(review.comment(), more.size() + 2).c_str());
    }
  }

  // Every change, field by field (Audit.History), as `audit history` and `order history`
  // print them; only those past version `after` of the record and up to `upto` (0: all).
  static void PrintChanges(const v1::AuditHistoryResponse& response, uint64_t after = 0,
                           uint64_t upto = 0) {
    for (const v1::Change& change : response.changes()) {
      if (change.version() <= after || (upto != 0 && change.version() > upto)) continue;
      std::printf(
          "#%llu v%llu %s by %s: %s\n", static_cast<unsigned long long>(change.position()),
          static_cast<unsigned long long>(change.version()),
          absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(change.time().seconds()),
                           absl::UTCTimeZone())
              .c_str(),
          change.actor().user_id().c_str(),
          absl::StripPrefix(change.type(), "spotflow.v1.").data());
      for (const v1::FieldChange& field : change.fields()) {
        std::printf("    %s: %s -> %s\n", field.path().c_str(),
                    field.old_value().empty() ? "(none)" : field.old_value().c_str(),
                    field.new_value().empty() ? "(none)" : field.new_value().c_str());
      }
    }
  }

  const std::string server_;  // Where the calls go (--server), for the message when it is down.
  const bool tls_;            // Calls go over TLS (--tls-ca or --tls-cert given).
  std::unique_ptr<v1::Orders::Stub> orders_;
  std::unique_ptr<v1::Clients::Stub> clients_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Events::Stub> events_;
  std::unique_ptr<v1::Audit::Stub> audit_;
  const std::string token_;
  bool json_;
  std::chrono::steady_clock::time_point last_progress_;
  mutable std::map<std::string, std::string> stream_labels_;  // StreamLabel's, by stream id.
};

int Client::Run(const std::string& verb, const Args& args) {
  const std::string sub = args.positional.empty() ? "" : args.positional[0];
  auto rest = [&](size_t i, const char* what) -> const std::string& {
    return Positional(args, i, what);
  };
  if (verb == "order" && sub == "create") {
    v1::CreateOrderRequest request;
    v1::CreateOrder* o = request.mutable_create_order();
    o->set_order_id(args.Get("id"));
    o->set_item_type(args.Get("type"));  // Empty: the server's default, production_order.
    const std::string type_name = o->item_type().empty() ? "production_order" : o->item_type();
    // Said of the type when it was not given: --type may be what was left out.
    const std::string type_said =
        o->item_type().empty()
            ? "production_order (the default: give --type for another; spotflow type list lists "
              "them)"
            : type_name;
    // A client and a flight are asked for only when the type has them (a marketing request
    // may have neither), as its facets say; when the type cannot be read, the server decides.
    v1::Facets facets;
    // The type, read once: for its facets, and for the fields' types when --field is given.
    v1::ItemTypeDefinition type;
    v1::GetItemTypeRequest get;
    get.set_name(type_name);
    const grpc::Status read = admin_->GetItemType(Context().get(), get, &type);
    if (read.ok()) facets = type.facets();
    // A client's login submits for its own company, named by its login.
    const auto own_company = [&] {
      v1::UserView me;
      return admin_->GetUser(Context().get(), v1::GetUserRequest(), &me).ok() &&
             !me.client_id().empty();
    };
    // The fields first: one the type lacks says which type was meant (--type left out).
    if (!args.fields.empty()) {
      // A login that may not read the form may not submit it either (a contact's without
      // REQUEST_SUBMIT): the server says why, and whom to ask, rather than the form's refusal.
      if (read.ok()) {
        SetFieldsOf(type, args, o->mutable_fields());
      } else if (read.error_code() != grpc::StatusCode::PERMISSION_DENIED) {
        return Report(read);
      }
    }
    // An item made for another is for the other's client: the server takes it from there.
    o->set_parent_order_id(args.Get("parent"));
    if (facets.client_link() && !args.Has("client") && !args.Has("parent") && !own_company()) {
      Usage(absl::StrCat("missing --client: type ", type_said, " is made on a client's account"));
    }
    o->set_client_id(args.Get("client"));
    o->set_owner_id(args.Get("owner"));
    o->set_title(Required(args, "title"));
    o->set_instructions(args.Get("instructions"));
    const std::string kind = args.Get("kind", "production");
    if (kind != "production" && kind != "provided") Usage("--kind is production or provided");
    o->set_kind(kind == "provided" ? v1::PROVIDED : v1::PRODUCTION);
    if (args.Has("length")) o->set_spot_length_seconds(SpotSeconds(args));
    if (facets.schedule() && !args.Has("flight")) {
      Usage(absl::StrCat("missing --flight: type ", type_said, " has flight dates"));
    }
    if (read.ok() && !facets.schedule() && args.Has("flight")) {
      Usage(absl::StrCat("type ", type_name, " has no flight dates: leave --flight out"));
    }
    if (args.Has("flight")) {
      auto [start, end] = ParseFlight(args.Get("flight"));
      *o->mutable_flight_start() = start;
      *o->mutable_flight_end() = end;
    }
    return Change(request, args,
                  [&](auto* c, auto& r, auto* out) { return orders_->CreateOrder(c, r, out); });
  }
  if (verb == "order" && (sub == "show" || sub == "history")) {
    v1::GetOrderRequest request;
    request.set_order_id(rest(1, "the order id or key"));
    request.set_with_awaiting(sub == "show");
    v1::OrderView order;
    grpc::Status status = orders_->GetOrder(Context().get(), request, &order);
    if (!status.ok()) return Report(status);
    if (PrintJson(order)) return 0;
    if (sub == "show") {
      PrintOrder(order, /*history=*/false);
      return 0;
    }
    // The story, then every change with who, when, old and new. A contact's login may not
    // read the history, and sees the story of what it sees of the order.
    v1::AuditHistoryRequest changes;
    changes.set_order_id(order.order_id());
    v1::AuditHistoryResponse response;
    status = audit_->History(Context().get(), changes, &response);
    const bool may_read = status.error_code() != grpc::StatusCode::PERMISSION_DENIED;
    if (may_read && !status.ok()) return Report(status);
    PrintOrder(order, /*history=*/true, may_read ? &response : nullptr);
    if (may_read) {
      std::printf("every change:\n");
      PrintChanges(response);
    }
    return 0;
  }
  if (verb == "order" && sub == "list") {
    v1::ListOrdersRequest request;
    if (args.Has("status")) {
      std::vector<std::string> states;
      for (absl::string_view state : absl::StrSplit(args.Get("status"), ',')) {
        state = absl::StripAsciiWhitespace(state);
        if (state.empty()) Usage("--status takes states separated by commas, none of them empty");
        states.emplace_back(state);
      }
      // One state goes in `status`, which servers before `statuses` also read.
      if (states.size() == 1) {
        request.set_status(states[0]);
      } else {
        for (const std::string& state : states) request.add_statuses(state);
      }
    }
    request.set_client_id(args.Get("client"));
    request.set_owner_id(args.Get("owner"));
    request.set_account_owner_id(args.Get("account-owner"));
    request.set_item_type(args.Get("type"));
    request.set_parent_order_id(args.Get("parent"));
    request.set_assignee_id(args.Get("assigned"));
    request.set_actionable(args.Has("queue"));
    request.set_with_awaiting(args.Has("waiting"));
    if (args.Has("flight")) {
      // Orders whose flight overlaps FROM..TO; either end may be left open ("2026-12-01..").
      std::vector<std::string> ends = absl::StrSplit(args.Get("flight"), "..");
      if (ends.size() != 2 || (ends[0].empty() && ends[1].empty())) {
        Usage("--flight is FROM..TO, FROM.. or ..TO, e.g. 2026-12-01..2026-12-31");
      }
      if (!ends[0].empty()) *request.mutable_flight_from() = ParseDate(ends[0]);
      if (!ends[1].empty()) *request.mutable_flight_to() = ParseDate(ends[1]);
    }
    const std::string archived = args.Get("archived");
    if (!archived.empty() && archived != "include" && archived != "only" && archived != "exclude") {
      Usage("--archived is include, only or exclude");
    }
    request.set_page_token(args.Get("page-token"));
    request.set_archived(archived == "include" ? v1::INCLUDE_ARCHIVED
                         : archived == "only"  ? v1::ONLY_ARCHIVED
                                               : v1::EXCLUDE_ARCHIVED);
    request.set_page_size(args.Has("limit") ? Limit(args) : 100);
    v1::ListOrdersResponse response;
    grpc::Status status = orders_->ListOrders(Context().get(), request, &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    // The id is what the other verbs take; the key is what people quote (PO-2026-00042).
    const bool queue = args.Has("queue");
    // Whom each is assigned to, for the house's staff: a contact's login (whose orders are
    // shown to a contact) is told of no one, and the column would only say "-".
    const bool assigned =
        !std::all_of(response.orders().begin(), response.orders().end(),
                     [](const v1::OrderView& o) { return !o.shown_to_contact().empty(); });
    std::vector<std::string> columns = {"ID", "KEY", "TITLE", "STATUS", "CLIENT", "OWNER"};
    if (assigned) columns.push_back("ASSIGNED");
    columns.push_back("FLIGHT");
    // A queue says what each order waits for the caller to do.
    if (queue) columns.push_back("WAITS FOR YOU TO");
    // A board of who has the ball: whom each order waits for, and to do what.
    const bool waiting = args.Has("waiting");
    if (waiting) columns.push_back("WAITS FOR");
    Table table(columns);
    for (const v1::OrderView& o : response.orders()) {
      std::vector<std::string> row = OrderRow(o);
      if (!assigned) row.erase(row.begin() + 6);
      if (queue) row.push_back(WaitsForText(o));
      if (waiting) row.push_back(WaitsForColumn(o));
      table.Add(std::move(row));
    }
    if (!response.orders().empty()) table.Print();
    if (response.orders().empty()) {
      std::puts(args.Has("queue") ? "(nothing waits for you)" : "(no orders match)");
    }
    if (!response.next_page_token().empty()) {
      std::printf("(more: --page-token=%s)\n", response.next_page_token().c_str());
    }
    return 0;
  }
  if (verb == "script" && sub == "submit") {
    v1::SubmitRevisionRequest request;
    v1::SubmitRevision* r = request.mutable_submit_revision();
    r->set_order_id(rest(1, "the order id or key"));
    r->set_artifact("script");
    r->set_text(Required(args, "text"));
    r->set_change_note(args.Get("note"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->SubmitRevision(c, q, out); });
  }
  if (verb == "spot" && sub == "upload") {
    v1::SubmitRevisionRequest request;
    v1::SubmitRevision* r = request.mutable_submit_revision();
    r->set_order_id(rest(1, "the order id or key"));
    r->set_artifact("spot");
    r->mutable_media()->set_uri(Required(args, "uri"));
    r->mutable_media()->set_checksum(args.Get("checksum"));
    if (args.Has("duration-ms")) {
      r->mutable_media()->set_duration_ms(Number(args.Get("duration-ms"), "--duration-ms"));
    }
    r->set_provided_by_client(args.Has("provided"));
    if (!args.Has("provided")) {
      // On an order whose spot the client or agency provides, one who may upload that spot
      // but not record one (an AE) means the client's: --provided would only repeat it. A
      // producer, who may do both, records unless told. (Unread, the submission says why.)
      v1::GetOrderRequest get;
      get.set_order_id(r->order_id());
      v1::OrderView order;
      if (orders_->GetOrder(Context().get(), get, &order).ok() && order.kind() == v1::PROVIDED) {
        const auto& open = order.open_actions();
        const auto has = [&](const char* action) {
          return std::find(open.begin(), open.end(), action) != open.end();
        };
        if (has("upload_spot") && !has("record_spot")) r->set_provided_by_client(true);
      }
    }
    r->set_change_note(args.Get("note"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->SubmitRevision(c, q, out); });
  }
  if (verb == "approve") {
    v1::ApproveRevisionRequest request;
    v1::ApproveRevision* r = request.mutable_approve_revision();
    r->set_order_id(rest(0, "the order id or key"));
    r->set_artifact(Artifact(rest(1, "script or spot")));
    r->set_revision(Number(rest(2, "the revision number"), "the revision"));
    r->set_comment(args.Get("comment"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->ApproveRevision(c, q, out); });
  }
  if (verb == "changes") {
    v1::RequestChangesRequest request;
    v1::RequestChanges* r = request.mutable_request_changes();
    r->set_order_id(rest(0, "the order id or key"));
    r->set_artifact(Artifact(rest(1, "script or spot")));
    r->set_revision(Number(rest(2, "the revision number"), "the revision"));
    r->set_comment(Required(args, "comment"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->RequestChanges(c, q, out); });
  }
  if (verb == "forward") {
    v1::ForwardToClientRequest request;
    v1::ForwardToClient* r = request.mutable_forward_to_client();
    r->set_order_id(rest(0, "the order id or key"));
    r->set_artifact(Artifact(rest(1, "script or spot")));
    r->set_revision(Number(rest(2, "the revision number"), "the revision"));
    r->set_contact_id(Required(args, "contact"));
    r->set_message(args.Get("message"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->ForwardToClient(c, q, out); });
  }
  if (verb == "client-answer") {
    v1::RecordClientAnswerRequest request;
    v1::RecordClientAnswer* r = request.mutable_record_client_answer();
    r->set_order_id(rest(0, "the order id or key"));
    r->set_artifact(Artifact(rest(1, "script or spot")));
    r->set_revision(Number(rest(2, "the revision number"), "the revision"));
    const std::string answer = rest(3, "approve or changes");
    if (answer != "approve" && answer != "changes") Usage("the answer is approve or changes");
    r->set_approved(answer == "approve");
    // As for `changes`: the changes the client wants are the point of the answer.
    if (answer == "changes" && !args.Has("comment")) {
      Usage("client-answer ... changes needs --comment: the changes the client wants");
    }
    r->set_contact_id(args.Get("contact"));
    r->set_comment(args.Get("comment"));
    return Change(request, args, [&](auto* c, auto& q, auto* out) {
      return orders_->RecordClientAnswer(c, q, out);
    });
  }
  if (verb == "flight" && sub == "request") {
    v1::RequestFlightChangeRequest request;
    v1::RequestFlightChange* r = request.mutable_request_flight_change();
    r->set_order_id(rest(1, "the order id or key"));
    auto [start, end] = ParseFlight(Required(args, "flight"));
    *r->mutable_new_start() = start;
    *r->mutable_new_end() = end;
    r->set_reason(args.Get("reason"));
    return Change(request, args, [&](auto* c, auto& q, auto* out) {
      return orders_->RequestFlightChange(c, q, out);
    });
  }
  if (verb == "flight" && sub == "decide") {
    v1::DecideFlightChangeRequest request;
    v1::DecideFlightChange* r = request.mutable_decide_flight_change();
    r->set_order_id(rest(1, "the order id or key"));
    r->set_request_id(rest(2, "the flight-change request id"));
    const std::string decision = rest(3, "approve or reject");
    if (decision != "approve" && decision != "reject") Usage("decide approve or reject");
    r->set_approved(decision == "approve");
    r->set_comment(args.Get("comment"));
    return Change(request, args, [&](auto* c, auto& q, auto* out) {
      return orders_->DecideFlightChange(c, q, out);
    });
  }
  if (verb == "flight" && sub == "withdraw") {
    v1::WithdrawFlightChangeRequest request;
    v1::WithdrawFlightChange* r = request.mutable_withdraw_flight_change();
    r->set_order_id(rest(1, "the order id or key"));
    r->set_request_id(rest(2, "the flight-change request id"));
    r->set_comment(args.Get("comment"));
    return Change(request, args, [&](auto* c, auto& q, auto* out) {
      return orders_->WithdrawFlightChange(c, q, out);
    });
  }
  if (verb == "deliver" || verb == "action") {
    v1::PerformActionRequest request;
    request.mutable_perform_action()->set_order_id(rest(0, "the order id or key"));
    request.mutable_perform_action()->set_action(verb == "deliver" ? "deliver"
                                                                   : rest(1, "the action"));
    request.mutable_perform_action()->set_comment(args.Get("comment"));
    if (!args.fields.empty()) {
      // Typed as the order's type defines them.
      v1::GetOrderRequest get;
      get.set_order_id(request.perform_action().order_id());
      v1::OrderView order;
      grpc::Status read = orders_->GetOrder(Context().get(), get, &order);
      if (!read.ok()) return Report(read);
      if (int failed = SetFields(order.item_type(), args,
                                 request.mutable_perform_action()->mutable_fields());
          failed != 0) {
        return failed;
      }
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->PerformAction(c, q, out); });
  }
  if (verb == "archive" || verb == "restore" || verb == "delete") {
    const std::string id = rest(0, "the order id or key");
    if (verb == "archive") {
      v1::ArchiveOrderRequest request;
      request.mutable_archive_order()->set_order_id(id);
      return Change(request, args,
                    [&](auto* c, auto& q, auto* out) { return orders_->ArchiveOrder(c, q, out); });
    }
    if (verb == "restore") {
      v1::RestoreOrderRequest request;
      request.mutable_restore_order()->set_order_id(id);
      return Change(request, args,
                    [&](auto* c, auto& q, auto* out) { return orders_->RestoreOrder(c, q, out); });
    }
    if (!Confirmed(args, absl::StrCat("Deleting order ", id))) return 1;
    v1::DeleteOrderRequest request;
    request.mutable_delete_order()->set_order_id(id);
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->DeleteOrder(c, q, out); });
  }
  if (verb == "share") {
    v1::ShareOrderRequest request;
    request.mutable_share_order()->set_order_id(rest(0, "the order id or key"));
    request.mutable_share_order()->set_user_id(rest(1, "the user to share with"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->ShareOrder(c, q, out); });
  }
  if (verb == "order" && sub == "stats") {
    v1::GetOrderStatsRequest request;
    request.set_owner_id(args.Get("owner"));
    request.set_client_id(args.Get("client"));
    request.set_item_type(args.Get("type"));
    request.set_assignee_id(args.Get("assigned"));
    request.set_field(args.Get("field"));
    request.set_group_by(args.Get("by"));
    request.set_by_assignee(args.Has("per-assignee"));
    for (const char* needs_type : {"field", "by"}) {
      if (args.Has(needs_type) && !args.Has("type")) {
        Usage(absl::StrCat("--", needs_type, " names a field of one item type: give --type too"));
      }
    }
    const auto day_of = [](const v1::Date& d) {
      return std::make_tuple(d.year(), d.month(), d.day());
    };
    for (const auto& [since, until] :
         {std::make_pair("since", "until"), std::make_pair("ended-since", "ended-until")}) {
      if (args.Has(since) && args.Has(until) &&
          day_of(ParseDate(args.Get(until))) < day_of(ParseDate(args.Get(since)))) {
        Usage(absl::StrCat("--", until, " ", args.Get(until), " comes before --", since, " ",
                           args.Get(since), "; both days are included"));
      }
    }
    // Whole days, UTC: --since from its start, --until to its end.
    const auto day_start = [](const std::string& text, int days_after) {
      const v1::Date date = ParseDate(text);
      const absl::CivilDay day(date.year(), date.month(), date.day());
      if (day.year() != date.year() || day.month() != date.month() || day.day() != date.day()) {
        Usage(absl::StrCat("\"", text, "\" is not a date of the calendar"));
      }
      google::protobuf::Timestamp start;
      start.set_seconds(
          absl::ToUnixSeconds(absl::FromCivil(day + days_after, absl::UTCTimeZone())));
      return start;
    };
    if (args.Has("since")) *request.mutable_created_since() = day_start(args.Get("since"), 0);
    if (args.Has("until")) *request.mutable_created_before() = day_start(args.Get("until"), 1);
    if (args.Has("ended-since")) {
      *request.mutable_finished_since() = day_start(args.Get("ended-since"), 0);
    }
    if (args.Has("ended-until")) {
      *request.mutable_finished_before() = day_start(args.Get("ended-until"), 1);
    }
    v1::OrderStats stats;
    grpc::Status status = orders_->GetOrderStats(Context().get(), request, &stats);
    if (!status.ok()) return Report(status);
    if (PrintJson(stats)) return 0;
    // Archived orders are counted, but in no state's NOW: the rest are.
    uint32_t in_states = 0;
    for (const v1::StateStats& s : stats.states()) in_states += s.orders_now();
    const uint32_t archived = stats.orders() > in_states ? stats.orders() - in_states : 0;
    // Counted by when they ended, the headline says so: open orders are not among them.
    std::string ended;
    const auto day = [&](const char* flag) { return DateText(ParseDate(args.Get(flag))); };
    if (args.Has("ended-since") && args.Has("ended-until")) {
      ended = absl::StrCat(" that ended ", day("ended-since"), "..", day("ended-until"));
    } else if (args.Has("ended-since")) {
      ended = absl::StrCat(" that ended on or after ", day("ended-since"));
    } else if (args.Has("ended-until")) {
      ended = absl::StrCat(" that ended on or before ", day("ended-until"));
    }
    std::printf("%u %s%s%s (as of %s)\n", stats.orders(), stats.orders() == 1 ? "order" : "orders",
                ended.c_str(),
                archived == 0 ? "" : absl::StrCat(", ", archived, " of them archived").c_str(),
                TimeText(stats.as_of()).c_str());
    if (stats.orders() == 0) return 0;
    std::printf(
        "NOW: orders in the state, not counting archived ones; STAYS: times an order entered "
        "it, and how long it stayed (until now for a stay going on; none in a final state, "
        "where the work has ended)\n");
    // Orders of several workflows (no --type): each state named with its workflow, as two
    // workflows may each have a "completed".
    std::set<std::string> workflows;
    for (const v1::StateStats& s : stats.states()) workflows.insert(s.workflow());
    // Each owner's book, or each assignee's (--per-assignee); then the team's together when
    // there are several.
    const bool per_assignee = request.by_assignee();
    const auto& rows = per_assignee ? stats.assignees() : stats.owners();
    std::vector<const v1::OwnerStats*> books;
    for (const v1::OwnerStats& o : rows) books.push_back(&o);
    if (rows.size() > 1) books.push_back(&stats.team());
    // The total row: the team's book by owners; by assignees, all of them (among whom may be
    // those on no team).
    const auto book_of = [per_assignee](const v1::OwnerStats& o) -> std::string {
      if (o.unassigned()) return "(no one)";
      if (!o.user_id().empty()) return o.user_id();
      return per_assignee ? "(all)" : "(team)";
    };
    const char* book_column = per_assignee ? "ASSIGNED TO" : "OWNER";
    for (const v1::OwnerStats* o : books) {
      for (const v1::FinishedStats& f : o->finished()) workflows.insert(f.workflow());
    }
    const bool several = workflows.size() > 1;
    const auto ended_in = [&](const v1::FinishedStats& f) {
      const std::string state = several ? absl::StrCat(f.workflow(), ": ", f.status()) : f.status();
      return f.abandoned() ? absl::StrCat(state, " (abandoned)") : state;
    };
    std::vector<std::string> state_columns = {"STATE", "NOW", "STAYS", "AVERAGE STAY",
                                              "MEDIAN STAY"};
    if (several) state_columns.insert(state_columns.begin(), "WORKFLOW");
    Table states(state_columns);
    const std::string* workflow_shown = nullptr;
    for (const v1::StateStats& s : stats.states()) {
      const bool timed = s.stays() != 0;
      std::vector<std::string> row = {s.status(), absl::StrCat(s.orders_now()),
                                      absl::StrCat(s.stays()),
                                      timed ? DurationText(s.average_seconds()) : "-",
                                      timed ? DurationText(s.median_seconds()) : "-"};
      if (several) {
        // The workflow on the first of its states only.
        const bool first = workflow_shown == nullptr || *workflow_shown != s.workflow();
        row.insert(row.begin(), first ? s.workflow() : "");
        workflow_shown = &s.workflow();
      }
      states.Add(row);
    }
    states.Print();
    std::printf("\n");
    // One row per final state an owner's orders ended in (delivered apart from declined), so
    // an average time to finish never mixes the two.
    const std::string& field = stats.field();
    std::printf(
        "OPEN: under way; SET ASIDE: archived before they finished; ENDED IN: the final state "
        "finished ones reached (abandoned: ended undone, such as declined)%s\n",
        field.empty() ? ""
                      : absl::StrCat("; ", field,
                                     ": summed, then averaged over the orders that "
                                     "have one (OPEN ",
                                     field, ": the open ones')")
                            .c_str());
    std::vector<std::string> columns = {book_column, "OPEN",   "SET ASIDE",
                                        "ENDED IN",  "ORDERS", "AVERAGE TIME FROM CREATION"};
    if (!field.empty()) {
      columns.insert(columns.begin() + 2, absl::StrCat("OPEN ", field));
      columns.push_back(absl::StrCat(field, " SUM"));
      columns.push_back(absl::StrCat(field, " AVERAGE"));
    }
    Table owners(columns);
    // A row: the owner's own columns on its first row only; the field's where it is asked for.
    const auto add = [&](const v1::OwnerStats& o, bool first, std::vector<std::string> ended,
                         std::vector<std::string> amounts) {
      std::vector<std::string> row = {first ? book_of(o) : "",
                                      first ? absl::StrCat(o.open_orders()) : "",
                                      first ? absl::StrCat(o.archived_unfinished_orders()) : ""};
      if (!field.empty()) {
        row.insert(row.begin() + 2, !first ? ""
                                    : o.open_field_orders() == 0
                                        ? "-"
                                        : Grouped(absl::StrCat(o.open_field_sum())));
      }
      row.insert(row.end(), ended.begin(), ended.end());
      if (!field.empty()) row.insert(row.end(), amounts.begin(), amounts.end());
      owners.Add(row);
    };
    for (const v1::OwnerStats* book : books) {
      const v1::OwnerStats& o = *book;
      if (o.finished().empty()) add(o, true, {"-", "0", "-"}, {"-", "-"});
      bool first = true;
      for (const v1::FinishedStats& f : o.finished()) {
        add(o, first,
            {ended_in(f), absl::StrCat(f.orders()), DurationText(f.average_cycle_seconds())},
            AmountCells(f.field_sum(), f.field_orders(), f.field_average()));
        first = false;
      }
    }
    owners.Print();
    if (const std::string& by = stats.group_by(); !by.empty()) {
      std::printf("\nThe finished orders by %s (-: none given)%s\n", by.c_str(),
                  field.empty()
                      ? ""
                      : absl::StrCat("; ", field, " summed and averaged over each's").c_str());
      std::vector<std::string> value_columns = {book_column, "ENDED IN", by, "ORDERS"};
      if (!field.empty()) {
        value_columns.push_back(absl::StrCat(field, " SUM"));
        value_columns.push_back(absl::StrCat(field, " AVERAGE"));
      }
      Table values(value_columns);
      for (const v1::OwnerStats* book : books) {
        const v1::OwnerStats& o = *book;
        bool first = true;
        for (const v1::FinishedStats& f : o.finished()) {
          bool first_of_state = true;
          for (const v1::ValueCount& v : f.by_value()) {
            std::vector<std::string> row = {
                first ? book_of(o) : "", first_of_state ? ended_in(f) : "",
                v.value().empty() ? "-" : v.value(), absl::StrCat(v.orders())};
            if (!field.empty()) {
              for (std::string& cell :
                   AmountCells(v.field_sum(), v.field_orders(), v.field_average())) {
                row.push_back(std::move(cell));
              }
            }
            values.Add(row);
            first = first_of_state = false;
          }
        }
      }
      values.Print();
    }
    return 0;
  }
  if (verb == "budget" && sub == "set") {
    v1::SetBudgetRequest request;
    v1::Budget* budget = request.mutable_set_budget()->mutable_budget();
    // With --id: the budget as it stands, what is given changed, sent with its version so
    // that a change made meanwhile is not overwritten (ABORTED: run it again).
    bool found = false;
    if (args.Has("id")) {
      v1::ListBudgetsResponse all;
      grpc::Status status =
          AllPages(v1::ListBudgetsRequest(), &all,
                   [&](auto* c, auto& q, auto* out) { return orders_->ListBudgets(c, q, out); });
      if (!status.ok()) return Report(status);
      for (const v1::BudgetProgress& p : all.budgets()) {
        if (p.budget().budget_id() != args.Get("id")) continue;
        *budget = p.budget();
        request.set_etag(budget->version());
        budget->clear_version();
        budget->clear_set_by();
        found = true;
      }
    }
    if (args.Has("id") && !found && args.positional.size() < 2) {
      Usage(absl::StrCat("budget \"", args.Get("id"),
                         "\" is not among those you read (spotflow budget list); to set a new one, "
                         "give USER, --title, --period and --target"));
    }
    // A new budget needs the whole of it; one found keeps what is not given.
    const auto given = [&](const std::string& name) {
      return found ? args.Get(name, "") : Required(args, name);
    };
    budget->set_budget_id(args.Get("id"));
    if (args.positional.size() > 1 || !found) budget->set_user_id(rest(1, "the user it measures"));
    if (!found || args.Has("title")) budget->set_title(given("title"));
    if (!found || args.Has("period")) {
      auto [start, end] = ParseFlight(given("period"), "--period");
      *budget->mutable_start() = start;
      *budget->mutable_end() = end;
    }
    if (!found || args.Has("target")) {
      int64_t target = 0;
      if (!absl::SimpleAtoi(given("target"), &target) || target <= 0) {
        Usage(absl::StrCat("--target is a whole number above 0: not \"", args.Get("target"), "\""));
      }
      budget->set_target(target);
    }
    if (!found || args.Has("type")) budget->set_item_type(args.Get("type"));
    if (!found || args.Has("field")) budget->set_field(args.Get("field"));
    if (!budget->field().empty() && budget->item_type().empty()) {
      Usage("--field names a field of one item type: give --type too");
    }
    if (!found || args.Has("basis")) {
      const std::string basis = args.Get("basis", "made");
      if (basis != "made" && basis != "done") Usage("--basis is made or done");
      budget->set_basis(basis == "done" ? v1::ORDERS_DONE : v1::ORDERS_MADE);
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->SetBudget(c, q, out); });
  }
  if (verb == "budget" && sub == "remove") {
    v1::RemoveBudgetRequest request;
    request.mutable_remove_budget()->set_budget_id(rest(1, "the budget id"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->RemoveBudget(c, q, out); });
  }
  if (verb == "budget" && sub == "list") {
    v1::ListBudgetsRequest request;
    request.set_user_id(args.Get("user"));
    v1::ListBudgetsResponse response;
    grpc::Status status = AllPages(request, &response, [&](auto* c, auto& q, auto* out) {
      return orders_->ListBudgets(c, q, out);
    });
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    if (response.budgets().empty()) {
      std::printf("no budgets%s\n", args.Has("user") ? " for this user" : "");
      return 0;
    }
    std::printf(
        "as of %s; MEASURE: orders made in the period, or done in it; ACTUAL: counted or "
        "summed so far; REACHED: ACTUAL of TARGET; PERIOD GONE: how much of the period has gone "
        "by; ORDERS: those counted; DONE: of those, the finished ones; ABANDONED: in the period "
        "but ended undone (declined, cancelled), not counted\n",
        TimeText(response.budgets(0).as_of()).c_str());
    Table table({"ID", "USER", "TITLE", "PERIOD", "MEASURE", "TARGET", "ACTUAL", "REACHED",
                 "PERIOD GONE", "ORDERS", "DONE", "ABANDONED", "SET BY"});
    for (const v1::BudgetProgress& p : response.budgets()) {
      const v1::Budget& b = p.budget();
      const char* basis = b.basis() == v1::ORDERS_DONE ? "done" : "made";
      const std::string measure =
          !b.field().empty() ? absl::StrCat("sum of ", b.field(), " (", b.item_type(), "), ", basis)
          : !b.item_type().empty() ? absl::StrCat("orders ", basis, " (", b.item_type(), ")")
                                   : absl::StrCat("orders ", basis);
      table.Add({b.budget_id(), b.user_id(), b.title(),
                 absl::StrCat(DateText(b.start()), "..", DateText(b.end())), measure,
                 Grouped(absl::StrCat(b.target())), Grouped(absl::StrCat(p.actual())),
                 // Floored: 99.6% of a target is not yet reached.
                 absl::StrFormat("%.0f%%", std::floor(p.percent())),
                 absl::StrFormat("%.0f%%", std::floor(p.period_elapsed_percent())),
                 absl::StrCat(p.orders()), absl::StrCat(p.completed_orders()),
                 absl::StrCat(p.abandoned_orders()),
                 // A goal of one's own, or a target someone set for them.
                 b.set_by().empty()          ? "-"
                 : b.set_by() == b.user_id() ? "themselves"
                                             : b.set_by()});
    }
    table.Print();
    return 0;
  }
  if (verb == "order" && sub == "reassign") {
    v1::ReassignOrdersRequest request;
    for (absl::string_view id : absl::StrSplit(rest(1, "the orders"), ',', absl::SkipEmpty())) {
      request.mutable_reassign_orders()->add_order_ids(std::string(id));
    }
    request.mutable_reassign_orders()->set_to_owner(rest(2, "the user taking them"));
    // The orders that moved (or would), by key and from whom; and the way back, while nothing
    // else has changed: each the other way, to whom it came from.
    const auto moved = [this, &request](const v1::CommandResult& result) {
      std::vector<std::string> orders;
      std::map<std::string, std::vector<std::string>> back;  // Old owner -> their orders.
      for (const v1::OrderMoved& m : result.moved_orders()) {
        const std::string& name = m.key().empty() ? m.order_id() : m.key();
        orders.push_back(absl::StrCat(name, " (from ", m.old_owner(), ")"));
        back[m.old_owner()].push_back(name);
      }
      if (result.moved_orders().empty()) {
        // A server from before moved_orders: the orders' streams it wrote.
        for (const v1::StreamEtag& written : result.streams()) {
          absl::string_view id = written.stream_id();
          if (absl::ConsumePrefix(&id, "order-")) orders.emplace_back(id);
        }
      }
      if (orders.empty()) return;
      std::printf("  %s to %s: %s\n", result.validate_only() ? "orders it would move" : "orders",
                  request.reassign_orders().to_owner().c_str(),
                  absl::StrJoin(orders, ", ").c_str());
      if (result.validate_only()) return;
      for (const auto& [owner, names] : back) {
        PrintWayBack(owner, {absl::StrCat("spotflow order reassign ", absl::StrJoin(names, ","),
                                          " ", owner)});
      }
    };
    return Change(
        request, args,
        [&](auto* c, auto& q, auto* out) { return orders_->ReassignOrders(c, q, out); }, moved);
  }
  if (verb == "assign") {
    v1::AssignProducerRequest request;
    request.mutable_assign_producer()->set_order_id(rest(0, "the order id or key"));
    request.mutable_assign_producer()->set_user_id(rest(1, "the producer"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->AssignProducer(c, q, out); });
  }
  if (verb == "unassign") {
    v1::AssignProducerRequest request;
    request.mutable_assign_producer()->set_order_id(rest(0, "the order id or key"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->AssignProducer(c, q, out); });
  }
  if (verb == "comment") {
    v1::AddCommentRequest request;
    request.mutable_add_comment()->set_order_id(rest(0, "the order id or key"));
    request.mutable_add_comment()->set_text(rest(1, "the comment"));
    request.mutable_add_comment()->set_for_client(args.Has("for-client"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->AddComment(c, q, out); });
  }
  if (verb == "order" && sub == "update") {
    v1::UpdateOrderRequest request;
    v1::UpdateOrder* o = request.mutable_update_order();
    o->set_order_id(rest(1, "the order id or key"));
    if (args.Has("title")) o->set_title(args.Get("title"));
    if (args.Has("instructions")) o->set_instructions(args.Get("instructions"));
    if (args.Has("length")) o->set_spot_length_seconds(SpotSeconds(args));
    if (!o->has_title() && !o->has_instructions() && !o->has_spot_length_seconds() &&
        args.fields.empty()) {
      Usage("order update changes --title, --instructions, --length or --field: give at least one");
    }
    if (!args.fields.empty()) {
      v1::GetOrderRequest get;
      get.set_order_id(o->order_id());
      v1::OrderView order;
      grpc::Status status = orders_->GetOrder(Context().get(), get, &order);
      if (!status.ok()) return Report(status);
      if (int refused = SetFields(order.item_type(), args, o->mutable_fields())) return refused;
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->UpdateOrder(c, q, out); });
  }
  if (verb == "order" && sub == "reuse") {
    v1::ReuseOrderRequest request;
    v1::ReuseOrder* r = request.mutable_reuse_order();
    r->set_source_order_id(rest(1, "the order to reuse"));
    r->set_order_id(args.Get("id"));
    r->set_title(args.Get("title"));
    v1::OrderView source;
    v1::ItemTypeDefinition type;
    if (!args.Has("flight") || !args.fields.empty()) {
      v1::GetOrderRequest get;
      get.set_order_id(r->source_order_id());
      if (grpc::Status got = orders_->GetOrder(Context().get(), get, &source); !got.ok()) {
        return Report(got);
      }
      v1::GetItemTypeRequest of_type;
      of_type.set_name(source.item_type());
      if (grpc::Status got = admin_->GetItemType(Context().get(), of_type, &type); !got.ok()) {
        return Report(got);
      }
    }
    // The new order books its own flight when its type has one: the source's is usually over.
    if (args.Has("flight") || type.facets().schedule()) {
      if (!args.Has("flight")) {
        Usage("order reuse needs --flight START..END, the new order's flight");
      }
      auto [start, end] = ParseFlight(args.Get("flight"));
      *r->mutable_flight_start() = start;
      *r->mutable_flight_end() = end;
    }
    // Typed as the archived order's item type defines them.
    if (!args.fields.empty()) SetFieldsOf(type, args, r->mutable_fields());
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->ReuseOrder(c, q, out); });
  }
  if (verb == "unshare") {
    v1::UnshareOrderRequest request;
    request.mutable_unshare_order()->set_order_id(rest(0, "the order id or key"));
    request.mutable_unshare_order()->set_user_id(rest(1, "the user"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return orders_->UnshareOrder(c, q, out); });
  }
  if (verb == "client" && sub == "update") {
    v1::UpdateClientRequest request;
    v1::UpdateClient* u = request.mutable_update_client();
    u->set_client_id(rest(1, "the client id"));
    if (args.Has("name")) u->set_name(args.Get("name"));
    if (args.Has("kind")) u->set_kind(args.Get("kind"));
    if (args.Has("organization")) u->set_organization(args.Get("organization"));
    if (args.Has("owner") && args.Get("owner").empty()) {
      Usage("--owner names the user whose account the client becomes");
    }
    if (args.Has("owner")) {
      // Seed 003's personal manager: the account to another, its orders staying with whoever
      // manages them (ReassignAccounts with no orders), guarded by the etag read here.
      if (u->has_name() || u->has_kind() || u->has_organization()) {
        Usage(
            "--owner changes who the client's account belongs to, on its own: give it apart "
            "from --name, --kind and --organization");
      }
      v1::GetClientRequest get;
      get.set_client_id(u->client_id());
      v1::ClientView client;
      grpc::Status status = clients_->GetClient(Context().get(), get, &client);
      if (!status.ok()) return Report(status);
      const std::string to = args.Get("owner");
      if (client.owner_id() == to) {
        std::printf("ok: %s is already %s's account (nothing changed)\n",
                    client.client_id().c_str(), to.c_str());
        return 0;
      }
      v1::ReassignAccountsRequest request;
      v1::ReassignAccounts* move = request.mutable_reassign_accounts();
      move->set_from_owner(client.owner_id());
      move->set_to_owner(to);
      move->add_client_ids(client.client_id());
      move->mutable_only_orders();  // None: each order keeps whoever manages it.
      request.set_etag(client.version());
      return Change(
          request, args,
          [&](auto* c, auto& q, auto* out) { return clients_->ReassignAccounts(c, q, out); },
          [&](const v1::CommandResult& result) {
            PrintAccountsMoved(client.owner_id(), {to}, false, {}, result);
          });
    }
    if (!u->has_name() && !u->has_kind() && !u->has_organization()) {
      Usage("client update changes --name, --kind, --organization or --owner: give at least one");
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->UpdateClient(c, q, out); });
  }
  if (verb == "client" && sub == "share") {
    v1::ShareClientRequest request;
    request.mutable_share_client()->set_client_id(rest(1, "the client id"));
    request.mutable_share_client()->set_user_id(rest(2, "the user"));
    if (args.Has("until")) {
      *request.mutable_share_client()->mutable_until() = ParseTimestamp(args.Get("until"));
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->ShareClient(c, q, out); });
  }
  if (verb == "client" && sub == "unshare") {
    v1::UnshareClientRequest request;
    request.mutable_unshare_client()->set_client_id(rest(1, "the client id"));
    request.mutable_unshare_client()->set_user_id(rest(2, "the user"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->UnshareClient(c, q, out); });
  }
  if (verb == "client" && sub == "delete") {
    v1::DeleteClientRequest request;
    request.mutable_delete_client()->set_client_id(rest(1, "the client id"));
    if (!Confirmed(args, absl::StrCat("Deleting client ", request.delete_client().client_id()))) {
      return 1;
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->DeleteClient(c, q, out); });
  }
  if (verb == "contact" && sub == "update") {
    v1::UpdateContactRequest request;
    request.mutable_update_contact()->set_client_id(rest(1, "the client id"));
    v1::Contact* contact = request.mutable_update_contact()->mutable_contact();
    contact->set_contact_id(rest(2, "the contact id"));
    // Only the fields given change: the mask names them, and the engine keeps the rest.
    const std::pair<const char*, void (v1::Contact::*)(const std::string&)> fields[] = {
        {"name", &v1::Contact::set_name},
        {"email", &v1::Contact::set_email},
        {"phone", &v1::Contact::set_phone},
        {"title", &v1::Contact::set_title}};
    for (const auto& [flag, set] : fields) {
      if (!args.Has(flag)) continue;
      (contact->*set)(args.Get(flag));
      request.mutable_update_mask()->add_paths(absl::StrCat("contact.", flag));
    }
    if (request.update_mask().paths().empty()) {
      Usage("contact update changes --name, --email, --phone or --title: give at least one");
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->UpdateContact(c, q, out); });
  }
  if (verb == "contact" && sub == "remove") {
    v1::RemoveContactRequest request;
    request.mutable_remove_contact()->set_client_id(rest(1, "the client id"));
    request.mutable_remove_contact()->set_contact_id(rest(2, "the contact id"));
    // A contact with a login takes the login with it, which only an administrator brings
    // back: the server refuses until told so (end_login), writing nothing; then the person is
    // asked (a script says --yes), and the removal sent again, saying so.
    request.mutable_remove_contact()->set_end_login(args.Has("yes") || args.Has("dry-run"));
    return Change(request, args, [&](auto* c, auto& q, auto* out) {
      grpc::Status status = clients_->RemoveContact(c, q, out);
      const std::optional<v1::ErrorInfo> info = spotflow::service::ErrorInfoOf(status);
      if (q.remove_contact().end_login() || !info.has_value() ||
          info->reason() != spotflow::engine::kEndLoginRequired) {
        return status;
      }
      // The logins the refusal names.
      const std::vector<std::string> named =
          absl::StrSplit(info->metadata().count("logins") ? info->metadata().at("logins") : "", ',',
                         absl::SkipEmpty());
      const std::string logins =
          named.empty()
              ? std::string("its login")
              : absl::StrCat(named.size() == 1 ? "the login " : "the logins ", AndList(named));
      if (!Confirmed(args, absl::StrCat("Removing contact ", q.remove_contact().contact_id()),
                     absl::StrCat("deactivates ", logins,
                                  ", which only an administrator can reactivate"))) {
        std::exit(1);
      }
      auto again = q;
      again.mutable_remove_contact()->set_end_login(true);
      return clients_->RemoveContact(Context().get(), again, out);
    });
  }
  if (verb == "accounts" && sub == "reassign") {
    v1::ReassignAccountsRequest request;
    // FROM, FROM,FROM,... (several give at once), or * (whoever holds the accounts named or of
    // the kind: an audience).
    const std::string giving = rest(1, "the user giving the accounts, or * for whoever holds them");
    std::vector<std::string> givers = absl::StrSplit(giving, ',');
    if (giving == "*") {
      givers.clear();
      if (!args.Has("client") && !args.Has("kind")) {
        Usage(
            "* moves the accounts named (--client) or of a kind (--kind) from whoever holds "
            "them; give one");
      }
    } else if (std::find(givers.begin(), givers.end(), "*") != givers.end()) {
      Usage(
          "* stands alone for whoever holds the accounts; name the givers instead, or give * "
          "alone");
    } else if (std::find(givers.begin(), givers.end(), "") != givers.end()) {
      Usage(
          "FROM_USER names users separated by commas, such as sam,joe; or * for whoever holds "
          "the accounts");
    } else if (givers.size() == 1) {
      request.mutable_reassign_accounts()->set_from_owner(givers[0]);
    } else {
      for (const std::string& giver : givers) {
        request.mutable_reassign_accounts()->add_from_owners(giver);
      }
    }
    // TO, or TO,TO,...: the accounts spread over several (ReassignAccounts.spread_to).
    const std::vector<std::string> takers = absl::StrSplit(rest(2, "the user taking them"), ',');
    if (std::find(takers.begin(), takers.end(), "") != takers.end()) {
      Usage("TO_USER names users separated by commas, such as mia,joe");
    }
    if (takers.size() == 1) {
      request.mutable_reassign_accounts()->set_to_owner(takers[0]);
    } else {
      for (const std::string& taker : takers) {
        request.mutable_reassign_accounts()->add_spread_to(taker);
      }
    }
    if (args.Has("client")) {
      for (absl::string_view id : absl::StrSplit(args.Get("client"), ',')) {
        if (id.empty()) Usage("--client names clients separated by commas, such as acme,globex");
        request.mutable_reassign_accounts()->add_client_ids(std::string(id));
      }
    }
    if (args.Has("orders") && args.Has("no-orders")) {
      Usage("give --orders (those go with the accounts) or --no-orders (none do), not both");
    }
    if (args.Has("orders") || args.Has("no-orders")) {
      v1::OrderIds* only = request.mutable_reassign_accounts()->mutable_only_orders();
      for (absl::string_view id : absl::StrSplit(args.Get("orders"), ',', absl::SkipWhitespace())) {
        only->add_order_ids(std::string(absl::StripAsciiWhitespace(id)));
      }
      if (args.Has("orders") && only->order_ids().empty()) {
        Usage("--orders names the orders that go with the accounts; --no-orders moves none");
      }
    }
    if (args.Has("kind")) {
      if (args.Get("kind").empty()) Usage("--kind names a kind of client, such as agency");
      if (args.Has("client")) Usage("give --client (those accounts) or --kind, not both");
      request.mutable_reassign_accounts()->set_client_kind(args.Get("kind"));
    }
    // Which accounts and orders moved (or would), to whom, and the way back.
    const std::string from = givers.size() == 1 ? givers[0] : "";
    const bool by_kind = args.Has("kind");
    std::vector<std::string> named;  // Say which stayed with a taker who held them already.
    if (args.Has("client")) {
      const auto& ids = request.reassign_accounts().client_ids();
      named.assign(ids.begin(), ids.end());
    }
    const auto moved = [this, &from, &takers, by_kind, &named](const v1::CommandResult& result) {
      PrintAccountsMoved(from, takers, by_kind, named, result);
    };
    return Change(
        request, args,
        [&](auto* c, auto& q, auto* out) { return clients_->ReassignAccounts(c, q, out); }, moved);
  }
  if (verb == "user" && sub == "show") {
    v1::GetUserRequest request;
    if (args.positional.size() > 1) request.set_user_id(args.positional[1]);  // Else yourself.
    v1::UserView u;
    grpc::Status status = admin_->GetUser(Context().get(), request, &u);
    if (!status.ok()) return Report(status);
    if (PrintJson(u)) return 0;
    std::printf("%s  %s%s, etag %llu\n  roles %s\n", u.user_id().c_str(), u.display_name().c_str(),
                u.active() ? "" : " (deactivated)", static_cast<unsigned long long>(u.version()),
                absl::StrJoin(u.roles(), ", ").c_str());
    if (!u.email().empty()) std::printf("  email %s\n", u.email().c_str());
    if (!u.manager_id().empty()) std::printf("  manager %s\n", u.manager_id().c_str());
    // Their team: those whose manager they are, when the caller may list the users.
    v1::ListUsersResponse users;
    if (u.client_id().empty() &&
        AllPages(v1::ListUsersRequest(), &users, [&](auto* c, auto& q, auto* out) {
          return admin_->ListUsers(c, q, out);
        }).ok()) {
      std::vector<std::string> team;
      for (const v1::UserView& member : users.users()) {
        if (member.manager_id() != u.user_id()) continue;
        team.push_back(absl::StrCat(member.user_id(), member.active() ? "" : " (deactivated)"));
      }
      if (!team.empty()) std::printf("  manages %s\n", absl::StrJoin(team, ", ").c_str());
    }
    if (!u.client_id().empty()) {
      std::printf("  speaks for contact %s of client %s\n", u.contact_id().c_str(),
                  u.client_id().c_str());
    }
    const int revoked = static_cast<int>(
        std::count_if(u.tokens().begin(), u.tokens().end(),
                      [](const v1::IssuedToken& t) { return t.has_revoked_time(); }));
    std::printf("  %u token%s issued%s\n", u.tokens_issued(), u.tokens_issued() == 1 ? "" : "s",
                revoked == 0 ? "" : absl::StrCat(", ", revoked, " revoked").c_str());
    for (const v1::IssuedToken& t : u.tokens()) {
      std::printf("    %s", t.token_hash_prefix().c_str());
      if (t.has_issued_time()) {
        std::printf("  issued %s by %s", TimeText(t.issued_time()).c_str(), t.issued_by().c_str());
      }
      if (t.has_revoked_time()) {
        std::printf("  revoked %s by %s", TimeText(t.revoked_time()).c_str(),
                    t.revoked_by().c_str());
      }
      std::printf("\n");
    }
    return 0;
  }
  if (verb == "user" && sub == "update") {
    v1::UpdateUserRequest request;
    request.mutable_update_user()->set_user_id(rest(1, "the user id"));
    if (args.Has("name")) request.mutable_update_user()->set_display_name(args.Get("name"));
    if (args.Has("email")) request.mutable_update_user()->set_email(args.Get("email"));
    if (!args.Has("name") && !args.Has("email")) {
      Usage("user update changes --name or --email: give at least one");
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->UpdateUser(c, q, out); });
  }
  if (verb == "user" && sub == "roles") {
    v1::SetUserRolesRequest request;
    request.mutable_set_user_roles()->set_user_id(rest(1, "the user id"));
    for (absl::string_view role : absl::StrSplit(rest(2, "the roles"), ',')) {
      request.mutable_set_user_roles()->add_roles(std::string(role));
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->SetUserRoles(c, q, out); });
  }
  if (verb == "user" && sub == "manager") {
    v1::SetUserManagerRequest request;
    request.mutable_set_user_manager()->set_user_id(rest(1, "the user id"));
    if (args.positional.size() > 2) {
      request.mutable_set_user_manager()->set_manager_id(rest(2, "the manager"));
    }
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->SetUserManager(c, q, out); });
  }
  if (verb == "user" && sub == "deactivate") {
    v1::DeactivateUserRequest request;
    const std::string& user = rest(1, "the user id");
    request.mutable_deactivate_user()->set_user_id(user);
    if (int failed = Change(request, args, [&](auto* c, auto& q, auto* out) {
          return admin_->DeactivateUser(c, q, out);
        })) {
      return failed;
    }
    if (!json_ && !args.Has("dry-run")) {
      PrintStillOwned(user);
      PrintStepsLeftAlone(user);
    }
    return 0;
  }
  if (verb == "user" && sub == "reactivate") {
    v1::ReactivateUserRequest request;
    request.mutable_reactivate_user()->set_user_id(rest(1, "the user id"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->ReactivateUser(c, q, out); });
  }
  if (verb == "client" && sub == "create") {
    v1::CreateClientRequest request;
    request.mutable_create_client()->set_client_id(args.Get("id"));
    request.mutable_create_client()->set_name(Required(args, "name"));
    request.mutable_create_client()->set_owner_id(args.Get("owner"));
    request.mutable_create_client()->set_kind(args.Get("kind"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->CreateClient(c, q, out); });
  }
  if (verb == "client" && sub == "show") {
    v1::GetClientRequest request;
    request.set_client_id(rest(1, "the client id"));
    v1::ClientView client;
    grpc::Status status = clients_->GetClient(Context().get(), request, &client);
    if (!status.ok()) return Report(status);
    if (PrintJson(client)) return 0;
    PrintClient(client);
    return 0;
  }
  if (verb == "client" && sub == "list") {
    v1::ListClientsRequest request;
    request.set_owner_id(args.Get("owner"));
    request.set_client_kind(args.Get("kind"));
    v1::ListClientsResponse response;
    grpc::Status status = AllPages(request, &response, [&](auto* c, auto& q, auto* out) {
      return clients_->ListClients(c, q, out);
    });
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    Table table({"ID", "NAME", "KIND", "OWNER"});
    for (const v1::ClientView& c : response.clients()) {
      table.Add({c.client_id(), c.name(), c.kind().empty() ? "-" : c.kind(), c.owner_id()});
    }
    if (response.clients().empty()) {
      std::printf("(no clients you can see%s)\n",
                  args.Has("owner") || args.Has("kind") ? " that match" : "");
    } else {
      table.Print();
    }
    return 0;
  }
  if (verb == "contact" && sub == "add") {
    v1::AddContactRequest request;
    request.mutable_add_contact()->set_client_id(rest(1, "the client id"));
    v1::Contact* contact = request.mutable_add_contact()->mutable_contact();
    contact->set_contact_id(args.Get("id"));
    contact->set_name(Required(args, "name"));
    contact->set_email(args.Get("email"));
    contact->set_phone(args.Get("phone"));
    contact->set_title(args.Get("title"));
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return clients_->AddContact(c, q, out); });
  }
  if (verb == "user" && sub == "create") {
    v1::CreateUserRequest request;
    request.mutable_create_user()->set_user_id(rest(1, "the user id"));
    request.mutable_create_user()->set_display_name(Required(args, "name"));
    const std::vector<std::string> roles = absl::StrSplit(Required(args, "role"), ',');
    for (const std::string& role : roles) request.mutable_create_user()->add_roles(role);
    request.mutable_create_user()->set_email(args.Get("email"));
    request.mutable_create_user()->set_manager_id(args.Get("manager"));
    if (args.Has("client") != args.Has("contact")) {
      Usage("a client contact's login takes both --client and --contact");
    }
    request.mutable_create_user()->set_client_id(args.Get("client"));
    request.mutable_create_user()->set_contact_id(args.Get("contact"));
    const int code = Change(
        request, args, [&](auto* c, auto& q, auto* out) { return admin_->CreateUser(c, q, out); });
    if (code == 0 && !json_ && !args.Has("dry-run")) {
      std::printf("  to let them sign in: spotflow token issue %s (prints their token once)\n",
                  request.create_user().user_id().c_str());
    }
    return code;
  }
  if (verb == "user" && sub == "list") {
    v1::ListUsersResponse response;
    grpc::Status status =
        AllPages(v1::ListUsersRequest(), &response,
                 [&](auto* c, auto& q, auto* out) { return admin_->ListUsers(c, q, out); });
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    Table table({"ID", "NAME", "ROLES"});
    for (const v1::UserView& u : response.users()) {
      table.Add({u.user_id(), u.display_name(),
                 absl::StrCat(absl::StrJoin(u.roles(), ","), u.active() ? "" : " (deactivated)")});
    }
    table.Print();
    return 0;
  }
  if (verb == "token" && sub == "issue") {
    v1::IssueTokenRequest request;
    request.set_user_id(rest(1, "the user id"));
    v1::IssueTokenResponse response;
    grpc::Status status = admin_->IssueToken(Context().get(), request, &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    std::printf(
        "token for %s (shown once; the server keeps only its hash, which starts "
        "%s in user show):\n%s\n",
        response.user_id().c_str(), response.token_hash_prefix().c_str(), response.token().c_str());
    return 0;
  }
  if (verb == "token" && sub == "revoke") {
    v1::RevokeTokenRequest request;
    request.set_user_id(rest(1, "the user id"));
    request.set_token_hash_prefix(rest(2, "the start of the token's hash"));
    v1::RevokeTokenResponse response;
    grpc::Status status = admin_->RevokeToken(Context().get(), request, &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    std::printf("revoked token %s of %s; it no longer works\n",
                response.token_hash_prefix().c_str(), response.user_id().c_str());
    return 0;
  }
  if (verb == "role" && sub == "define") {
    v1::DefineRoleRequest request;
    v1::RoleDefinition* role = request.mutable_define_role()->mutable_definition();
    role->set_name(rest(1, "the role's name"));
    role->set_title(args.Get("title"));
    if (!args.Has("title")) {
      // Defining a role again replaces its grants, as the verb says: its title stays.
      v1::ListRolesResponse roles;
      const grpc::Status listed =
          AllPages(v1::ListRolesRequest(), &roles,
                   [&](auto* c, auto& q, auto* out) { return admin_->ListRoles(c, q, out); });
      if (!listed.ok()) return Report(listed);  // Not a title erased unseen.
      for (const v1::RoleView& r : roles.roles()) {
        if (r.definition().name() == role->name()) role->set_title(r.definition().title());
      }
    }
    for (v1::Grant& grant : ParseGrants(Required(args, "grant"))) *role->add_grants() = grant;
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->DefineRole(c, q, out); });
  }
  if (verb == "workflow" && sub == "list") {
    v1::ListWorkflowsResponse workflows;
    grpc::Status status =
        AllPages(v1::ListWorkflowsRequest(), &workflows,
                 [&](auto* c, auto& q, auto* out) { return admin_->ListWorkflows(c, q, out); });
    if (!status.ok()) return Report(status);
    if (PrintJson(workflows)) return 0;
    // Which types follow each: what changes when it is published again.
    v1::ListItemTypesResponse types;
    status = AllPages(v1::ListItemTypesRequest(), &types, [&](auto* c, auto& q, auto* out) {
      return admin_->ListItemTypes(c, q, out);
    });
    if (!status.ok()) return Report(status);
    Table table({"WORKFLOW", "VERSION", "STATES", "FINAL", "ITEM TYPES"});
    for (const v1::WorkflowDefinition& w : workflows.workflows()) {
      std::vector<std::string> finals, followers;
      for (const v1::WorkflowState& s : w.states()) {
        if (s.terminal()) finals.push_back(s.abandoned() ? s.name() + " (abandoned)" : s.name());
      }
      for (const v1::ItemTypeDefinition& t : types.item_types()) {
        if (t.workflow() == w.name()) followers.push_back(t.name());
      }
      table.Add({w.name(), absl::StrCat(w.version()), absl::StrCat(w.states_size()),
                 absl::StrJoin(finals, ", "),
                 followers.empty() ? "-" : absl::StrJoin(followers, ", ")});
    }
    table.Print();
    return 0;
  }
  if (verb == "workflow" && sub == "show") {
    v1::GetWorkflowRequest request;
    request.set_name(rest(1, "the workflow's name"));
    if (args.Has("version")) request.set_version(Number(args.Get("version"), "--version"));
    v1::WorkflowDefinition workflow;
    grpc::Status status = admin_->GetWorkflow(Context().get(), request, &workflow);
    if (!status.ok()) return Report(status);
    if (PrintJson(workflow)) return 0;
    std::printf("%s version %u\n", workflow.name().c_str(), workflow.version());
    for (const v1::InitialState& initial : workflow.initial_states()) {
      // "Of kind": a PRODUCTION order is not the production_order type's.
      std::printf("  an order of kind %s (%s) starts in %s\n",
                  absl::AsciiStrToLower(v1::OrderKind_Name(initial.kind())).c_str(),
                  initial.kind() == v1::REUSE ? "order reuse" : "order create --kind",
                  initial.state().c_str());
    }
    Table states({"STATE", "TITLE", ""});
    for (const v1::WorkflowState& state : workflow.states()) {
      states.Add({state.name(), state.title(),
                  state.abandoned()  ? "(final, abandoned: the work ends undone)"
                  : state.terminal() ? "(final)"
                                     : ""});
    }
    states.Print();
    Table transitions({"FROM", "ACTION", "TO", "NEEDS"});
    for (const v1::Transition& t : workflow.transitions()) {
      std::vector<std::string> needs = {v1::Privilege_Name(t.privilege())};
      for (int condition : t.conditions()) {
        needs.push_back(v1::Condition_Name(static_cast<v1::Condition>(condition)));
      }
      // A step of some roles only (a pre-approval).
      if (!t.roles().empty()) needs.push_back("role " + absl::StrJoin(t.roles(), " or "));
      // Filled in before or with the step (a lost deal's reason).
      if (!t.required_fields().empty()) {
        needs.push_back((t.required_fields_size() == 1 ? "field " : "fields ") +
                        absl::StrJoin(t.required_fields(), " and "));
      }
      // And what it undoes (a reopened deal's loss reason).
      if (!t.clears_fields().empty()) {
        needs.push_back(absl::StrCat("clears ", absl::StrJoin(t.clears_fields(), " and ")));
      }
      // Whoever takes it becomes the responsible of an order with none (seed 003).
      if (t.assigns_taker()) needs.push_back("assigns whoever takes it");
      transitions.Add({t.from(), t.action(), t.to(), absl::StrJoin(needs, ", ")});
    }
    transitions.Print();
    return 0;
  }
  if (verb == "workflow" && sub == "publish") {
    v1::PublishWorkflowRequest request;
    *request.mutable_publish_workflow()->mutable_definition() =
        ReadDefinition<v1::WorkflowDefinition>(rest(1, "the workflow's JSON file"), "workflow");
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->PublishWorkflow(c, q, out); });
  }
  if (verb == "type" && sub == "list") {
    v1::ListItemTypesResponse types;
    grpc::Status status =
        AllPages(v1::ListItemTypesRequest(), &types,
                 [&](auto* c, auto& q, auto* out) { return admin_->ListItemTypes(c, q, out); });
    if (!status.ok()) return Report(status);
    if (PrintJson(types)) return 0;
    // A client's login sees the forms it may fill in: no workflow, no key format, no version.
    const bool forms =
        std::all_of(types.item_types().begin(), types.item_types().end(),
                    [](const v1::ItemTypeDefinition& t) { return t.workflow().empty(); });
    if (forms) {
      Table table({"TYPE", "TITLE", "FLIGHT", "FIELDS"});
      for (const v1::ItemTypeDefinition& t : types.item_types()) {
        table.Add({t.name(), t.title().empty() ? "-" : t.title(),
                   t.facets().schedule() ? "yes" : "no", FieldList(t)});
      }
      table.Print();
      std::printf("(* required; `spotflow type show TYPE` shows a form's fields)\n");
      return 0;
    }
    Table table({"TYPE", "TITLE", "VERSION", "WORKFLOW", "KEYS", "CLIENT", "FLIGHT", "FIELDS"});
    for (const v1::ItemTypeDefinition& t : types.item_types()) {
      table.Add(
          {t.name(), t.title().empty() ? "-" : t.title(), absl::StrCat(t.version()),
           t.workflow().empty() ? "-" : t.workflow(), t.key_format().empty() ? "-" : t.key_format(),
           t.facets().client_link() ? (t.facets().house_only() ? "yes, house only" : "yes") : "no",
           t.facets().schedule() ? "yes" : "no", FieldList(t)});
    }
    table.Print();
    std::printf(
        "(* required, internal: not shown to the client; `spotflow type show TYPE` shows a "
        "type's fields)\n");
    return 0;
  }
  if (verb == "type" && sub == "show") {
    v1::GetItemTypeRequest request;
    request.set_name(rest(1, "the item type's name"));
    v1::ItemTypeDefinition type;
    grpc::Status status = admin_->GetItemType(Context().get(), request, &type);
    if (!status.ok()) return Report(status);
    if (PrintJson(type)) return 0;
    if (type.workflow().empty()) {
      // A client's login reads the form only: no keys, no workflow, no version.
      std::printf("%s  %s%s\n", type.name().c_str(), type.title().c_str(),
                  type.facets().schedule() ? " (with a flight: --flight START..END)" : "");
    } else {
      std::printf("%s  %s, version %u\n  keys %s, workflow %s\n  artifacts %s\n",
                  type.name().c_str(), type.title().c_str(), type.version(),
                  type.key_format().c_str(), type.workflow().c_str(),
                  type.facets().artifacts().empty()
                      ? "(none)"
                      : absl::StrJoin(type.facets().artifacts(), ", ").c_str());
    }
    if (type.facets().house_only()) {
      std::printf("  made by the house only: a client's login may not request it\n");
    }
    if (!type.facets().child_types().empty()) {
      std::printf("  made for its items (order create --parent): %s\n",
                  absl::StrJoin(type.facets().child_types(), ", ").c_str());
    }
    for (const v1::FieldDefinition& field : type.fields()) {
      std::string bounds = BoundsText(field);  // What values it takes, beyond its type.
      if (!field.choices().empty()) {
        bounds = absl::StrCat(", one of: ", absl::StrJoin(field.choices(), ", "));
      }
      std::printf("  field %s: %s%s%s%s\n", field.name().c_str(),
                  absl::AsciiStrToLower(v1::FieldType_Name(field.type())).c_str(),
                  field.required() ? ", required" : "", bounds.c_str(),
                  field.internal() ? ", internal (not shown to the client)" : "");
    }
    return 0;
  }
  if (verb == "type" && sub == "define") {
    v1::DefineItemTypeRequest request;
    *request.mutable_define_item_type()->mutable_definition() =
        ReadDefinition<v1::ItemTypeDefinition>(rest(1, "the item type's JSON file"), "type");
    return Change(request, args,
                  [&](auto* c, auto& q, auto* out) { return admin_->DefineItemType(c, q, out); });
  }
  if (verb == "role" && sub == "list") {
    v1::ListRolesResponse response;
    grpc::Status status =
        AllPages(v1::ListRolesRequest(), &response,
                 [&](auto* c, auto& q, auto* out) { return admin_->ListRoles(c, q, out); });
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    Table table({"ROLE", "TITLE", "GRANTS (privilege:scope)"});
    for (const v1::RoleView& r : response.roles()) {
      std::vector<std::string> grants;
      for (const v1::Grant& g : r.definition().grants()) {
        grants.push_back(
            absl::StrCat(v1::Privilege_Name(g.privilege()), ":", v1::Scope_Name(g.scope())));
      }
      table.Add({r.definition().name(),
                 r.definition().title().empty() ? "-" : r.definition().title(),
                 absl::StrJoin(grants, " ")});
    }
    table.Print();
    return 0;
  }
  if (verb == "role" && sub == "show") {
    const std::string& name = rest(1, "the role's name");
    v1::ListRolesResponse roles;
    grpc::Status status =
        AllPages(v1::ListRolesRequest(), &roles,
                 [&](auto* c, auto& q, auto* out) { return admin_->ListRoles(c, q, out); });
    if (!status.ok()) return Report(status);
    const v1::RoleView* role = nullptr;
    std::vector<std::string> names;
    for (const v1::RoleView& r : roles.roles()) {
      if (r.definition().name() == name) role = &r;
      names.push_back(r.definition().name());
    }
    if (role == nullptr) {
      return Report(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("there is no role \"", name,
                                              "\"; the roles are: ", absl::StrJoin(names, ", "))));
    }
    if (PrintJson(role->definition())) return 0;
    std::printf("%s  %s, version %llu\n", name.c_str(), role->definition().title().c_str(),
                static_cast<unsigned long long>(role->version()));
    for (const v1::Grant& g : role->definition().grants()) {
      std::printf("  grants %s:%s\n", v1::Privilege_Name(g.privilege()).c_str(),
                  v1::Scope_Name(g.scope()).c_str());
    }
    // The steps of the workflows' latest versions given to it (and the roles beside it).
    v1::ListWorkflowsResponse workflows;
    status = AllPages(v1::ListWorkflowsRequest(), &workflows, [&](auto* c, auto& q, auto* out) {
      return admin_->ListWorkflows(c, q, out);
    });
    if (!status.ok()) return Report(status);
    for (const v1::WorkflowDefinition& w : workflows.workflows()) {
      for (const v1::Transition& t : w.transitions()) {
        if (std::find(t.roles().begin(), t.roles().end(), name) == t.roles().end()) continue;
        std::vector<std::string> others;
        for (const std::string& other : t.roles()) {
          if (other != name) others.push_back(other);
        }
        std::printf(
            "  takes %s from %s in workflow %s (v%u)%s\n", t.action().c_str(), t.from().c_str(),
            w.name().c_str(), w.version(),
            others.empty() ? "" : absl::StrCat(", as does ", absl::StrJoin(others, ", ")).c_str());
      }
    }
    return 0;
  }
  if (verb == "events" && sub == "tail") {
    const uint32_t limit = args.Has("limit") ? Limit(args) : 50;
    uint64_t from = 1;
    v1::ListEventsResponse response;
    if (args.Has("from")) {
      from = Number64(args.Get("from"), "--from");
    } else {
      // The latest: where the log ends first, then the events before it.
      v1::ListEventsRequest head;
      head.set_page_size(1);
      grpc::Status status = events_->ListEvents(Context().get(), head, &response);
      if (!status.ok()) return Report(status);
      const uint64_t last = response.head_position();
      from = last >= limit ? last - limit + 1 : 1;
    }
    // The server's pages are capped (by count and bytes): read on until `limit` events.
    response.Clear();
    while (static_cast<uint32_t>(response.events_size()) < limit) {
      v1::ListEventsRequest request;
      request.set_from_position(from);
      request.set_page_size(limit - response.events_size());
      v1::ListEventsResponse page;
      grpc::Status status = events_->ListEvents(Context().get(), request, &page);
      if (!status.ok()) return Report(status);
      response.set_head_position(page.head_position());
      if (page.events().empty()) break;
      for (v1::EventRecord& e : *page.mutable_events()) *response.add_events() = std::move(e);
      response.set_next_position(page.next_position());
      response.set_head_position(page.head_position());
      from = page.next_position();
    }
    if (!args.Has("follow")) {
      PrintEvents(response);
      if (response.events().empty() && !json_) {
        std::printf("(no events from position %llu: the log ends at position %llu)\n",
                    static_cast<unsigned long long>(from),
                    static_cast<unsigned long long>(response.head_position()));
      }
      return 0;
    }
    if (response.events().empty() && from > response.head_position() + 1) {
      std::fprintf(stderr, "(the log ends at position %llu; waiting for position %llu)\n",
                   static_cast<unsigned long long>(response.head_position()),
                   static_cast<unsigned long long>(from));
    }
    // --follow: what is there, then each new event as it is appended, until interrupted.
    PrintEventHeader();
    for (const v1::EventRecord& e : response.events()) PrintEventLine(e);
    std::fflush(stdout);
    uint64_t next = response.events().empty() ? from : response.events().rbegin()->position() + 1;
    for (bool again = false;; again = true) {
      v1::SubscribeEventsRequest request;
      request.set_from_position(next);
      auto context = StreamContext();
      // After a server went away (a restart ends feeds with UNAVAILABLE): wait for it.
      context->set_wait_for_ready(again);
      auto reader = events_->SubscribeEvents(context.get(), request);
      v1::EventBatch batch;
      while (reader->Read(&batch)) {
        for (const v1::EventRecord& e : batch.events()) {
          PrintEventLine(e);
          next = e.position() + 1;
        }
        std::fflush(stdout);
      }
      const grpc::Status status = reader->Finish();
      if (!WaitToReconnect(status)) return Report(status);
      std::fprintf(stderr, "spotflow: %s; following again from position %llu once it is back\n",
                   status.error_message().c_str(), static_cast<unsigned long long>(next));
    }
  }
  if (verb == "order" && sub == "watch") {
    v1::WatchOrderRequest request;
    request.set_order_id(rest(1, "the order id or key"));
    uint64_t shown = 0;     // The version whose changes were last printed (or skipped).
    uint64_t emitted = 0;   // The version last printed.
    bool may_audit = true;  // A contact's login may not read who changed what.
    for (bool again = false;; again = true) {
      auto context = StreamContext();
      // After a server went away (a restart ends feeds with UNAVAILABLE): wait for it.
      context->set_wait_for_ready(again);
      auto reader = orders_->WatchOrder(context.get(), request);
      const grpc::Status status = Watch(reader.get(), &shown, &emitted, &may_audit);
      // A feed that never started (a wrong --server, a server that is down) is reported.
      if (emitted == 0 || !WaitToReconnect(status)) return Report(status);
      std::fprintf(stderr, "spotflow: %s; watching again once it is back\n",
                   status.error_message().c_str());
    }
  }
  if (verb == "notify") {
    // Who each order waits for, as it comes to wait for them, read off the log: an event on
    // an order's stream asks the order whom it waits for now (GetOrder with_awaiting); one that
    // may change anyone's queue (a user, a role, a workflow, a client's shares) asks every
    // order (ListOrders with_awaiting). Each is compared with what it was last seen to wait
    // for, and a line printed for each person it newly waits for, or no longer does.
    const std::string state_path = args.Get("state");
    v1::NotifyState state;
    bool resumed = false;
    // Held until the end: a second run on the same state would tell people twice.
    std::optional<files::FileLock> state_lock;
    if (!state_path.empty()) {
      absl::StatusOr<files::FileLock> lock = files::FileLock::Take(state_path, false);
      if (absl::IsFailedPrecondition(lock.status())) {
        Fail(absl::StrCat("another spotflow notify is running on ", state_path, " (it holds ",
                          state_path, ".lock); two would tell people twice: stop it first"));
      }
      if (!lock.ok()) Fail(std::string(lock.status().message()));
      state_lock.emplace(*std::move(lock));
    }
    if (!state_path.empty() && std::filesystem::exists(state_path)) {
      std::ifstream in(state_path);
      const std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) Fail(CannotRead(state_path));
      if (!google::protobuf::util::JsonStringToMessage(text, &state).ok()) {
        Fail(absl::StrCat(state_path, " is not a notify state (as --state writes it): remove it ",
                          "to start again from what waits for whom now"));
      }
      if (args.Has("from")) Usage("--from is where --state goes on from: give one or the other");
      resumed = true;
    }
    std::map<std::string, std::pair<std::string, std::string>> people;  // Name, email.
    std::set<std::string> deactivated;
    const auto list_people = [&] {
      v1::ListUsersResponse users;
      // Without the right to list users, lines go out without names and addresses.
      if (!AllPages(v1::ListUsersRequest(), &users, [&](auto* c, auto& q, auto* out) {
             return admin_->ListUsers(c, q, out);
           }).ok()) {
        return;
      }
      people.clear();
      deactivated.clear();
      for (const v1::UserView& u : users.users()) {
        people[u.user_id()] = {u.display_name(), u.email()};
        if (!u.active()) deactivated.insert(u.user_id());
      }
    };
    list_people();
    // Clients' contacts, by client (asked once each, again after a change to a client).
    std::map<std::string, std::map<std::string, v1::Contact>> contacts;
    const auto ContactOf = [&](const std::string& client,
                               const std::string& contact) -> const v1::Contact& {
      auto [it, fresh] = contacts.try_emplace(client);
      if (fresh) {
        v1::GetClientRequest request;
        request.set_client_id(client);
        v1::ClientView view;
        // Without sight of the client, the line goes out without the contact's address.
        if (clients_->GetClient(Context().get(), request, &view).ok()) {
          for (const v1::Contact& c : view.contacts()) it->second[c.contact_id()] = c;
        }
      }
      return it->second[contact];
    };
    bool headed = false;
    // A run's notices wait here until it has gone through, so that a run cut short (a call
    // that failed, a server restarting) is done again whole, printing nothing twice.
    std::vector<v1::Notice> pending;
    v1::NotifyState committed = state;  // What was printed, and saved.
    const auto print_now = [&](const v1::Notice& n) {
      if (json_) {
        // Every field, empty or false too: a gateway reads `withdrawn` and `email` as given.
        std::string line;
        google::protobuf::util::JsonPrintOptions options;
        options.preserve_proto_field_names = true;
        options.always_print_primitive_fields = true;
        if (!google::protobuf::util::MessageToJsonString(n, &line, options).ok()) {
          Fail("could not write a notice as JSON");
        }
        std::printf("%s\n", line.c_str());
        return;
      }
      if (!headed) {
        std::printf("%-9s %-28s %-16s %s\n", "POSITION", "TO", "ORDER", "WAITS FOR THEM TO");
        headed = true;
      }
      const std::string whom = n.user_id().empty()
                                   ? absl::StrCat(n.contact_id(), " (client ", n.client_id(), ")")
                                   : n.user_id();
      const std::string to = n.email().empty() ? whom : absl::StrCat(whom, " <", n.email(), ">");
      if (n.has_reassigned()) {
        const v1::Reassigned& r = n.reassigned();
        std::vector<std::string> what;
        // Each part, with whose it was when several gave and who took it when several did:
        // "globex (sam's, to joe)".
        const auto parts = [&](const auto& names, const auto& from, const auto& to) {
          std::vector<std::string> out;
          for (int i = 0; i < names.size(); ++i) {
            std::vector<std::string> notes;
            if (r.from_owners_size() > 1 && from.size() == names.size()) {
              notes.push_back(absl::StrCat(from[i], "'s"));
            }
            if (r.to_owner().empty() && to.size() == names.size()) {
              notes.push_back(absl::StrCat("to ", to[i]));
            }
            out.push_back(notes.empty()
                              ? names[i]
                              : absl::StrCat(names[i], " (", absl::StrJoin(notes, ", "), ")"));
          }
          return absl::StrJoin(out, ", ");
        };
        if (!r.client_ids().empty()) {
          what.push_back(absl::StrCat(r.client_ids_size() == 1 ? "account " : "accounts ",
                                      parts(r.client_ids(), r.client_from(), r.client_to())));
        }
        if (!r.orders().empty()) {
          what.push_back(absl::StrCat(r.orders_size() == 1 ? "order " : "orders ",
                                      parts(r.orders(), r.order_from(), r.order_to())));
        }
        // Who took them: one, or each named beside their part.
        std::set<std::string> takers(r.client_to().begin(), r.client_to().end());
        takers.insert(r.order_to().begin(), r.order_to().end());
        if (!r.to_owner().empty()) takers = {r.to_owner()};
        const std::string to_whom = AndList(takers);
        const std::string from = AndList(r.from_owners());
        std::printf("%-9llu %-28s %-16s %s\n", static_cast<unsigned long long>(n.position()),
                    to.c_str(), "-",
                    (r.confirmation() ? absl::StrCat("done: ", absl::StrJoin(what, "; "),
                                                     " moved from ", from, " to ", to_whom)
                     : r.given_away()
                         ? absl::StrCat("no longer yours: ", absl::StrJoin(what, "; "), " (now ",
                                        r.to_owner().empty() ? to_whom : r.to_owner() + "'s",
                                        n.by().empty() ? "" : absl::StrCat("; by ", n.by()), ")")
                         : absl::StrCat("now yours: ", absl::StrJoin(what, "; "), " (from ", from,
                                        n.by().empty() ? "" : absl::StrCat("; by ", n.by()), ")"))
                        .c_str());
        return;
      }
      std::printf("%-9llu %-28s %-16s %s%s  (%s)\n", static_cast<unsigned long long>(n.position()),
                  to.c_str(), (n.key().empty() ? n.order_id() : n.key()).c_str(),
                  n.withdrawn() ? "no longer: " : "", n.waits_for().c_str(), n.title().c_str());
    };
    // `n` addressed to `who`: a user id, or "contact:CLIENT/CONTACT/ARTIFACT" for a contact
    // without a login (no id holds a colon or a slash).
    const auto address = [&](v1::Notice& n, const std::string& who) {
      n.clear_user_id();
      n.clear_client_id();
      n.clear_contact_id();
      if (!absl::StartsWith(who, "contact:")) {
        n.set_user_id(who);
        auto person = people.find(who);
        n.set_display_name(person == people.end() ? "" : person->second.first);
        n.set_email(person == people.end() ? "" : person->second.second);
        return;
      }
      const std::vector<std::string> parts = absl::StrSplit(absl::string_view(who).substr(8), '/');
      n.set_client_id(parts[0]);
      n.set_contact_id(parts.size() > 1 ? parts[1] : "");
      const v1::Contact& contact = ContactOf(n.client_id(), n.contact_id());
      n.set_display_name(contact.name());
      n.set_email(contact.email());
    };
    std::map<std::string, std::string> key_of;  // Order id -> its key, as last seen.
    // One order as it stands (nullptr: gone from sight, deleted), against what it waited for.
    const auto see = [&](const std::string& id, const v1::OrderView* o, uint64_t position,
                         const v1::EventRecord* cause) {
      // An archived order waits for no one (ListOrders leaves it out as GetOrder does not).
      if (o != nullptr && (o->archived() || o->deleted())) o = nullptr;
      v1::Notice n;
      n.set_position(position);
      n.set_order_id(id);
      if (cause != nullptr) {
        n.set_by(cause->actor().user_id());
        *n.mutable_time() = cause->recorded_time();
      }
      auto known = state.mutable_orders()->find(id);
      if (o != nullptr) {
        n.set_key(o->key());
        n.set_title(o->title());
        key_of[id] = o->key();
      } else if (known != state.mutable_orders()->end()) {
        // Gone (deleted, out of sight): named as it was last seen, here and in a reassignment's
        // notices (key_of).
        n.set_key(known->second.key());
        n.set_title(known->second.title());
        if (!known->second.key().empty()) key_of[id] = known->second.key();
      }
      const auto to = [&](const std::string& who) { address(n, who); };
      const auto before = [&](const std::string& user) -> const std::string* {
        if (known == state.mutable_orders()->end()) return nullptr;
        auto it = known->second.waits_for().find(user);
        return it == known->second.waits_for().end() ? nullptr : &it->second;
      };
      // Whom it waits for now, and to do what: its users, and a contact without a login whom a
      // revision forwarded to it waits for (told through the gateway, as a user would be).
      std::map<std::string, std::string> now;
      std::map<std::string, const v1::Awaiting*> users;
      if (o != nullptr) {
        for (const v1::Awaiting& a : o->awaiting()) {
          now[a.user_id()] = WaitsForText(*o, a.actions(), a.flight_change(), FlightDecision(a));
          users[a.user_id()] = &a;
        }
        for (const auto& [revision, contact] : ForwardedToClient(*o)) {
          // Keyed by artifact too: a script and a spot may both wait on one contact.
          now[absl::StrCat("contact:", o->client_id(), "/", contact, "/",
                           revision.substr(0, revision.find(' ')))] =
              absl::StrCat("answer ", revision);
        }
      }
      for (const auto& [who, what] : now) {
        if (const std::string* was = before(who); was != nullptr && *was == what) continue;
        to(who);
        n.clear_actions();
        n.clear_flight_change();
        if (auto user = users.find(who); user != users.end()) {
          const v1::Awaiting& a = *user->second;
          if (!a.display_name().empty()) n.set_display_name(a.display_name());
          *n.mutable_actions() = a.actions();
          n.set_flight_change(a.flight_change());
        }
        n.set_waits_for(what);
        n.set_withdrawn(false);
        pending.push_back(n);
      }
      n.clear_actions();
      n.clear_flight_change();
      if (known != state.mutable_orders()->end()) {
        for (const auto& [user, what] : known->second.waits_for()) {
          if (now.count(user) != 0) continue;
          // One who has left is not told what no longer waits for them (as for reassignments).
          if (deactivated.count(user) != 0) continue;
          to(user);
          n.set_waits_for(what);
          n.set_withdrawn(true);
          pending.push_back(n);
        }
      }
      if (now.empty()) {
        state.mutable_orders()->erase(id);
      } else {
        v1::NotifyWaits& seen = (*state.mutable_orders())[id];
        seen.mutable_waits_for()->clear();
        for (auto& [user, what] : now) (*seen.mutable_waits_for())[user] = what;
        seen.set_key(o->key());  // `now` is empty without an order.
        seen.set_title(o->title());
      }
    };
    // Every order the caller sees, asked again (`position`: where the log stood).
    const auto see_all = [&](uint64_t position) -> grpc::Status {
      v1::ListOrdersRequest request;
      request.set_with_awaiting(true);
      request.set_page_size(100);
      std::set<std::string> listed;
      for (;;) {
        v1::ListOrdersResponse page;
        const grpc::Status status = orders_->ListOrders(Context().get(), request, &page);
        if (!status.ok()) return status;
        for (const v1::OrderView& o : page.orders()) {
          listed.insert(o.order_id());
          see(o.order_id(), &o, position, nullptr);
        }
        if (page.next_page_token().empty()) break;
        request.set_page_token(page.next_page_token());
      }
      // Those no longer listed (archived, deleted) wait for no one.
      std::vector<std::string> unlisted;
      for (const auto& [id, waits] : state.orders()) {
        if (listed.count(id) == 0) unlisted.push_back(id);
      }
      for (const std::string& id : unlisted) see(id, nullptr, position, nullptr);
      return grpc::Status::OK;
    };
    // The run's notices out, then the state that counts them (a notice is never counted
    // before it is out).
    const auto commit = [&] {
      for (const v1::Notice& n : pending) print_now(n);
      pending.clear();
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        Fail("could not write the notices; the state was kept as it was");
      }
      committed = state;
      if (state_path.empty()) return;
      std::string text;
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;  // As --json prints notices.
      if (!google::protobuf::util::MessageToJsonString(committed, &text, options).ok()) {
        Fail("could not write the notify state as JSON");
      }
      // Synced and put in place whole: a stop or a crash midway leaves the last state.
      const absl::Status saved = files::ReplaceFile(state_path, text, "the notify state");
      if (!saved.ok()) Fail(std::string(saved.message()));
    };
    // The event at `position`, when the caller may read it.
    const auto event_at = [&](uint64_t position) -> std::optional<v1::EventRecord> {
      v1::ListEventsRequest request;
      request.set_from_position(position);
      request.set_page_size(1);
      v1::ListEventsResponse page;
      const grpc::Status status = events_->ListEvents(Context().get(), request, &page);
      if (!status.ok()) std::exit(Report(status));
      if (page.events().empty() || page.events(0).position() != position) return std::nullopt;
      return page.events(0);
    };
    const auto checked = [&](const v1::EventRecord& e) {
      state.set_checked_position(e.position());
      state.set_checked_hash(e.hash());
    };
    // The command an event came of: one command's events share a correlation id, an actor and
    // a time; a correlation id a caller gave several commands does not merge them.
    const auto command_of = [](const v1::EventRecord& e) {
      return absl::StrCat(e.correlation_id(), "/", e.actor().user_id(), "/",
                          e.recorded_time().seconds(), ".", e.recorded_time().nanos());
    };
    // `events` with `held` before them, less the last command's events when the log went on
    // past them (`head`: a page or a batch may end inside a command). Those are held for the
    // next run, so that each command is told whole, once (seed 004's one confirmation for a
    // whole book, however many events it took). A run that reaches the head ends whole.
    const auto whole_commands = [&](std::vector<v1::EventRecord>* held, const auto& events,
                                    uint64_t head) {
      std::vector<v1::EventRecord> run = std::move(*held);
      held->clear();
      run.insert(run.end(), events.begin(), events.end());
      if (run.empty() || head == 0 || run.back().position() >= head) return run;
      const std::string last = command_of(run.back());
      size_t end = run.size();
      while (end > 0 && command_of(run[end - 1]) == last) --end;
      held->assign(std::make_move_iterator(run.begin() + end), std::make_move_iterator(run.end()));
      run.resize(end);
      return run;
    };
    // A run of events: each order touched asked once, after its last event; a change that may
    // move anyone's queue has every order asked.
    const auto on_events = [&](const std::vector<v1::EventRecord>& events) -> grpc::Status {
      if (events.empty()) return grpc::Status::OK;
      std::vector<const v1::EventRecord*> touched;  // The last event on each order.
      std::map<std::string, int> count;             // Events on each order in the run.
      bool everyone = false;
      for (const v1::EventRecord& e : events) {
        if (absl::StartsWith(e.stream_id(), "order-")) {
          ++count[e.stream_id()];
          touched.erase(std::remove_if(touched.begin(), touched.end(),
                                       [&](const v1::EventRecord* t) {
                                         return t->stream_id() == e.stream_id();
                                       }),
                        touched.end());
          touched.push_back(&e);
        } else if (!absl::StartsWith(e.stream_id(), "budget-") &&
                   e.payload_type() != "spotflow.v1.TokenIssued" &&
                   e.payload_type() != "spotflow.v1.TokenRevoked") {
          everyone = true;  // A user, a role, a workflow, an item type, a client.
        }
      }
      const uint64_t last = events.back().position();
      checked(events.back());
      // Accounts and orders moved, by command and new owner, in the order they moved: told once
      // the run's orders have been seen, which gives the orders' keys. (A run holds whole
      // commands: see whole_commands.)
      struct Move {
        const v1::EventRecord* last = nullptr;
        std::set<std::string> from;
        std::vector<std::string> clients, orders;  // Ids.
        std::vector<std::string> client_from;      // Whose each of `clients` was.
        std::vector<std::string> order_from;       // Whose each of `orders` was.
      };
      std::vector<std::pair<std::string, std::string>> move_order;
      std::map<std::pair<std::string, std::string>, Move> moves;
      for (const v1::EventRecord& e : events) {
        if (e.payload_type() != "spotflow.v1.ClientOwnerChanged" &&
            e.payload_type() != "spotflow.v1.OrderOwnerChanged") {
          continue;
        }
        v1::DomainEvent d;
        if (!d.ParseFromString(e.payload())) continue;
        const bool client = d.has_client_owner_changed();
        const std::string& to =
            client ? d.client_owner_changed().new_owner() : d.order_owner_changed().new_owner();
        auto [it, fresh] = moves.try_emplace({command_of(e), to});
        if (fresh) move_order.push_back(it->first);
        Move& m = it->second;
        m.last = &e;
        if (client) {
          m.from.insert(d.client_owner_changed().old_owner());
          m.clients.push_back(d.client_owner_changed().client_id());
          m.client_from.push_back(d.client_owner_changed().old_owner());
        } else {
          m.from.insert(d.order_owner_changed().old_owner());
          m.orders.push_back(d.order_owner_changed().order_id());
          m.order_from.push_back(d.order_owner_changed().old_owner());
        }
      }
      if (everyone) {
        list_people();     // A new user, a changed address.
        contacts.clear();  // A contact added, changed or removed.
        const grpc::Status status = see_all(last);
        if (!status.ok()) return status;
      } else {
        for (const v1::EventRecord* e : touched) {
          const std::string id = e->stream_id().substr(6);
          v1::GetOrderRequest request;
          request.set_order_id(id);
          request.set_with_awaiting(true);
          v1::OrderView o;
          const grpc::Status got = orders_->GetOrder(Context().get(), request, &o);
          // Who made the change, only when it was the order's one change in the run.
          const v1::EventRecord* cause = count[e->stream_id()] == 1 ? e : nullptr;
          if (got.error_code() == grpc::StatusCode::NOT_FOUND) {
            see(id, nullptr, e->position(), cause);  // Deleted, or out of sight.
          } else if (!got.ok()) {
            return got;
          } else {
            see(id, &o, e->position(), cause);
          }
        }
      }
      // Each move to its new owner, to each who gave part of it what they gave, and to whoever
      // made it as a confirmation (once, when they took or gave it themselves).
      const auto key_or_id = [&](const std::string& order) {
        auto key = key_of.find(order);
        return key == key_of.end() || key->second.empty() ? order : key->second;
      };
      // In the order of the log: a spread's takers by the last event each was given.
      std::stable_sort(move_order.begin(), move_order.end(), [&](const auto& a, const auto& b) {
        return moves[a].last->position() < moves[b].last->position();
      });
      // The notices of a move, each told once its command's events have been read: to each
      // taker what they took; to each giver and to whoever made it, the whole command once,
      // whoever took each part (seed 004's one confirmation).
      std::vector<v1::Notice> told;
      struct Whole {
        v1::Notice notice;  // Its Reassigned with every part, by whom and to whom.
        std::set<std::string> givers;
      };
      std::map<std::string, Whole> wholes;  // By command.
      std::vector<std::string> whole_order;
      for (const auto& group : move_order) {
        const Move& m = moves[group];
        v1::Notice n;
        n.set_position(m.last->position());
        n.set_by(m.last->actor().user_id());
        *n.mutable_time() = m.last->recorded_time();
        v1::Reassigned* r = n.mutable_reassigned();
        r->set_to_owner(group.second);
        for (const std::string& from : m.from) r->add_from_owners(from);
        for (const std::string& client : m.clients) r->add_client_ids(client);
        for (const std::string& from : m.client_from) r->add_client_from(from);
        for (const std::string& order : m.orders) r->add_orders(key_or_id(order));
        for (const std::string& from : m.order_from) r->add_order_from(from);
        if (group.second != n.by()) {
          address(n, group.second);
          told.push_back(n);
        }
        auto [it, fresh] = wholes.try_emplace(group.first);
        if (fresh) whole_order.push_back(group.first);
        Whole& whole = it->second;
        if (fresh) {
          whole.notice = n;
          whole.notice.mutable_reassigned()->Clear();
        }
        // The command's last event: sorted above, its groups come in the log's order.
        whole.notice.set_position(n.position());
        whole.givers.insert(m.from.begin(), m.from.end());
        v1::Reassigned* all = whole.notice.mutable_reassigned();
        for (size_t i = 0; i < m.clients.size(); ++i) {
          all->add_client_ids(m.clients[i]);
          all->add_client_from(m.client_from[i]);
          all->add_client_to(group.second);
        }
        for (size_t i = 0; i < m.orders.size(); ++i) {
          all->add_orders(key_or_id(m.orders[i]));
          all->add_order_from(m.order_from[i]);
          all->add_order_to(group.second);
        }
      }
      // Taken by one: to_owner names them, and no part needs to.
      const auto NameOneTaker = [](v1::Reassigned* r) {
        std::set<std::string> takers(r->client_to().begin(), r->client_to().end());
        takers.insert(r->order_to().begin(), r->order_to().end());
        if (takers.size() != 1) return;
        r->set_to_owner(*takers.begin());
        r->clear_client_to();
        r->clear_order_to();
      };
      for (const std::string& command : whole_order) {
        Whole& whole = wholes[command];
        v1::Notice& n = whole.notice;
        v1::Reassigned* r = n.mutable_reassigned();
        // An order that had no owner had no giver to name.
        for (const std::string& from : whole.givers) {
          if (!from.empty()) r->add_from_owners(from);
        }
        // Each giver's share of it, read off the whole while it names who took each part.
        for (const std::string& giver : whole.givers) {
          // An order without an owner had no one to give it; someone who left is not told.
          if (giver.empty() || giver == n.by() || deactivated.count(giver) != 0) continue;
          v1::Notice given = n;
          address(given, giver);
          v1::Reassigned* g = given.mutable_reassigned();
          g->Clear();
          g->add_from_owners(giver);
          g->set_given_away(true);
          const auto share = [&](const auto& names, const auto& from, const auto& to,
                                 auto* out_names, auto* out_from, auto* out_to) {
            for (int i = 0; i < names.size(); ++i) {
              if (from[i] != giver) continue;
              *out_names->Add() = names[i];
              *out_from->Add() = giver;
              *out_to->Add() = to[i];
            }
          };
          share(r->client_ids(), r->client_from(), r->client_to(), g->mutable_client_ids(),
                g->mutable_client_from(), g->mutable_client_to());
          share(r->orders(), r->order_from(), r->order_to(), g->mutable_orders(),
                g->mutable_order_from(), g->mutable_order_to());
          NameOneTaker(g);
          told.push_back(given);
        }
        NameOneTaker(r);
        if (!n.by().empty() && n.by() != "system") {
          address(n, n.by());
          r->set_confirmation(true);
          told.push_back(n);
        }
      }
      // In the log's order, waits and moves together (every order asked again is stamped with
      // the run's last position); a command's own notices in the order made.
      pending.insert(pending.end(), told.begin(), told.end());
      std::stable_sort(
          pending.begin(), pending.end(),
          [](const v1::Notice& a, const v1::Notice& b) { return a.position() < b.position(); });
      state.set_next_position(last + 1);
      commit();
      return grpc::Status::OK;
    };
    // A run that failed is dropped whole: done again from where the last one ended.
    const auto roll_back = [&] {
      pending.clear();
      state = committed;
    };
    // Where to start: the saved state, --from, or what waits for whom now.
    v1::ListEventsRequest head_request;
    head_request.set_page_size(1);
    v1::ListEventsResponse head;
    grpc::Status status = events_->ListEvents(Context().get(), head_request, &head);
    if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      const int code = Report(status);
      std::fprintf(stderr,
                   "spotflow: notify reads the log and every order: run it with an "
                   "administrator's or an auditor's token\n");
      return code;
    }
    if (!status.ok()) return Report(status);
    if (!resumed && args.Has("from")) {
      state.set_next_position(Number64(args.Get("from"), "--from"));
    } else if (!resumed) {
      status = see_all(head.head_position());
      if (!status.ok()) return Report(status);
      state.set_next_position(head.head_position() + 1);
      if (std::optional<v1::EventRecord> e = event_at(head.head_position())) checked(*e);
      commit();
    }
    if (state.next_position() == 0) state.set_next_position(1);
    if (state.next_position() > head.head_position() + 1) {
      if (resumed) {
        Fail(absl::StrCat(state_path, " goes on from position ", state.next_position(),
                          ", past this log's end (position ", head.head_position(),
                          "): kept for another data directory? Remove it to start again from "
                          "what waits for whom now"));
      }
      Usage(absl::StrCat("--from ", state.next_position(), " is past the log's end (position ",
                         head.head_position(), "); give at most ", head.head_position() + 1));
    }
    if (resumed && state.checked_position() != 0) {
      const std::optional<v1::EventRecord> e = event_at(state.checked_position());
      if (!e.has_value() || e->hash() != state.checked_hash()) {
        Fail(absl::StrCat(state_path, " was kept for another log: its event at position ",
                          state.checked_position(),
                          " is not this log's. Remove it to start "
                          "again from what waits for whom now"));
      }
    }
    const uint64_t from = state.next_position();
    if (args.Has("recheck") && !args.Has("follow")) {
      Usage("--recheck is how often --follow asks every order again: give it with --follow");
    }
    const uint64_t recheck = args.Has("recheck") ? Number64(args.Get("recheck"), "--recheck") : 600;
    if (recheck == 0 || recheck > 86400) {
      Usage("--recheck is a number of seconds, from 1 to 86400 (a day)");
    }
    // What the log holds now, page by page.
    uint64_t end = head.head_position();
    std::vector<v1::EventRecord> held;  // The first events of a command the page cut.
    for (uint64_t read_from = state.next_position();;) {
      v1::ListEventsRequest request;
      request.set_from_position(read_from);
      request.set_page_size(500);
      v1::ListEventsResponse page;
      status = events_->ListEvents(Context().get(), request, &page);
      if (!status.ok()) return Report(status);
      end = page.head_position();
      status = on_events(whole_commands(&held, page.events(), end));
      if (!status.ok()) return Report(status);
      read_from = std::max(read_from, page.next_position());
      if (page.events().empty() || read_from > end) break;
    }
    // None is held here, as a page that reaches the head ends whole; were one, it is told
    // rather than lost.
    status = on_events(held);
    if (!status.ok()) return Report(status);
    if (!args.Has("follow")) {
      if (!headed && !json_ && from > end) {
        std::printf("(nothing new: the log ends at position %llu)\n",
                    static_cast<unsigned long long>(end));
      } else if (!headed && !json_) {
        std::printf(
            "(no order waits for anyone anew from position %llu to the log's end, "
            "position %llu)\n",
            static_cast<unsigned long long>(from), static_cast<unsigned long long>(end));
      }
      return 0;
    }
    // --follow: then each batch of new events as it is appended, until interrupted; and every
    // --recheck seconds every order asked again, for a wait that starts or ends with time
    // alone, with no event (an account shared until a day).
    for (bool again = false;; again = true) {
      v1::SubscribeEventsRequest request;
      request.set_from_position(state.next_position());
      auto context = StreamContext();
      context->set_wait_for_ready(again);  // After a restart, wait for the server.
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(recheck));
      auto reader = events_->SubscribeEvents(context.get(), request);
      v1::EventBatch batch;
      grpc::Status failed;                // A call of a run that failed: the run is done again.
      std::vector<v1::EventRecord> held;  // The first events of a command the batch cut.
      while (reader->Read(&batch)) {
        failed = on_events(whole_commands(&held, batch.events(), batch.head_position()));
        if (!failed.ok()) break;
      }
      if (!failed.ok()) {
        roll_back();
        context->TryCancel();
        reader->Finish();
        if (!WaitToReconnect(failed)) return Report(failed);
        std::fprintf(stderr, "spotflow: %s; following again from position %llu once it is back\n",
                     failed.error_message().c_str(),
                     static_cast<unsigned long long>(state.next_position()));
        continue;
      }
      status = reader->Finish();
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        // Time to ask every order again, as the log stands.
        status = see_all(state.next_position() - 1);
        if (status.ok()) {
          commit();
          continue;
        }
        roll_back();
      }
      if (!WaitToReconnect(status)) return Report(status);
      std::fprintf(stderr, "spotflow: %s; following again from position %llu once it is back\n",
                   status.error_message().c_str(),
                   static_cast<unsigned long long>(state.next_position()));
    }
  }
  if (verb == "events" && sub == "verify") {
    v1::VerifyLogResponse response;
    grpc::Status status = events_->VerifyLog(Context().get(), v1::VerifyLogRequest(), &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    std::printf(
        "ok: positions %llu..%llu (%llu records) verified: each hashes correctly and links to "
        "the one before it\n",
        static_cast<unsigned long long>(response.first_position()),
        static_cast<unsigned long long>(response.last_position()),
        static_cast<unsigned long long>(response.records()));
    return 0;
  }
  if (verb == "audit") return Audit(sub, args);
  Usage(absl::StrCat("unknown verb \"", verb, sub.empty() ? "" : " " + sub, "\""));
}

v1::LogDigest DigestOption(const Args& args) {
  absl::StatusOr<v1::LogDigest> digest = spotflow::engine::ParseDigest(args.Get("digest"));
  if (!digest.ok()) Usage(std::string(digest.status().message()));
  return *digest;
}

// `audit verify --export FILE`: the export re-hashed here, without a server.
int CheckExportFile(const Args& args, bool json) {
  std::ifstream in(args.Get("export"));
  if (!in) Fail(CannotRead(args.Get("export")));
  std::optional<v1::LogDigest> digest;
  if (args.Has("digest")) digest = DigestOption(args);
  absl::StatusOr<spotflow::engine::ExportCheck> check = spotflow::engine::CheckExport(in, digest);
  if (check.ok() && !check->contiguous && !args.Has("filtered")) {
    check = absl::DataLossError(
        "the export has gaps between positions (records are missing); if it was exported "
        "with a filter, check it with --filtered");
  }
  if (!check.ok()) {
    std::fprintf(stderr, "spotflow: %s: %s\n",
                 std::string(absl::StatusCodeToString(check.status().code())).c_str(),
                 std::string(check.status().message()).c_str());
    return 1;
  }
  if (check->lines == 0 && !json) {
    std::printf("ok: the export is empty\n");
    return 0;
  }
  if (json) {
    std::printf(
        "{\"lines\": %llu, \"first_position\": %llu, \"last_position\": %llu, "
        "\"contiguous\": %s, \"digest\": \"%s\", \"digest_matched\": %s}\n",
        static_cast<unsigned long long>(check->lines),
        static_cast<unsigned long long>(check->first_position),
        static_cast<unsigned long long>(check->last_position), check->contiguous ? "true" : "false",
        spotflow::engine::FormatDigest(check->last).c_str(),
        check->digest_matched ? "true" : "false");
    return 0;
  }
  // What the check proves depends on the digest: without one (or with gaps), each line is only
  // consistent with itself, which anyone able to compute SHA-256 can forge.
  const char* proof =
      check->contiguous && check->digest_matched
          ? "the chain links every line to the digest, which matches"
      : check->digest_matched
          ? "each line hashes correctly; only the line at the digest's position is tied to it"
      : check->contiguous
          ? "each line hashes correctly and links to the line before it; without a digest "
            "this proves consistency, not origin"
          : "each line hashes correctly, and links to the line before it where their "
            "positions follow on; what was filtered out between them is not checked, and "
            "without a digest this proves consistency, not origin";
  std::printf("ok: %llu lines, positions %llu..%llu%s: %s\nlast digest %s\n",
              static_cast<unsigned long long>(check->lines),
              static_cast<unsigned long long>(check->first_position),
              static_cast<unsigned long long>(check->last_position),
              check->contiguous ? "" : " (filtered)", proof,
              spotflow::engine::FormatDigest(check->last).c_str());
  return 0;
}

int Client::Audit(const std::string& sub, const Args& args) {
  if (sub == "verify" || sub == "digest") {
    if (args.Has("filtered")) Usage("--filtered is for checking an export: give --export FILE");
    v1::AuditVerifyRequest request;
    if (args.Has("from")) request.set_from_position(Number64(args.Get("from"), "--from"));
    if (args.Has("to")) request.set_to_position(Number64(args.Get("to"), "--to"));
    if (args.Has("digest")) {
      if (args.Has("from") || args.Has("to")) {
        Usage("--digest checks the whole log: leave out --from and --to");
      }
      *request.mutable_digest() = DigestOption(args);
    }
    auto context = StreamContext();
    v1::AuditVerifyResponse result;
    grpc::Status status = ReadResult("verify", audit_->Verify(context.get(), request), &result);
    if (!status.ok()) return Report(status);
    if (PrintJson(result)) return 0;
    const std::string digest = spotflow::engine::FormatDigest(result.digest());
    if (sub == "digest") {
      std::printf("%s\n", digest.c_str());
      return 0;
    }
    std::printf("ok: positions %llu..%llu (%llu records) verify%s\ndigest %s\n",
                static_cast<unsigned long long>(result.first_position()),
                static_cast<unsigned long long>(result.last_position()),
                static_cast<unsigned long long>(result.records()),
                args.Has("digest") ? "; the log extends the digest unchanged" : "", digest.c_str());
    return 0;
  }
  if (sub == "export") {
    v1::AuditExportRequest request;
    if (args.Has("from")) request.set_from_position(Number64(args.Get("from"), "--from"));
    if (args.Has("to")) request.set_to_position(Number64(args.Get("to"), "--to"));
    if (args.Has("order") + args.Has("client") + args.Has("stream") > 1) {
      Usage("audit export takes one of --order, --client and --stream");
    }
    // The server finds an order by id or key, deleted ones too (auditors export them).
    request.set_order_id(args.Get("order"));
    request.set_client_id(args.Get("client"));
    request.set_stream_id(args.Get("stream"));
    request.set_user_id(args.Get("user"));
    if (args.Has("since")) *request.mutable_since() = ParseTimestamp(args.Get("since"));
    if (args.Has("until")) *request.mutable_until() = ParseTimestamp(args.Get("until"));
    std::FILE* out = stdout;
    if (args.Has("out")) {
      out = std::fopen(args.Get("out").c_str(), "w");
      if (out == nullptr) {
        Fail(absl::StrCat("cannot write ", args.Get("out"), ": ", std::strerror(errno)));
      }
    }
    auto context = StreamContext();
    auto reader = audit_->Export(context.get(), request);
    v1::AuditExportResponse response;
    uint64_t lines = 0;
    int write_error = 0;  // The first failed write's errno: the export stops there.
    while (write_error == 0 && reader->Read(&response)) {
      for (const std::string& line : response.lines()) {
        if (std::fprintf(out, "%s\n", line.c_str()) < 0) {
          write_error = errno != 0 ? errno : EIO;
          break;
        }
      }
      lines += response.lines_size();
      ShowProgress("export", response.progress());
    }
    if (write_error != 0) context->TryCancel();
    grpc::Status status = reader->Finish();
    // Buffered lines are written at the flush or the close: a full disk shows there.
    if (write_error == 0 && (std::fflush(out) != 0 || std::ferror(out))) {
      write_error = errno != 0 ? errno : EIO;
    }
    if (out != stdout && std::fclose(out) != 0 && write_error == 0) {
      write_error = errno != 0 ? errno : EIO;
    }
    // An audit export kept short would pass for a shorter log (a whole export verifies up to
    // where it ends): the file goes, whatever cut it short. Only a regular file: --out may
    // name a device or a pipe.
    std::error_code error;
    const bool removed = (write_error != 0 || !status.ok()) && out != stdout &&
                         std::filesystem::is_regular_file(args.Get("out"), error) &&
                         std::remove(args.Get("out").c_str()) == 0;
    if (write_error != 0) {
      Fail(absl::StrCat("could not write ", args.Has("out") ? args.Get("out") : "the export", ": ",
                        std::strerror(write_error),
                        removed ? "; the incomplete file was removed: export again"
                                : "; what was written is incomplete: export again"));
    }
    if (!status.ok()) return Report(status);
    if (out != stdout) {
      std::fprintf(stderr, "exported %llu events to %s\n", static_cast<unsigned long long>(lines),
                   args.Get("out").c_str());
    } else if (lines == 0) {
      std::fprintf(stderr, "no events match (the export is empty)\n");
    }
    // Its lines skip the positions of other records, as lines cut out of a whole export would:
    // the check must be told (a whole export with gaps is DATA_LOSS).
    if (args.Has("order") || args.Has("client") || args.Has("stream") || args.Has("user")) {
      std::fprintf(stderr,
                   "a filtered export: check it with `spotflow audit verify --export %s "
                   "--filtered`\n",
                   args.Has("out") ? args.Get("out").c_str() : "FILE");
    }
    return 0;
  }
  if (sub == "replay" && Positional(args, 1, "order, client or check") == "check") {
    if (args.positional.size() > 2 || args.Has("position") || args.Has("time")) {
      Usage("audit replay check takes nothing more: it rebuilds everything up to now");
    }
    auto context = StreamContext();
    v1::CheckDeterminismResponse result;
    grpc::Status status = ReadResult(
        "rebuild", audit_->CheckDeterminism(context.get(), v1::CheckDeterminismRequest()), &result);
    if (!status.ok()) return Report(status);
    if (PrintJson(result)) return 0;
    std::printf(
        "ok: every projection rebuilt from positions 1..%llu matches the live ones\n"
        "state digest %s (of the projections, not the log's: audit digest)\n",
        static_cast<unsigned long long>(result.position()), result.live_digest().c_str());
    return 0;
  }
  const std::string kind = Positional(args, 1, "order or client");
  const std::string id = Positional(args, 2, "the order's or client's id");
  if (kind != "order" && kind != "client") Usage("audit replay and history take order or client");
  if (sub == "replay") {
    v1::AuditReplayRequest request;
    if (kind == "order") {
      request.set_order_id(id);
    } else {
      request.set_client_id(id);
    }
    if (args.Has("position") == args.Has("time")) Usage("give --position N or --time T");
    if (args.Has("position")) {
      request.mutable_as_of()->set_position(Number64(args.Get("position"), "--position"));
    } else {
      *request.mutable_as_of()->mutable_time() = ParseTimestamp(args.Get("time"));
    }
    v1::AuditReplayResponse response;
    grpc::Status status = audit_->Replay(Context().get(), request, &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    if (response.has_order()) {
      PrintOrder(response.order(), true);
    } else {
      PrintClient(response.client());
    }
    // Last, where a reader of a kept printout looks for when it was: not the record as it is.
    std::printf("(as it was at %s, rebuilt from the log)\n",
                args.Has("position")
                    ? ("position " + args.Get("position")).c_str()
                    : absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                       absl::FromUnixSeconds(request.as_of().time().seconds()),
                                       absl::UTCTimeZone())
                          .c_str());
    return 0;
  }
  if (sub == "history") {
    v1::AuditHistoryRequest request;
    if (kind == "order") {
      request.set_order_id(id);
    } else {
      request.set_client_id(id);
    }
    v1::AuditHistoryResponse response;
    grpc::Status status = audit_->History(Context().get(), request, &response);
    if (!status.ok()) return Report(status);
    if (PrintJson(response)) return 0;
    PrintChanges(response);
    return 0;
  }
  Usage(absl::StrCat("unknown verb \"audit ", sub, "\""));
}

int Main(int argc, char** argv) {
  std::string server =
      std::getenv("SPOTFLOW_SERVER") ? std::getenv("SPOTFLOW_SERVER") : "127.0.0.1:50051";
  std::string token = std::getenv("SPOTFLOW_TOKEN") ? std::getenv("SPOTFLOW_TOKEN") : "";
  std::string tls_ca, tls_cert, tls_key;
  bool json = false, help = false;
  std::optional<std::string> verb;
  Args args;
  bool options_end = false;   // After "--" every word is an argument, even "--urgent".
  std::string missing_value;  // An option given last, with no value after it.
  std::string repeated;       // An option given twice (only --field may be), the first such.
  // Everything the server takes is text; bytes that are not UTF-8 (a file name from another
  // system, a terminal in Latin-1) are refused here, before protobuf would log and send them.
  for (int i = 1; i < argc; ++i) {
    if (const size_t bad = spotflow::Utf8ErrorAt(argv[i]); bad != std::string::npos) {
      Usage(absl::StrCat("argument ", i, " is not UTF-8 text (byte ", bad + 1, " of \"",
                         absl::CHexEscape(argv[i]), "\"); set your terminal or file to UTF-8"));
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!options_end && arg == "--") {
      options_end = true;
      continue;
    }
    if (!options_end && arg == "-h") arg = "--help";
    if (!options_end && arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (name == "version" && !verb.has_value()) {
        std::printf("spotflow %s\n", SPOTFLOW_VERSION);
        return 0;
      }
      const bool boolean = name == "json" || name == "help" || name == "provided" ||
                           name == "queue" || name == "filtered" || name == "follow" ||
                           name == "dry-run" || name == "waiting" || name == "yes" ||
                           name == "for-client" || name == "no-orders" || name == "per-assignee";
      if (boolean) {
        // --queue, --queue=true: on; --queue=false: off, as if not given.
        if (value == "false" || value == "no" || value == "0") continue;
        if (!value.empty() && value != "true" && value != "yes" && value != "1") {
          Usage(absl::StrCat("--", name, " is on or off: give it alone, or =true or =false"));
        }
      } else if (eq == std::string::npos) {
        // Said once the verb is known: an option the verb does not take is "not an option"
        // whether or not a value follows it.
        if (i + 1 >= argc) {
          missing_value = name;
        } else {
          value = argv[++i];
        }
      }
      if (name == "server")
        server = value;
      else if (name == "token")
        token = value;
      else if (name == "tls-ca")
        tls_ca = value;
      else if (name == "tls-cert")
        tls_cert = value;
      else if (name == "tls-key")
        tls_key = value;
      else if (name == "json")
        json = true;
      else if (name == "help")
        help = true;
      else {
        if (name == "field") args.fields.push_back(value);
        // The second would silently replace the first: which one was meant is not ours to guess.
        if (name != "field" && args.Has(name) && repeated.empty()) repeated = name;
        args.options[name] = value;  // The verb's spec says whether it takes it (CheckArgs).
      }
    } else if (!verb.has_value()) {
      verb = arg;
    } else {
      args.positional.push_back(arg);
    }
  }
  // `spotflow help [VERB...]`, `spotflow [VERB...] --help`: the verb's usage, or all of them.
  if (verb == "help" && !args.positional.empty()) {
    verb = args.positional[0];
    args.positional.erase(args.positional.begin());
    help = true;
  } else if (!verb.has_value() || verb == "help") {
    if (!verb.has_value() && !help) {  // No verb at all: a usage error, on stderr.
      std::fprintf(stderr, "%s(spotflow help lists the verbs)\n", kGlobalUsage);
      return 2;
    }
    PrintHelp();
    return 0;
  }
  const VerbSpec* spec = FindVerb(*verb, args.positional);
  if (spec == nullptr) {
    std::vector<std::string> subs;
    for (const VerbSpec& each : Verbs()) {
      std::vector<std::string> words = absl::StrSplit(each.name, ' ');
      if (words.size() == 2 && words[0] == *verb) subs.push_back(words[1]);
    }
    if (!subs.empty() && help && args.positional.empty()) {  // `spotflow order --help`
      for (const VerbSpec& each : Verbs()) {
        if (absl::StartsWith(each.name, *verb + " ")) PrintVerbUsage(each);
      }
      return 0;
    }
    if (!subs.empty()) {
      const std::string nearest = args.positional.empty() ? "" : Nearest(args.positional[0], subs);
      Usage(absl::StrCat(
          args.positional.empty()
              ? absl::StrCat("\"", *verb, "\" needs one of: ")
              : absl::StrCat("unknown verb \"", *verb, " ", args.positional[0], "\"",
                             nearest.empty()
                                 ? "; "
                                 : absl::StrCat("; did you mean \"", *verb, " ", nearest, "\"? ("),
                             *verb, " takes: "),
          absl::StrJoin(subs, ", "), nearest.empty() ? "" : ")"));
    }
    Usage(absl::StrCat("unknown verb \"", *verb, "\"", DidYouMean(*verb)));
  }
  if (help) {
    PrintVerbUsage(*spec);
    if (spec->change) std::printf("%s", kChangeNote);
    return 0;
  }
  verb_usage = VerbUsage(*spec);
  CheckArgs(*verb, *spec, args);
  if (!missing_value.empty()) Usage(absl::StrCat("--", missing_value, " needs a value"));
  if (!repeated.empty()) Usage(absl::StrCat("--", repeated, " is given twice; give it once"));
  // Checking an export needs only the file: no server, no token.
  if (*verb == "audit" && !args.positional.empty() && args.positional[0] == "verify" &&
      args.Has("export")) {
    if (args.Has("from") || args.Has("to")) {
      Usage("--export checks the whole file: leave out --from and --to");
    }
    return CheckExportFile(args, json);
  }
  if (token.empty()) Usage("no token: pass --token or set SPOTFLOW_TOKEN");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!tls_ca.empty() || !tls_cert.empty()) {
    auto read = [](const std::string& path) {
      std::FILE* file = std::fopen(path.c_str(), "r");
      if (file == nullptr) Fail(CannotRead(path));
      std::string text;
      char buffer[4096];
      for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) text.append(buffer, n);
      std::fclose(file);
      return text;
    };
    // Checked here, naming the file: gRPC would fail every call with lines of its own.
    const auto check = [](const absl::Status& status) {
      if (!status.ok()) Fail(std::string(status.message()));
    };
    grpc::SslCredentialsOptions ssl;
    if (!tls_ca.empty()) {
      ssl.pem_root_certs = read(tls_ca);
      check(spotflow::service::internal::CheckPemCertificate(ssl.pem_root_certs,
                                                             "--tls-ca " + tls_ca));
    }
    if (!tls_cert.empty()) {
      if (tls_key.empty()) Usage("--tls-cert needs --tls-key");
      ssl.pem_cert_chain = read(tls_cert);
      ssl.pem_private_key = read(tls_key);
      check(spotflow::service::internal::CheckPemKeyPair(ssl.pem_cert_chain, ssl.pem_private_key,
                                                         "--tls-cert " + tls_cert,
                                                         "--tls-key " + tls_key));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  // Audit exports and histories can be larger than gRPC's default 4 MB per message.
  grpc::ChannelArguments channel_arguments;
  channel_arguments.SetMaxReceiveMessageSize(64 << 20);
  Client client(grpc::CreateCustomChannel(server, credentials, channel_arguments), server, token,
                json, /*tls=*/!tls_ca.empty() || !tls_cert.empty());
  return client.Run(*verb, args);
}

}  // namespace

int main(int argc, char** argv) {
  const int code = Main(argc, argv);
  // What the verb printed reaches its reader at this flush: output that could not be written
  // (a full disk under `> digest.txt`) is a failure, not a short file that passes for whole.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "spotflow: could not write the output: %s\n",
                 std::strerror(errno != 0 ? errno : EIO));
    return code == 0 ? 1 : code;
  }
  return code;
}
