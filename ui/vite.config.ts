/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The console runs in the Tauri webview (WebKitGTK on Linux) under a strict CSP:
// no inline scripts or styles, so all CSS is extracted to files by Vite.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
  },
  preview: {
    port: 4173,
    strictPort: true,
  },
  build: {
    target: 'safari15',
    outDir: 'dist',
    emptyOutDir: true,
    cssCodeSplit: false,
    // Inline assets as data: URLs would be allowed for images only; keep everything as files.
    assetsInlineLimit: 0,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
