#include "fanout/dev_kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "store/signals.h"

namespace sink {

struct MockKafka::Handles {
  rd_kafka_t* rk = nullptr;  // the mock cluster needs a client handle to live in
  rd_kafka_mock_cluster_t* mc = nullptr;
};

Result<std::unique_ptr<MockKafka>> MockKafka::Start(int brokers, int partitions,
                                                    const std::vector<std::string>& topics) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // No bootstrap.servers on this bookkeeping handle: keep it quiet.
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  auto h = std::make_unique<Handles>();
  h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (h->rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns it only when it succeeds
    return Status::Internal(std::string("mock Kafka: ") + err);
  }
  h->mc = rd_kafka_mock_cluster_new(h->rk, brokers);
  if (h->mc == nullptr) {
    rd_kafka_destroy(h->rk);
    return Status::Internal("mock Kafka: cannot create the cluster");
  }
  for (const std::string& t : topics) {
    rd_kafka_mock_topic_create(h->mc, t.c_str(), partitions, brokers < 3 ? brokers : 3);
  }
  return std::unique_ptr<MockKafka>(new MockKafka(std::move(h), brokers));
}

MockKafka::MockKafka(std::unique_ptr<Handles> h, int brokers)
    : h_(std::move(h)), brokers_(brokers) {}

MockKafka::~MockKafka() {
  rd_kafka_mock_cluster_destroy(h_->mc);
  rd_kafka_destroy(h_->rk);
}

std::string MockKafka::bootstraps() const { return rd_kafka_mock_cluster_bootstraps(h_->mc); }

void MockKafka::SetBrokerDown(int broker_id) { rd_kafka_mock_broker_set_down(h_->mc, broker_id); }

void MockKafka::SetBrokerUp(int broker_id) { rd_kafka_mock_broker_set_up(h_->mc, broker_id); }

void MockKafka::SetBrokerRtt(int broker_id, int rtt_ms) {
  rd_kafka_mock_broker_set_rtt(h_->mc, broker_id, rtt_ms);
}

void MockKafka::PushProduceErrors(const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> errs;
  for (int e : errors) errs.push_back(static_cast<rd_kafka_resp_err_t>(e));
  constexpr int16_t kProduceApiKey = 0;  // the Kafka protocol's ProduceRequest
  rd_kafka_mock_push_request_errors_array(h_->mc, kProduceApiKey, errs.size(), errs.data());
}

int RunDevKafka(int brokers, int partitions, const std::vector<std::string>& topics) {
  const sigset_t sigs = BlockSignals({SIGTERM, SIGINT});
  auto mock = MockKafka::Start(brokers, partitions, topics);
  if (!mock.ok()) {
    spdlog::critical("{}", mock.status().message());
    return 1;
  }
  std::printf("%s\n", mock.value()->bootstraps().c_str());
  std::fflush(stdout);
  spdlog::info(
      "mock Kafka: {} brokers at {}; topics created with {} partitions each; in-memory, "
      "only the last ~5 MiB per partition are kept. Ctrl-C to stop.",
      brokers, mock.value()->bootstraps(), partitions);
  int sig = 0;
  sigwait(&sigs, &sig);
  return 0;
}

}  // namespace sink
