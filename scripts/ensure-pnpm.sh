# Sourced: makes `pnpm` (12.4.2) available. Corepack cannot verify registry signatures here,
# so pnpm is installed from the npm registry instead.
PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || {
    pnpm() { npx -y "pnpm@$PNPM_VERSION" "$@"; }
  }
fi
