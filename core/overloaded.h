// The one style of variant dispatch in this project: std::visit(core::Overloaded{handlers...}, v),
// one lambda per alternative (a message type without a handler does not compile, unless a
// catch-all `[](auto&) {}` says it is ignored on purpose).
#pragma once

namespace rtchat::core {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace rtchat::core
