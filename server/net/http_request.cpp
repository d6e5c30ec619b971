#include "server/net/http_request.h"

#include <algorithm>

namespace rtchat::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Spare parsers per shard thread (each shard is one thread). Bounded: a storm's burst of
// half-read requests beyond it goes back to malloc. A flag, not the vector, says the thread is
// ending, since a parser given back during thread exit must not touch a destroyed list.
constexpr size_t kMaxSpareParsers = 64;
// A spare keeps buffers up to this size (an upgrade request with a token and cookies fits).
constexpr size_t kKeptBufferBytes = 2048;
constexpr size_t kKeptHeaders = 32;

struct SpareParsers {
  std::vector<HttpRequestParser*> list;
  ~SpareParsers();
};
thread_local bool spares_gone = false;
thread_local SpareParsers spares;

SpareParsers::~SpareParsers() {
  spares_gone = true;
  for (HttpRequestParser* p : list) delete p;
}

template <typename T>
void drop_if_grown(T& buffer, size_t keep) {
  if (buffer.capacity() > keep) T().swap(buffer);
}

// RFC 7230 tchar: the characters of a method (and header names).
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// One request line without its LF (a trailing CR is allowed). NeedMore means "valid".
HttpParseStatus check_request_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos) return HttpParseStatus::Malformed;
  for (char c : line.substr(0, sp1)) {
    if (!is_tchar(c)) return HttpParseStatus::Malformed;
  }
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return HttpParseStatus::Malformed;
  for (char c : line.substr(sp1 + 1, sp2 - sp1 - 1)) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return HttpParseStatus::Malformed;  // no controls in the target
  }
  std::string_view version = line.substr(sp2 + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || !version.starts_with("HTTP/") || !digit(version[5]) ||
      version[6] != '.' || !digit(version[7])) {
    return HttpParseStatus::Malformed;
  }
  if (version[5] == '1') return HttpParseStatus::NeedMore;
  return version[5] == '0' ? HttpParseStatus::Malformed : HttpParseStatus::VersionNotSupported;
}

}  // namespace

size_t percent_decode_into(std::string_view in, bool plus_as_space, char* out) {
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out[n++] = plus_as_space && c == '+' ? ' ' : c;
  }
  return n;
}

std::string_view HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

std::optional<std::string_view> HttpRequest::query_param(std::string_view key) const {
  for (auto it = query.rbegin(); it != query.rend(); ++it) {
    if (it->first == key) return std::string_view(it->second);
  }
  return std::nullopt;
}

HttpRequestParser::HttpRequestParser(size_t max_header_bytes, size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {
  http_parser_settings_init(&settings_);
  settings_.on_url = &on_url;
  settings_.on_header_field = &on_header_field;
  settings_.on_header_value = &on_header_value;
  settings_.on_headers_complete = &on_headers_complete;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  reset();
}

// Clears without giving capacity back: a reused parser parses the next request in place.
void HttpRequestParser::reset() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  request_.method = {};
  request_.target = {};
  request_.path = {};
  request_.query.clear();
  request_.headers.clear();
  request_.body.clear();
  request_.upgrade = false;
  request_.keep_alive = false;
  status_ = HttpParseStatus::NeedMore;
  header_bytes_ = 0;
  raw_.clear();
  decoded_.clear();
  target_ = {};
  header_spans_.clear();
  request_line_.clear();
  request_line_checked_ = false;
  headers_complete_ = false;
  message_complete_ = false;
  last_was_value_ = true;
}

void HttpRequestParser::reuse(size_t max_header_bytes, size_t max_body_bytes) {
  max_header_bytes_ = max_header_bytes;
  max_body_bytes_ = max_body_bytes;
  drop_if_grown(raw_, kKeptBufferBytes);
  drop_if_grown(decoded_, kKeptBufferBytes);
  drop_if_grown(request_line_, kKeptBufferBytes);
  drop_if_grown(request_.body, kKeptBufferBytes);
  drop_if_grown(header_spans_, kKeptHeaders);
  drop_if_grown(request_.headers, kKeptHeaders);
  drop_if_grown(request_.query, kKeptHeaders);
  reset();
}

