// spotflowd: the Spotflow server. Opens the event log in --data-dir, rebuilds the engine's
// projections, and serves spotflow.v1 over gRPC (with reflection and grpc.health.v1).
//
//   spotflowd [--listen=127.0.0.1:50051] [--data-dir=./var/spotflow] [--tokens=FILE]
//             [--tls-cert=PEM --tls-key=PEM [--tls-client-ca=PEM]] [--demo]
//
// On a new data directory it creates the first administrator and prints its token once
// (only the token's hash is kept, in the tokens file). With --demo a new directory is also
// seeded with a user per preset role, clients, and orders in different states.
// SIGINT and SIGTERM drain the calls in flight, write a snapshot and close the log.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "grpc/support/log.h"
#include "service/auth.h"
#include "service/internal/files.h"
#include "service/server.h"
#include "spdlog/async.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "store/event_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "host:port to serve on (port 0: any free port)");
ABSL_FLAG(std::string, data_dir, "./var/spotflow",
          "directory of the event log, the engine snapshot and the tokens file");
ABSL_FLAG(std::string, tokens, "", "token file (SHA-256 hashes); default: <data-dir>/tokens");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA: require client certificates it signed");
ABSL_FLAG(uint32_t, max_page_size, 1000,
          "the most entries one page of a list (orders, clients, users, roles, events) holds, "
          "1 to 10000; a client asking for more gets this many and where the next page starts");
ABSL_FLAG(bool, demo, false, "seed a new data directory with demo users, clients and orders");

constexpr char kUsage[] =
    "usage: spotflowd [--listen=HOST:PORT] [--data-dir=DIR] [--tokens=FILE]\n"
    "                 [--tls-cert=PEM --tls-key=PEM [--tls-client-ca=PEM]]\n"
    "                 [--max-page-size=N] [--demo]\n"
    "  --listen         where to serve (default 127.0.0.1:50051; port 0: any free port)\n"
    "  --data-dir       the event log, engine snapshot and token file (default ./var/spotflow)\n"
    "  --tokens         the token file, SHA-256 hashes only (default <data-dir>/tokens)\n"
    "  --tls-cert, --tls-key   serve TLS with this PEM certificate chain and key\n"
    "  --tls-client-ca  require client certificates this PEM CA signed\n"
    "  --max-page-size  the most entries a page of a list holds, 1 to 10000 (default 1000)\n"
    "  --demo           seed a new data directory with demo users, clients and orders\n"
    "On a new data directory it creates the administrator \"admin\" and shows its token once.\n"
    "SIGINT/SIGTERM drain calls and close the log; SIGHUP reloads the token file.\n";

