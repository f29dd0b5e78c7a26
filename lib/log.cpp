// client_options::logger's events: their names, levels and messages.
#include <array>
#include <memcoro/log.hpp>
#include <string>

#include "detail/log_record.hpp"

namespace memcoro {
namespace {

// What is fixed for each kind of event, in log_kind's order.
struct kind_facts {
    std::string_view name;
    log_level level;
    std::string_view phrase;  // in the message, after the server
};

constexpr std::array<kind_facts, 8> facts{{
    {"connected", log_level::info, "connected"},
    {"connect_failed", log_level::error, "connect failed"},
    {"disconnected", log_level::warning, "disconnected"},
    {"backoff", log_level::info, "next connect in"},
    {"health_check_failed", log_level::warning, "health check unanswered"},
    {"protocol_violation", log_level::error, "protocol violation, connection closed"},
    {"server_dead", log_level::error, "server marked dead"},
    {"server_back", log_level::info, "server back"},
}};
static_assert(facts.size() == static_cast<std::size_t>(log_kind::server_back) + 1);

const kind_facts& facts_of(log_kind kind) noexcept {
    return facts[static_cast<std::size_t>(kind)];
}

constexpr std::array<std::string_view, 4> level_names{"debug", "info", "warning", "error"};

}  // namespace

std::string_view to_string(log_level level) noexcept {
    return level_names[static_cast<std::size_t>(level)];
}

std::string_view to_string(log_kind kind) noexcept {
    return facts_of(kind).name;
}

namespace detail {
namespace {

// "<server>: <phrase>[, <detail>][ <delay> ms][: <cause> [<category>:<value>]]"
std::string message_of(std::string_view server, const log_record& r) {
    std::string m;
    m.append(server).append(": ").append(facts_of(r.kind).phrase);
    if (!r.detail.empty()) m.append(", ").append(r.detail);
    if (r.kind == log_kind::backoff) {
        m.append(" ").append(std::to_string(r.delay.count())).append(" ms");
    }
    if (r.error) {
        m.append(": ").append(r.error.message()).append(" [").append(r.error.to_string());
        m.append("]");
    }
    return m;
}

}  // namespace

void emit(const logger& log, std::string_view server, const log_record& record) noexcept {
    try {
        const std::string message = message_of(server, record);
        log_event event;
        event.level = facts_of(record.kind).level;
        event.kind = record.kind;
        event.server = server;
        event.error = record.error;
        event.delay = record.delay;
        event.message = message;
        log(event);
    } catch (...) {
        // No memory for the message, or the logger threw: the event is lost, nothing else.
    }
}

}  // namespace detail
}  // namespace memcoro
