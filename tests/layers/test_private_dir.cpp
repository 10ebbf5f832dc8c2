#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "layers/private_dir.hpp"

namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Runs the body under a given umask and restores the old one.
struct UmaskScope {
  mode_t old;
  explicit UmaskScope(mode_t m) : old(::umask(m)) {}
  ~UmaskScope() { ::umask(old); }
};

fs::path scratch(const char* name) {
  auto dir = fs::temp_directory_path() / (std::string("bc-private-dir-") + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("private dirs: every directory created is 0700 whatever the umask") {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    const auto root = scratch("umask");
    {
      UmaskScope scope(mask);
      REQUIRE(bc::create_private_dirs(root / "a" / "b").ok());
    }
    CHECK(mode_of(root) == 0700);
    CHECK(mode_of(root / "a") == 0700);
    CHECK(mode_of(root / "a" / "b") == 0700);
    fs::remove_all(root);
  }
}

TEST_CASE("private dirs: an existing directory is left as it is") {
  const auto root = scratch("existing");
  fs::create_directories(root);
  ::chmod(root.c_str(), 0755);
  CHECK(bc::create_private_dirs(root).ok());
  CHECK(mode_of(root) == 0755);
  fs::remove_all(root);
}

TEST_CASE("private dirs: a file in the way is a clear error") {
  const auto root = scratch("file");
  fs::create_directories(root);
  std::ofstream(root / "f") << "x";
  const auto st = bc::create_private_dirs(root / "f" / "sub");
  CHECK_FALSE(st.ok());
  CHECK(st.code == bc::Errc::kIo);
  CHECK(st.message.find("is not a directory; choose another path") != std::string::npos);
  fs::remove_all(root);
}
