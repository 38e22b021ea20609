// Publishing weights from one learner rank (RolloutFleet::publish,
// publish_weights, WeightSnapshot): one snapshot per version whatever the
// number of workers, the bytes on the wire exactly those publish_weights sent
// when every upload took its own copy (that code, kept below, is the
// reference), and every call to a worker authorized by the registry's token.
// The workers are in-process recording services on 127.0.0.1: no model runs.
#include "trainer/rollout/rollout_fleet.h"

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/crc32c.h"
#include "core/safetensors.h"
#include "trainer/rollout/rollout_client.h"
#include "trainer/rollout/weight_publisher.h"
#include "trainer/rollout/weight_snapshot.h"
#include "trainer/rollout/worker_registry.h"

namespace deltarl {
namespace {

// A rollout service that keeps what it was sent: every LoadWeights stream's
// chunks and every call's authorization header. Generate is not served.
class RecordingService final : public v1::RolloutService::Service {
 public:
  grpc::Status LoadWeights(grpc::ServerContext* context, grpc::ServerReader<v1::WeightChunk>* reader,
                           v1::LoadWeightsReply* reply) override {
    record_authorization(*context);
    std::vector<v1::WeightChunk> chunks;
    v1::WeightChunk chunk;
    while (reader->Read(&chunk)) chunks.push_back(chunk);
    std::lock_guard<std::mutex> lock(mutex_);
    uploads_.push_back(std::move(chunks));
    if (!uploads_.back().empty()) reply->set_version(uploads_.back().front().version());
    return grpc::Status::OK;
  }
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*, v1::WorkerStatus* reply) override {
    record_authorization(*context);
    reply->set_policy_version(7);
    return grpc::Status::OK;
  }
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest*,
                        grpc::ServerWriter<v1::Completion>*) override {
    record_authorization(*context);
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "a recording service");
  }

  std::vector<std::vector<v1::WeightChunk>> uploads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return uploads_;
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return authorizations_;
  }

 private:
  void record_authorization(const grpc::ServerContext& context) {
    const auto& metadata = context.client_metadata();
    const auto found = metadata.find("authorization");
    std::lock_guard<std::mutex> lock(mutex_);
    authorizations_.push_back(found == metadata.end() ? "<none>"
                                                      : std::string(found->second.data(), found->second.size()));
  }

  mutable std::mutex mutex_;
  std::vector<std::vector<v1::WeightChunk>> uploads_;
  std::vector<std::string> authorizations_;
};

class RecordingWorker {
 public:
  RecordingWorker() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.SetMaxReceiveMessageSize(64 << 20);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~RecordingWorker() { server_->Shutdown(); }
  const std::string& address() const { return address_; }
  const RecordingService& service() const { return service_; }

