/** The query cache a test renders with: the app's defaults, a fresh cache per test, no retries. */
import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { createQueryClient } from "../lib/queries";

export function testQueryClient(): QueryClient {
  const client = createQueryClient();
  // a refused request fails at once (the app retries once, after a second)
  client.setDefaultOptions({
    ...client.getDefaultOptions(),
    queries: { ...client.getDefaultOptions().queries, retry: false },
  });
  return client;
}

/**
 * A wrapper for render(): `render(<Page />, { wrapper: withQueryClient() })`, around another
 * wrapper with `withQueryClient(MemoryRouter)`. Two renders given one client share its cache.
 */
export function withQueryClient(
  Inner?: (props: { children: ReactNode }) => ReactNode,
  client: QueryClient = testQueryClient(),
): (props: { children: ReactNode }) => ReactNode {
  return function Wrapper({ children }: { children: ReactNode }) {
    return <QueryClientProvider client={client}>{Inner ? <Inner>{children}</Inner> : children}</QueryClientProvider>;
  };
}
