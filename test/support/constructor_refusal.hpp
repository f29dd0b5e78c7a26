// What a memcoro::client's constructor throws for options it refuses. Header-only, so the
// unit tests use it too (as "../support/constructor_refusal.hpp").
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>
#include <memcoro/client.hpp>
#include <optional>

namespace memcoro::test {

// The exception the constructor threw for `o`, or nullopt when it accepted them.
inline std::optional<boost::system::system_error> constructor_refusal(const client_options& o) {
    boost::asio::io_context ioc;
    try {
        client mc(ioc.get_executor(), o);
    } catch (const boost::system::system_error& e) {
        return e;
    }
    return std::nullopt;
}

}  // namespace memcoro::test
