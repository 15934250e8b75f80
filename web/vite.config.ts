/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build goes where the server embeds it from (spectra-server/build.rs).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../spectra-server/web-dist',
    emptyOutDir: true,
    // No data: URLs for scripts or styles: the Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8080', '/openapi.json': 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test-setup.ts'],
  },
});
