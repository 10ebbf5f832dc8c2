// Genesis JSON and test genesis generation.
#include <fstream>

#include "ledger_fixture.hpp"

using namespace bc;
using namespace bc::ledger;
using namespace bc::ledger::test;

TEST_CASE("genesis JSON round-trips, and the same genesis gives the same chain") {
  TestGenesis t = make_test_genesis(5, 123'456, 3);
  t.genesis.params.producers = {test_key(3, 100).public_key()};
  t.genesis.params.block_reward = 7;
  t.genesis.params.pos.auditors_per_offer = 5;
  t.genesis.params.pos.holdback_epochs = 7;
  t.genesis.time = 1'700'000'000'000;
  std::string text = genesis_to_json(t.genesis);
  auto back = genesis_from_json(text);
  REQUIRE_MESSAGE(back.ok(), back.status().text());
  CHECK(back->params == t.genesis.params);
  CHECK(back->time == t.genesis.time);
  REQUIRE(back->accounts.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(back->accounts[i].address == address_of(t.keys[i].public_key()));
    CHECK(back->accounts[i].balance == 123'456);
  }
  // Keys are a pure function of (seed, index).
  CHECK(test_key(3, 2).public_key() == t.keys[2].public_key());
  CHECK(test_key(4, 2).public_key() != t.keys[2].public_key());
}

TEST_CASE("genesis JSON errors say what is wrong") {
  auto err = [](const std::string& j) { return genesis_from_json(j).status().message; };
  CHECK(err("{").find("not valid JSON") != std::string::npos);
  CHECK(err("[]").find("object") != std::string::npos);
  CHECK(err(R"({"accounts":[]})").find("chain_id") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","accounts":[{"address":"nope","balance":1}]})").find("address") != std::string::npos);
  TestGenesis t = make_test_genesis(1, 1, 1);
  std::string a = address_text(t.genesis.accounts[0].address);
  CHECK(err(R"({"chain_id":"x","accounts":[{"address":")" + a + R"(","balance":-1}]})").find("balance") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","accounts":[{"address":")" + a + R"(","balance":1},{"address":")" + a + R"(","balance":1}]})")
            .find("twice") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","accounts":[{"address":")" + a + R"(","balance":"18446744073709551615"},)" +
            R"({"address":")" + address_text(make_test_genesis(2, 1, 1).genesis.accounts[1].address) + R"(","balance":1}]})")
            .find("2^64") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"colour":3}})").find("unknown parameter") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"unbonding_delay":0}})").find("out of range") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"producers":["zz"]}})").find("producers") != std::string::npos);
  // Proof-of-Service parameters: each in its range, and together consistent.
  CHECK(err(R"({"chain_id":"x","params":{"pos_auditors_per_offer":4294967296}})").find("out of range") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"pos_auditors_per_offer":17}})").find("pos_auditors_per_offer must be 1..16") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"pos_min_reports":4}})").find("pos_min_reports") != std::string::npos);
  CHECK(err(R"({"chain_id":"x","params":{"pos_holdback_bps":10001}})").find("at most 10000") != std::string::npos);
  auto pos = genesis_from_json(R"({"chain_id":"x","params":{"pos_min_reports":4,"pos_auditors_per_offer":4,"pos_holdback_epochs":0}})");
  REQUIRE_MESSAGE(pos.ok(), pos.status().text());
  CHECK(pos->params.pos.min_reports == 4);
  CHECK(pos->params.pos.holdback_epochs == 0);
  // Big amounts as strings.
  auto ok = genesis_from_json(R"({"chain_id":"x","accounts":[{"address":")" + a + R"(","balance":"18446744073709551615"}]})");
  REQUIRE(ok.ok());
  CHECK(ok->accounts[0].balance == UINT64_MAX);
}

TEST_CASE("a ledger opened from a genesis file holds its accounts and supply") {
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  TestGenesis t = make_test_genesis(3, 1000, 9);
  auto file = dir.path / "genesis.json";
  {
    std::ofstream out(file);
    out << genesis_to_json(t.genesis);
  }
  auto g = load_genesis_file(file);
  REQUIRE(g.ok());
  LedgerOptions o;
  o.dir = dir.path / "db";
  o.genesis = *g;
  o.sync = false;
  auto l = Ledger::open(o);
  REQUIRE_MESSAGE(l.ok(), l.status().text());
  CHECK((*l)->head().height == 0);
  CHECK((*l)->state().supply().minted == 3000);
  CHECK((*l)->account(address_of(t.keys[1].public_key()))->balance == 1000);
  CHECK(check_supply((*l)->state()).empty());
  CHECK(!load_genesis_file(dir.path / "missing.json").ok());
}
