// An event for client_options::logger, recorded where it happens (often under a lock)
// and told once no lock is held.
#pragma once

#include <boost/system/error_code.hpp>
#include <chrono>
#include <memcoro/log.hpp>
#include <string_view>

namespace memcoro::detail {

struct log_record {
    log_kind kind = log_kind::connected;
    boost::system::error_code error{};
    std::chrono::milliseconds delay{0};
    // connected: the wire protocol chosen, a phrase with static storage.
    std::string_view detail{};
};

// Builds the record's message and calls `log`, which must be set. A logger that throws
// is ignored: logging must not break the client's own work.
void emit(const logger& log, std::string_view server, const log_record& record) noexcept;

}  // namespace memcoro::detail