namespace {

namespace v1 = spotflow::v1;
namespace engine = spotflow::engine;

struct DemoUser {
  const char* id;
  const char* role;
  const char* name;
};

constexpr DemoUser kDemoUsers[] = {
    {"mia", engine::kSalesManager, "Mia Manager (sales manager)"},
    {"sam", engine::kAccountExecutive, "Sam Sellers (account executive)"},
    {"ann", engine::kSalesAssistant, "Ann Assist (sales assistant)"},
    {"otto", engine::kOrderEntry, "Otto Entry (order entry)"},
    {"pete", engine::kProducer, "Pete Producer (producer)"},
    {"aud", engine::kAuditor, "Audrey Auditor (auditor)"},
};

v1::Date MakeDate(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

absl::Status Run(engine::Engine* e, const std::string& user, const v1::Command& command) {
  return e->Execute({user}, command).status();
}

absl::Status RecordIssued(engine::Engine* e, const std::string& user, const std::string& token) {
  v1::Command record;
  record.mutable_record_token_issued()->set_user_id(user);
  record.mutable_record_token_issued()->set_token_hash_prefix(
      spotflow::service::TokenStore::HashPrefix(token));
  return Run(e, "admin", record);
}

// A token for `user`, its hash kept, and the issue recorded in the log by the administrator
// (TokenIssued, with a hash prefix), as Admin.IssueToken does: `user show` counts it.
absl::StatusOr<std::string> IssueRecorded(engine::Engine* e, spotflow::service::TokenStore* tokens,
                                          const std::string& tokens_path, const std::string& user) {
  ASSIGN_OR_RETURN(std::string token, tokens->Issue(tokens_path, user));
  RETURN_IF_ERROR(RecordIssued(e, user, token));
  return token;
}

// The demo's flight: next calendar month (UTC) after `now`, so that it is ahead whenever the
// demo is seeded.
std::pair<v1::Date, v1::Date> NextMonth(absl::Time now) {
  const absl::CivilMonth next = absl::CivilMonth(absl::ToCivilDay(now, absl::UTCTimeZone())) + 1;
  const absl::CivilDay last = absl::CivilDay(next + 1) - 1;
  return {MakeDate(static_cast<int>(next.year()), next.month(), 1),
          MakeDate(static_cast<int>(last.year()), last.month(), last.day())};
}

// Users for each preset role (tokens printed), two clients, and orders in different states.
absl::Status SeedDemo(engine::Engine* e, spotflow::service::TokenStore* tokens,
                      const std::string& tokens_path, absl::Time now) {
  // Not a structured binding: the lambdas below capture these, which C++17 allows only for
  // variables (clang refuses it).
  const auto next_month = NextMonth(now);
  const v1::Date& flight_start = next_month.first;
  const v1::Date& flight_end = next_month.second;
  std::printf("\nDemo users (tokens are shown once; only their hashes are kept):\n");
  std::map<std::string, std::string> issued;
  for (const DemoUser& user : kDemoUsers) {
    v1::Command command;
    command.mutable_create_user()->set_user_id(user.id);
    command.mutable_create_user()->set_display_name(user.name);
    command.mutable_create_user()->add_roles(user.role);
    if (std::string(user.id) == "sam") command.mutable_create_user()->set_manager_id("mia");
    RETURN_IF_ERROR(Run(e, "admin", command));
    ASSIGN_OR_RETURN(std::string token, IssueRecorded(e, tokens, tokens_path, user.id));
    std::printf("  %-5s %-20s %s\n", user.id, user.role, token.c_str());
    issued[user.id] = token;
  }
  for (auto [id, name, contact] : {std::tuple{"acme", "Acme Motors", "carol"},
                                   std::tuple{"globex", "Globex Grocers", "gus"}}) {
    v1::Command client;
    client.mutable_create_client()->set_client_id(id);
    client.mutable_create_client()->set_name(name);
    client.mutable_create_client()->set_kind("advertiser");
    RETURN_IF_ERROR(Run(e, "sam", client));
    v1::Command add;
    add.mutable_add_contact()->set_client_id(id);
    add.mutable_add_contact()->mutable_contact()->set_contact_id(contact);
    add.mutable_add_contact()->mutable_contact()->set_name(absl::StrCat(contact, " at ", name));
    RETURN_IF_ERROR(Run(e, "sam", add));
    v1::Command share;
    share.mutable_share_client()->set_client_id(id);
    share.mutable_share_client()->set_user_id("ann");
    RETURN_IF_ERROR(Run(e, "sam", share));
  }
  {
    // Carol speaks for Acme: her own login, as a client contact, answers for her company.
    v1::Command carol;
    carol.mutable_create_user()->set_user_id("carol");
    carol.mutable_create_user()->set_display_name("Carol at Acme Motors (client contact)");
    carol.mutable_create_user()->add_roles(engine::kClientContact);
    carol.mutable_create_user()->set_client_id("acme");
    carol.mutable_create_user()->set_contact_id("carol");
    RETURN_IF_ERROR(Run(e, "admin", carol));
    ASSIGN_OR_RETURN(std::string token, IssueRecorded(e, tokens, tokens_path, "carol"));
    std::printf("  %-5s %-20s %s\n", "carol", engine::kClientContact, token.c_str());
  }
  auto order = [&](const std::string& id, const char* client, v1::OrderKind kind, const char* title,
                   uint32_t seconds) -> absl::Status {
    v1::Command create;
    v1::CreateOrder* o = create.mutable_create_order();
    o->set_order_id(id);
    o->set_kind(kind);
    o->set_client_id(client);
    o->set_title(title);
    o->set_spot_length_seconds(seconds);
    *o->mutable_flight_start() = flight_start;
    *o->mutable_flight_end() = flight_end;
    return Run(e, "ann", create);
  };
  auto script = [&](const std::string& id, const char* text) {
    v1::Command c;
    c.mutable_submit_revision()->set_order_id(id);
    c.mutable_submit_revision()->set_artifact("script");
    c.mutable_submit_revision()->set_text(text);
    return Run(e, "pete", c);
  };
  auto spot = [&](const std::string& id, const char* uri, uint32_t seconds, bool provided,
                  const char* user) {
    v1::Command c;
    c.mutable_submit_revision()->set_order_id(id);
    c.mutable_submit_revision()->set_artifact("spot");
    c.mutable_submit_revision()->mutable_media()->set_uri(uri);
    c.mutable_submit_revision()->mutable_media()->set_duration_ms(seconds * 1000);
    c.mutable_submit_revision()->set_provided_by_client(provided);
    return Run(e, user, c);
  };
  auto approve = [&](const std::string& id, const char* artifact, uint32_t n) {
    v1::Command c;
    c.mutable_approve_revision()->set_order_id(id);
    c.mutable_approve_revision()->set_artifact(artifact);
    c.mutable_approve_revision()->set_revision(n);
    return Run(e, "sam", c);
  };
  // Waiting for a script; a script in review; a spot in review; delivered and archived.
  RETURN_IF_ERROR(order("winter-sale", "acme", v1::PRODUCTION, "Winter sales event :30", 30));
  RETURN_IF_ERROR(order("spring-launch", "acme", v1::PRODUCTION, "Spring model launch :30", 30));
  RETURN_IF_ERROR(script("spring-launch", "Spring is here, and so is the new Acme Roadster."));
  RETURN_IF_ERROR(order("weekly-deals", "globex", v1::PROVIDED, "Weekly deals :15", 15));
  RETURN_IF_ERROR(spot("weekly-deals", "s3://agency/globex-weekly.wav", 15, true, "ann"));
  RETURN_IF_ERROR(order("holiday-hours", "globex", v1::PRODUCTION, "Holiday hours :10", 10));
  RETURN_IF_ERROR(script("holiday-hours", "Open late all December at Globex."));
  RETURN_IF_ERROR(approve("holiday-hours", "script", 1));
  RETURN_IF_ERROR(spot("holiday-hours", "s3://studio/globex-holiday.wav", 10, false, "pete"));
  RETURN_IF_ERROR(approve("holiday-hours", "spot", 1));
  v1::Command deliver;
  deliver.mutable_perform_action()->set_order_id("holiday-hours");
  deliver.mutable_perform_action()->set_action("deliver");
  RETURN_IF_ERROR(Run(e, "pete", deliver));
  v1::Command archive;
  archive.mutable_archive_order()->set_order_id("holiday-hours");
  RETURN_IF_ERROR(Run(e, "sam", archive));
  std::printf(
      "\nTry, in another terminal (add --server=HOST:PORT if you changed --listen):\n"
      "  build/service/spotflow --token=%s order list\n"
      "  build/service/spotflow --token=%s order history spring-launch\n"
      "  build/service/spotflow --token=%s approve spring-launch script 1\n\n",
      issued["mia"].c_str(), issued["sam"].c_str(), issued["sam"].c_str());
  return absl::OkStatus();
}

// A data directory spotflowd may use: one it made (it holds `log/`), or a new or empty one
// (files of spotflowd's own aside). Anything else is someone else's directory, likely a
// mistyped --data-dir, which a first start would seed with an administrator and a log.
absl::Status CheckDataDir(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::exists(data_dir, error)) return absl::OkStatus();
  if (!fs::is_directory(data_dir, error)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--data-dir ", data_dir, " is not a directory"));
  }
  if (fs::is_directory(fs::path(data_dir) / "log", error)) return absl::OkStatus();
  for (const fs::directory_entry& entry : fs::directory_iterator(data_dir, error)) {
    // A token file put there ahead (and its lock), a first start's that failed, and a new
    // file system's lost+found.
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "tokens") || absl::StartsWith(name, "first-admin-token") ||
        name == "engine.snapshot" || name == "lost+found") {
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "--data-dir ", data_dir, " holds files (", entry.path().filename().string(),
        ") but no Spotflow log (", data_dir,
        "/log): it is not a Spotflow data directory; give a new or empty directory, or one "
        "spotflowd made"));
  }
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read --data-dir ", data_dir, ": ", error.message()));
  }
  return absl::OkStatus();
}