 private:
  RecordingService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// What publish_weights sent before snapshots (e331b50), each upload reading
// the model itself: the reference the snapshot's bytes must equal.
std::vector<v1::WeightChunk> chunks_sent_before_snapshots(CausalLM& model, uint64_t version,
                                                          size_t chunk_bytes) {
  std::vector<v1::WeightChunk> chunks;
  const auto parameters = model->named_parameters(/*recurse=*/true);
  size_t index = 0;
  for (const auto& item : parameters) {
    ++index;
    torch::Tensor tensor = item.value().detach().to(torch::kCPU).contiguous();
    if (tensor.scalar_type() != torch::kBFloat16 && tensor.scalar_type() != torch::kFloat16) {
      tensor = tensor.to(torch::kFloat32);
    }
    const auto* bytes = static_cast<const char*>(tensor.data_ptr());
    const size_t size = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    const uint32_t checksum = crc32c(bytes, size);
    size_t offset = 0;
    do {
      const size_t length = std::min(chunk_bytes, size - offset);
      v1::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_tensor_name(item.key());
      chunk.set_dtype(safetensors_dtype_name(tensor.scalar_type()));
      for (int64_t dimension : tensor.sizes()) chunk.add_shape(dimension);
      chunk.set_tensor_bytes(size);
      chunk.set_offset(offset);
      chunk.set_data(bytes + offset, length);
      offset += length;
      if (offset == size) chunk.set_crc32c(checksum);
      chunk.set_last_chunk(offset == size && index == parameters.size());
      chunks.push_back(std::move(chunk));
    } while (offset < size);
  }
  return chunks;
}

uint64_t parameter_bytes(CausalLM& model) {
  uint64_t bytes = 0;
  for (const auto& parameter : model->parameters()) {
    bytes += static_cast<uint64_t>(parameter.numel()) * parameter.element_size();
  }
  return bytes;
}

std::vector<std::string> addresses_of(const std::vector<std::unique_ptr<RecordingWorker>>& workers) {
  std::vector<std::string> addresses;
  for (const auto& worker : workers) addresses.push_back(worker->address());
  return addresses;
}

std::vector<std::unique_ptr<RecordingWorker>> start_workers(int count) {
  std::vector<std::unique_ptr<RecordingWorker>> workers;
  for (int w = 0; w < count; ++w) workers.push_back(std::make_unique<RecordingWorker>());
  return workers;
}

void expect_same_chunks(const std::vector<v1::WeightChunk>& sent, const std::vector<v1::WeightChunk>& reference) {
  ASSERT_EQ(sent.size(), reference.size());
  for (size_t c = 0; c < sent.size(); ++c) {
    EXPECT_EQ(sent[c].SerializeAsString(), reference[c].SerializeAsString())
        << "chunk " << c << " (" << reference[c].tensor_name() << " at " << reference[c].offset() << ")";
  }
}

TEST(WeightPublishing, TheBytesSentAreThoseEveryUploadSentBeforeSnapshots) {
  for (const torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    torch::manual_seed(21);
    CausalLM model(ModelConfig::preset("tiny"));
    model->to(dtype);
    const auto workers = start_workers(2);
    RolloutFleet fleet(addresses_of(workers), std::nullopt);
    PublishOptions options;
    options.chunk_bytes = 10000;  // several chunks per large tensor, a short last one
    ASSERT_TRUE(fleet.publish(model, /*version=*/3, options).ok());
    const auto reference = chunks_sent_before_snapshots(model, /*version=*/3, options.chunk_bytes);
    ASSERT_GT(reference.size(), model->named_parameters().size());
    for (const auto& worker : workers) {
      const auto uploads = worker->service().uploads();
      ASSERT_EQ(uploads.size(), 1u);
      expect_same_chunks(uploads[0], reference);
    }
  }
}

TEST(WeightPublishing, OneSnapshotPerVersionWhateverTheNumberOfWorkers) {
  torch::manual_seed(22);
  CausalLM model(ModelConfig::preset("tiny"));
  const auto workers = start_workers(3);
  WorkerRegistry registry(addresses_of(workers), std::nullopt);
  RolloutFleet fleet(registry);
  PublishReport report;
  ASSERT_TRUE(fleet.publish(model, /*version=*/1, PublishOptions(), /*share_index=*/0, /*share_count=*/1, &report).ok());
  EXPECT_EQ(report.snapshots, 1);
  EXPECT_EQ(report.workers_sent, 3);
  EXPECT_EQ(report.workers_took, 3);
  EXPECT_EQ(report.bytes_sent, 3 * parameter_bytes(model));
  for (const auto& worker : workers) EXPECT_EQ(worker->service().uploads().size(), 1u);

  // Rank 1 of 2 sends to worker 1 only (w mod 2 == 1); rank 3 of 4 has no
  // worker: nothing to read off the device, and nothing failed.
  ASSERT_TRUE(fleet.publish(model, /*version=*/2, PublishOptions(), /*share_index=*/1, /*share_count=*/2, &report).ok());
  EXPECT_EQ(report.snapshots, 1);
  EXPECT_EQ(report.workers_sent, 1);
  EXPECT_EQ(workers[0]->service().uploads().size(), 1u);
  EXPECT_EQ(workers[1]->service().uploads().size(), 2u);
  EXPECT_EQ(workers[2]->service().uploads().size(), 1u);
  ASSERT_TRUE(fleet.publish(model, /*version=*/3, PublishOptions(), /*share_index=*/3, /*share_count=*/4, &report).ok());
  EXPECT_EQ(report.snapshots, 0);
  EXPECT_EQ(report.workers_sent, 0);
}

TEST(WeightPublishing, OneSnapshotSentTwiceSendsTheSameBytes) {
  torch::manual_seed(23);
  CausalLM model(ModelConfig::preset("tiny"));
  const auto workers = start_workers(1);
  WorkerRegistry registry(addresses_of(workers), std::nullopt);
  const WeightSnapshot snapshot(model);
  EXPECT_EQ(snapshot.bytes(), parameter_bytes(model));
  PublishOptions options;
  options.chunk_bytes = 4096;
  ASSERT_TRUE(publish_weights(registry.stub(0), snapshot, /*version=*/5, options).ok());
  ASSERT_TRUE(publish_weights(registry.stub(0), snapshot, /*version=*/5, options).ok());
  const auto uploads = workers[0]->service().uploads();
  ASSERT_EQ(uploads.size(), 2u);
  expect_same_chunks(uploads[1], uploads[0]);
  expect_same_chunks(uploads[0], chunks_sent_before_snapshots(model, /*version=*/5, options.chunk_bytes));
}

TEST(WeightPublishing, EveryCallToAWorkerCarriesTheRegistrysBearerToken) {
  for (const std::optional<std::string>& token : {std::optional<std::string>("s3cret"), std::optional<std::string>()}) {
    const auto workers = start_workers(1);
    WorkerRegistry registry(addresses_of(workers), token);
    RolloutFleet fleet(registry);
    uint64_t newest = 0;
    ASSERT_TRUE(fleet.newest_version(&newest, /*deadline_seconds=*/10).ok());
    EXPECT_EQ(newest, 7u);
    torch::manual_seed(24);
    CausalLM model(ModelConfig::preset("tiny"));
    PublishOptions options;
    options.auth_token = "ignored: the registry's token goes";
    ASSERT_TRUE(fleet.publish(model, /*version=*/8, options).ok());
    RolloutClientOptions client_options;
    client_options.deadline_seconds = 10;
    RolloutClient client(registry, client_options);
    PromptGroup group;
    group.token_ids = {1, 2, 3};
    std::vector<GroupCompletions> groups;
    EXPECT_FALSE(client.generate({group}, /*samples_per_prompt=*/1, v1::SamplingParams(), 8, &groups).ok());
    const std::string expected = token ? "Bearer " + *token : "<none>";
    EXPECT_EQ(workers[0]->service().authorizations(), std::vector<std::string>(3, expected));  // GetStatus, LoadWeights, Generate
  }
}

}  // namespace
}  // namespace deltarl
