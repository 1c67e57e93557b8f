// The step profile of `scouter bench --profile true`: the split step gives the plain step's
// gradients, the operator observer counts each top-level operator once, and the tables add up.
#include "worker/train/step_profile.h"

#include <gtest/gtest.h>

#include "worker/model/scouter_model.h"
#include "worker/train/step_runner.h"

namespace scouter {
namespace {

// The quickstart's smallcnn (bench.cpp's cases) at a small batch.
Config smallcnn_config(bool slot) {
  Config c;
  c.model = "smallcnn";
  c.batch_size = 6;
  c.img_size = 28;
  c.num_classes = 10;
  c.use_slot = slot;
  c.slots_per_class = 1;
  c.to_k_layer = 1;
  c.power = 1;
  c.lambda_value = 1;
  return c;
}

ScouterModel make_model(const Config& c, bool bf16) {
  torch::manual_seed(0);
  ScouterModel m(c, 1);
  m->train();
  m->set_bf16(bf16);
  if (bf16) to_channels_last(m);  // as the bench and training set bf16 up on the CPU
  return m;
}

// Same kernels on the same inputs in the same order: the gradients agree bit for bit, in bf16
// too (the head gets the float32 features either way; the backbone gets the same float32
// gradient through the same cast).
void expect_same_gradients(const Config& c, bool bf16) {
  torch::manual_seed(7);
  auto x = torch::randn({c.batch_size, 1, c.img_size, c.img_size});
  if (bf16) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  auto y = torch::randint(0, c.num_classes, {c.batch_size}, torch::kLong);

  ScouterModel plain = make_model(c, bf16);
  compute_loss(plain->forward(x), y, c.lambda_value).total.backward();
  ScouterModel split = make_model(c, bf16);
  StepPhases phases;
  split_forward_backward(*split, x, y, c.lambda_value, phases);

  auto a = plain->named_parameters();
  auto b = split->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  int64_t compared = 0;
  for (const auto& p : a) {
    const auto& ga = p.value().grad();
    const auto& gb = b[p.key()].grad();
    ASSERT_EQ(ga.defined(), gb.defined()) << p.key();
    if (!ga.defined()) continue;  // xSlot's to_q, unused as published
    EXPECT_TRUE(torch::equal(ga, gb))
        << p.key() << ": max difference " << (ga - gb).abs().max().item<double>();
    EXPECT_GT(ga.abs().sum().item<double>(), 0) << p.key();
    ++compared;
  }
  EXPECT_GT(compared, 10);
  EXPECT_GT(phases.backbone_forward, 0);
  EXPECT_GT(phases.backbone_backward, 0);
}

TEST(StepProfile, SplitStepGivesThePlainGradientsScouter) {
  expect_same_gradients(smallcnn_config(true), false);
}

TEST(StepProfile, SplitStepGivesThePlainGradientsFc) {
  expect_same_gradients(smallcnn_config(false), false);
}

TEST(StepProfile, SplitStepGivesThePlainGradientsBf16) {
  expect_same_gradients(smallcnn_config(true), true);
}

const OpTime* find_op(const std::vector<OpTime>& ops, const std::string& name) {
  for (const auto& o : ops)
    if (o.name == name) return &o;
  return nullptr;
}

TEST(StepProfile, ObserverCountsTopLevelOperatorsOnce) {
  auto x = torch::randn({2, 3, 8, 8});
  auto w = torch::randn({4, 3, 3, 3});
  std::vector<OpTime> ops;
  int64_t records = 0;
  {
    OpObserver observer;
    torch::conv2d(x, w);
    torch::relu(x);
    torch::relu(x);
    ops = observer.times();
    records = observer.records();
  }
  torch::relu(x);  // after the observer: not seen by anyone
  ASSERT_NE(find_op(ops, "aten::conv2d"), nullptr);
  EXPECT_EQ(find_op(ops, "aten::conv2d")->calls, 1);
  ASSERT_NE(find_op(ops, "aten::relu"), nullptr);
  EXPECT_EQ(find_op(ops, "aten::relu")->calls, 2);
  // conv2d runs aten::convolution inside: seen as a record, counted only in conv2d's time.
  EXPECT_EQ(find_op(ops, "aten::convolution"), nullptr);
  EXPECT_EQ(ops.size(), 2u);
  EXPECT_GT(records, 3);
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_GE(ops[i - 1].ms, ops[i].ms);
}

TEST(StepProfile, ObserverNamesAutogradNodes) {
  auto w = torch::randn({5}, torch::requires_grad());
  auto loss = (w * w).sum();
  std::vector<OpTime> ops;
  {
    OpObserver observer;
    loss.backward();
    ops = observer.times();
  }
  EXPECT_NE(find_op(ops, "SumBackward0"), nullptr);
  EXPECT_NE(find_op(ops, "MulBackward0"), nullptr);
  for (const auto& o : ops) EXPECT_EQ(o.name.find("autograd::engine"), std::string::npos) << o.name;
}

TEST(StepProfile, TablesShowTwelveOperatorsAndTheRest) {
  StepProfile p;
  p.steps = 2;
  p.median = {10, 5, 5, 20, 10, 50};
  for (int i = 0; i < 14; ++i) p.ops.push_back({"op" + std::to_string(i), 2.0 * (14 - i), 2});
  p.records = 56;
  p.observed_ms = 220;
  const std::string t = step_profile_tables(p);
  EXPECT_NE(t.find("| forward: backbone | 10.00 | 20.0 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| backward: xSlot head + loss | 5.00 | 10.0 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| total | 50.00 | 100.0 |"), std::string::npos) << t;
  // 2+4+...+28 = 210 ms over 2 steps; op0 is 28 ms of it, ops 12 and 13 (4 + 2 ms) are "other".
  EXPECT_NE(t.find("| op0 | 14.00 | 13.3 | 1 | 14000.0 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| op11 |"), std::string::npos) << t;
  EXPECT_EQ(t.find("| op12 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| other (2 operators) | 3.00 | 2.9 | 2 | 1500.0 |"), std::string::npos) << t;
  EXPECT_NE(t.find("| all operators | 105.00 | 100.0 | 14 |"), std::string::npos) << t;
  EXPECT_NE(t.find("14 top-level operators per step (28 records"), std::string::npos) << t;
  EXPECT_NE(t.find("a step took 110.00 ms (mean), 105.00 ms of it inside operators"),
            std::string::npos)
      << t;
  // A blank line ends each table before the text below it (Markdown would take the text as a row).
  EXPECT_NE(t.find("| 100.0 |\n\nMedians over 2 steps."), std::string::npos) << t;
}

}  // namespace
}  // namespace scouter
