#include "core/recommender.h"

#include <gtest/gtest.h>


namespace protoserve {
namespace {

TEST(UserHashTest, Fnv1a64MaskedTo63Bits) {
  // Published FNV-1a 64 test vectors, masked to 63 bits.
  EXPECT_EQ(UserHash(""), 0xcbf29ce484222325ULL & 0x7fffffffffffffffULL);
  EXPECT_EQ(UserHash("a"), 0xaf63dc4c8601ec8cULL & 0x7fffffffffffffffULL);
  EXPECT_EQ(UserHash("foobar"), 0x85944171f73967e8ULL & 0x7fffffffffffffffULL);
  EXPECT_NE(UserHash("user_00001"), UserHash("user_00002"));
}

}  // namespace
}  // namespace protoserve
