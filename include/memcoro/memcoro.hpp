// memcoro: a C++20 coroutine client for memcached on Boost.Asio.
#pragma once

#include <memcoro/client.hpp>
#include <memcoro/codec.hpp>
#include <memcoro/error.hpp>
#include <memcoro/item.hpp>
#include <memcoro/keys.hpp>
#include <memcoro/log.hpp>
#include <memcoro/meta.hpp>
#include <memcoro/metrics.hpp>
#include <memcoro/options.hpp>
#include <memcoro/tls.hpp>
