// Which Host headers the server answers (DNS rebinding defence). A page on evil.example can make
// its own name resolve to 127.0.0.1 and then talk to a dev server on the victim's machine as "same
// origin": the browser sends `Host: evil.example` and `Origin: http://evil.example`, which agree
// with each other. Only the Host value itself can tell: a dev server answers localhost names only,
// and a production server may be given a list.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rtchat::server {

// The name part of a Host header value, lowercased, without the port and without one trailing
// dot: "LocalHost.:4000" -> "localhost", "[::1]:4000" -> "[::1]". Empty when the value is not a
// plausible host[:port] (empty, bad port, stray characters).
std::string host_name_of(std::string_view host_header);

// localhost, *.localhost (RFC 6761: always loopback), 127.0.0.1 and [::1].
bool is_localhost_name(std::string_view name);

// Whether a request with this Host header is served.
// - dev mode: localhost names, and the names in `allowed` (an operator who lists a LAN name asks
//   for it);
// - production: any Host when `allowed` is empty, else only those listed.
// An entry matches the name ("chat.example.com"), the exact host:port ("chat.example.com:8443"),
// or, written "*.example.com", any name below example.com. A request without Host (HTTP/1.0
// tools) is served in dev mode and in production without a list: browsers always send one, so
// rebinding cannot use its absence. A Host that is not a plausible host[:port] is refused.
bool host_allowed(std::string_view host_header, bool dev_mode,
                  const std::vector<std::string>& allowed);

}  // namespace rtchat::server
