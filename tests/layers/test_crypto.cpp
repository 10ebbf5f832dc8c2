#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <atomic>
#include <thread>
#include <vector>

#include "layers/crypto.hpp"

using bc::Hash256;

namespace {

bc::Bytes hex(std::string_view s) { return bc::from_hex(s).value(); }
Hash256 h256(std::string_view s) { return Hash256::from_hex(s).value(); }

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() / ("bc-test-" + std::to_string(::getpid()) + "-" + std::to_string(bc::random_u64()));
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("SHA-256 matches FIPS 180-2 vectors, one-shot and incremental") {
  CHECK(bc::sha256({}).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bc::sha256(bc::as_bytes("abc")).hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string million(1000000, 'a');
  CHECK(bc::sha256(bc::as_bytes(million)).hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  bc::Sha256 inc;
  for (int i = 0; i < 1000; ++i) inc.update(bc::as_bytes(std::string_view(million).substr(0, 1000)));
  CHECK(inc.finish().hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // finish() resets: the next message starts clean.
  CHECK(inc.update(bc::as_bytes("abc")).finish().hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("tagged hash is SHA-256(SHA-256(tag) || SHA-256(tag) || data)") {
  // Expected value computed independently with Python hashlib.
  CHECK(bc::tagged_hash("blockcloud/test", bc::as_bytes("hello")).hex() ==
        "b5e5d7a47f3a30a723c7e64fab5819480a6eb6fd876c0f69174e32e0063f3d5a");
  // Tags separate domains, and cached tags do not leak between calls.
  auto a = bc::tagged_hash("blockcloud/a", bc::as_bytes("x"));
  auto b = bc::tagged_hash("blockcloud/b", bc::as_bytes("x"));
  CHECK(a != b);
  CHECK(bc::tagged_hash("blockcloud/a", bc::as_bytes("x")) == a);
  CHECK(bc::tagged_hash("blockcloud/test", bc::as_bytes("hello")).hex() ==
        "b5e5d7a47f3a30a723c7e64fab5819480a6eb6fd876c0f69174e32e0063f3d5a");
}

TEST_CASE("hashing is thread-safe: each thread gets its own context") {
  const std::string expect = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        if (bc::sha256(bc::as_bytes("abc")).hex() != expect) bad++;
    });
  for (auto& t : threads) t.join();
  CHECK(bad == 0);
}

TEST_CASE("random bytes differ between calls") {
  std::array<std::uint8_t, 32> a{}, b{};
  bc::random_bytes(a);
  bc::random_bytes(b);
  CHECK(a != b);
  CHECK(bc::random_u64() != bc::random_u64());
}

// BIP340 test vectors (bip-0340/test-vectors.csv), index, public key, message,
// signature, expected result.
struct Bip340Vector {
  int index;
  const char* secret;
  const char* pubkey;
  const char* msg;
  const char* sig;
  bool valid;
};
static const Bip340Vector kVectors[] = {
    {0, "0000000000000000000000000000000000000000000000000000000000000003", "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0", true},
    {1, "B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF", "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A", true},
    {2, "C90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B14E5C9", "DD308AFEC5777E13121FA72B9CC1B7CC0139715309B086C960E18FD969774EB8",
     "7E2D58D8B3BCDF1ABADEC7829054F90DDA9805AAB56C77333024B9D0A508B75C",
     "5831AAEED7B44BB74E5EAB94BA9D4294C49BCF2A60728D8B4C200F50DD313C1BAB745879A5AD954A72C45A91C3A51D3C7ADEA98D82F8481E0E1E03674A6F3FB7", true},
    {3, "0B432B2677937381AEF05BB02A66ECD012773062CF3FA2549E44F58ED2401710", "25D1DFF95105F5253C4022F628A996AD3A0D95FBF21D468A1B33F8C160D8F517",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "7EB0509757E246F19449885651611CB965ECC1A187DD51B64FDA1EDC9637D5EC97582B9CB13DB3933705B32BA982AF5AF25FD78881EBB32771FC5922EFC66EA3", true},
    {4, nullptr, "D69C3509BB99E412E68B0FE8544E72837DFA30746D8BE2AA65975F29D22DC7B9",
     "4DF3C3F68FCC83B27E9D42C90431A72499F17875C81A599B566C9889B9696703",
     "00000000000000000000003B78CE563F89A0ED9414F5AA28AD0D96D6795F9C6376AFB1548AF603B3EB45C9F8207DEE1060CB71C04E80F593060B07D28308D7F4", true},
    {5, nullptr, "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
    {6, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "FFF97BD5755EEEA420453A14355235D382F6472F8568A18B2F057A14602975563CC27944640AC607CD107AE10923D9EF7A73C643E166BE5EBEAFA34B1AC553E2", false},
    {7, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "1FA62E331EDBC21C394792D2AB1100A7B432B013DF3F6FF4F99FCB33E0E1515F28890B3EDB6E7189B630448B515CE4F8622A954CFE545735AAEA5134FCCDB2BD", false},
    {8, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769961764B3AA9B2FFCB6EF947B6887A226E8D7C93E00C5ED0C1834FF0D0C2E6DA6", false},
    {9, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "0000000000000000000000000000000000000000000000000000000000000000123DDA8328AF9C23A94C1FEECFD123BA4FB73476F0D594DCB65C6425BD186051", false},
    {10, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "00000000000000000000000000000000000000000000000000000000000000017615FBAF5AE28864013C099742DEADB4DBA87F11AC6754F93780D5A1837CF197", false},
    {11, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "4A298DACAE57395A15D0795DDBFD1DCB564DA82B0F269BC70A74F8220429BA1D69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
    {12, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
    {13, nullptr, "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", false},
    {14, nullptr, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E17776969E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", false},
};

TEST_CASE("BIP340 test vectors: verification and public key derivation") {
  for (const auto& v : kVectors) {
    CAPTURE(v.index);
    bc::XOnlyPubKey pk;
    auto raw = hex(v.pubkey);
    std::copy(raw.begin(), raw.end(), pk.bytes.begin());
    auto sig = bc::parse_signature(hex(v.sig));
    REQUIRE(sig.has_value());
    CHECK(bc::verify(pk, h256(v.msg), *sig) == v.valid);
    if (v.index == 5 || v.index == 14) CHECK_FALSE(bc::parse_pubkey(raw).has_value());  // not on the curve
    if (v.secret != nullptr) {
      auto kp = bc::KeyPair::from_secret(hex(v.secret));
      REQUIRE(kp.has_value());
      CHECK(kp->public_key() == pk);
      // Our signatures use fresh aux randomness, so they differ from the
      // vector's bytes but must verify.
      CHECK(bc::verify(pk, h256(v.msg), kp->sign(h256(v.msg))));
    }
  }
}

TEST_CASE("signatures: sign/verify round trip and tamper detection") {
  auto kp = bc::KeyPair::generate();
  auto digest = bc::tagged_hash("blockcloud/test", bc::as_bytes("payload"));
  auto sig = kp.sign(digest);
  CHECK(bc::verify(kp.public_key(), digest, sig));
  CHECK(bc::parse_pubkey(kp.public_key().view()) == kp.public_key());

  // Any flipped bit in the signature, the digest or the key breaks it.
  for (int bit = 0; bit < 512; bit += 37) {
    auto bad = sig;
    bad.bytes[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
    CHECK_FALSE(bc::verify(kp.public_key(), digest, bad));
  }
  for (int bit = 0; bit < 256; bit += 29) {
    auto bad = digest;
    bad.bytes[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
    CHECK_FALSE(bc::verify(kp.public_key(), bad, sig));
  }
  auto other = bc::KeyPair::generate();
  CHECK_FALSE(bc::verify(other.public_key(), digest, sig));
  CHECK(kp.public_key() != other.public_key());
}

TEST_CASE("secret keys: validation and hex round trip") {
  CHECK_FALSE(bc::KeyPair::from_secret(bc::Bytes(32, 0)).has_value());  // zero is not a key
  CHECK_FALSE(bc::KeyPair::from_secret(bc::Bytes(31, 1)).has_value());
  // The group order n is not a valid secret.
  CHECK_FALSE(bc::KeyPair::from_secret(hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")).has_value());
  auto kp = bc::KeyPair::generate();
  auto again = bc::KeyPair::from_secret(hex(kp.secret_hex()));
  REQUIRE(again.has_value());
  CHECK(again->public_key() == kp.public_key());
  CHECK_FALSE(bc::parse_signature(bc::Bytes(63)).has_value());
  CHECK_FALSE(bc::parse_pubkey(bc::Bytes(33, 2)).has_value());
}

TEST_CASE("key file: created 0600 in a 0700 directory, reloaded, permissions enforced") {
  TempDir tmp;
  auto file = tmp.path / "data" / "node.key";
  auto kp = bc::load_or_create_key_file(file);
  CHECK(mode_of(file) == 0600);
  CHECK(mode_of(tmp.path / "data") == 0700);
  CHECK(mode_of(tmp.path) == 0700);

  auto again = bc::load_or_create_key_file(file);
  CHECK(again.public_key() == kp.public_key());

  std::ifstream in(file);
  std::string text;
  in >> text;
  CHECK(text == kp.secret_hex());

  SUBCASE("group-readable file is refused with a message naming the file") {
    REQUIRE(::chmod(file.c_str(), 0640) == 0);
    try {
      bc::load_or_create_key_file(file);
      FAIL("a group-readable key file was accepted");
    } catch (const std::runtime_error& e) {
      std::string msg = e.what();
      CHECK(msg.find(file.string()) != std::string::npos);
      CHECK(msg.find("chmod 600") != std::string::npos);
    }
  }
  SUBCASE("other-readable file is refused") {
    REQUIRE(::chmod(file.c_str(), 0604) == 0);
    CHECK_THROWS_AS(bc::load_or_create_key_file(file), std::runtime_error);
  }
  SUBCASE("malformed content is refused, not replaced") {
    { std::ofstream out(file, std::ios::trunc); out << "not a key\n"; }
    CHECK_THROWS_WITH_AS(bc::load_or_create_key_file(file), doctest::Contains("malformed"), std::runtime_error);
    std::ifstream check(file);
    std::string still;
    check >> still;
    CHECK(still == "not");
  }
  SUBCASE("an invalid secret (zero) is refused") {
    { std::ofstream out(file, std::ios::trunc); out << std::string(64, '0') << "\n"; }
    CHECK_THROWS_AS(bc::load_or_create_key_file(file), std::runtime_error);
  }
}
