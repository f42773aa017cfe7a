// grpc_benchmark: a load generator for spotflowd's gRPC service, beside a no-op RPC (Ping) on
// the same server in the same run. The server runs in this process on port 0 over a durable
// store (sync on); clients call it over a real TCP connection on localhost.
//
// With 1, 8 and 64 calls in flight, each caller runs production orders from creation to
// archive (13 commands, one order after another, each caller on its own account) and the
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
  double client_cores = 0;       // Of which the callers (the client side) used.
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
// The calling thread's CPU so far: a caller's own, which is the client side of its calls.
double ThreadCpuSeconds() { return CpuSeconds(RUSAGE_THREAD); }

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

// One caller: orders from creation to archive, timing every call.
class Caller {
 public:
  Caller(Fixture* fixture, int index)
      : index_(index),
        ae_(fixture->Token(absl::StrCat("ae", index))),
        producer_(fixture->Token(absl::StrCat("producer", index))),
        manager_(fixture->Token("manager")),
        orders_(v1::Orders::NewStub(fixture->Channel(index))),
        events_(v1::Events::NewStub(fixture->Channel(index))) {}

  // Runs until `stop`; appends each call's latency (ms) to `latencies`.
  void Commands(const std::atomic<bool>& stop, std::vector<double>* latencies) {
    while (!stop.load(std::memory_order_relaxed)) OneOrder(stop, latencies);
  }

  void Pings(const std::atomic<bool>& stop, std::vector<double>* latencies) {
    while (!stop.load(std::memory_order_relaxed)) {
      v1::PingResponse response;
      Timed(
          latencies,
          [&](grpc::ClientContext* context) {
            return events_->Ping(context, v1::PingRequest(), &response);
          },
          ae_);
    }
  }

 private:
  template <typename Call>
  v1::CommandResult Timed(std::vector<double>* latencies, Call call, const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    const auto start = std::chrono::steady_clock::now();
    grpc::Status status = call(&context);
    latencies->push_back(Seconds(start) * 1000);
    if (!status.ok()) Die(absl::StrCat("call failed: ", status.error_message()));
    return v1::CommandResult();
  }

  template <typename Request, typename Method>
  v1::CommandResult Change(std::vector<double>* latencies, const Request& request,
                           const std::string& token, Method method) {
    v1::CommandResult result;
    Timed(
        latencies,
        [&](grpc::ClientContext* context) {
          return (orders_.get()->*method)(context, request, &result);
        },
        token);
    return result;
  }

