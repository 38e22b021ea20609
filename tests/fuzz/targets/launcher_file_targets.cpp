// Fuzz targets for the small files launchers hand over: the workers' token
// (rollout.auth_token_file, --token-file) and a worker's address file (written
// by `deltarl rollout --address-file`, joined by deploy/lib/launch_common.sh
// into --set rollout.workers=[...]).
#include <filesystem>

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"
#include "trainer/rollout/rollout_auth_token.h"
#include "trainer/run/training_config.h"

namespace deltarl::fuzz {

FuzzTarget make_token_file_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "token_file";
  target.input_file_name = "rollout.token";
  // What ensure_rollout_token writes (48 hex digits), with and without a newline.
  target.seeds = {"3f2a91c0d4e5b6a7980112233445566778899aabbccddeef", "s3cret-token_1.2\n"};
  target.dictionary = {"\r\n", "\n", " ", "\t", "\x7f", "\x01", "\xc3\xa9", "Bearer ", ":", std::string(1, '\0')};
  // An accepted token travels as gRPC metadata ("authorization: Bearer <token>"):
  // one gRPC refuses there would fail every call (or abort the client), so
  // accepting it is a broken promise.
  target.parse = [](const std::string& path) {
    const std::optional<std::string> token = read_rollout_auth_token(path, "--token-file");
    if (!token) throw BrokenPromise("a token file that is set gave no token");
    const std::string header = "Bearer " + *token;
    grpc_slice slice = grpc_slice_from_copied_buffer(header.data(), header.size());
    const bool legal = grpc_header_nonbin_value_is_legal(slice) != 0;
    grpc_slice_unref(slice);
    if (!legal) throw BrokenPromise("accepted a token gRPC cannot send as metadata");
  };
  return target;
}

FuzzTarget make_worker_address_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "worker_address";
  target.input_file_name = "worker.addr";
  // (An IPv6 "[::1]:5001" is no seed: inside the launcher's YAML list it reads as a nested list.)
  target.seeds = {"node3:5001\n", "127.0.0.1:40123\n", "gpu-17.cluster.local:65535\n"};
  target.dictionary = {":", "[", "]", ",", "::", "0", "65536", "-1", "dns:///", "unix:/tmp/x", "ipv6:[::1]:1",
                       "{a: 1}", "&a", "*a", "'", "\"", " ", "\n"};
  target.parse = [](const std::string& path) {
    std::string address = read_whole_file(path);
    while (!address.empty() && address.back() == '\n') address.pop_back();  // as $(cat file) does
    const TrainingConfig config =
        training_config_from_overrides({"model.path=m", "data.train=d.jsonl", "rollout.workers=[" + address + "]"});
    for (const auto& worker : config.rollout.workers) {
      // What the learner does with each address (RolloutFleet): a channel,
      // created lazily, without connecting.
      grpc::ChannelArguments arguments;
      auto channel = grpc::CreateCustomChannel(worker, grpc::InsecureChannelCredentials(), arguments);
      channel->GetState(/*try_to_connect=*/false);
    }
  };
  return target;
}

}  // namespace deltarl::fuzz
