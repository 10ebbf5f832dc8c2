#include "layers/node/rpc_registry.hpp"

#include "layers/assert.hpp"

namespace bc::node {

void RpcRegistry::add(const std::string& name, Method method) {
  BC_ASSERT(method);
  add_async(name, [m = std::move(method)](const Params& p, Reply reply) { reply.ok(m(p)); });
}

void RpcRegistry::add_async(const std::string& name, AsyncMethod method) {
  BC_ASSERT(method);
  BC_ASSERT_MSG(!methods_.count(name), "RPC method %s registered twice", name.c_str());
  methods_.emplace(name, std::move(method));
}

std::vector<std::string> RpcRegistry::names() const {
  std::vector<std::string> out;
  out.reserve(methods_.size());
  for (const auto& [name, m] : methods_) out.push_back(name);
  return out;
}

void RpcRegistry::call(const std::string& name, const Params& params, const Reply& reply) const {
  auto it = methods_.find(name);
  if (it == methods_.end()) {
    std::string list;
    for (const auto& [n, m] : methods_) list += (list.empty() ? "" : ", ") + n;
    return reply.fail(kMethodNotFound, "unknown method \"" + name + "\"; methods: " + list);
  }
  try {
    it->second(params, reply);
  } catch (const RpcError& e) {
    reply.fail(e.code, e.what());
  } catch (const std::exception& e) {
    reply.fail(kInternalError, std::string("internal error: ") + e.what());
  }
}

}  // namespace bc::node
