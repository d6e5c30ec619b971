#include "server/net/http_response.h"

#include <charconv>

#include "proto/phoenix_codec.h"

namespace rtchat::server {
namespace {

bool has_header_line(std::string_view headers, std::string_view lower_name) {
  // Checks each line's name case-insensitively; names are ASCII.
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon != lower_name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < colon && same; ++i) {
      char c = line[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      same = c == lower_name[i];
    }
    if (same) return true;
  }
  return false;
}

}  // namespace

std::string_view http_reason_phrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 421:
      return "Misdirected Request";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string http_response(int status, std::string_view content_type, std::string_view body,
                          std::string_view extra_headers, bool head_only) {
  bool bodyless = (status >= 100 && status < 200) || status == 204 || status == 304;
  std::string out;
  out.reserve(160 + extra_headers.size() + (bodyless || head_only ? 0 : body.size()));
  char num[24];
  auto [end, ec] = std::to_chars(num, num + sizeof num, status);
  out.append("HTTP/1.1 ").append(num, static_cast<size_t>(end - num)).push_back(' ');
  out.append(http_reason_phrase(status)).append("\r\n");
  if (!content_type.empty() && !bodyless) {
    out.append("Content-Type: ").append(content_type).append("\r\n");
  }
  if (!bodyless) {
    auto [len_end, len_ec] = std::to_chars(num, num + sizeof num, body.size());
    out.append("Content-Length: ").append(num, static_cast<size_t>(len_end - num)).append("\r\n");
  }
  // On every answer, HTML or not: nothing of ours is meant to be framed (clickjacking; CSP's
  // frame-ancestors says the same for browsers that know it, see static_files.cpp), and no URL of
  // ours (room names, tokens in a ?token= of a tool) should leak to another site as a Referer.
  out.append(
      "Connection: close\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
      "Referrer-Policy: no-referrer\r\n");
  // Dynamic answers (health, metrics, API) must never be served from a cache.
  if (!has_header_line(extra_headers, "cache-control")) out.append("Cache-Control: no-store\r\n");
  out.append(extra_headers);
  out.append("\r\n");
  if (!bodyless && !head_only) out.append(body);
  return out;
}

std::string json_error(std::string_view reason) {
  std::string body = "{\"error\":";
  proto::phoenix::append_json_string(body, reason);
  body += "}";
  return body;
}

}  // namespace rtchat::server
