import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The API (uvicorn, `difflab serve`) listens on 127.0.0.1:8000; the dev server proxies to it so
// the session cookie and the SSE streams stay same-origin, as in production.
const api = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/sdapi": { target: api, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    sourcemap: true,
    chunkSizeWarningLimit: 1000,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
