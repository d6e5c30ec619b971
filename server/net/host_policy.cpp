#include "server/net/host_policy.h"

namespace rtchat::server {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v <= 65535;
}

// reg-name or IPv4 characters (RFC 3986 unreserved, without '~' and sub-delims: real host names
// use letters, digits, '-', '.', and '_' in some internal names).
bool is_name_char(char c) {
  c = lower(c);
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

bool is_ipv6_char(char c) {
  c = lower(c);
  return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

bool entry_matches(std::string_view entry, std::string_view name, std::string_view host_header) {
  std::string e = lower_ascii(entry);
  if (e.starts_with("*.")) {
    std::string_view suffix = std::string_view(e).substr(1);  // ".example.com"
    return name.size() > suffix.size() && name.ends_with(suffix);
  }
  // A name entry admits every port; a host:port entry only that port.
  return e == name || e == lower_ascii(host_header);
}

}  // namespace

std::string host_name_of(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return {};
  std::string_view name;
  if (v.front() == '[') {
    size_t close = v.find(']');
    if (close == std::string_view::npos || close < 2) return {};
    name = v.substr(0, close + 1);
    for (char c : name.substr(1, name.size() - 2)) {
      if (!is_ipv6_char(c)) return {};
    }
    std::string_view rest = v.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1)))) return {};
  } else {
    size_t colon = v.find(':');
    name = v.substr(0, colon);
    if (colon != std::string_view::npos && !is_port(v.substr(colon + 1))) return {};
    if (name.ends_with('.')) name.remove_suffix(1);
    if (name.empty()) return {};
    for (char c : name) {
      if (!is_name_char(c)) return {};
    }
  }
  return lower_ascii(name);
}

bool is_localhost_name(std::string_view name) {
  return name == "localhost" || name == "127.0.0.1" || name == "[::1]" ||
         (name.size() > 10 && name.ends_with(".localhost"));
}

bool host_allowed(std::string_view host_header, bool dev_mode,
                  const std::vector<std::string>& allowed) {
  if (host_header.empty()) return dev_mode || allowed.empty();
  std::string name = host_name_of(host_header);
  if (name.empty()) return false;
  if (dev_mode && is_localhost_name(name)) return true;
  if (!dev_mode && allowed.empty()) return true;
  for (const std::string& entry : allowed) {
    if (entry_matches(entry, name, host_header)) return true;
  }
  return false;
}

}  // namespace rtchat::server
