// write_file_durably (layers/durable_file.hpp): the whole new file or the
// whole old one, nothing left aside, and a clear error.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "layers/durable_file.hpp"

using namespace bc;

namespace {
std::string read_all(const std::filesystem::path& f) {
  std::ifstream in(f, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("write_file_durably replaces a file whole, mode 0600, and leaves no temporary file") {
  const auto dir = std::filesystem::temp_directory_path() / ("bc-durable-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "list";
  REQUIRE(write_file_durably(file, as_bytes("first version")).ok());
  CHECK(read_all(file) == "first version");
  REQUIRE(write_file_durably(file, as_bytes("2nd")).ok());
  CHECK(read_all(file) == "2nd");
  CHECK_FALSE(std::filesystem::exists(dir / "list.tmp"));
  struct stat st{};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const Status missing = write_file_durably(dir / "no such dir" / "f", as_bytes("x"));
  CHECK(missing.code == Errc::kIo);
  CHECK(missing.message.find("no such dir") != std::string::npos);
  std::filesystem::remove_all(dir);
}