  void OneOrder(const std::atomic<bool>& stop, std::vector<double>* latencies) {
    v1::CreateOrderRequest create;
    v1::CreateOrder* order = create.mutable_create_order();
    order->set_kind(v1::PRODUCTION);
    order->set_client_id(absl::StrCat("client", index_));
    order->set_title("Winter sales event :30");
    order->set_instructions(absl::StrCat("Order ", ++count_, " of caller ", index_));
    order->set_spot_length_seconds(30);
    order->mutable_flight_start()->set_year(2026);
    order->mutable_flight_start()->set_month(12);
    order->mutable_flight_start()->set_day(1);
    *order->mutable_flight_end() = order->flight_start();
    order->mutable_flight_end()->set_day(31);
    const std::string id = Change(latencies, create, ae_, &v1::Orders::Stub::CreateOrder).id();
    auto revision = [&](const char* artifact, const std::string& text) {
      v1::SubmitRevisionRequest r;
      r.mutable_submit_revision()->set_order_id(id);
      r.mutable_submit_revision()->set_artifact(artifact);
      if (std::string(artifact) == "script") {
        r.mutable_submit_revision()->set_text(text);
      } else {
        r.mutable_submit_revision()->mutable_media()->set_uri(text);
      }
      Change(latencies, r, producer_, &v1::Orders::Stub::SubmitRevision);
    };
    auto review = [&](const char* artifact, uint32_t n, int kind) {
      if (kind == 0) {
        v1::ApproveRevisionRequest r;
        r.mutable_approve_revision()->set_order_id(id);
        r.mutable_approve_revision()->set_artifact(artifact);
        r.mutable_approve_revision()->set_revision(n);
        Change(latencies, r, ae_, &v1::Orders::Stub::ApproveRevision);
      } else if (kind == 1) {
        v1::RequestChangesRequest r;
        r.mutable_request_changes()->set_order_id(id);
        r.mutable_request_changes()->set_artifact(artifact);
        r.mutable_request_changes()->set_revision(n);
        r.mutable_request_changes()->set_comment("Lead with the offer");
        Change(latencies, r, ae_, &v1::Orders::Stub::RequestChanges);
      } else if (kind == 2) {
        v1::ForwardToClientRequest r;
        r.mutable_forward_to_client()->set_order_id(id);
        r.mutable_forward_to_client()->set_artifact(artifact);
        r.mutable_forward_to_client()->set_revision(n);
        r.mutable_forward_to_client()->set_contact_id("contact");
        Change(latencies, r, ae_, &v1::Orders::Stub::ForwardToClient);
      } else {
        v1::RecordClientAnswerRequest r;
        r.mutable_record_client_answer()->set_order_id(id);
        r.mutable_record_client_answer()->set_artifact(artifact);
        r.mutable_record_client_answer()->set_revision(n);
        r.mutable_record_client_answer()->set_contact_id("contact");
        r.mutable_record_client_answer()->set_approved(true);
        Change(latencies, r, ae_, &v1::Orders::Stub::RecordClientAnswer);
      }
    };
    revision("script", "Cold outside? Hot deals inside.");
    review("script", 1, 1);
    if (stop.load()) return;
    revision("script", "0% financing all winter.");
    review("script", 2, 2);
    review("script", 2, 3);
    revision("spot", absl::StrCat("s3://spots/", id, ".wav"));
    review("spot", 1, 0);
    if (stop.load()) return;
    v1::RequestFlightChangeRequest flight;
    flight.mutable_request_flight_change()->set_order_id(id);
    *flight.mutable_request_flight_change()->mutable_new_start() = order->flight_start();
    *flight.mutable_request_flight_change()->mutable_new_end() = order->flight_end();
    flight.mutable_request_flight_change()->mutable_new_end()->set_day(20);
    const std::string request =
        Change(latencies, flight, ae_, &v1::Orders::Stub::RequestFlightChange).sub_id();
    v1::DecideFlightChangeRequest decide;
    decide.mutable_decide_flight_change()->set_order_id(id);
    decide.mutable_decide_flight_change()->set_request_id(request);
    decide.mutable_decide_flight_change()->set_approved(true);
    Change(latencies, decide, manager_, &v1::Orders::Stub::DecideFlightChange);
    v1::PerformActionRequest deliver;
    deliver.mutable_perform_action()->set_order_id(id);
    deliver.mutable_perform_action()->set_action("deliver");
    Change(latencies, deliver, producer_, &v1::Orders::Stub::PerformAction);
    v1::ArchiveOrderRequest archive;
    archive.mutable_archive_order()->set_order_id(id);
    Change(latencies, archive, ae_, &v1::Orders::Stub::ArchiveOrder);
  }

  const int index_;
  const std::string ae_, producer_, manager_;
  std::unique_ptr<v1::Orders::Stub> orders_;
  std::unique_ptr<v1::Events::Stub> events_;
  int count_ = 0;
};

// `callers` threads, each with one call in flight, for `seconds`.
Result Load(Fixture* fixture, int callers, double seconds, bool noop) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(callers);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  const double process_start = ProcessCpuSeconds();
  const double switches_start = ContextSwitches();
  const double machine_start = MachineCpuSeconds();
  std::atomic<int64_t> client_cpu_us{0};
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      const double thread_start = ThreadCpuSeconds();
      Caller caller(fixture, c);
      if (noop) {
        caller.Pings(stop, &latencies[c]);
      } else {
        caller.Commands(stop, &latencies[c]);
      }
      client_cpu_us += static_cast<int64_t>(1e6 * (ThreadCpuSeconds() - thread_start));
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  const double elapsed = Seconds(start);
  const double process_cpu = ProcessCpuSeconds() - process_start;
  const double switches = ContextSwitches() - switches_start;
  const double machine_cpu = MachineCpuSeconds() - machine_start;
  std::vector<double> all;
  for (const auto& each : latencies) all.insert(all.end(), each.begin(), each.end());
  Result result;
  result.rate = all.size() / elapsed;
  result.p50_ms = Percentile(all, 0.50);
  result.p99_ms = Percentile(all, 0.99);
  result.process_cores = process_cpu / elapsed;
  result.client_cores = client_cpu_us.load() / 1e6 / elapsed;
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
      // and what a call cost in CPU, client and server together, and of that the client side
      // (the callers' own threads, which also poll for gRPC).
      std::fprintf(stderr,
                   "# %s run %d: no-op %.2f cores (machine %.2f), %.0f us CPU (client %.0f) and "
                   "%.1f context switches per call, p99 %.1f ms; commands %.2f cores (machine "
                   "%.2f), %.0f us CPU (client %.0f) and %.1f switches per call, p99 %.1f ms\n",
                   name.c_str(), r + 1, noop.process_cores, noop.machine_cores,
                   1e6 * noop.process_cores / noop.rate, 1e6 * noop.client_cores / noop.rate,
                   noop.switches_per_call, noop.p99_ms, commands.process_cores,
                   commands.machine_cores, 1e6 * commands.process_cores / commands.rate,
                   1e6 * commands.client_cores / commands.rate, commands.switches_per_call,
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
