// The meta protocol's commands as typed calls (mg ms md ma), their options and results,
// and the options of fetch. README "Meta commands and stampede protection" shows them in
// use; protocol.md sections 3.3 to 3.6 list what the server does with each flag.
//
// Every option below maps to one meta flag, named next to it (mg's `value` to two: v
// and f, the value's client flags, which its codec needs). A flag that memcached gained
// after 1.6.18 is marked with the version that has it: the client learns each server's
// version when it connects, and refuses such an option for an older server, or one whose
// version it could not read, with error::unsupported_command before a byte is sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <memcoro/item.hpp>
#include <optional>

namespace memcoro {

// How a key goes on the wire.
enum class key_encoding : std::uint8_t {
    // As given: printable ASCII (and bytes >= 0x80 with allow_high_bytes_in_keys), at most
    // 250 bytes with the key prefix.
    text,
    // Any bytes, sent in base64 with the meta flag b; the server keeps the decoded bytes,
    // so a base64 key and a text key with the same bytes are the same item. Only meta
    // commands carry such keys: in this mode the classic calls use their meta forms, and
    // a text-only server (wire_protocol::text, twemproxy) refuses them with
    // error::unsupported_command.
    base64,
};

// The outcome of ms, md and ma (protocol.md 3.2). Not an error: what the server decided.
enum class meta_status : std::uint8_t {
    ok,          // HD (or VA): stored, deleted or marked stale, counted
    not_stored,  // NS: the mode's condition failed (add of a present key, ...), or ma's
                 // vivify failed
    exists,      // EX: the item's cas differs from compare_cas
    not_found,   // NF: no such item
};

// ---- meta_get (mg) ------------------------------------------------------------------

struct mg_options {
    bool value = true;         // v f: the value; false asks for what is below only (HD)
    bool cas = false;          // c: the item's cas
    bool ttl = false;          // t: the remaining ttl in seconds, -1 when it never expires
    bool last_access = false;  // l: seconds since the item was last read, before this read
    bool hit_before = false;   // h: whether it was read before this read
    bool size = false;         // s: the value's size in bytes
    // T: a new ttl for the item (as gat does). Applied before t is read: t then returns it.
    std::optional<std::chrono::seconds> touch_ttl{};
    // N: on a miss, create an empty item with this ttl and report it as a hit with `win`;
    // readers after that see `won_by_other` until it is replaced.
    std::optional<std::chrono::seconds> vivify_ttl{};
    // R: when the remaining ttl is below this, the first reader gets `win` (it should
    // recompute the value), the others `won_by_other`.
    std::optional<std::chrono::seconds> recache_below{};
    bool no_lru_bump = false;  // u: leave the LRU position and the last-access time alone
    std::optional<memcoro::key_encoding> key_encoding{};  // unset: the client's
    std::optional<std::chrono::milliseconds> timeout{};   // unset: client_options::op_timeout
};

// A hit of meta_get: the value, flags and cas (when asked for) as in any item, and what
// else was asked for.
class meta_item : public item {
  public:
    std::optional<std::int64_t> ttl;           // -1: never expires
    std::optional<std::uint64_t> last_access;  // seconds
    std::optional<bool> hit_before;
    std::optional<std::uint64_t> size;
    bool win = false;           // W: this caller should recompute (vivified, stale or recache)
    bool stale = false;         // X: marked stale (md I, or ms I)
    bool won_by_other = false;  // Z: another caller already got `win`
};

// ---- meta_set (ms) -------------------------------------------------------------------

enum class set_mode : std::uint8_t { set, add, replace, append, prepend };

struct ms_options {
    set_mode mode = set_mode::set;               // M
    std::chrono::seconds ttl{0};                 // T; 0: never expires
    std::optional<std::uint32_t> flags{};        // F; unset: the codec's
    std::optional<std::uint64_t> compare_cas{};  // C: store only over this cas
    // I, with compare_cas: a cas older than the item's is accepted, and the value is
    // stored but marked stale.
    bool invalidate = false;
    bool return_cas = false;                 // c: the new cas in the result
    std::optional<std::uint64_t> new_cas{};  // E: the cas to give the item (1.6.27)
    std::optional<memcoro::key_encoding> key_encoding{};
    std::optional<std::chrono::milliseconds> timeout{};
};

struct ms_result {
    meta_status status = meta_status::ok;
    std::optional<std::uint64_t> cas{};  // with return_cas, when stored
};

// ---- meta_delete (md) ----------------------------------------------------------------

struct md_options {
    std::optional<std::uint64_t> compare_cas{};  // C: delete only this version
    // I: keep the item, readable but marked stale, with a new cas; the next reader gets
    // `win` and recomputes it.
    bool mark_stale = false;
    std::optional<std::chrono::seconds> stale_ttl{};  // T, with mark_stale: its new ttl
    bool drop_value = false;                          // x: empty the value, keep the item (1.6.27)
    std::optional<std::uint64_t> new_cas{};           // E (1.6.27)
    std::optional<memcoro::key_encoding> key_encoding{};
    std::optional<std::chrono::milliseconds> timeout{};
};

// ---- meta_arithmetic (ma) ------------------------------------------------------------

enum class arithmetic_mode : std::uint8_t { increment, decrement };

struct ma_options {
    arithmetic_mode mode = arithmetic_mode::increment;  // M
    std::uint64_t delta = 1;                            // D
    // N: on a miss, create the item with `initial` (J) and this ttl; the delta is not
    // applied to a created item.
    std::optional<std::chrono::seconds> vivify_ttl{};
    std::uint64_t initial = 0;                        // J, with vivify_ttl
    std::optional<std::uint64_t> compare_cas{};       // C
    std::optional<std::chrono::seconds> touch_ttl{};  // T: a new ttl on success
    bool return_cas = false;                          // c
    bool return_ttl = false;                          // t
    std::optional<std::uint64_t> new_cas{};           // E (1.6.27)
    std::optional<memcoro::key_encoding> key_encoding{};
    std::optional<std::chrono::milliseconds> timeout{};
};

struct ma_result {
    meta_status status = meta_status::ok;
    std::optional<std::uint64_t> value{};  // the new value, when ok
    std::optional<std::uint64_t> cas{};    // with return_cas
    std::optional<std::int64_t> ttl{};     // with return_ttl; -1: never expires
};

// ---- fetch ---------------------------------------------------------------------------

// fetch(key, options, compute): read through the cache with stampede protection
// (client.hpp, README). memcached keeps times in whole seconds. ttl + stale_for may be at
// most 30 days (memcached reads more as an absolute time), the times not negative and the
// timeout positive, else the fetch fails with error::invalid_argument before any request.
struct fetch_options {
    // How long a computed value is fresh. 0: it never expires.
    std::chrono::seconds ttl{0};
    // Once less than this is left of `ttl`, one caller recomputes the value while the
    // others keep reading the current one, so that nobody sees it expire. 0: off.
    std::chrono::seconds recache_before{0};
    // How long after `ttl` (or after meta_delete with mark_stale) the old value is still
    // served to the other callers while one recomputes it. The item lives ttl + stale_for
    // in memcached. 0: at `ttl` the value is gone and callers wait for the recompute.
    std::chrono::seconds stale_for{0};
    // The longest one fetch takes: waiting for a value that another caller computes, or
    // computing it itself (the compute is then cancelled and its win given up). The win
    // is held in memcached for this long rounded up to seconds, plus one: a process that
    // dies while computing holds the others up no longer than that.
    std::chrono::milliseconds timeout{10000};
    std::optional<std::uint32_t> flags{};                 // unset: the codec's
    std::optional<memcoro::key_encoding> key_encoding{};  // unset: the client's
};

}  // namespace memcoro
