// VersionRouter: explicit versions bypass the split and the shadow; the
// split chooses among ready weighted versions (sticky by key), the latest
// ready version answers otherwise; the shadow mirrors its share only when it
// is ready and is not the version answering. No model is loaded: readiness
// is a set of version numbers.
#include "core/version_router.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace protoserve {
namespace {

TrafficSplit Split(std::vector<TrafficSplit::Weight> weights, bool sticky = true, int64_t shadow = 0,
                   double percent = 0) {
  TrafficSplit split;
  split.weights = std::move(weights);
  split.sticky = sticky;
  split.shadow_version = shadow;
  split.shadow_percent = percent;
  return split;
}

struct Ready {
  std::set<int64_t> versions;
  bool operator()(int64_t v) const { return versions.count(v) > 0; }
  int64_t latest() const { return versions.empty() ? 0 : *versions.rbegin(); }
};

RouteChoice Choose(const VersionRouter& router, int64_t requested, const std::string& key, const Ready& ready) {
  return router.Choose(requested, key, ready, [&ready] { return ready.latest(); });
}

TEST(VersionRouterTest, WithoutSplitTheLatestReadyVersionAnswers) {
  VersionRouter router;
  EXPECT_EQ(Choose(router, 0, "k", Ready{{1, 3}}).primary, 3);
  EXPECT_EQ(Choose(router, 0, "k", Ready{{}}).primary, 0);
}

TEST(VersionRouterTest, ExplicitVersionBypassesSplitAndShadow) {
  VersionRouter router(Split({{1, 100}}, true, 2, 100));
  const RouteChoice choice = Choose(router, 2, "k", Ready{{1, 2}});
  EXPECT_EQ(choice.primary, 2);
  EXPECT_EQ(choice.shadow, 0);
  // Even a version that is not ready: the repository answers why.
  EXPECT_EQ(Choose(router, 7, "k", Ready{{1}}).primary, 7);
}

TEST(VersionRouterTest, StickySplitFollowsWeightsAndKeepsEachKeyOnOneVersion) {
  VersionRouter router(Split({{1, 80}, {2, 20}}));
  const Ready ready{{1, 2}};
  std::map<int64_t, int> counts;
  for (int user = 0; user < 4000; ++user) {
    const std::string key = "user-" + std::to_string(user);
    const int64_t v = Choose(router, 0, key, ready).primary;
    ++counts[v];
    EXPECT_EQ(Choose(router, 0, key, ready).primary, v) << key;
  }
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[2] / 4000.0, 0.20, 0.03);
}

TEST(VersionRouterTest, SplitSkipsVersionsNotReadyAndFallsBackToLatest) {
  VersionRouter router(Split({{1, 50}, {2, 50}}));
  for (int user = 0; user < 200; ++user) {
    EXPECT_EQ(Choose(router, 0, std::to_string(user), Ready{{1, 3}}).primary, 1);
  }
  // No weighted version ready: the latest ready one answers.
  EXPECT_EQ(Choose(router, 0, "k", Ready{{3}}).primary, 3);
}

TEST(VersionRouterTest, ShadowMirrorsItsShareOnlyWhenReadyAndNotAnswering) {
  VersionRouter router(Split({}, true, 2, 25));
  int mirrored = 0;
  for (int user = 0; user < 4000; ++user) {
    const RouteChoice choice = Choose(router, 0, "u" + std::to_string(user), Ready{{1, 2}});
    EXPECT_EQ(choice.primary, 2);  // no split: the latest answers, and it is the shadow itself
    EXPECT_EQ(choice.shadow, 0);
  }
  VersionRouter candidate(Split({{1, 100}}, true, 2, 25));
  for (int user = 0; user < 4000; ++user) {
    const RouteChoice choice = Choose(candidate, 0, "u" + std::to_string(user), Ready{{1, 2}});
    EXPECT_EQ(choice.primary, 1);
    if (choice.shadow == 2) ++mirrored;
  }
  EXPECT_NEAR(mirrored / 4000.0, 0.25, 0.03);
  EXPECT_EQ(Choose(candidate, 0, "any", Ready{{1}}).shadow, 0);  // shadow not ready
}

}  // namespace
}  // namespace protoserve
