// grpc_benchmark: a load generator for spotflowd's gRPC service, beside a no-op RPC (Ping) on
// the same server in the same run. The server runs in this process on port 0 over a durable
// store (sync on); clients call it over a real TCP connection on localhost.
//
// With 1, 8 and 64 calls in flight, each caller runs production orders from creation to
// archive (12 commands, one order after another, each caller on its own account) and the
// figures are commands/s and latency percentiles; the limit is Ping with as many calls in
// flight. Prints BENCH lines (benchmarks/bench_util.h):
//   grpc_commands_N        commands/s beside grpc_noop_N calls/s
//   grpc_commands_N_p50    ms beside the no-op's p50
//   grpc_commands_64_p99   ms beside the target of 10 ms
//   grpc_noop_64_p99       the no-op's own p99 under the same load, beside the same target
//
//   grpc_benchmark [--quick] [--only=NAME_PREFIX]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "benchmarks/bench_util.h"
#include "engine/engine.h"
#include "engine/presets.h"
#include "grpcpp/grpcpp.h"
#include "proto/service.grpc.pb.h"
#include "service/auth.h"
#include "service/server.h"
#include "spdlog/spdlog.h"
#include "store/event_store.h"

namespace {

namespace v1 = spotflow::v1;
namespace engine = spotflow::engine;
using spotflow::bench::Check;
using spotflow::bench::Config;
using spotflow::bench::Die;
using spotflow::bench::Median;
using spotflow::bench::Report;
using spotflow::bench::Scratch;
using spotflow::bench::Seconds;

constexpr int kMaxCallers = 64;

struct Result {
  double rate = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double process_cores = 0;      // CPU this process used, in cores (of 2 here).
  double machine_cores = 0;      // CPU the whole machine used, in cores.
  double switches_per_call = 0;  // Context switches of this process per call.
};

double CpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}
double ProcessCpuSeconds() { return CpuSeconds(RUSAGE_SELF); }

// Context switches of this process so far, voluntary (a thread waits) and not.
double ContextSwitches() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_nvcsw + usage.ru_nivcsw);
}

// Busy CPU seconds of the whole machine so far, from /proc/stat (0 where it is unreadable).
double MachineCpuSeconds() {
  std::FILE* stat = std::fopen("/proc/stat", "r");
  if (stat == nullptr) return 0;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  const int read = std::fscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice,
                               &system, &idle, &iowait, &irq, &softirq);
  std::fclose(stat);
  if (read != 7) return 0;
  return static_cast<double>(user + nice + system + irq + softirq) / sysconf(_SC_CLK_TCK);
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[index];
}

// A server over a fresh durable log, with an AE and a producer per caller.
class Fixture {
 public:
  Fixture() {
    store_ = Open();
    auto opened = engine::Engine::Open({}, store_.get(), &clock_, &ids_);
    Check(opened.status());
    engine_ = *std::move(opened);
    v1::CreateUser admin;
    admin.set_user_id("admin");
    admin.set_display_name("Admin");
    Check(engine_->Bootstrap(admin).status());
    auto tokens = spotflow::service::TokenStore::Load(scratch_.Sub("tokens"));
    Check(tokens.status());
    tokens_ = *std::move(tokens);
    AddUser("manager", engine::kSalesManager);
    for (int c = 0; c < kMaxCallers; ++c) {
      AddUser(absl::StrCat("ae", c), engine::kAccountExecutive);
      AddUser(absl::StrCat("producer", c), engine::kProducer);
      v1::Command client;
      client.mutable_create_client()->set_client_id(absl::StrCat("client", c));
      client.mutable_create_client()->set_name(absl::StrCat("Client ", c));
      Check(engine_->Execute({absl::StrCat("ae", c)}, client).status());
      v1::Command contact;
      contact.mutable_add_contact()->set_client_id(absl::StrCat("client", c));
      contact.mutable_add_contact()->mutable_contact()->set_contact_id("contact");
      contact.mutable_add_contact()->mutable_contact()->set_name("Contact");
      Check(engine_->Execute({absl::StrCat("ae", c)}, contact).status());
    }
    spotflow::service::ServerOptions options;
    options.listen = "127.0.0.1:0";
    auto server = spotflow::service::Server::Start(options, engine_.get(), tokens_.get());
    Check(server.status());
    server_ = *std::move(server);
    // Callers share a few connections (HTTP/2 multiplexes their calls), as the services that
    // call Spotflow would: a connection per caller costs the shared 2 cores more than the
    // server's own work.
    constexpr int kConnections = 4;
    for (int c = 0; c < kConnections; ++c) {
      grpc::ChannelArguments arguments;
      arguments.SetInt("spotflow.channel", c);  // Distinct arguments: no shared subchannel.
      channels_.push_back(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                    grpc::InsecureChannelCredentials(), arguments));
    }
  }

  ~Fixture() {
    server_->Shutdown(absl::Seconds(2));
    server_.reset();
    engine_.reset();
    store_.reset();
  }

  const std::string& Token(const std::string& user) { return token_[user]; }
  std::shared_ptr<grpc::Channel> Channel(int caller) {
    return channels_[caller % channels_.size()];
  }

 private:
  std::unique_ptr<spotflow::store::EventStore> Open() {
    spotflow::store::Options options;
    options.sync = true;
    auto store = spotflow::store::EventStore::Open(options, scratch_.Sub("log"));
    Check(store.status());
    return *std::move(store);
  }

  void AddUser(const std::string& id, const char* role) {
    v1::Command command;
    command.mutable_create_user()->set_user_id(id);
    command.mutable_create_user()->set_display_name(id);
    command.mutable_create_user()->add_roles(role);
    Check(engine_->Execute({"admin"}, command).status());
    auto token = tokens_->Issue(scratch_.Sub("tokens"), id);
    Check(token.status());
    token_[id] = *token;
  }

  Scratch scratch_;
  engine::SystemClock clock_;
  engine::RandomIdGenerator ids_;
  std::unique_ptr<spotflow::store::EventStore> store_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<spotflow::service::TokenStore> tokens_;
  std::map<std::string, std::string> token_;
  std::unique_ptr<spotflow::service::Server> server_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

