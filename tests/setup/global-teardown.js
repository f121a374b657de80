export default async function globalTeardown() {
  for (const h of (globalThis.__toolplaneHandles ?? []).reverse()) await h.stop();
}
