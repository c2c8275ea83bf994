// A loopback Kafka for tests and demos: librdkafka's mock cluster
// (rdkafka_mock.h). Speaks the Kafka protocol on 127.0.0.1 (random ports),
// keeps data in memory, and only the last ~5 MiB per partition.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/status.h"

namespace sink {

class MockKafka {
 public:
  // Starts `brokers` mock brokers and creates `topics` with `partitions` each.
  static Result<std::unique_ptr<MockKafka>> Start(int brokers, int partitions,
                                                  const std::vector<std::string>& topics);
  ~MockKafka();

  // The bootstrap.servers list, e.g. "127.0.0.1:40123,127.0.0.1:38761".
  std::string bootstraps() const;
  // Takes a broker (1-based id) off the network, or brings it back.
  void SetBrokerDown(int broker_id);
  void SetBrokerUp(int broker_id);
  // Adds round-trip latency to a broker.
  void SetBrokerRtt(int broker_id, int rtt_ms);
  // Makes the cluster answer the next len(errors) Produce requests with these
  // Kafka error codes (rd_kafka_resp_err_t values), one request each, in order.
  void PushProduceErrors(const std::vector<int>& errors);
  int brokers() const { return brokers_; }

  struct Handles;

 private:
  MockKafka(std::unique_ptr<Handles> h, int brokers);
  std::unique_ptr<Handles> h_;
  int brokers_;
};

// `sessionsink dev-kafka`: runs a mock cluster until SIGINT/SIGTERM; prints
// the bootstrap list as the first line on stdout.
int RunDevKafka(int brokers, int partitions, const std::vector<std::string>& topics);

}  // namespace sink