// One caller: production orders from creation to archive, one call in flight at a time, timing
// every call. Calls go out through gRPC's callback API: each answer's callback records the
// call's latency and starts the next call, as gRPC's own load generator does
// (test/cpp/qps/client_callback.cc). So the client side costs what a service calling Spotflow
// asynchronously would, and no thread waits per call in flight; with a blocking thread per
// caller, 64 threads on the 2 shared cores each polled for gRPC and woke for every answer.
class Caller {
 public:
  static constexpr std::chrono::seconds kCallDeadline{30};

  Caller(Fixture* fixture, int index, bool noop, const std::atomic<bool>* stop,
         absl::BlockingCounter* done)
      : index_(index),
        noop_(noop),
        stop_(stop),
        done_(done),
        ae_(fixture->Token(absl::StrCat("ae", index))),
        producer_(fixture->Token(absl::StrCat("producer", index))),
        manager_(fixture->Token("manager")),
        orders_(v1::Orders::NewStub(fixture->Channel(index))),
        events_(v1::Events::NewStub(fixture->Channel(index))) {}

  // Starts the first call; once `stop` is set, the caller stops after the call in flight and
  // counts `done` down.
  void Start() { Next(); }

  // Each call's latency, in ms.
  std::vector<double>& latencies() { return latencies_; }

 private:
  // The steps of one order: 12 commands.
  enum Step {
    kCreate,
    kScript1,
    kChangesScript1,
    kScript2,
    kForwardScript2,
    kClientApprovesScript2,
    kSpot1,
    kApproveSpot1,
    kRequestFlightChange,
    kDecideFlightChange,
    kDeliver,
    kArchive,
    kSteps,
  };

  // A fresh context for the next call, with `token`, and its request.
  template <typename Request>
  Request* Begin(const std::string& token) {
    context_ = std::make_unique<grpc::ClientContext>();
    // A wedged server fails the run (Die in Answered) instead of hanging it.
    context_->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    context_->AddMetadata("authorization", "Bearer " + token);
    auto request = std::make_unique<Request>();
    Request* raw = request.get();
    request_ = std::move(request);
    start_ = std::chrono::steady_clock::now();
    return raw;
  }

  // The callback of every call: runs on one of gRPC's threads when the answer is in.
  std::function<void(grpc::Status)> Answered() {
    return [this](grpc::Status status) {
      latencies_.push_back(Seconds(start_) * 1000);
      if (!status.ok()) {
        Die(absl::StrCat("call failed (code ", status.error_code(), "): ", status.error_message()));
      }
      if (!noop_) {
        if (step_ == kCreate) order_id_ = result_.id();
        if (step_ == kRequestFlightChange) flight_request_ = result_.sub_id();
        step_ = static_cast<Step>((step_ + 1) % kSteps);
      }
      Next();
    };
  }

