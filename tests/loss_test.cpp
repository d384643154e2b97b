#include "l2sweep/train/loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/model.h"
#include "l2sweep/train/trainer.h"
#include "test_support.h"

namespace l2sweep {
namespace {

using testing::all_close;

TEST(Penalty, IsL2TimesSumOfSquaresWithoutAHalf) {
  const auto weight = torch::tensor({{1.0f, -2.0f}, {3.0f, 0.5f}});
  // 1 + 4 + 9 + 0.25 = 14.25
  EXPECT_FLOAT_EQ(l2_penalty(weight, 0.01).item<float>(), 0.1425f);
  EXPECT_FLOAT_EQ(l2_penalty(weight, 0.0).item<float>(), 0.0f);
}

TEST(Penalty, GradientIsExactlyTwoL2W1AndNothingElse) {
  at::Generator generator = make_cpu_generator(1);
  auto model = make_model(12, 5, 3, generator);
  const double l2 = 0.001;
  const auto w1 = first_linear(model)->weight;
  l2_penalty(w1, l2).backward();
  EXPECT_TRUE(torch::equal(w1.grad(), w1.detach() * (2 * l2)));
  for (const auto& item : model->named_parameters()) {
    if (item.value().is_same(w1)) continue;
    const auto& grad = item.value().grad();
    EXPECT_TRUE(!grad.defined() || grad.abs().max().item<float>() == 0.0f) << item.key();
  }
}

TEST(RegularizedLoss, IsMeanCrossEntropyOnLogitsPlusThePenalty) {
  const auto logits = torch::tensor({{2.0f, 0.5f, -1.0f}, {0.1f, 0.2f, 0.3f}});
  const auto labels = torch::tensor({0, 2}, torch::kInt64);
  const auto w1 = torch::tensor({{1.0f, 2.0f}});
  const LossTerms terms = regularized_loss(logits, labels, w1, 0.1);
  // -log softmax by hand.
  auto nll = [](std::vector<double> z, int label) {
    double total = 0;
    for (const double v : z) total += std::exp(v);
    return std::log(total) - z[static_cast<size_t>(label)];
  };
  const double expected_ce = (nll({2.0, 0.5, -1.0}, 0) + nll({0.1, 0.2, 0.3}, 2)) / 2;
  EXPECT_NEAR(terms.data_loss.item<double>(), expected_ce, 1e-6);
  EXPECT_NEAR(terms.penalty.item<double>(), 0.5, 1e-7);
  EXPECT_NEAR(terms.loss.item<double>(), expected_ce + 0.5, 1e-6);
}

TEST(RegularizedLoss, PenalisesOnlyTheFirstLayersKernel) {
  at::Generator generator = make_cpu_generator(2);
  auto model = make_model(12, 5, 3, generator);
  const auto x = torch::rand({4, 3, 4});
  const auto y = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  const auto w1 = first_linear(model)->weight;

  regularized_loss(model->forward(x), y, w1, 0.0).loss.backward();
  std::vector<torch::Tensor> plain;
  for (const auto& p : model->parameters()) plain.push_back(p.grad().clone());
  clear_gradients(*model);

  const double l2 = 0.05;
  regularized_loss(model->forward(x), y, w1, l2).loss.backward();
  const auto parameters = model->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto expected = parameters[i].is_same(w1) ? plain[i] + 2 * l2 * w1.detach() : plain[i];
    EXPECT_TRUE(all_close(parameters[i].grad(), expected, 1e-5, 1e-7)) << "parameter " << i;
  }
}

}  // namespace
}  // namespace l2sweep
