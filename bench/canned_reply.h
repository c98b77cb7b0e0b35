// The floor's canned Recommender reply: ten item ids and scores, shared by
// bench/floor_server (gRPC) and bench/stage_server --protocol rest --stage
// floor, so both floors answer with the same message.
#pragma once

#include <string>

#include "recommender.pb.h"

namespace protoserve::bench {

inline RecommendationResponse CannedResponse() {
  RecommendationResponse response;
  for (int i = 0; i < 10; ++i) {
    response.add_item_ids("item_c" + std::to_string(i) + "_000" + std::to_string(i));
    response.add_scores(1.0f - 0.05f * static_cast<float>(i));
  }
  response.set_model_name("floor");
  response.set_model_version(1);
  return response;
}

}  // namespace protoserve::bench