  void Next() {
    if (stop_->load(std::memory_order_relaxed)) {
      done_->DecrementCount();  // The last thing this caller does: Load may now destroy it.
      return;
    }
    if (noop_) {
      auto* request = Begin<v1::PingRequest>(ae_);
      events_->async()->Ping(context_.get(), request, &pong_, Answered());
      return;
    }
    auto* orders = orders_->async();
    switch (step_) {
      case kCreate: {
        auto* request = Begin<v1::CreateOrderRequest>(ae_);
        v1::CreateOrder* order = request->mutable_create_order();
        order->set_kind(v1::PRODUCTION);
        order->set_client_id(absl::StrCat("client", index_));
        order->set_title("Winter sales event :30");
        order->set_instructions(absl::StrCat("Order ", ++count_, " of caller ", index_));
        order->set_spot_length_seconds(30);
        *order->mutable_flight_start() = FlightDay(1);
        *order->mutable_flight_end() = FlightDay(31);
        orders->CreateOrder(context_.get(), request, &result_, Answered());
        break;
      }
      case kScript1:
      case kScript2:
      case kSpot1: {
        auto* request = Begin<v1::SubmitRevisionRequest>(producer_);
        v1::SubmitRevision* revision = request->mutable_submit_revision();
        revision->set_order_id(order_id_);
        if (step_ == kSpot1) {
          revision->set_artifact("spot");
          revision->mutable_media()->set_uri(absl::StrCat("s3://spots/", order_id_, ".wav"));
        } else {
          revision->set_artifact("script");
          revision->set_text(step_ == kScript1 ? "Cold outside? Hot deals inside."
                                               : "0% financing all winter.");
        }
        orders->SubmitRevision(context_.get(), request, &result_, Answered());
        break;
      }
      case kChangesScript1: {
        auto* request = Begin<v1::RequestChangesRequest>(ae_);
        v1::RequestChanges* changes = request->mutable_request_changes();
        changes->set_order_id(order_id_);
        changes->set_artifact("script");
        changes->set_revision(1);
        changes->set_comment("Lead with the offer");
        orders->RequestChanges(context_.get(), request, &result_, Answered());
        break;
      }
      case kForwardScript2: {
        auto* request = Begin<v1::ForwardToClientRequest>(ae_);
        v1::ForwardToClient* forward = request->mutable_forward_to_client();
        forward->set_order_id(order_id_);
        forward->set_artifact("script");
        forward->set_revision(2);
        forward->set_contact_id("contact");
        orders->ForwardToClient(context_.get(), request, &result_, Answered());
        break;
      }
      case kClientApprovesScript2: {
        auto* request = Begin<v1::RecordClientAnswerRequest>(ae_);
        v1::RecordClientAnswer* answer = request->mutable_record_client_answer();
        answer->set_order_id(order_id_);
        answer->set_artifact("script");
        answer->set_revision(2);
        answer->set_contact_id("contact");
        answer->set_approved(true);
        orders->RecordClientAnswer(context_.get(), request, &result_, Answered());
        break;
      }
      case kApproveSpot1: {
        auto* request = Begin<v1::ApproveRevisionRequest>(ae_);
        v1::ApproveRevision* approve = request->mutable_approve_revision();
        approve->set_order_id(order_id_);
        approve->set_artifact("spot");
        approve->set_revision(1);
        orders->ApproveRevision(context_.get(), request, &result_, Answered());
        break;
      }
      case kRequestFlightChange: {
        auto* request = Begin<v1::RequestFlightChangeRequest>(ae_);
        v1::RequestFlightChange* change = request->mutable_request_flight_change();
        change->set_order_id(order_id_);
        *change->mutable_new_start() = FlightDay(1);
        *change->mutable_new_end() = FlightDay(20);
        orders->RequestFlightChange(context_.get(), request, &result_, Answered());
        break;
      }
      case kDecideFlightChange: {
        auto* request = Begin<v1::DecideFlightChangeRequest>(manager_);
        v1::DecideFlightChange* decide = request->mutable_decide_flight_change();
        decide->set_order_id(order_id_);
        decide->set_request_id(flight_request_);
        decide->set_approved(true);
        orders->DecideFlightChange(context_.get(), request, &result_, Answered());
        break;
      }
      case kDeliver: {
        auto* request = Begin<v1::PerformActionRequest>(producer_);
        request->mutable_perform_action()->set_order_id(order_id_);
        request->mutable_perform_action()->set_action("deliver");
        orders->PerformAction(context_.get(), request, &result_, Answered());
        break;
      }
      case kArchive: {
        auto* request = Begin<v1::ArchiveOrderRequest>(ae_);
        request->mutable_archive_order()->set_order_id(order_id_);
        orders->ArchiveOrder(context_.get(), request, &result_, Answered());
        break;
      }
      case kSteps:
        Die("no such step");
    }
  }

  // A day of December 2099, when every order flies: a flight that is over would be refused.
  static v1::Date FlightDay(int day) {
    v1::Date date;
    date.set_year(2099);
    date.set_month(12);
    date.set_day(day);
    return date;
  }

  const int index_;
  const bool noop_;
  const std::atomic<bool>* const stop_;
  absl::BlockingCounter* const done_;
  const std::string ae_, producer_, manager_;
  std::unique_ptr<v1::Orders::Stub> orders_;
  std::unique_ptr<v1::Events::Stub> events_;
  std::vector<double> latencies_;
  int count_ = 0;