// Copies the request line aside and stops the chunk at its LF: http_parser reads the line first
// (its own errors come first in the stream), then the line is judged, so the outcome is the same
// however the bytes were split. Empty lines before the request line are skipped, as http_parser
// does (RFC 7230 section 3.5). Returns how many bytes of chunk belong to this step.
size_t HttpRequestParser::take_request_line(std::string_view chunk, bool& line_ends_here) {
  size_t i = 0;
  if (request_line_.empty()) {
    while (i < chunk.size() && (chunk[i] == '\r' || chunk[i] == '\n')) ++i;
  }
  size_t lf = chunk.find('\n', i);
  line_ends_here = lf != std::string_view::npos;
  size_t end = line_ends_here ? lf : chunk.size();
  request_line_.append(chunk.substr(i, end - i));
  return line_ends_here ? lf + 1 : chunk.size();
}

HttpParseStatus HttpRequestParser::feed(std::string_view bytes, size_t& consumed) {
  consumed = 0;
  if (status_ != HttpParseStatus::NeedMore) return status_;
  size_t offset = 0;
  while (offset < bytes.size()) {
    size_t chunk = bytes.size() - offset;
    if (!headers_complete_) {
      // Give the parser no more header bytes than the limit allows, so an endless header block is
      // refused before it is buffered (Redis checks the query buffer the same way).
      if (header_bytes_ >= max_header_bytes_) return status_ = HttpParseStatus::HeadersTooLarge;
      chunk = std::min(chunk, max_header_bytes_ - header_bytes_);
    }
    bool line_ends_here = false;
    if (!request_line_checked_)
      chunk = take_request_line(bytes.substr(offset, chunk), line_ends_here);
    if (!headers_complete_) header_bytes_ += chunk;
    size_t parsed = http_parser_execute(&parser_, &settings_, bytes.data() + offset, chunk);
    auto err = static_cast<http_errno>(parser_.http_errno);
    if (err != HPE_OK && err != HPE_PAUSED) {
      // A callback may have set a more precise status (BodyTooLarge) before failing the parse.
      if (status_ == HttpParseStatus::NeedMore) status_ = HttpParseStatus::Malformed;
      return status_;
    }
    if (line_ends_here) {
      request_line_checked_ = true;
      HttpParseStatus line = check_request_line(request_line_);
      request_line_.clear();
      if (line != HttpParseStatus::NeedMore) return status_ = line;
    }
    if (err == HPE_PAUSED) {
      // on_message_complete pauses the parser so it stops at the end of this request; whatever
      // follows (early WebSocket frames, a pipelined request) stays with the caller.
      consumed = offset + parsed;
      return status_ = HttpParseStatus::Complete;
    }
    if (message_complete_) {
      // CONNECT-style upgrades return without pausing.
      consumed = offset + parsed;
      return status_ = HttpParseStatus::Complete;
    }
    if (parsed != chunk) return status_ = HttpParseStatus::Malformed;
    offset += parsed;
  }
  if (!headers_complete_ && header_bytes_ >= max_header_bytes_) {
    return status_ = HttpParseStatus::HeadersTooLarge;
  }
  consumed = bytes.size();
  return HttpParseStatus::NeedMore;
}

int HttpRequestParser::on_url(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  if (self->target_.len == 0) self->target_.off = static_cast<uint32_t>(self->raw_.size());
  self->raw_.append(at, length);
  self->target_.len += static_cast<uint32_t>(length);
  return 0;
}

int HttpRequestParser::on_header_field(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  // A chunked body's trailers come through here after the header block: not kept (raw_ must not
  // move under the request's views; http_parser bounds their size).
  if (self->headers_complete_) return 0;
  auto& spans = self->header_spans_;
  std::string& raw = self->raw_;
  if (self->last_was_value_ || spans.empty()) {
    spans.push_back({{static_cast<uint32_t>(raw.size()), 0}, {}});
  }
  self->last_was_value_ = false;
  size_t at_end = raw.size();
  raw.resize(at_end + length);
  std::transform(at, at + length, raw.data() + at_end, ascii_lower);
  spans.back().name.len += static_cast<uint32_t>(length);
  return 0;
}

int HttpRequestParser::on_header_value(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  if (self->headers_complete_) return 0;       // a trailer (see on_header_field)
  if (self->header_spans_.empty()) return -1;  // http_parser never does this; be safe anyway
  Span& value = self->header_spans_.back().value;
  if (self->last_was_value_ == false) value.off = static_cast<uint32_t>(self->raw_.size());
  self->last_was_value_ = true;
  self->raw_.append(at, length);
  value.len += static_cast<uint32_t>(length);
  return 0;
}

