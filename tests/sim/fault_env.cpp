#include "tests/sim/fault_env.hpp"

#include <leveldb/helpers/memenv.h>

#include "layers/assert.hpp"

namespace bc::sim {
namespace {

std::string dir_of(const std::string& f) {
  const auto slash = f.rfind('/');
  return slash == std::string::npos ? std::string() : f.substr(0, slash);
}

// Passes writes through and tells the Env what was appended and synced.
class FaultFile final : public leveldb::WritableFile {
 public:
  FaultFile(FaultEnv& env, std::string name, leveldb::WritableFile* target)
      : env_(env), name_(std::move(name)), target_(target) {}
  leveldb::Status Append(const leveldb::Slice& data) override {
    leveldb::Status s = target_->Append(data);
    if (s.ok()) env_.on_append(name_, data.size());
    return s;
  }
  leveldb::Status Close() override { return target_->Close(); }
  leveldb::Status Flush() override { return target_->Flush(); }
  leveldb::Status Sync() override {
    leveldb::Status s = target_->Sync();
    if (s.ok()) env_.on_sync(name_);
    return s;
  }

 private:
  FaultEnv& env_;
  std::string name_;
  std::unique_ptr<leveldb::WritableFile> target_;
};

}  // namespace

FaultEnv::FaultEnv()
    : MemEnvHolder{std::unique_ptr<leveldb::Env>(leveldb::NewMemEnv(leveldb::Env::Default()))},
      leveldb::EnvWrapper(mem.get()) {}

FaultEnv::~FaultEnv() = default;

leveldb::Status FaultEnv::NewWritableFile(const std::string& f, leveldb::WritableFile** r) {
  leveldb::WritableFile* file = nullptr;
  leveldb::Status s = target()->NewWritableFile(f, &file);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    if (active_) {
      files_[f] = FileState{};
      new_since_dir_sync_.insert(f);
    } else {
      created_while_off_.insert(f);
    }
  }
  *r = new FaultFile(*this, f, file);
  return s;
}

leveldb::Status FaultEnv::NewAppendableFile(const std::string& f, leveldb::WritableFile** r) {
  leveldb::WritableFile* file = nullptr;
  std::uint64_t size = 0;
  const bool existed = target()->GetFileSize(f, &size).ok();
  leveldb::Status s = target()->NewAppendableFile(f, &file);
  if (!s.ok()) return s;
  {
    std::lock_guard lock(mu_);
    if (active_ && !files_.count(f)) {
      // A file from before is durable up to its size now.
      files_[f] = FileState{existed ? size : 0, existed ? size : 0};
      if (!existed) new_since_dir_sync_.insert(f);
    } else if (!active_ && !existed) {
      created_while_off_.insert(f);
    }
  }
  *r = new FaultFile(*this, f, file);
  return s;
}

leveldb::Status FaultEnv::RemoveFile(const std::string& f) {
  std::lock_guard lock(mu_);
  if (!active_) return leveldb::Status::OK();  // the power is out: nothing happens to the disk
  leveldb::Status s = target()->RemoveFile(f);
  if (s.ok()) {
    files_.erase(f);
    new_since_dir_sync_.erase(f);
  }
  return s;
}

leveldb::Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (!active_) return leveldb::Status::OK();  // the power is out: nothing happens to the disk
  leveldb::Status s = target()->RenameFile(from, to);
  if (s.ok()) {
    if (auto it = files_.find(from); it != files_.end()) {
      files_[to] = it->second;
      files_.erase(from);
    }
    if (new_since_dir_sync_.erase(from)) new_since_dir_sync_.insert(to);
  }
  return s;
}

void FaultEnv::on_append(const std::string& f, std::size_t n) {
  std::lock_guard lock(mu_);
  if (active_) files_[f].size += n;
}

void FaultEnv::on_sync(const std::string& f) {
  std::lock_guard lock(mu_);
  if (!active_) return;
  FileState& st = files_[f];
  st.synced = st.size;
  if (new_since_dir_sync_.count(f)) {
    // Syncing a new file syncs its directory: every entry in it is durable.
    const std::string dir = dir_of(f);
    for (auto it = new_since_dir_sync_.begin(); it != new_since_dir_sync_.end();)
      it = dir_of(*it) == dir ? new_since_dir_sync_.erase(it) : std::next(it);
  }
}

void FaultEnv::crash() {
  std::lock_guard lock(mu_);
  active_ = false;
}

std::uint64_t FaultEnv::unsynced_bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [f, st] : files_) n += st.size - st.synced;
  return n;
}

leveldb::Status FaultEnv::truncate(const std::string& f, std::uint64_t size) {
  // MemEnv has no truncate: read the kept prefix and write the file again.
  leveldb::SequentialFile* in = nullptr;
  leveldb::Status s = target()->NewSequentialFile(f, &in);
  if (!s.ok()) return s;
  std::string kept(size, '\0');
  leveldb::Slice got;
  s = in->Read(size, &got, kept.data());
  delete in;
  if (!s.ok()) return s;
  std::string data = got.ToString();
  leveldb::WritableFile* out = nullptr;
  s = target()->NewWritableFile(f, &out);
  if (!s.ok()) return s;
  s = out->Append(data);
  if (s.ok()) s = out->Close();
  delete out;
  return s;
}

void FaultEnv::drop_unsynced() {
  std::lock_guard lock(mu_);
  BC_ASSERT_MSG(!active_, "drop_unsynced() without crash()");
  for (const auto& f : created_while_off_) (void)target()->RemoveFile(f);
  created_while_off_.clear();
  for (const auto& f : new_since_dir_sync_) {
    (void)target()->RemoveFile(f);
    files_.erase(f);
  }
  new_since_dir_sync_.clear();
  for (auto& [f, st] : files_) {
    // The file's real size, not st.size: appends after crash() are not
    // counted there, yet they reached the in-memory file and must go too.
    std::uint64_t real = 0;
    if (!target()->GetFileSize(f, &real).ok() || real == st.synced) continue;
    const leveldb::Status s = truncate(f, st.synced);
    BC_ASSERT_MSG(s.ok(), "truncate %s: %s", f.c_str(), s.ToString().c_str());
    st.size = st.synced;
  }
  active_ = true;
}

}  // namespace bc::sim