  // The call in flight and what the order has so far.
  Step step_ = kCreate;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<google::protobuf::Message> request_;
  std::chrono::steady_clock::time_point start_;
  v1::CommandResult result_;
  v1::PingResponse pong_;
  std::string order_id_, flight_request_;
};

// `callers` callers, each with one call in flight, for `seconds`.
Result Load(Fixture* fixture, int callers, double seconds, bool noop) {
  std::atomic<bool> stop{false};
  absl::BlockingCounter done(callers);
  std::vector<std::unique_ptr<Caller>> all_callers;
  for (int c = 0; c < callers; ++c) {
    all_callers.push_back(std::make_unique<Caller>(fixture, c, noop, &stop, &done));
  }
  const auto start = std::chrono::steady_clock::now();
  const double process_start = ProcessCpuSeconds();
  const double switches_start = ContextSwitches();
  const double machine_start = MachineCpuSeconds();
  for (auto& caller : all_callers) caller->Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  done.Wait();
  const double elapsed = Seconds(start);
  const double process_cpu = ProcessCpuSeconds() - process_start;
  const double switches = ContextSwitches() - switches_start;
  const double machine_cpu = MachineCpuSeconds() - machine_start;
  std::vector<double> all;
  for (auto& caller : all_callers) {
    all.insert(all.end(), caller->latencies().begin(), caller->latencies().end());
  }
  Result result;
  result.rate = all.size() / elapsed;
  result.p50_ms = Percentile(all, 0.50);
  result.p99_ms = Percentile(all, 0.99);
  result.process_cores = process_cpu / elapsed;
  result.machine_cores = machine_cpu / elapsed;
  result.switches_per_call = all.empty() ? 0 : switches / all.size();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = spotflow::bench::ParseFlags(argc, argv, "grpc_benchmark");
  spdlog::set_level(spdlog::level::warn);
  // Debian builds Abseil with Mutex deadlock detection on, which records every lock order in a
  // global graph: a debugging aid that costs several percent of a busy server's CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const double seconds = config.quick ? 1.0 : 3.0;
  for (int callers : {1, 8, 64}) {
    const std::string name = absl::StrCat("grpc_commands_", callers);
    if (!config.Wants(name)) continue;
    std::vector<double> rates, noop_rates, p50, noop_p50, p99, noop_p99;
    for (int r = 0; r < config.repetitions(); ++r) {
      Fixture fixture;
      const Result noop = Load(&fixture, callers, seconds, /*noop=*/true);
      const Result commands = Load(&fixture, callers, seconds, /*noop=*/false);
      rates.push_back(commands.rate);
      noop_rates.push_back(noop.rate);
      p50.push_back(commands.p50_ms);
      noop_p50.push_back(noop.p50_ms);
      noop_p99.push_back(noop.p99_ms);
      p99.push_back(commands.p99_ms);
      // Whether a run was short of CPU (what the benchmark used, what the whole machine did)
      // and what a call cost in CPU, client and server together.
      std::fprintf(stderr,
                   "# %s run %d: no-op %.2f cores (machine %.2f), %.0f us CPU and %.1f context "
                   "switches per call, p99 %.1f ms; commands %.2f cores (machine %.2f), %.0f us "
                   "CPU and %.1f switches per call, p99 %.1f ms\n",
                   name.c_str(), r + 1, noop.process_cores, noop.machine_cores,
                   1e6 * noop.process_cores / noop.rate, noop.switches_per_call, noop.p99_ms,
                   commands.process_cores, commands.machine_cores,
                   1e6 * commands.process_cores / commands.rate, commands.switches_per_call,
                   commands.p99_ms);
    }
    Report(name, Median(rates), "commands/s", absl::StrCat("grpc_noop_", callers),
           Median(noop_rates));
    std::printf(
        "BENCH %s_p50 value=%.3f unit=ms limit=grpc_noop_%d_p50 limit_value=%.3f "
        "ratio=%.3f\n",
        name.c_str(), Median(p50), callers, Median(noop_p50),
        Median(p50) / std::max(Median(noop_p50), 1e-9));
    if (callers == 64) {
      std::printf("BENCH %s_p99 value=%.3f unit=ms limit=target limit_value=10 ratio=%.3f\n",
                  name.c_str(), Median(p99), Median(p99) / 10);
      // The no-op's own tail under the same load: what the target is up against here.
      std::printf(
          "BENCH grpc_noop_%d_p99 value=%.3f unit=ms limit=target limit_value=10 "
          "ratio=%.3f\n",
          callers, Median(noop_p99), Median(noop_p99) / 10);
    }
    std::fflush(stdout);
  }
  return 0;
}
