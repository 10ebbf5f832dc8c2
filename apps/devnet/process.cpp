// Process plumbing for the devnet: spawn detached daemons, check and stop them.
#include "apps/devnet/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace bc::devnet {

int spawn_detached(const std::filesystem::path& exe, const std::vector<std::string>& args,
                   const std::filesystem::path& log_file) {
  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + log_file.string() + ": " + std::strerror(errno));
  // A close-on-exec pipe tells the parent whether exec succeeded.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
  }
  std::vector<std::string> argv_s{exe.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(report[0]);
    ::close(report[1]);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();  // own session: survives the devnet command and its terminal
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    const int err = errno;
    (void)!::write(report[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(log_fd);
  ::close(report[1]);
  int err = 0;
  const auto n = ::read(report[0], &err, sizeof err);
  ::close(report[0]);
  if (n == sizeof err) {
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("cannot run " + exe.string() + ": " + std::strerror(err) +
                             "; build it (ninja blockcloudd) or pass --bin DIR");
  }
  return pid;
}

void reap_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

namespace {
// The ppid field follows the state letter in /proc/PID/stat.
int parent_pid(const std::string& stat_line, std::size_t close_paren) {
  std::istringstream rest(stat_line.substr(close_paren + 2));
  char state = 0;
  int ppid = 0;
  rest >> state >> ppid;
  return ppid;
}
}  // namespace

bool process_alive(int pid) {
  if (pid <= 0) return false;
  reap_children();
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  // The state letter follows the ")" that closes the command name; Z is a zombie.
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  const char state = line[close + 2];
  if (state == 'Z' || state == 'X') return false;
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(cmd, argv0, '\0');
  // An exiting process has released its memory, so its cmdline reads empty,
  // before it becomes a zombie: it is still alive (and holds its ports).
  // Kernel threads also have no cmdline; their parent is kthreadd (pid 2).
  if (argv0.empty()) return parent_pid(line, close) != 2 && pid != 2;
  return argv0.find("blockcloudd") != std::string::npos;
}

bool send_signal(int pid, int sig) { return pid > 0 && ::kill(pid, sig) == 0; }

std::string tail_file(const std::filesystem::path& file, std::size_t max_lines) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  std::string out;
  for (const auto& l : lines) out += "    " + l + "\n";
  return out;
}

std::filesystem::path self_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : p.parent_path();
}

}  // namespace bc::devnet
