// The fixed buckets of the latency histogram, and the sums of metrics.hpp.
#include <doctest/doctest.h>

#include <chrono>
#include <memcoro/metrics.hpp>

using memcoro::latency_histogram;
using namespace std::chrono_literals;

TEST_CASE("a duration falls in the first bucket whose bound is not below it") {
    CHECK(latency_histogram::bucket_of(0ns) == 0);
    CHECK(latency_histogram::bucket_of(-5ns) == 0);
    CHECK(latency_histogram::bucket_of(1ns) == 0);
    CHECK(latency_histogram::bucket_of(16384ns) == 0);
    CHECK(latency_histogram::bucket_of(16385ns) == 1);
    CHECK(latency_histogram::bucket_of(32768ns) == 1);
    CHECK(latency_histogram::bucket_of(33us) == 2);
    CHECK(latency_histogram::bucket_of(1ms) == 6);  // up to 1048.576 us
    for (std::size_t i = 0; i + 1 < latency_histogram::buckets; ++i) {
        CAPTURE(i);
        const std::chrono::nanoseconds bound = latency_histogram::upper_bound(i);
        CHECK(latency_histogram::bucket_of(bound) == i);
        CHECK(latency_histogram::bucket_of(bound + 1ns) == i + 1);
    }
    CHECK(latency_histogram::upper_bound(0) == 16384ns);
    CHECK(latency_histogram::upper_bound(latency_histogram::buckets - 2) == 1073741824ns);
    CHECK(latency_histogram::bucket_of(10s) == latency_histogram::buckets - 1);
    CHECK(latency_histogram::bucket_of(std::chrono::hours(24 * 365)) ==
          latency_histogram::buckets - 1);
}

TEST_CASE("server_metrics add up, the address aside") {
    memcoro::server_metrics a;
    a.address = "a";
    a.operations[0] = 2;
    a.errors[static_cast<std::size_t>(memcoro::error::timeout)] = 3;
    a.hits = 1;
    a.latency.counts[4] = 5;
    a.latency.sum = 7ns;
    memcoro::server_metrics b = a;
    b.address = "b";
    b.reconnects = 1;
    a += b;
    CHECK(a.address == "a");
    CHECK(a.operations_of(memcoro::operation_kind::get) == 4);
    CHECK(a.timeouts() == 6);
    CHECK(a.total_errors() == 6);
    CHECK(a.hits == 2);
    CHECK(a.reconnects == 1);
    CHECK(a.latency.count() == 10);
    CHECK(a.latency.sum == 14ns);
}

TEST_CASE("every kind and error slot has a name") {
    for (std::size_t k = 0; k < memcoro::operation_kinds; ++k) {
        const auto name = memcoro::to_string(static_cast<memcoro::operation_kind>(k));
        CHECK(!name.empty());
        CHECK(name != "unknown");
    }
    CHECK(memcoro::to_string(memcoro::operation_kind::meta_get) == "meta_get");
    CHECK(memcoro::error_slot_name(0) == "other");
    for (std::size_t s = 1; s < memcoro::error_slots; ++s) {
        CHECK(!memcoro::error_slot_name(s).empty());
        CHECK(memcoro::error_slot_name(s) != "other");
    }
    CHECK(memcoro::error_slot_name(static_cast<std::size_t>(memcoro::error::timeout)) == "timeout");
}
