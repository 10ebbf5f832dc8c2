// storage::StorageNode: the storage client's way onto the network, beside
// sal::AppNode (which it embeds): it joins the DHT through any node, reads
// the storage directory, and opens SalTransports to providers by service
// ID. The master key is never given to it: it carries only encrypted shards
// and the pipeline's requests (pipeline.hpp holds the key).
//
//   boost::asio::io_context io;
//   StorageNode node(io, {*Endpoint::parse("127.0.0.2:9000")});
//   node.join(10'000);
//   auto ads = node.providers(10'000);
//   auto transport = node.transport({ads->at(0).service, ...});
//   StorageClient client(master, *transport);  // put, get, verify, repair
//
// Synchronous: each call runs the io_context until it is done, so calls must
// come from outside its handlers (a command-line tool, a test).
#pragma once
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "apps/storage/net/directory.hpp"
#include "apps/storage/net/sal_transport.hpp"
#include "sal/node/app_node.hpp"

namespace bc::storage {

class StorageNode {
 public:
  // Binds nothing yet. `bind_ip` is the IP for this node's UDP and TCP sockets.
  StorageNode(boost::asio::io_context& io, std::vector<Endpoint> bootstrap,
              Endpoint bind_ip = *Endpoint::parse("127.0.0.1:0"));
  ~StorageNode();  // closes transports' flows, stops the node, drains the io_context

  // Binds, joins through the bootstrap nodes; kUnavailable if none answered in time.
  Status join(TimeMs timeout_ms);
  // Reads the storage directory (docs/storage.md "Finding providers").
  Result<std::vector<ProviderAd>> providers(TimeMs timeout_ms);
  // The innermost Coral cluster level this node shares with each ad's
  // publishing node (2, 1, 0), from its DHT contacts (measured RTT); -1 for
  // a node that is not a contact.
  std::vector<int> cluster_levels(const std::vector<ProviderAd>& ads);
  // A transport to these providers (index i = providers[i]). It must be
  // destroyed before this node.
  std::unique_ptr<SalTransport> transport(std::vector<sal::ServiceId> providers, SalTransportOptions options = {});

  sal::AppNode& app() { return app_; }

 private:
  boost::asio::io_context& io_;
  sal::AppNode app_;
  bool started_ = false;
};

}  // namespace bc::storage
