// The SQLite sink: WAL mode, one row per entry in each table, and retention
// by age and by row count.
#include "predlog/sqlite_log_sink.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <unistd.h>

#include <filesystem>

namespace protoserve {
namespace {

class SqliteLogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("predlog-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".sqlite"))
                .string();
    std::filesystem::remove(path_);
  }
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
  }
  int64_t Query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    int64_t value = -1;
    if (sqlite3_step(statement) == SQLITE_ROW) value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
  }

  std::string path_;
};

PredictionRecord Prediction(const std::string& id, WallTime time) {
  PredictionRecord record;
  record.request_id = id;
  record.time = time;
  record.model = "recommender";
  record.version = 1;
  record.routing_key = "alice";
  record.output.kind = OutputSummary::Kind::kItems;
  record.output.items = {"item_1", "item_2"};
  return record;
}

TEST_F(SqliteLogSinkTest, WritesPredictionsAndFeedbackInWalMode) {
  auto sink = SqliteLogSink::Open(path_, {});
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  const WallTime now = std::chrono::system_clock::now();
  FeedbackRecord feedback;
  feedback.request_id = "r1";
  feedback.time = now;
  feedback.model = "recommender";
  feedback.version = 1;
  feedback.clicked = {"item_2"};
  feedback.matched = 1;
  std::vector<LogEntry> batch{Prediction("r1", now), Prediction("r2", now), feedback};
  ASSERT_TRUE((*sink)->Write(batch).ok());
  EXPECT_EQ(Query("SELECT COUNT(*) FROM predictions"), 2);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM feedback WHERE request_id = 'r1'"), 1);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM predictions WHERE output = '{\"item_ids\":[\"item_1\",\"item_2\"]}'"), 2);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &statement, nullptr);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0)), "wal");
  sqlite3_finalize(statement);
  sqlite3_close(db);
}

TEST_F(SqliteLogSinkTest, RetentionByAgeAndByRows) {
  SqliteRetention retention;
  retention.max_age = std::chrono::hours(1);
  retention.max_rows = 3;
  auto sink = SqliteLogSink::Open(path_, retention);
  ASSERT_TRUE(sink.ok());
  const WallTime now = std::chrono::system_clock::now();
  std::vector<LogEntry> batch;
  batch.push_back(Prediction("old", now - std::chrono::hours(2)));
  for (int i = 0; i < 5; ++i) batch.push_back(Prediction("new" + std::to_string(i), now));
  ASSERT_TRUE((*sink)->Write(batch).ok());
  (*sink)->Maintain(now);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM predictions WHERE request_id = 'old'"), 0);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM predictions"), 3);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM predictions WHERE request_id = 'new4'"), 1);  // the newest stay
}

TEST_F(SqliteLogSinkTest, AnUnwritablePathIsAClearError) {
  auto sink = SqliteLogSink::Open("/nonexistent-dir/log.sqlite", {});
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("/nonexistent-dir/log.sqlite"), std::string::npos);
}

}  // namespace
}  // namespace protoserve
