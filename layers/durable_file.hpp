// Whole-file writes and removals that survive a crash at any instant: a reader (after a
// restart too) sees either the old file or the new one, never a mix.
#pragma once
#include <filesystem>

#include "layers/bytes.hpp"
#include "layers/status.hpp"

namespace bc {

// Writes `bytes` to `file` (mode 0600): written aside as file + ".tmp",
// synced, renamed over `file`, and the directory synced. Fails with a
// message naming the file and the reason. Blocking: for small, rare writes.
Status write_file_durably(const std::filesystem::path& file, ByteView bytes);

// Unlinks `file` and syncs its directory, so the file stays gone after a
// crash. A missing file is not an error. Blocking, like the write.
Status remove_file_durably(const std::filesystem::path& file);

}  // namespace bc
