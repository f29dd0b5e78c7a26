// The placement layer as a command, for agreement.py: the Python libraries' answers are
// compared with what this prints.
//
//   placement_tool ketama|rendezvous|modula [--alive 1,0,1] SERVER[=WEIGHT]... < keys
//
// Reads one key per line (UTF-8 bytes as they are) and prints, per key, the index of its
// server in the list, or "none". With --alive, the placement is the one `without` gives
// for that live set.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <placement/placement.hpp>
#include <string>
#include <vector>

#include "placement_fixtures.hpp"

namespace {

int usage() {
    std::cerr << "usage: placement_tool ketama|rendezvous|modula [--alive 1,0,...] "
                 "SERVER[=WEIGHT]...\n";
    return 2;
}

bool parse_distribution(std::string_view name, memcoro::distribution& d) {
    if (name == "ketama") return d = memcoro::distribution::ketama, true;
    if (name == "rendezvous") return d = memcoro::distribution::rendezvous, true;
    if (name == "modula") return d = memcoro::distribution::modula, true;
    return false;
}

memcoro::detail::placement_server parse_server(std::string_view arg) {
    std::uint32_t weight = 1;
    if (const auto eq = arg.rfind('='); eq != std::string_view::npos) {
        const auto w = arg.substr(eq + 1);
        std::from_chars(w.data(), w.data() + w.size(), weight);
        arg = arg.substr(0, eq);
    }
    return placement_fixtures::server(arg, weight);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 3) return usage();
    memcoro::distribution d{};
    if (!parse_distribution(argv[1], d)) return usage();
    std::vector<bool> alive;
    std::vector<memcoro::detail::placement_server> list;
    for (int i = 2; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--alive" && i + 1 < argc) {
            for (const char c : std::string_view(argv[++i])) {
                if (c != ',') alive.push_back(c == '1');
            }
        } else {
            list.push_back(parse_server(arg));
        }
    }

    std::unique_ptr<memcoro::detail::placement> p = placement_fixtures::must_make(d, list);
    if (!alive.empty()) {
        const auto flags = std::make_unique<bool[]>(alive.size());
        for (std::size_t i = 0; i < alive.size(); ++i) flags[i] = alive[i];
        p = p->without(std::span<const bool>(flags.get(), alive.size()));
    }

    std::ios::sync_with_stdio(false);
    std::string key;
    std::string out;
    while (std::getline(std::cin, key)) {
        const std::size_t index = p->server_for(key);
        if (index == memcoro::detail::placement::none) {
            out += "none\n";
        } else {
            out += std::to_string(index);
            out += '\n';
        }
    }
    std::cout << out;
    return 0;
} catch (const std::exception& e) {
    std::cerr << "placement_tool: " << e.what() << '\n';
    return 1;
}
