#include "trainer/rollout/rollout_fleet.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "core/exception_status.h"
#include "core/log.h"

namespace deltarl {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

RolloutFleet::RolloutFleet(WorkerRegistry& workers) : workers_(workers) {}

RolloutFleet::RolloutFleet(const std::vector<std::string>& addresses, std::optional<std::string> auth_token)
    : owned_workers_(std::make_unique<WorkerRegistry>(addresses, std::move(auth_token))), workers_(*owned_workers_) {}

Status RolloutFleet::newest_version(uint64_t* version, double deadline_seconds) {
  *version = 0;
  std::string errors;
  for (size_t w : workers_.live_workers()) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(deadline_seconds * 1000)));
    context.set_wait_for_ready(true);  // a worker still binding its port gets the deadline to come up
    workers_.authorize(context);
    v1::WorkerStatus status;
    const grpc::Status result = workers_.stub(w).GetStatus(&context, v1::GetStatusRequest(), &status);
    if (!result.ok()) {
      workers_.mark_dead(w, "does not answer GetStatus: " + result.error_message());
      errors += "; " + workers_.address(w) + ": " + result.error_message();
      log_warning("rollout worker " + workers_.address(w) + " does not answer GetStatus (" + result.error_message() +
                  "); continuing without it");
      continue;
    }
    *version = std::max<uint64_t>(*version, status.policy_version());
  }
  if (workers_.live_count() == 0) {
    return Status(StatusCode::kUnavailable, "no rollout worker answers (are the addresses right and the workers "
                                            "started?)" + errors);
  }
  return Status();
}

Status RolloutFleet::publish(CausalLM& model, uint64_t version, PublishOptions options, int share_index,
                             int share_count, PublishReport* report_out) {
  options.auth_token = workers_.auth_token();
  std::vector<size_t> mine;
  for (size_t w : workers_.live_workers()) {
    if (static_cast<int>(w % static_cast<size_t>(share_count)) == share_index) mine.push_back(w);
  }
  PublishReport unused_report;
  PublishReport& report = report_out != nullptr ? *report_out : unused_report;
  report = PublishReport();
  if (mine.empty()) return Status();
  const WeightSnapshot snapshot(model);  // one per version, whatever the number of workers
  report.snapshots = 1;
  report.snapshot_seconds = snapshot.seconds();
  const auto upload_started = std::chrono::steady_clock::now();
  std::vector<Status> results(mine.size());
  std::vector<std::thread> uploads;
  for (size_t m = 0; m < mine.size(); ++m) {
    uploads.emplace_back([&, m] {
      try {  // nothing may leave the thread (std::terminate)
        results[m] = publish_weights(workers_.stub(mine[m]), snapshot, version, options);
      } catch (...) {
        results[m] = current_exception_status("publishing weights v" + std::to_string(version));
      }
    });
  }
  for (auto& upload : uploads) upload.join();
  report.upload_seconds = seconds_since(upload_started);
  report.workers_sent = static_cast<int64_t>(mine.size());
  report.bytes_sent = snapshot.bytes() * mine.size();
  std::string errors;
  for (size_t m = 0; m < mine.size(); ++m) {
    const std::string& address = workers_.address(mine[m]);
    if (results[m].ok()) {
      ++report.workers_took;
      continue;
    }
    workers_.mark_dead(mine[m], "did not take weights v" + std::to_string(version) + ": " + results[m].to_string());
    errors += "; " + address + ": " + results[m].to_string();
    log_warning("rollout worker " + address + " did not take weights v" + std::to_string(version) + " (" +
                results[m].to_string() + "); continuing without it");
  }
  if (report.workers_took == 0) {
    return Status(StatusCode::kUnavailable, "no rollout worker took weights v" + std::to_string(version) + errors);
  }
  return Status();
}

}  // namespace deltarl