int HttpRequestParser::on_headers_complete(http_parser* p) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  self->headers_complete_ = true;
  HttpRequest& req = self->request_;
  // raw_ is complete (the body goes elsewhere): its views stay valid from here on.
  req.target = self->view(self->target_);
  for (const HeaderSpan& h : self->header_spans_) {
    req.headers.emplace_back(self->view(h.name), trim(self->view(h.value)));
  }
  req.method = http_method_str(static_cast<http_method>(p->method));
  // Without a Content-Length header http_parser reports ULLONG_MAX; chunked bodies are counted in
  // on_body instead.
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > self->max_body_bytes_) {
    self->status_ = HttpParseStatus::BodyTooLarge;
    return -1;  // any value but 0, 1, 2 fails the parse (1 and 2 mean "skip body")
  }
  if (!self->split_target()) {
    self->status_ = HttpParseStatus::Malformed;
    return -1;
  }
  return 0;
}

// Splits the raw target into path and query, decoded into decoded_ (sized once: decoding never
// grows, so the views into it stay put). Origin-form ("/a?b") is the norm; absolute-form
// ("http://h/a?b") goes through http_parser's URL splitter. False when no path can be found.
bool HttpRequestParser::split_target() {
  std::string_view target = request_.target;
  std::string_view raw_path;
  std::string_view raw_query;
  if (!target.empty() && target.front() == '/') {
    size_t end = target.find_first_of("?#");
    raw_path = target.substr(0, end);
    if (end != std::string_view::npos && target[end] == '?') {
      raw_query = target.substr(end + 1);
      raw_query = raw_query.substr(0, raw_query.find('#'));
    }
  } else if (target == "*") {
    raw_path = target;
  } else {
    http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(target.data(), target.size(), 0, &u) != 0) return false;
    raw_path = "/";
    if (u.field_set & (1 << UF_PATH)) {
      raw_path = target.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    }
    if (u.field_set & (1 << UF_QUERY)) {
      raw_query = target.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    }
  }
  decoded_.resize(raw_path.size() + raw_query.size());
  size_t used = percent_decode_into(raw_path, false, decoded_.data());
  request_.path = std::string_view(decoded_.data(), used);
  parse_query(raw_query, decoded_.data(), used);
  return true;
}

void HttpRequestParser::parse_query(std::string_view q, char* out, size_t& used) {
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::string_view k(out + used, percent_decode_into(key, true, out + used));
    used += k.size();
    std::string_view v(out + used, percent_decode_into(value, true, out + used));
    used += v.size();
    request_.query.emplace_back(k, v);
  }
}

int HttpRequestParser::on_body(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  if (self->request_.body.size() + length > self->max_body_bytes_) {
    self->status_ = HttpParseStatus::BodyTooLarge;
    return -1;
  }
  self->request_.body.append(at, length);
  return 0;
}

int HttpRequestParser::on_message_complete(http_parser* p) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  self->message_complete_ = true;
  self->request_.upgrade = p->upgrade != 0;
  self->request_.keep_alive = http_should_keep_alive(p) != 0;
  http_parser_pause(p, 1);
  return 0;
}

void HttpParserRecycler::operator()(HttpRequestParser* p) const noexcept {
  if (spares_gone || spares.list.size() >= kMaxSpareParsers) {
    delete p;
    return;
  }
  spares.list.push_back(p);  // capacity reserved up front: no allocation here
}

HttpParserPtr take_http_parser(size_t max_header_bytes, size_t max_body_bytes) {
  if (spares.list.empty()) {
    spares.list.reserve(kMaxSpareParsers);
    return HttpParserPtr(new HttpRequestParser(max_header_bytes, max_body_bytes));
  }
  HttpRequestParser* p = spares.list.back();
  spares.list.pop_back();
  p->reuse(max_header_bytes, max_body_bytes);
  return HttpParserPtr(p);
}

HttpRequestParser& HttpParserSlot::parser(size_t max_header_bytes) {
  if (!has_parser())
    bits_ = reinterpret_cast<uintptr_t>(take_http_parser(max_header_bytes).release());
  return *reinterpret_cast<HttpRequestParser*>(bits_);
}

HttpParserPtr HttpParserSlot::finish() {
  HttpParserPtr p(has_parser() ? reinterpret_cast<HttpRequestParser*>(bits_) : nullptr);
  bits_ = kAnswered;
  return p;
}

}  // namespace rtchat::server
