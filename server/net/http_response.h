// Plain HTTP/1.1 responses for the listener (health, metrics, API, static UI, refusals). Pure.
#pragma once

#include <string>
#include <string_view>

namespace rtchat::server {

// The standard reason phrase ("Not Found"), or "Unknown" for a status we never send.
[[nodiscard]] std::string_view http_reason_phrase(int status);

// A complete response: status line, Content-Type (omitted when empty), Content-Length,
// "Connection: close" (the listener serves one request per connection), "X-Content-Type-Options:
// nosniff", and "Cache-Control: no-store" unless extra_headers carries its own Cache-Control.
// extra_headers is raw header lines, each ending in "\r\n" (e.g. "ETag: \"ab\"\r\nAllow: GET\r\n").
// 1xx, 204 and 304 responses carry no body and no Content-Length, whatever `body` holds.
// Set head_only for HEAD requests: the headers (and Content-Length) of `body`, without the body.
[[nodiscard]] std::string http_response(int status, std::string_view content_type,
                                        std::string_view body, std::string_view extra_headers = {},
                                        bool head_only = false);

// {"error": reason}: the body of every JSON error answer (history, server API, dev tokens).
[[nodiscard]] std::string json_error(std::string_view reason);

}  // namespace rtchat::server