// Warns of tokens in the file for users this server's log does not know: they work the moment
// such a user is created, with no TokenIssued in this log (a token file shared with another
// server, a line added by hand).
void WarnOfStrangers(engine::Engine* e, const spotflow::service::TokenStore& tokens,
                     const std::string& path) {
  const v1::EngineState state = e->State();  // A copy: a loop over a temporary's field dangles.
  std::set<std::string> known;
  for (const v1::UserView& user : state.users()) known.insert(user.user_id());
  std::vector<std::string> strangers;
  for (const std::string& user : tokens.Users()) {
    if (known.count(user) == 0) strangers.push_back(user);
  }
  if (strangers.empty()) return;
  spdlog::warn(
      "{} holds tokens for users this server does not know ({}): each would work as soon as "
      "such a user is created here; remove those lines unless that is meant",
      path, absl::StrJoin(strangers, ", "));
}

int Fail(const absl::Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGINT, SIGTERM and SIGHUP are taken by sigwait below, in this thread, never by a handler.
  // Blocked before any thread starts (the logger's, gRPC's, RocksDB's), since threads inherit
  // the mask: a signal that reached another thread would kill the process mid-drain.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A closed stdout (spotflowd | head) fails a log write instead of killing the server.
  std::signal(SIGPIPE, SIG_IGN);
  // What spotflowd creates (the log, the snapshot, the token file) is its user's alone.
  umask(077);
  // Every connection is a descriptor: take the most the system allows, so that a flood of
  // idle connections does not leave gRPC and RocksDB without one (see also the server's
  // idle timeout).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  absl::SetProgramUsageMessage("the Spotflow server: spotflowd [--listen=...] [--data-dir=...]");
  absl::FlagsUsageConfig usage;
  usage.version_string = [] { return std::string("spotflowd " SPOTFLOW_VERSION "\n"); };
  absl::SetFlagsUsageConfig(usage);
  // --help as people type it: the flags spelled as they are given, and exit 0 (Abseil's own
  // names them with underscores, with the source file, and exits 1).
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--help" || argument == "-h" || argument == "--helpfull") {
      std::printf("%s", kUsage);
      return 0;
    }
  }
  // Flags are spelled with dashes (--data-dir); Abseil names them with underscores.
  std::vector<std::string> arguments(argv, argv + argc);
  std::vector<char*> spelled;
  for (std::string& argument : arguments) {
    if (argument.rfind("--", 0) == 0) {
      const size_t end = std::min(argument.find('='), argument.size());
      std::replace(argument.begin() + 2, argument.begin() + end, '-', '_');
    }
    spelled.push_back(argument.data());
  }
  const std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(spelled.size()), spelled.data());
  if (rest.size() > 1) {  // rest[0] is the program.
    std::fprintf(stderr, "spotflowd: unexpected argument \"%s\" (flags are --name=value)\n%s",
                 rest[1], kUsage);
    return 2;
  }
  // Logging happens on a thread of its own: the server logs refused calls from gRPC's
  // reactions, which must not wait on a slow stdout. Up to 8,192 lines queue; past that the
  // oldest queued lines are dropped rather than making a call wait (a stdout nobody reads, a
  // flood of refused calls). Whatever is queued is written before spotflowd exits
  // (FlushLogsAtExit).
  spdlog::init_thread_pool(8192, 1);
  spdlog::set_default_logger(std::make_shared<spdlog::async_logger>(
      "spotflowd", std::make_shared<spdlog::sinks::stdout_color_sink_mt>(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::overrun_oldest));
  spdlog::flush_on(spdlog::level::info);
  struct FlushLogsAtExit {
    ~FlushLogsAtExit() { spdlog::shutdown(); }
  } flush_logs_at_exit;
  // In UTC, as the log's events are: a reader compares them without knowing the host's zone.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  // gRPC's own messages (a port it cannot bind, a TLS handshake that failed) go to the same
  // log, with the same levels and timestamps.
  gpr_set_log_function([](gpr_log_func_args* args) {
    spdlog::level::level_enum level = args->severity == GPR_LOG_SEVERITY_ERROR ? spdlog::level::err
                                      : args->severity == GPR_LOG_SEVERITY_INFO
                                          ? spdlog::level::info
                                          : spdlog::level::debug;
    // A client's failed TLS handshake (plaintext to a TLS port, a certificate the client CA
    // did not sign) is the client's doing, as a refused token is: a warning, not an error of
    // the server's. gRPC says so only in its message.
    if (level == spdlog::level::err && std::strstr(args->message, "Handshake failed") != nullptr) {
      level = spdlog::level::warn;
    }
    spdlog::log(level, "grpc: {} ({}:{})", args->message, args->file, args->line);
  });
  // Debian builds Abseil with Mutex deadlock detection on, which records every lock order in a
  // global graph: a debugging aid that costs several percent of a busy server's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Above 10,000 a page of orders could pass the 4 MB a gRPC client receives by default.
  if (absl::GetFlag(FLAGS_max_page_size) < 1 || absl::GetFlag(FLAGS_max_page_size) > 10000) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--max-page-size is ", absl::GetFlag(FLAGS_max_page_size), "; it must be 1 to 10000")));
  }
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string tokens_path =
      absl::GetFlag(FLAGS_tokens).empty() ? data_dir + "/tokens" : absl::GetFlag(FLAGS_tokens);
  if (absl::Status s = CheckDataDir(data_dir); !s.ok()) return Fail(s);
  auto store = spotflow::store::EventStore::Open({}, data_dir + "/log");
  if (!store.ok()) return Fail(store.status());
  engine::SystemClock clock;
  engine::RandomIdGenerator ids;
  engine::Options engine_options;
  engine_options.snapshot_path = data_dir + "/engine.snapshot";
  engine_options.max_page_size = absl::GetFlag(FLAGS_max_page_size);
  auto opened = engine::Engine::Open(engine_options, store->get(), &clock, &ids);
  if (!opened.ok()) return Fail(opened.status());
  engine::Engine* e = opened->get();
  if (const engine::Engine::Recovery r = e->recovery(); !r.snapshot_ignored.empty()) {
    spdlog::warn("ignored {}: {}; rebuilt the projections from the whole log ({} records)",
                 engine_options.snapshot_path, r.snapshot_ignored, r.replayed);
  } else if (r.snapshot_position > 0) {
    spdlog::info("projections from {} (up to position {}) and {} records of the log after it",
                 engine_options.snapshot_path, r.snapshot_position, r.replayed);
  } else if (r.replayed > 0) {
    spdlog::info("no snapshot: rebuilt the projections from the whole log ({} records)",
                 r.replayed);
  }
  auto tokens = spotflow::service::TokenStore::Load(tokens_path);
  if (!tokens.ok()) return Fail(tokens.status());

  // A --tokens that names no file, on a directory whose users are known: a typo, which would
  // leave a server nobody can call. (The default file missing gets the warning below: an
  // operator may be about to restore it.)
  if (!absl::GetFlag(FLAGS_tokens).empty() && !std::filesystem::exists(tokens_path) &&
      (*tokens)->size() == 0 && !e->State().users().empty()) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("--tokens ", tokens_path,
                     " does not exist, so none of this server's users could call it; "
                     "give the token file it was started with (by default ",
                     data_dir, "/tokens)")));
  }
  spotflow::service::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.tokens_file = tokens_path;
  // Listen before the first start seeds anything: a wrong --listen or a port in use then
  // leaves a new data directory without an administrator whose token scrolled past.
  auto server = spotflow::service::Server::Start(options, e, tokens->get());
  if (!server.ok()) return Fail(server.status());
  if (e->State().users().empty()) {
    // The token first: if the bootstrap then fails, the next start creates "admin" again and
    // this token works; the other way round a failure would leave an admin nobody can be.
    auto token = (*tokens)->Issue(tokens_path, "admin");
    if (!token.ok()) return Fail(token.status());
    // Shown once, to whoever started it: on a terminal, or with the demo (whose purpose is its
    // tokens), on stdout. Otherwise stdout is a log, which never holds a token: the token goes
    // to a file only this user reads, written before the administrator is made (a failure
    // leaves no administrator, and the next start makes one again), and the log says where.
    const bool on_terminal = isatty(STDOUT_FILENO) || absl::GetFlag(FLAGS_demo);
    const std::string kept = data_dir + "/first-admin-token";
    if (!on_terminal) {
      if (absl::Status s = spotflow::service::internal::ReplaceFile(
              kept, *token + "\n", "the first administrator's token file");
          !s.ok()) {
        return Fail(absl::UnavailableError(
            absl::StrCat(s.message(),
                         " (stdout is not a terminal, and a log never holds a token): start "
                         "spotflowd once from a terminal")));
      }
    }
    v1::CreateUser admin;
    admin.set_user_id("admin");
    admin.set_display_name("Administrator");
    if (absl::Status s = e->Bootstrap(admin).status(); !s.ok()) return Fail(s);
    if (on_terminal) {
      std::printf("First administrator \"admin\"; token (shown once): %s\n", token->c_str());
    } else {
      spdlog::info(
          "first administrator \"admin\": its token is in {} (this user's alone); keep it "
          "elsewhere and delete the file",
          kept);
    }
    // After printing: a token nobody saw would leave an administrator nobody can be.
    if (absl::Status s = RecordIssued(e, "admin", *token); !s.ok()) {
      spdlog::warn("the administrator's token works but is not in the log: {}", s.ToString());
    }
    if (absl::GetFlag(FLAGS_demo)) {
      if (absl::Status s = SeedDemo(e, tokens->get(), tokens_path, clock.Now()); !s.ok()) {
        return Fail(s);
      }
    }
    std::fflush(stdout);
  } else if (absl::GetFlag(FLAGS_demo)) {
    // The demo seeds a new directory only (its users and tokens are shown then).
    spdlog::info(
        "--demo: {} holds a log already, so nothing is seeded (the demo seeds only a new "
        "directory, and prints its users' tokens then); for a demo, start with a new --data-dir",
        data_dir);
  }

  WarnOfStrangers(e, **tokens, tokens_path);
  // Plaintext beyond this host: every call's bearer token crosses the network readable.
  const std::string& listen = options.listen;
  const bool local = absl::StartsWith(listen, "127.") || absl::StartsWith(listen, "localhost:") ||
                     absl::StartsWith(listen, "[::1]:");
  if (options.tls_cert_file.empty() && !local) {
    spdlog::warn(
        "serving plaintext on {}, beyond this host: bearer tokens cross the network readable; "
        "give --tls-cert and --tls-key",
        listen);
  }
  if ((*tokens)->size() == 0) {
    spdlog::warn("no tokens in {}: nobody can call this server; point --tokens at its token file",
                 tokens_path);
  }
  spdlog::info("serving spotflow.v1 on {} (port {}, {}), data in {}, log at position {}, {} {}",
               options.listen, (*server)->port(),
               options.tls_cert_file.empty() ? "plaintext" : "TLS", data_dir, e->position(),
               (*tokens)->size(), (*tokens)->size() == 1 ? "token" : "tokens");
  std::fflush(stdout);

  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) {
    // SIGHUP: the token file again, as it is now (tokens another server issued, lines an
    // operator removed to revoke).
    if (absl::Status s = (*tokens)->Reload(tokens_path); s.ok()) {
      spdlog::info("SIGHUP: reloaded {}: {} {}", tokens_path, (*tokens)->size(),
                   (*tokens)->size() == 1 ? "token" : "tokens");
      WarnOfStrangers(e, **tokens, tokens_path);
    } else {
      spdlog::error("SIGHUP: kept the tokens loaded before: {}", s.ToString());
    }
  }
  spdlog::info("signal {}: draining calls in flight", signal);
  (*server)->Shutdown(absl::Seconds(5));
  server->reset();
  if (absl::Status s = e->WriteSnapshot(); !s.ok()) spdlog::warn("no snapshot: {}", s.ToString());
  opened->reset();
  store->reset();
  spdlog::info("stopped; the log is closed");
  return 0;
}
