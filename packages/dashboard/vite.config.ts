import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// A static single-page app served by the control plane at `/` (same origin as `/api/v1`). Workspace
// packages are bundled from their TypeScript sources (the `@toolplane/source` export condition).
export default defineConfig({
  base: '/',
  plugins: [react()],
  resolve: { conditions: ['@toolplane/source', 'module', 'browser', 'development|production'] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  server: { proxy: { '/api': 'http://127.0.0.1:8081' } },
});
