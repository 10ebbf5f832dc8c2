// Process helpers for blockcloud-devnet (Linux).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace bc::devnet {

// fork + setsid + exec with stdout/stderr appended to log_file; returns the
// pid. Throws if exec fails (missing binary), naming it.
int spawn_detached(const std::filesystem::path& exe, const std::vector<std::string>& args,
                   const std::filesystem::path& log_file);
// Running (not a zombie) and its argv[0] names blockcloudd.
bool process_alive(int pid);
bool send_signal(int pid, int sig);
// Collects exited children of this process so they do not linger as zombies.
void reap_children();
// The last lines of a file, indented, for error messages.
std::string tail_file(const std::filesystem::path& file, std::size_t max_lines);
// Directory of the running executable.
std::filesystem::path self_dir();

}  // namespace bc::devnet
