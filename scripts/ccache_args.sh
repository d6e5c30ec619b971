# Sourced by the build scripts (bash): compile through ccache when it works on this machine. CI
# runs its three builds (Release, fuzz, ASan) from a clean clone; with the cache warm from earlier
# runs they take seconds instead of minutes, and a cold cache costs a few percent. The key ignores
# where the checkout is (paths relative to its root, no working directory in the hash), so a clone
# in another directory still hits; debug info then names sources relative to the root.
ccache_args=()
if command -v ccache >/dev/null 2>&1 && ccache --show-stats >/dev/null 2>&1; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
  export CCACHE_NOHASHDIR=1
  ccache_args=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
