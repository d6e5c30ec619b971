#include "server/net/static_files.h"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <iterator>
#include <optional>
#include <system_error>

#include "server/net/http_response.h"

namespace rtchat::server {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
// Revalidate every time: index.html names the current hashed bundles, so it must never go stale.
constexpr std::string_view kRevalidate = "no-cache";
constexpr size_t kMinHashChars = 8;
// The UI's Content-Security-Policy, as a header on HTML. web/src/index.html carries the same
// fetch directives in a <meta> (for a UI served by another web server); only a header can say
// frame-ancestors (no framing: clickjacking) and carry Trusted Types, under which the page's
// scripts can no longer assign strings to HTML or script sinks (innerHTML, eval, ...). The UI
// writes text only (web/src/dom.js); tests/e2e/ui.test.mjs runs it under this policy.
constexpr std::string_view kHtmlCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; "
    "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A strong ETag: the first 16 bytes of SHA-1 over the content, hex, quoted. Startup-only cost.
std::string etag_for(std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_Digest(body.data(), body.size(), digest.data(), &len, EVP_sha1(), nullptr) != 1) {
    len = 0;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned int i = 0; i < len && i < 16; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  out.push_back('"');
  return out;
}

bool is_within(const fs::path& canonical_root, const fs::path& canonical_child) {
  auto root_it = canonical_root.begin();
  auto child_it = canonical_child.begin();
  for (; root_it != canonical_root.end(); ++root_it, ++child_it) {
    if (child_it == canonical_child.end() || *root_it != *child_it) return false;
  }
  return child_it != canonical_child.end();  // strictly below root
}

bool is_safe_url_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  if (path.find('\\') != std::string_view::npos) return false;
  if (path.find('\0') != std::string_view::npos) return false;
  if (path.find("//") != std::string_view::npos) return false;
  // Every segment after a '/' must not start with '.': rules out "..", "." and hidden files.
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (path[i] == '/' && path[i + 1] == '.') return false;
  }
  return true;
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return body;
}

}  // namespace

std::string_view content_type_for(std::string_view filename) {
  size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext = lower_ascii(filename.substr(dot + 1));
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml; charset=utf-8";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "json" || ext == "map") return "application/json; charset=utf-8";
  if (ext == "webmanifest") return "application/manifest+json; charset=utf-8";
  if (ext == "woff2") return "font/woff2";
  if (ext == "woff") return "font/woff";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "webp") return "image/webp";
  return "application/octet-stream";
}

bool has_content_hash(std::string_view filename) {
  std::string_view stem = filename.substr(0, filename.find('.'));
  if (stem.size() == filename.size()) return false;  // no extension
  size_t dash = stem.rfind('-');
  if (dash == std::string_view::npos) return false;
  std::string_view hash = stem.substr(dash + 1);
  if (hash.size() < kMinHashChars) return false;
  for (char c : hash) {
    if (!is_alnum(c)) return false;
  }
  return true;
}

StaticFiles StaticFiles::load(const fs::path& root) {
  StaticFiles store;
  std::error_code ec;
  fs::path canonical_root = fs::canonical(root, ec);
  if (ec || !fs::is_directory(canonical_root, ec)) return store;

  // skip_permission_denied: an unreadable subfolder loses its files, not the whole UI.
  fs::recursive_directory_iterator it(canonical_root, fs::directory_options::skip_permission_denied,
                                      ec);
  if (ec) return store;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    if (!name.empty() && name.front() == '.') {
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    // is_regular_file follows symlinks; the canonical check below refuses ones that leave root.
    if (!entry.is_regular_file(ec)) continue;
    fs::path target = fs::canonical(entry.path(), ec);
    if (ec || !is_within(canonical_root, target)) continue;
    auto body = read_file(target);
    if (!body) continue;

    std::string key(1, '/');
    key.append(entry.path().lexically_relative(canonical_root).generic_string());
    StaticFile file;
    file.content_type = std::string(content_type_for(name));
    file.cache_control = std::string(
        key.starts_with("/assets/") && has_content_hash(name) ? kImmutable : kRevalidate);
    file.etag = etag_for(*body);
    file.body = std::move(*body);
    store.files_.emplace(std::move(key), std::move(file));
  }
  return store;
}

const StaticFile* StaticFiles::find(std::string_view decoded_path) const {
  if (!is_safe_url_path(decoded_path)) return nullptr;
  std::string key(decoded_path);
  if (key.back() == '/') key.append("index.html");
  if (auto it = files_.find(key); it != files_.end()) return &it->second;
  std::string_view last = std::string_view(key).substr(key.rfind('/') + 1);
  if (last.find('.') == std::string_view::npos) {
    if (auto it = files_.find(std::string_view("/index.html")); it != files_.end()) {
      return &it->second;
    }
  }
  return nullptr;
}

std::string static_file_response(const StaticFile& file, std::string_view if_none_match,
                                 bool head_only) {
  std::string headers;
  headers.reserve(96);
  headers.append("Cache-Control: ").append(file.cache_control).append("\r\n");
  headers.append("ETag: ").append(file.etag).append("\r\n");
  if (file.content_type.starts_with("text/html")) {
    headers.append("Content-Security-Policy: ").append(kHtmlCsp).append("\r\n");
  }
  bool matches = false;
  // If-None-Match is a list of (possibly weak, W/"...") ETags, or "*".
  std::string_view list = if_none_match;
  while (!list.empty() && !matches) {
    size_t comma = list.find(',');
    std::string_view tag = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    matches = tag == "*" || tag == file.etag;
  }
  if (matches) return http_response(304, {}, {}, headers);
  return http_response(200, file.content_type, file.body, headers, head_only);
}

}  // namespace rtchat::server
